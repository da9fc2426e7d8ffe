/*
 * transport.h - one request/reply exchange over ZeroMQ, lazy-pirate style.
 */
#ifndef VPOLLER_CCLIENT_TRANSPORT_H
#define VPOLLER_CCLIENT_TRANSPORT_H

#include <stddef.h>
#include <zmq.h>

#include "curve.h"

struct transport_config {
    const char *const *endpoints;
    size_t n_endpoints;
    long retries;    /* rounds over all endpoints, >= 1 */
    long timeout_ms; /* per attempt, >= 1 */
    int debug;
    const struct curve_keys *curve;
};

enum transport_status {
    TRANSPORT_OK,       /* *reply holds the first reply frame */
    TRANSPORT_TIMEOUT,  /* no endpoint answered */
    TRANSPORT_ERROR     /* ZeroMQ error, already reported on stderr */
};

/*
 * Send `request` and wait for the reply. Each of `retries` rounds tries every
 * endpoint in turn, each attempt on a fresh REQ socket that is closed with
 * linger 0 when it times out. On TRANSPORT_OK the caller owns *reply and
 * must zmq_msg_close() it; otherwise *reply is left closed.
 */
enum transport_status transport_request(const struct transport_config *cfg, const char *request,
                                        size_t request_len, zmq_msg_t *reply);

#endif
