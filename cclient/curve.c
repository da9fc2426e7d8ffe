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

/* Decode one 40-character Z85 key at `first` (NUL-terminated by the caller). */
static int decode_key(const char *path, size_t lineno, char *first, char *last,
                      unsigned char *out)
{
    if (last - first != Z85_KEY_CHARS) {
        fprintf(stderr, "%s: %s:%zu: a key is %d Z85 characters\n", CCLIENT_PROGRAM, path,
                lineno, Z85_KEY_CHARS);
        return -1;
    }
    *last = '\0'; /* the length check above makes the decode fit 32 bytes */
    if (zmq_z85_decode(out, first) == NULL) {
        fprintf(stderr, "%s: %s:%zu: not a valid Z85 key\n", CCLIENT_PROGRAM, path, lineno);
        return -1;
    }
    return 0;
}

/* True when the trimmed line [first, last) is exactly `word`. */
static int line_is(const char *first, const char *last, const char *word)
{
    size_t n = strlen(word);

    return (size_t)(last - first) == n && memcmp(first, word, n) == 0;
}

/*
 * If [first, last) is `name = "KEY"` (or `name = KEY`), point *key_first and
 * *key_last at KEY and return 1; otherwise return 0.
 */
static int zcert_value(char *first, char *last, const char *name, char **key_first,
                       char **key_last)
{
    size_t n = strlen(name);

    if ((size_t)(last - first) <= n || memcmp(first, name, n) != 0)
        return 0;
    first += n;
    while (first < last && is_space(*first))
        first++;
    if (first == last || *first != '=')
        return 0;
    first++;
    while (first < last && is_space(*first))
        first++;
    if (last - first >= 2 && (*first == '"' || *first == '\'') && last[-1] == *first) {
        first++;
        last--;
    }
    *key_first = first;
    *key_last = last;
    return 1;
}

/*
 * zcert format (written by vpoller-keys, zmq.auth.create_certificates and
 * czmq's zcert_save): a `curve` section with `public-key = "..."` and, in the
 * secret file, `secret-key = "..."`. count 1 reads the public key, count 2
 * the public then the secret key.
 */
static int load_zcert(const char *path, char *text, size_t len,
                      unsigned char (*out)[CURVE_KEY_BYTES], size_t count)
{
    static const char *const names[2] = {"public-key", "secret-key"};
    int found[2] = {0, 0};
    size_t lineno = 0, i;
    char *line = text;

    for (;;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        char *end = nl != NULL ? nl : text + len;
        char *first = line, *last = end;

        lineno++;
        while (first < last && is_space(*first))
            first++;
        while (last > first && is_space(last[-1]))
            last--;
        for (i = 0; i < count && last > first && *first != '#'; i++) {
            char *key_first, *key_last;

            if (!zcert_value(first, last, names[i], &key_first, &key_last))
                continue;
            if (found[i]) {
                fprintf(stderr, "%s: %s:%zu: %s given twice\n", CCLIENT_PROGRAM, path, lineno,
                        names[i]);
                return -1;
            }
            if (decode_key(path, lineno, key_first, key_last, out[i]) != 0)
                return -1;
            found[i] = 1;
        }
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    for (i = 0; i < count; i++) {
        if (!found[i]) {
            fprintf(stderr, "%s: %s: no %s in this key file%s\n", CCLIENT_PROGRAM, path,
                    names[i], i == 1 ? " (give the NAME.key_secret file)" : "");
            return -1;
        }
    }
    return 0;
}

/* True when the file is in zcert format: a line that is just `curve`. */
static int is_zcert(const char *text, size_t len)
{
    const char *line = text;

    for (;;) {
        const char *nl = memchr(line, '\n', (size_t)(text + len - line));
        const char *first = line, *last = nl != NULL ? nl : text + len;

        while (first < last && is_space(*first))
            first++;
        while (last > first && is_space(last[-1]))
            last--;
        if (line_is(first, last, "curve"))
            return 1;
        if (nl == NULL)
            return 0;
        line = nl + 1;
    }
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
    if (is_zcert(text, len)) {
        rc = load_zcert(path, text, len, out, count);
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
        /*
         * '#' is a Z85 digit, but the last one (84): a key's first digit is at
         * most 2^32 / 85^4 = 82, so a line starting with '#' is never a key.
         */
        if (last > first && *first != '#') {
            if (found == count) {
                fprintf(stderr, "%s: %s:%zu: expected %zu key%s, found more\n",
                        CCLIENT_PROGRAM, path, lineno, count, count == 1 ? "" : "s");
                goto done;
            }
            if (decode_key(path, lineno, first, last, out[found]) != 0)
                goto done;
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
