/*
 * transport.c - lazy-pirate request/reply with endpoint failover.
 *
 * A REQ socket that timed out is stuck in its send/receive state machine,
 * so every retry uses a fresh socket; linger 0 drops the unanswered request.
 * Replies are received into zmq_msg_t, so their size is bounded only by
 * memory (ZMQ_MAXMSGSIZE -1).
 */
#include "transport.h"

#include "cclient.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

static void report(const char *what, const char *endpoint)
{
    if (endpoint != NULL)
        fprintf(stderr, "%s: %s %s: %s\n", CCLIENT_PROGRAM, what, endpoint,
                zmq_strerror(zmq_errno()));
    else
        fprintf(stderr, "%s: %s: %s\n", CCLIENT_PROGRAM, what, zmq_strerror(zmq_errno()));
}

static int configure(void *sock, const struct transport_config *cfg)
{
    int zero = 0;
    int timeout = cfg->timeout_ms > INT_MAX ? INT_MAX : (int)cfg->timeout_ms;
    int64_t unlimited = -1;

    if (zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0
        || zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout, sizeof timeout) != 0
        || zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &unlimited, sizeof unlimited) != 0)
        return -1;
    if (cfg->curve != NULL && cfg->curve->enabled) {
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, cfg->curve->server_public,
                           CURVE_KEY_BYTES) != 0
            || zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, cfg->curve->client_public,
                              CURVE_KEY_BYTES) != 0
            || zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, cfg->curve->client_secret,
                              CURVE_KEY_BYTES) != 0)
            return -1;
    }
    return 0;
}

static void *open_socket(void *ctx, const struct transport_config *cfg, const char *endpoint)
{
    void *sock = zmq_socket(ctx, ZMQ_REQ);

    if (sock == NULL) {
        report("cannot create socket", NULL);
        return NULL;
    }
    if (configure(sock, cfg) != 0) {
        report("cannot configure socket", NULL);
        zmq_close(sock);
        return NULL;
    }
    if (zmq_connect(sock, endpoint) != 0) {
        report("cannot connect to", endpoint);
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/* Connect a scratch socket to every endpoint so a typo fails before the first wait. */
static int check_endpoints(void *ctx, const struct transport_config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->n_endpoints; i++) {
        void *sock = open_socket(ctx, cfg, cfg->endpoints[i]);

        if (sock == NULL)
            return -1;
        zmq_close(sock);
    }
    return 0;
}

/* Receive the reply's first frame into *reply and discard any further frames. */
static int receive_reply(void *sock, zmq_msg_t *reply)
{
    int more = 0;
    size_t more_len = sizeof more;

    zmq_msg_init(reply);
    if (zmq_msg_recv(reply, sock, 0) < 0) {
        report("cannot receive reply", NULL);
        zmq_msg_close(reply);
        return -1;
    }
    if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len) != 0)
        more = 0;
    while (more) {
        zmq_msg_t extra;

        zmq_msg_init(&extra);
        if (zmq_msg_recv(&extra, sock, 0) < 0)
            more = 0;
        else
            more = zmq_msg_more(&extra);
        zmq_msg_close(&extra);
    }
    return 0;
}

/* One attempt: 1 replied, 0 timed out, -1 error. */
static int attempt(void *ctx, const struct transport_config *cfg, const char *endpoint,
                   const char *request, size_t request_len, zmq_msg_t *reply)
{
    void *sock = open_socket(ctx, cfg, endpoint);
    zmq_pollitem_t item;
    int rc;

    if (sock == NULL)
        return -1;
    if (zmq_send(sock, request, request_len, 0) < 0) {
        if (zmq_errno() == EAGAIN) { /* no peer took it within the timeout */
            zmq_close(sock);
            return 0;
        }
        report("cannot send request to", endpoint);
        zmq_close(sock);
        return -1;
    }
    item.socket = sock;
    item.fd = 0;
    item.events = ZMQ_POLLIN;
    item.revents = 0;
    rc = zmq_poll(&item, 1, cfg->timeout_ms);
    if (rc < 0) {
        report("cannot poll", endpoint);
        zmq_close(sock);
        return -1;
    }
    if (rc == 0 || !(item.revents & ZMQ_POLLIN)) {
        zmq_close(sock);
        return 0;
    }
    rc = receive_reply(sock, reply) == 0 ? 1 : -1;
    zmq_close(sock);
    return rc;
}

enum transport_status transport_request(const struct transport_config *cfg, const char *request,
                                        size_t request_len, zmq_msg_t *reply)
{
    void *ctx = zmq_ctx_new();
    enum transport_status status = TRANSPORT_TIMEOUT;
    long round;

    if (ctx == NULL) {
        report("cannot create ZeroMQ context", NULL);
        return TRANSPORT_ERROR;
    }
    if (check_endpoints(ctx, cfg) != 0) {
        status = TRANSPORT_ERROR;
        goto done;
    }
    for (round = 1; round <= cfg->retries && status == TRANSPORT_TIMEOUT; round++) {
        size_t i;

        for (i = 0; i < cfg->n_endpoints; i++) {
            int rc;

            if (cfg->debug)
                fprintf(stderr, "%s: attempt %ld of %ld: sending to %s\n", CCLIENT_PROGRAM,
                        round, cfg->retries, cfg->endpoints[i]);
            rc = attempt(ctx, cfg, cfg->endpoints[i], request, request_len, reply);
            if (rc > 0) {
                status = TRANSPORT_OK;
                break;
            }
            if (rc < 0) {
                status = TRANSPORT_ERROR;
                break;
            }
            if (cfg->debug)
                fprintf(stderr, "%s: no reply from %s within %ld ms\n", CCLIENT_PROGRAM,
                        cfg->endpoints[i], cfg->timeout_ms);
        }
    }

done:
    while (zmq_ctx_term(ctx) != 0 && zmq_errno() == EINTR)
        ;
    return status;
}
