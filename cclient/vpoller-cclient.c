/*
 * vpoller-cclient - send one request to a vPoller proxy and print the reply.
 *
 * The C counterpart of vpoller-client for environments without Python
 * (e.g. Zabbix external checks). Options and request keys follow SPEC.md;
 * exit codes are in cclient.h and --help.
 */
#include "cclient.h"
#include "curve.h"
#include "request.h"
#include "transport.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct options {
    struct request_fields fields;
    const char **endpoints; /* pointers into argv; the default when none given */
    size_t n_endpoints;
    long retries;
    long timeout_ms;
    int debug;
    const char *curve_server_key_file;
    const char *curve_key_file;
};

enum long_only_option { OPT_CURVE_SERVER_KEY = 256, OPT_CURVE_KEY };

static const struct option long_options[] = {
    {"method", required_argument, NULL, 'm'},
    {"vsphere-host", required_argument, NULL, 'V'},
    {"name", required_argument, NULL, 'n'},
    {"properties", required_argument, NULL, 'p'},
    {"key", required_argument, NULL, 'k'},
    {"counter", required_argument, NULL, 'c'},
    {"max-sample", required_argument, NULL, 's'},
    {"instance", required_argument, NULL, 'i'},
    {"perf-interval", required_argument, NULL, 'T'},
    {"guest-username", required_argument, NULL, 'U'},
    {"guest-password", required_argument, NULL, 'P'},
    {"helper", required_argument, NULL, 'H'},
    {"endpoint", required_argument, NULL, 'e'},
    {"retries", required_argument, NULL, 'r'},
    {"timeout", required_argument, NULL, 't'},
    {"debug", no_argument, NULL, 'd'},
    {"curve-server-key", required_argument, NULL, OPT_CURVE_SERVER_KEY},
    {"curve-key", required_argument, NULL, OPT_CURVE_KEY},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'v'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
    fputs("Usage: " CCLIENT_PROGRAM " [options] -m <method> -V <host>\n"
          "\n"
          "Send one request to a vPoller proxy and print the reply.\n"
          "\n"
          "Options:\n"
          "  -m, --method METHOD          task to run, e.g. vm.get (required)\n"
          "  -V, --vsphere-host HOST      vSphere agent as registered (required)\n"
          "  -n, --name NAME              object name\n"
          "  -p, --properties LIST        comma-separated property paths\n"
          "  -k, --key KEY                extra filter (guest disk path, command line)\n"
          "  -c, --counter NAME           performance counter, group.name.unit.rollup\n"
          "  -s, --max-sample N           number of samples (positive integer)\n"
          "  -i, --instance NAME          performance instance (\"\" is the aggregate)\n"
          "  -T, --perf-interval NAME     historical interval, e.g. \"Past day\"\n"
          "  -U, --guest-username USER    guest OS user for vm.process.get\n"
          "  -P, --guest-password PWD     guest OS password for vm.process.get\n"
          "  -H, --helper MODULE          result helper (default " CCLIENT_DEFAULT_HELPER ";\n"
          "                               an empty string sends no helper)\n"
          "  -e, --endpoint URL           proxy endpoint (default " CCLIENT_DEFAULT_ENDPOINT ");\n"
          "                               repeat to fail over to the next endpoint on timeout\n"
          "  -r, --retries N              rounds over the endpoints (default 3)\n"
          "  -t, --timeout MS             wait per attempt in milliseconds (default 10000)\n"
          "      --curve-server-key FILE  enable CURVE; FILE: the proxy's public key (NAME.key)\n"
          "      --curve-key FILE         client key pair (NAME.key_secret of vpoller-keys)\n"
          "                               (Z85; default: an ephemeral keypair)\n"
          "  -d, --debug                  print the request (password redacted) on stderr\n"
          "  -h, --help                   print this help and exit\n"
          "  -v, --version                print the version and exit\n"
          "\n"
          "Exit status:\n"
          "  0   reply success 0, or a helper's plain (non-JSON) value\n"
          "  1   reply success 1: the request failed (the reply says why)\n"
          "  2   no reply after all retries; prints the \"Did not receive response\" reply\n"
          "  3   ZeroMQ or endpoint error, unreadable CURVE key file, output error\n"
          "  64  usage error\n",
          out);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", CCLIENT_PROGRAM);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    usage(stderr);
    return EXIT_USAGE;
}

