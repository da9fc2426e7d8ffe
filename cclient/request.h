/*
 * request.h - the vPoller request object built from command-line values.
 */
#ifndef VPOLLER_CCLIENT_REQUEST_H
#define VPOLLER_CCLIENT_REQUEST_H

#include <jansson.h>

/* Request values as given on the command line; NULL means "absent". */
struct request_fields {
    const char *method;
    const char *hostname;
    const char *name;
    const char *properties; /* comma-separated list */
    const char *key;
    const char *username;
    const char *password;
    const char *counter_name;
    const char *instance;
    const char *perf_interval;
    const char *helper;
    long max_sample;
    int has_max_sample;
};

/*
 * Build the request object. Returns a new reference, or NULL when a value
 * is not valid UTF-8 or memory ran out; *bad_key then names the offending
 * wire key (or is NULL when memory ran out).
 */
json_t *request_build(const struct request_fields *fields, const char **bad_key);

/* Serialise compactly (UTF-8 kept). The caller frees the result with free(). */
char *request_encode(const json_t *request);

/* Serialise with the password replaced by "***", for --debug output. */
char *request_encode_redacted(json_t *request);

#endif
