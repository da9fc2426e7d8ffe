/*
 * curve.h - CURVE keys for the client socket, read from Z85 key files.
 *
 * Key files (both formats documented in README.md) are either zcert files,
 * as written by vpoller-keys (NAME.key: public key; NAME.key_secret: key
 * pair), recognised by their `curve` section line, or plain key lists:
 *   - blank lines and lines starting with '#' are ignored;
 *   - every other line holds one key: 40 characters of Z85, surrounding
 *     whitespace ignored;
 *   - --curve-server-key FILE: one key, the server's public key;
 *   - --curve-key FILE: two keys, the client's public key then its secret key.
 * Without --curve-key the client uses a fresh ephemeral keypair, which suits
 * servers that do not authenticate clients.
 */
#ifndef VPOLLER_CCLIENT_CURVE_H
#define VPOLLER_CCLIENT_CURVE_H

#define CURVE_KEY_BYTES 32

struct curve_keys {
    int enabled;
    unsigned char server_public[CURVE_KEY_BYTES];
    unsigned char client_public[CURVE_KEY_BYTES];
    unsigned char client_secret[CURVE_KEY_BYTES];
};

/*
 * Load the keys. server_key_file NULL disables CURVE (keys->enabled = 0).
 * Returns 0, or -1 after printing the reason on stderr.
 */
int curve_load(const char *server_key_file, const char *client_key_file, struct curve_keys *keys);

/* Overwrite the secret key so it does not linger in memory. */
void curve_wipe(struct curve_keys *keys);

#endif
