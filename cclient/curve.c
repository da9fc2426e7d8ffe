/*
 * curve.c - read CURVE key files (format in curve.h) into binary keys.
 */
#include "curve.h"

#include "cclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define Z85_KEY_CHARS 40
#define KEY_FILE_MAX_BYTES (64 * 1024) /* key files are tiny; refuse anything huge */

static void wipe(void *buf, size_t len)
{
    volatile unsigned char *p = buf; /* volatile so the stores are not optimised away */

    while (len-- > 0)
        *p++ = 0;
}

/* Read the whole file into a NUL-terminated heap buffer; *len_out excludes the NUL. */
static char *read_file(const char *path, size_t *len_out)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (fp == NULL) {
        fprintf(stderr, "%s: cannot open key file %s: %s\n", CCLIENT_PROGRAM, path,
                strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t got;

        if (cap - len < 2) {
            size_t new_cap = cap == 0 ? 256 : cap * 2;
            char *grown;

            if (new_cap > KEY_FILE_MAX_BYTES + 2) {
                fprintf(stderr, "%s: key file %s is too large\n", CCLIENT_PROGRAM, path);
                goto fail;
            }
            /* Not realloc(): the old block may hold a secret key and must be wiped. */
            grown = malloc(new_cap);
            if (grown == NULL) {
                fprintf(stderr, "%s: out of memory\n", CCLIENT_PROGRAM);
                goto fail;
            }
            if (buf != NULL) {
                memcpy(grown, buf, len);
                wipe(buf, cap);
                free(buf);
            }
            buf = grown;
            cap = new_cap;
        }
        got = fread(buf + len, 1, cap - len - 1, fp);
        len += got;
        if (got == 0) {
            if (ferror(fp)) {
                fprintf(stderr, "%s: cannot read key file %s\n", CCLIENT_PROGRAM, path);
                goto fail;
            }
            break;
        }
    }
    fclose(fp);
    buf[len] = '\0';
    *len_out = len;
    return buf;

fail:
    if (buf != NULL) {
        wipe(buf, cap);
        free(buf);
    }
    fclose(fp);
    return NULL;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Decode the keys of a key file into out[0..count-1]. Exactly `count` keys
 * must be present. Returns 0 or -1 (reason printed).
 */
static int load_keys(const char *path, unsigned char (*out)[CURVE_KEY_BYTES], size_t count)
{
    size_t len = 0, found = 0, lineno = 0;
    char *text = read_file(path, &len);
    char *line;
    int rc = -1;

    if (text == NULL)
        return -1;
    if (memchr(text, '\0', len) != NULL) {
        fprintf(stderr, "%s: %s: not a text file\n", CCLIENT_PROGRAM, path);
        goto done;
    }
    line = text;
    for (;;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        char *end = nl != NULL ? nl : text + len;
        char *first = line, *last = end;

        lineno++;
        while (first < last && is_space(*first))
            first++;
        while (last > first && is_space(last[-1]))
            last--;
        if (last > first && *first != '#') {
            if (found == count) {
                fprintf(stderr, "%s: %s:%zu: expected %zu key%s, found more\n",
                        CCLIENT_PROGRAM, path, lineno, count, count == 1 ? "" : "s");
                goto done;
            }
            if (last - first != Z85_KEY_CHARS) {
                fprintf(stderr, "%s: %s:%zu: a key is %d Z85 characters\n", CCLIENT_PROGRAM,
                        path, lineno, Z85_KEY_CHARS);
                goto done;
            }
            *last = '\0'; /* the length check above makes the decode fit 32 bytes */
            if (zmq_z85_decode(out[found], first) == NULL) {
                fprintf(stderr, "%s: %s:%zu: not a valid Z85 key\n", CCLIENT_PROGRAM, path,
                        lineno);
                goto done;
            }
            found++;
        }
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    if (found != count) {
        fprintf(stderr, "%s: %s: expected %zu key%s, found %zu\n", CCLIENT_PROGRAM, path, count,
                count == 1 ? "" : "s", found);
        goto done;
    }
    rc = 0;

done:
    wipe(text, len);
    free(text);
    return rc;
}

int curve_load(const char *server_key_file, const char *client_key_file, struct curve_keys *keys)
{
    memset(keys, 0, sizeof *keys);
    if (server_key_file == NULL)
        return 0;
    if (!zmq_has("curve")) {
        fprintf(stderr, "%s: this libzmq was built without CURVE support\n", CCLIENT_PROGRAM);
        return -1;
    }
    if (load_keys(server_key_file, &keys->server_public, 1) != 0)
        return -1;
    if (client_key_file != NULL) {
        unsigned char pair[2][CURVE_KEY_BYTES];

        if (load_keys(client_key_file, pair, 2) != 0) {
            wipe(pair, sizeof pair);
            return -1;
        }
        memcpy(keys->client_public, pair[0], CURVE_KEY_BYTES);
        memcpy(keys->client_secret, pair[1], CURVE_KEY_BYTES);
        wipe(pair, sizeof pair);
    } else {
        char public_z85[Z85_KEY_CHARS + 1], secret_z85[Z85_KEY_CHARS + 1];
        int ok = zmq_curve_keypair(public_z85, secret_z85) == 0
                 && zmq_z85_decode(keys->client_public, public_z85) != NULL
                 && zmq_z85_decode(keys->client_secret, secret_z85) != NULL;

        wipe(secret_z85, sizeof secret_z85);
        if (!ok) {
            fprintf(stderr, "%s: cannot generate a CURVE keypair: %s\n", CCLIENT_PROGRAM,
                    zmq_strerror(zmq_errno()));
            curve_wipe(keys);
            return -1;
        }
    }
    keys->enabled = 1;
    return 0;
}

void curve_wipe(struct curve_keys *keys)
{
    wipe(keys, sizeof *keys);
}
