#include "core/crypto.h"
#include "core/token_cache.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"

/* ---- passwords ------------------------------------------------------------------------ */

static char ch__dummy_hash[CH_PWHASH_LEN];
static int ch__dummy_ready;

int ch_crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

int ch_password_hash(const char *pw, size_t len, uint64_t opslimit, size_t memlimit, char out[CH_PWHASH_LEN])
{
    return crypto_pwhash_str(out, pw, len, opslimit, memlimit) == 0 ? 0 : -1;
}

int ch_password_init_dummy(uint64_t opslimit, size_t memlimit)
{
    char pw[32];
    randombytes_buf(pw, sizeof(pw));
    if (ch_password_hash(pw, sizeof(pw), opslimit, memlimit, ch__dummy_hash) != 0)
        return -1;
    ch__dummy_ready = 1;
    return 0;
}

void ch_password_clear_dummy(void)
{
    sodium_memzero(ch__dummy_hash, sizeof(ch__dummy_hash));
    ch__dummy_ready = 0;
}

int ch_password_verify(const char *hash, const char *pw, size_t len)
{
    if (!hash) {
        /* Same work as a real check; the answer is no whatever the dummy says. */
        if (ch__dummy_ready && crypto_pwhash_str_verify(ch__dummy_hash, pw, len) == 0)
            return 0;
        return 0;
    }
    return crypto_pwhash_str_verify(hash, pw, len) == 0;
}

/* ---- JWT (HS256) ------------------------------------------------------------------------ */

#define CH__B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
/* base64url of {"alg":"HS256","typ":"JWT"}: the only header we issue or accept. */
static const char ch__jwt_header[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

static void ch__hmac(const uint8_t key[CH_TOKEN_KEY_LEN], const char *msg, size_t len,
                     uint8_t mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, CH_TOKEN_KEY_LEN);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, len);
    crypto_auth_hmacsha256_final(&st, mac);
}

size_t ch_token_sign(const uint8_t key[CH_TOKEN_KEY_LEN], const ch_token_claims_t *claims, char *out)
{
    char payload[160], uid[CH_ID_STR_LEN], sid[CH_ID_STR_LEN];
    int plen = snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"sid\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
                        ch_id_format(claims->user_id, uid), ch_id_format(claims->session_id, sid),
                        (long long)claims->issued_at_s, (long long)claims->expires_at_s);
    size_t len = sizeof(ch__jwt_header) - 1;
    memcpy(out, ch__jwt_header, len);
    out[len++] = '.';
    sodium_bin2base64(out + len, CH_JWT_MAX_LEN - len, (const unsigned char *)payload, (size_t)plen, CH__B64);
    len += strlen(out + len);
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    ch__hmac(key, out, len, mac);
    out[len++] = '.';
    sodium_bin2base64(out + len, CH_JWT_MAX_LEN - len, mac, sizeof(mac), CH__B64);
    return len + strlen(out + len);
}

ch_err_t ch_token_verify(const uint8_t key[CH_TOKEN_KEY_LEN], const char *token, size_t len, int64_t now_s,
                         ch_token_claims_t *claims)
{
    const size_t hlen = sizeof(ch__jwt_header) - 1;
    if (len >= CH_JWT_MAX_LEN || len < hlen + 2 || memcmp(token, ch__jwt_header, hlen) != 0 || token[hlen] != '.')
        return CH_ETOKEN;
    if (ch_token_cache_get(key, token, len, claims)) /* verified by this thread before */
        return claims->expires_at_s > now_s ? CH_OK : CH_ETOKEN;
    const char *dot = memchr(token + hlen + 1, '.', len - hlen - 1);
    if (!dot)
        return CH_ETOKEN;
    size_t signed_len = (size_t)(dot - token);
    uint8_t mac[crypto_auth_hmacsha256_BYTES], given[crypto_auth_hmacsha256_BYTES];
    size_t given_len = 0;
    if (sodium_base642bin(given, sizeof(given), dot + 1, len - signed_len - 1, NULL, &given_len, NULL, CH__B64) != 0 ||
        given_len != sizeof(given))
        return CH_ETOKEN;
    ch__hmac(key, token, signed_len, mac);
    if (sodium_memcmp(mac, given, sizeof(mac)) != 0)
        return CH_ETOKEN;

    char payload[256];
    size_t plen = 0;
    const char *p64 = token + hlen + 1;
    if (sodium_base642bin((unsigned char *)payload, sizeof(payload) - 1, p64, (size_t)(dot - p64), NULL, &plen, NULL,
                          CH__B64) != 0)
        return CH_ETOKEN;
    json_t *obj = json_loadb(payload, plen, 0, NULL);
    ch_err_t err = CH_ETOKEN;
    if (json_is_object(obj)) {
        claims->user_id = ch_id_parse(json_string_value(json_object_get(obj, "sub")));
        claims->session_id = ch_id_parse(json_string_value(json_object_get(obj, "sid")));
        claims->issued_at_s = json_integer_value(json_object_get(obj, "iat"));
        claims->expires_at_s = json_integer_value(json_object_get(obj, "exp"));
        if (claims->user_id && claims->session_id && claims->expires_at_s > now_s) {
            err = CH_OK;
            ch_token_cache_put(key, token, len, claims);
        }
    }
    json_decref(obj);
    return err;
}

void ch_token_key_from_secret(const char *secret, uint8_t key[CH_TOKEN_KEY_LEN])
{
    crypto_generichash(key, CH_TOKEN_KEY_LEN, (const unsigned char *)secret, strlen(secret), NULL, 0);
}

/* ---- opaque tokens ---------------------------------------------------------------------- */

void ch_opaque_token_new(char out[CH_OPAQUE_TOKEN_LEN])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, CH_OPAQUE_TOKEN_LEN, raw, sizeof(raw), CH__B64);
}

/* crypto_kdf context (8 bytes) and subkey id of the refresh-successor key. */
#define CH__SUCCESSOR_CTX "chrefsuc"
#define CH__SUCCESSOR_SUBKEY 1

void ch_opaque_token_successor(const uint8_t key[CH_TOKEN_KEY_LEN], const char *token, size_t len,
                               char out[CH_OPAQUE_TOKEN_LEN])
{
    _Static_assert(CH_TOKEN_KEY_LEN == crypto_kdf_KEYBYTES, "the token key is a crypto_kdf master key");
    uint8_t subkey[crypto_auth_hmacsha256_KEYBYTES], mac[crypto_auth_hmacsha256_BYTES];
    crypto_kdf_derive_from_key(subkey, sizeof(subkey), CH__SUCCESSOR_SUBKEY, CH__SUCCESSOR_CTX, key);
    crypto_auth_hmacsha256(mac, (const unsigned char *)token, len, subkey);
    sodium_bin2base64(out, CH_OPAQUE_TOKEN_LEN, mac, sizeof(mac), CH__B64);
    sodium_memzero(subkey, sizeof(subkey));
}

void ch_digest_hex(const void *data, size_t len, char out[CH_DIGEST_HEX_LEN])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, CH_DIGEST_HEX_LEN, h, sizeof(h));
}