/* Report the option getopt_long rejected: short ones by letter, long ones as typed. */
static int option_error(const char *fmt, char **argv)
{
    if (optopt > 0 && optopt < OPT_CURVE_SERVER_KEY) {
        char short_option[] = {'-', (char)optopt, '\0'};

        return usage_error(fmt, short_option);
    }
    return usage_error(fmt, argv[optind - 1]);
}

/* Parse a decimal integer in [min, max]; 0 on success. */
static int parse_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

/* Returns -1 to go on, otherwise the exit status. */
static int parse_options(int argc, char **argv, struct options *opts)
{
    int c;

    memset(opts, 0, sizeof *opts);
    opterr = 0; /* our own messages, prefixed with the program name rather than argv[0] */
    opts->fields.helper = CCLIENT_DEFAULT_HELPER;
    opts->retries = CCLIENT_DEFAULT_RETRIES;
    opts->timeout_ms = CCLIENT_DEFAULT_TIMEOUT_MS;

    while ((c = getopt_long(argc, argv, ":m:V:n:p:k:c:s:i:T:U:P:H:e:r:t:dhv", long_options,
                            NULL)) != -1) {
        switch (c) {
        case 'm': opts->fields.method = optarg; break;
        case 'V': opts->fields.hostname = optarg; break;
        case 'n': opts->fields.name = optarg; break;
        case 'p': opts->fields.properties = optarg; break;
        case 'k': opts->fields.key = optarg; break;
        case 'c': opts->fields.counter_name = optarg; break;
        case 'i': opts->fields.instance = optarg; break;
        case 'T': opts->fields.perf_interval = optarg; break;
        case 'U': opts->fields.username = optarg; break;
        case 'P': opts->fields.password = optarg; break;
        case 'H': opts->fields.helper = *optarg != '\0' ? optarg : NULL; break;
        case 'd': opts->debug = 1; break;
        case OPT_CURVE_SERVER_KEY: opts->curve_server_key_file = optarg; break;
        case OPT_CURVE_KEY: opts->curve_key_file = optarg; break;
        case 's':
            if (parse_long(optarg, 1, LONG_MAX, &opts->fields.max_sample) != 0)
                return usage_error("--max-sample must be a positive integer, got '%s'", optarg);
            opts->fields.has_max_sample = 1;
            break;
        case 'r':
            if (parse_long(optarg, 1, INT_MAX, &opts->retries) != 0)
                return usage_error("--retries must be a positive integer, got '%s'", optarg);
            break;
        case 't':
            if (parse_long(optarg, 1, INT_MAX, &opts->timeout_ms) != 0)
                return usage_error("--timeout must be a positive number of milliseconds, "
                                   "got '%s'", optarg);
            break;
        case 'e': {
            const char **grown = realloc(opts->endpoints,
                                         (opts->n_endpoints + 1) * sizeof *grown);
            if (grown == NULL) {
                fprintf(stderr, "%s: out of memory\n", CCLIENT_PROGRAM);
                return EXIT_RUNTIME_ERROR;
            }
            opts->endpoints = grown;
            opts->endpoints[opts->n_endpoints++] = optarg;
            break;
        }
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        case 'v':
            puts(CCLIENT_PROGRAM " " CCLIENT_VERSION);
            return EXIT_SUCCESS;
        case ':':
            return option_error("option '%s' requires an argument", argv);
        default:
            return option_error("unknown or ambiguous option '%s'", argv);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (opts->fields.method == NULL || *opts->fields.method == '\0')
        return usage_error("%s", "a method is required (-m/--method)");
    if (opts->fields.hostname == NULL || *opts->fields.hostname == '\0')
        return usage_error("%s", "a vSphere host is required (-V/--vsphere-host)");
    if (opts->curve_key_file != NULL && opts->curve_server_key_file == NULL)
        return usage_error("%s", "--curve-key needs --curve-server-key");
    return -1;
}

/* The exit status a reply stands for: its `success` when it is a JSON object with one. */
static int reply_status(const char *data, size_t len)
{
    json_t *doc = json_loadb(data, len, JSON_DECODE_ANY, NULL);
    json_t *success;
    int status = EXIT_REPLY_SUCCESS;

    if (doc == NULL) /* a helper's bare value */
        return EXIT_REPLY_SUCCESS;
    success = json_is_object(doc) ? json_object_get(doc, "success") : NULL;
    if (json_is_integer(success) && json_integer_value(success) != 0)
        status = EXIT_REPLY_FAILURE;
    json_decref(doc);
    return status;
}

/* Print data newline-terminated; 0 or -1 when stdout failed. */
static int print_line(const char *data, size_t len)
{
    if (len > 0 && fwrite(data, 1, len, stdout) != len)
        return -1;
    if ((len == 0 || data[len - 1] != '\n') && putchar('\n') == EOF)
        return -1;
    return fflush(stdout) == 0 ? 0 : -1;
}

static int run(const struct options *opts)
{
    static const char *const default_endpoints[] = {CCLIENT_DEFAULT_ENDPOINT};
    struct transport_config cfg;
    struct curve_keys curve;
    const char *bad_key = NULL;
    json_t *request;
    char *text = NULL;
    zmq_msg_t reply;
    int status;

    request = request_build(&opts->fields, &bad_key);
    if (request == NULL) {
        if (bad_key == NULL) {
            fprintf(stderr, "%s: out of memory\n", CCLIENT_PROGRAM);
            return EXIT_RUNTIME_ERROR;
        }
        return usage_error("the value for '%s' is not valid UTF-8", bad_key);
    }
    text = request_encode(request);
    if (text == NULL) {
        fprintf(stderr, "%s: out of memory\n", CCLIENT_PROGRAM);
        json_decref(request);
        return EXIT_RUNTIME_ERROR;
    }
    if (opts->debug) {
        char *shown = request_encode_redacted(request);

        fprintf(stderr, "%s: request: %s\n", CCLIENT_PROGRAM, shown != NULL ? shown : "?");
        free(shown);
    }
    json_decref(request);

    if (curve_load(opts->curve_server_key_file, opts->curve_key_file, &curve) != 0) {
        free(text);
        return EXIT_RUNTIME_ERROR;
    }
    cfg.endpoints = opts->n_endpoints > 0 ? opts->endpoints : default_endpoints;
    cfg.n_endpoints = opts->n_endpoints > 0 ? opts->n_endpoints : 1;
    cfg.retries = opts->retries;
    cfg.timeout_ms = opts->timeout_ms;
    cfg.debug = opts->debug;
    cfg.curve = &curve;

    switch (transport_request(&cfg, text, strlen(text), &reply)) {
    case TRANSPORT_OK: {
        const char *data = zmq_msg_data(&reply);
        size_t len = zmq_msg_size(&reply);

        if (len > 0 && data[len - 1] == '\0') /* the cclient/czabbix helpers' terminator */
            len--;
        status = reply_status(data, len);
        if (print_line(data, len) != 0) {
            fprintf(stderr, "%s: cannot write the reply: %s\n", CCLIENT_PROGRAM,
                    strerror(errno));
            status = EXIT_RUNTIME_ERROR;
        }
        zmq_msg_close(&reply);
        break;
    }
    case TRANSPORT_TIMEOUT:
        status = print_line(CCLIENT_NO_RESPONSE_REPLY, strlen(CCLIENT_NO_RESPONSE_REPLY)) == 0
                     ? EXIT_NO_RESPONSE
                     : EXIT_RUNTIME_ERROR;
        break;
    default:
        status = EXIT_RUNTIME_ERROR;
        break;
    }
    curve_wipe(&curve);
    free(text);
    return status;
}

int main(int argc, char **argv)
{
    struct options opts;
    int status = parse_options(argc, argv, &opts);

    if (status < 0)
        status = run(&opts);
    free(opts.endpoints);
    return status;
}
