/*
 * request.c - build the request JSON with jansson.
 *
 * Every value goes through json_string(), so quotes, backslashes, control
 * characters and non-ASCII names are escaped correctly (the old client
 * printf-ed its JSON and broke on a quote). Keys match the Python client;
 * absent values are left out rather than sent as null.
 */
#include "request.h"

#include <stdlib.h>
#include <string.h>

static int set_string(json_t *obj, const char *key, const char *value, const char **bad_key)
{
    json_t *str;

    if (value == NULL)
        return 0;
    str = json_string(value); /* NULL on invalid UTF-8 or no memory */
    if (str == NULL || json_object_set_new(obj, key, str) != 0) {
        *bad_key = key;
        return -1;
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* "a, b,,c" -> ["a", "b", "c"]: items trimmed, empty items dropped (as the worker does). */
static json_t *property_list(const char *csv)
{
    json_t *list = json_array();
    const char *start = csv;

    if (list == NULL)
        return NULL;
    for (;;) {
        const char *end = strchr(start, ',');
        const char *stop = end != NULL ? end : start + strlen(start);
        const char *first = start;
        const char *last = stop;

        while (first < last && is_space(*first))
            first++;
        while (last > first && is_space(last[-1]))
            last--;
        if (last > first) {
            json_t *item = json_stringn(first, (size_t)(last - first));
            if (item == NULL || json_array_append_new(list, item) != 0) {
                json_decref(list);
                return NULL;
            }
        }
        if (end == NULL)
            break;
        start = end + 1;
    }
    return list;
}

json_t *request_build(const struct request_fields *f, const char **bad_key)
{
    json_t *obj = json_object();

    *bad_key = NULL;
    if (obj == NULL)
        return NULL;
    if (set_string(obj, "method", f->method, bad_key) != 0
        || set_string(obj, "hostname", f->hostname, bad_key) != 0
        || set_string(obj, "name", f->name, bad_key) != 0)
        goto fail;
    if (f->properties != NULL) {
        json_t *list = property_list(f->properties);
        if (list == NULL || json_object_set_new(obj, "properties", list) != 0) {
            *bad_key = "properties";
            goto fail;
        }
    }
    if (set_string(obj, "key", f->key, bad_key) != 0
        || set_string(obj, "username", f->username, bad_key) != 0
        || set_string(obj, "password", f->password, bad_key) != 0
        || set_string(obj, "counter-name", f->counter_name, bad_key) != 0)
        goto fail;
    if (f->has_max_sample) {
        json_t *num = json_integer((json_int_t)f->max_sample);
        if (num == NULL || json_object_set_new(obj, "max-sample", num) != 0)
            goto fail;
    }
    if (set_string(obj, "instance", f->instance, bad_key) != 0
        || set_string(obj, "perf-interval", f->perf_interval, bad_key) != 0
        || set_string(obj, "helper", f->helper, bad_key) != 0)
        goto fail;
    return obj;

fail:
    json_decref(obj);
    return NULL;
}

char *request_encode(const json_t *request)
{
    return json_dumps(request, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

char *request_encode_redacted(json_t *request)
{
    json_t *copy;
    char *text;

    if (json_object_get(request, "password") == NULL)
        return request_encode(request);
    copy = json_copy(request); /* shallow: only the top-level key changes */
    if (copy == NULL)
        return NULL;
    if (json_object_set_new(copy, "password", json_string("***")) != 0) {
        json_decref(copy);
        return NULL;
    }
    text = request_encode(copy);
    json_decref(copy);
    return text;
}
