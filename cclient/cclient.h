/*
 * cclient.h - constants shared by the vpoller-cclient modules.
 *
 * Exit codes are part of the command-line contract (see README.md and
 * --help): scripts and Zabbix items branch on them.
 */
#ifndef VPOLLER_CCLIENT_H
#define VPOLLER_CCLIENT_H

#define CCLIENT_PROGRAM "vpoller-cclient"
#define CCLIENT_VERSION "1.0.0"

#define CCLIENT_DEFAULT_ENDPOINT "tcp://localhost:10123"
#define CCLIENT_DEFAULT_HELPER "vpoller.helpers.cclient"
#define CCLIENT_DEFAULT_RETRIES 3L
#define CCLIENT_DEFAULT_TIMEOUT_MS 10000L

/* The reply printed when no endpoint answered (SPEC.md, "Command lines"). */
#define CCLIENT_NO_RESPONSE_REPLY \
    "{\"success\": 1, \"msg\": \"Did not receive response, aborting...\"}"

enum cclient_exit {
    EXIT_REPLY_SUCCESS = 0, /* reply success 0, or a helper's bare value */
    EXIT_REPLY_FAILURE = 1, /* reply success 1: the request failed */
    EXIT_NO_RESPONSE = 2,   /* no endpoint answered within retries x timeout */
    EXIT_RUNTIME_ERROR = 3, /* ZeroMQ/endpoint error, unreadable key file, output error */
    EXIT_USAGE = 64         /* bad command line (sysexits EX_USAGE) */
};

#endif
