/* Security primitives on libsodium: Argon2id password hashes, HS256 JWT access tokens,
 * random opaque tokens and their stored digests. */
#ifndef CH_CORE_CRYPTO_H
#define CH_CORE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#include "core/err.h"

#define CH_PWHASH_LEN crypto_pwhash_STRBYTES
#define CH_TOKEN_KEY_LEN 32
#define CH_OPAQUE_TOKEN_LEN 44   /* 32 random bytes, base64url without padding, + NUL */
#define CH_DIGEST_HEX_LEN 65     /* SHA-256 as hex + NUL */
#define CH_JWT_MAX_LEN 512

/** Initialises libsodium; call once at start-up. Returns 0 on success. */
int ch_crypto_init(void);
/** Hashes a password with Argon2id into out (CH_PWHASH_LEN bytes). 0 on success, -1 when
 * out of memory. Slow by design: call from a worker thread. */
int ch_password_hash(const char *pw, size_t len, uint64_t opslimit, size_t memlimit, char out[CH_PWHASH_LEN]);
/** Whether pw matches an Argon2id hash string. hash may be NULL, in which case a dummy hash
 * is checked so that an unknown account takes the same time as a wrong password. */
int ch_password_verify(const char *hash, const char *pw, size_t len);
/** Prepares the dummy hash with the configured cost (call once at start-up). */
int ch_password_init_dummy(uint64_t opslimit, size_t memlimit);
/** Frees the dummy hash. */
void ch_password_clear_dummy(void);

/** Claims carried by an access token. */
typedef struct {
    uint64_t user_id;
    uint64_t session_id;
    int64_t issued_at_s;
    int64_t expires_at_s;
} ch_token_claims_t;

/** Signs claims as a compact HS256 JWT into out (>= CH_JWT_MAX_LEN). Returns its length. */
size_t ch_token_sign(const uint8_t key[CH_TOKEN_KEY_LEN], const ch_token_claims_t *claims, char *out);
/** Verifies a compact JWT (signature, header, expiry against now_s) and fills claims.
 * CH_ETOKEN for anything wrong. */
ch_err_t ch_token_verify(const uint8_t key[CH_TOKEN_KEY_LEN], const char *token, size_t len, int64_t now_s,
                         ch_token_claims_t *claims);
/** Derives a token key from a configured secret string (BLAKE2b-256). */
void ch_token_key_from_secret(const char *secret, uint8_t key[CH_TOKEN_KEY_LEN]);

/** A new 256-bit random opaque token, base64url, into out (CH_OPAQUE_TOKEN_LEN bytes). */
void ch_opaque_token_new(char out[CH_OPAQUE_TOKEN_LEN]);
/** The successor of a refresh token, into out (CH_OPAQUE_TOKEN_LEN bytes): base64url of
 * HMAC-SHA256 of token under a subkey of key made for this use only (crypto_kdf, its own
 * context), so it is unrelated to any access-token MAC. Deterministic: whoever holds key
 * can recompute it from the presented token, nobody else can; so only the successor's
 * digest needs storing. token is borrowed, any length. */
void ch_opaque_token_successor(const uint8_t key[CH_TOKEN_KEY_LEN], const char *token, size_t len,
                               char out[CH_OPAQUE_TOKEN_LEN]);
/** SHA-256 of data as lower-case hex into out (CH_DIGEST_HEX_LEN bytes). */
void ch_digest_hex(const void *data, size_t len, char out[CH_DIGEST_HEX_LEN]);

#endif
