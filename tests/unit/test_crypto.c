/* Security primitives (core/crypto.h): password hashes, HS256 access tokens (checked
 * against a token computed independently with Python's hmac/hashlib), opaque tokens and
 * digests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "core/token_cache.h"

#define OPS 1
#define MEM (8192 * 1024)

static int setup(void **state)
{
    return ch_crypto_init();
}

static int teardown(void **state)
{
    ch_password_clear_dummy();
    return 0;
}

/* ---- passwords ------------------------------------------------------------------------------ */

static void test_password_hash_verify(void **state)
{
    const char *pw = "correct horse battery staple";
    char hash[CH_PWHASH_LEN];
    assert_int_equal(ch_password_hash(pw, strlen(pw), OPS, MEM, hash), 0);
    assert_true(strncmp(hash, "$argon2id$", 10) == 0);
    assert_true(strlen(hash) < CH_PWHASH_LEN);
    assert_null(strstr(hash, pw));

    assert_int_equal(ch_password_verify(hash, pw, strlen(pw)), 1);
    assert_int_equal(ch_password_verify(hash, "correct horse battery stapl", strlen(pw) - 1), 0);
    assert_int_equal(ch_password_verify(hash, "Correct horse battery staple", strlen(pw)), 0);
    assert_int_equal(ch_password_verify(hash, pw, strlen(pw) - 1), 0); /* len is honoured */
    assert_int_equal(ch_password_verify(hash, "", 0), 0);

    /* Salted: the same password hashes differently, and both verify. */
    char hash2[CH_PWHASH_LEN];
    assert_int_equal(ch_password_hash(pw, strlen(pw), OPS, MEM, hash2), 0);
    assert_string_not_equal(hash, hash2);
    assert_int_equal(ch_password_verify(hash2, pw, strlen(pw)), 1);

    /* A damaged hash string never verifies. */
    assert_int_equal(ch_password_verify("$argon2id$garbage", pw, strlen(pw)), 0);
    assert_int_equal(ch_password_verify("", pw, strlen(pw)), 0);
}

static void test_password_bytes_not_c_strings(void **state)
{
    /* Passwords are (pointer, length): bytes after an embedded NUL count. */
    const char pw[] = "ab\0cd";
    char hash[CH_PWHASH_LEN];
    assert_int_equal(ch_password_hash(pw, sizeof(pw) - 1, OPS, MEM, hash), 0);
    assert_int_equal(ch_password_verify(hash, pw, sizeof(pw) - 1), 1);
    assert_int_equal(ch_password_verify(hash, "ab\0cx", sizeof(pw) - 1), 0);
    assert_int_equal(ch_password_verify(hash, "ab", 2), 0);
}

static void test_password_verify_null_hash(void **state)
{
    /* Unknown account: always "no", with or without the dummy prepared. */
    assert_int_equal(ch_password_verify(NULL, "anything", 8), 0);
    assert_int_equal(ch_password_init_dummy(OPS, MEM), 0);
    assert_int_equal(ch_password_verify(NULL, "anything", 8), 0);
    assert_int_equal(ch_password_verify(NULL, "", 0), 0);
    ch_password_clear_dummy();
    assert_int_equal(ch_password_verify(NULL, "anything", 8), 0);
}

/* ---- access tokens -------------------------------------------------------------------------- */

/* Python: hashlib.blake2b(SECRET, digest_size=32); JWT with hmac.new(key, h.p, sha256). */
#define SECRET "test-secret-0123456789abcdef0123456789"
#define SECRET_KEY_HEX "a27ade6a65a51ca51e96b462b6c6a4b79715671c1957fa14f987d74c493e5f2d"
#define KNOWN_JWT                                                                                  \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                        \
    "eyJzdWIiOiIxMjMiLCJzaWQiOiI0NTYiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDkwMH0."             \
    "0ynGryKHfhW4Nd37OBtME9uBP3ixPH2wOLvVPcGmJ34"
#define HEADER_NONE "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0" /* {"alg":"none","typ":"JWT"} */

static const ch_token_claims_t known_claims = {123, 456, 1700000000, 1700000900};

static void key_hex(const uint8_t key[CH_TOKEN_KEY_LEN], char hex[2 * CH_TOKEN_KEY_LEN + 1])
{
    sodium_bin2hex(hex, 2 * CH_TOKEN_KEY_LEN + 1, key, CH_TOKEN_KEY_LEN);
}

static ch_err_t verify_str(const uint8_t *key, const char *tok, int64_t now, ch_token_claims_t *c)
{
    return ch_token_verify(key, tok, strlen(tok), now, c);
}

static void test_key_from_secret(void **state)
{
    uint8_t a[CH_TOKEN_KEY_LEN], b[CH_TOKEN_KEY_LEN], c[CH_TOKEN_KEY_LEN];
    char hex[2 * CH_TOKEN_KEY_LEN + 1];
    ch_token_key_from_secret(SECRET, a);
    key_hex(a, hex);
    assert_string_equal(hex, SECRET_KEY_HEX);
    ch_token_key_from_secret(SECRET, b);
    assert_memory_equal(a, b, sizeof(a));
    ch_token_key_from_secret(SECRET "x", c);
    assert_memory_not_equal(a, c, sizeof(a));
    ch_token_key_from_secret("", c);
    key_hex(c, hex);
    assert_string_equal(hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

static void test_token_known_answer(void **state)
{
    uint8_t key[CH_TOKEN_KEY_LEN];
    char tok[CH_JWT_MAX_LEN];
    ch_token_key_from_secret(SECRET, key);
    size_t len = ch_token_sign(key, &known_claims, tok);
    assert_int_equal(len, strlen(tok));
    assert_string_equal(tok, KNOWN_JWT);

    ch_token_claims_t c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(verify_str(key, KNOWN_JWT, 1700000000, &c), CH_OK);
    assert_true(c.user_id == 123);
    assert_true(c.session_id == 456);
    assert_int_equal(c.issued_at_s, 1700000000);
    assert_int_equal(c.expires_at_s, 1700000900);
}

static void test_token_round_trip(void **state)
{
    uint8_t key[CH_TOKEN_KEY_LEN];
    randombytes_buf(key, sizeof(key));
    ch_token_claims_t in = {UINT64_MAX, 18446744073709551000ULL, 1767225600, 1767225600 + 900}, out;
    char tok[CH_JWT_MAX_LEN];
    size_t len = ch_token_sign(key, &in, tok);
    assert_int_equal(len, strlen(tok));
    assert_true(len < CH_JWT_MAX_LEN);
    memset(&out, 0, sizeof(out));
    assert_int_equal(ch_token_verify(key, tok, len, in.issued_at_s, &out), CH_OK);
    assert_true(out.user_id == in.user_id);
    assert_true(out.session_id == in.session_id);
    assert_int_equal(out.issued_at_s, in.issued_at_s);
    assert_int_equal(out.expires_at_s, in.expires_at_s);

    /* The length argument is what counts, not a NUL: a token inside a larger header value. */
    char hdr[CH_JWT_MAX_LEN + 16];
    snprintf(hdr, sizeof(hdr), "%s, more", tok);
    assert_int_equal(ch_token_verify(key, hdr, len, in.issued_at_s, &out), CH_OK);
    assert_int_equal(ch_token_verify(key, hdr, strlen(hdr), in.issued_at_s, &out), CH_ETOKEN);
}

static void test_token_expiry(void **state)
{
    uint8_t key[CH_TOKEN_KEY_LEN];
    ch_token_claims_t c;
    ch_token_key_from_secret(SECRET, key);
    assert_int_equal(verify_str(key, KNOWN_JWT, 1700000899, &c), CH_OK);
    assert_int_equal(verify_str(key, KNOWN_JWT, 1700000900, &c), CH_ETOKEN); /* exp is exclusive */
    assert_int_equal(verify_str(key, KNOWN_JWT, 1800000000, &c), CH_ETOKEN);
}

static void test_token_tampered(void **state)
{
    uint8_t key[CH_TOKEN_KEY_LEN], other[CH_TOKEN_KEY_LEN];
    ch_token_claims_t c;
    char tok[CH_JWT_MAX_LEN * 2];
    const int64_t now = 1700000000;
    ch_token_key_from_secret(SECRET, key);
    const char *payload = strchr(KNOWN_JWT, '.') + 1;
    const char *sig = strrchr(KNOWN_JWT, '.') + 1;

    /* Sanity: the pieces put back together verify. */
    snprintf(tok, sizeof(tok), "%.*s%s", (int)(sig - KNOWN_JWT), KNOWN_JWT, sig);
    assert_int_equal(verify_str(key, tok, now, &c), CH_OK);

    /* Payload for another user ({"sub":"124",...}) under the original signature. */
    char forged[200], b64[300];
    snprintf(forged, sizeof(forged), "{\"sub\":\"124\",\"sid\":\"456\",\"iat\":1700000000,\"exp\":1700000900}");
    sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)forged, strlen(forged),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(tok, sizeof(tok), "%.*s%s.%s", (int)(payload - KNOWN_JWT), KNOWN_JWT, b64, sig);
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);

    /* One character of the payload changed. */
    snprintf(tok, sizeof(tok), "%s", KNOWN_JWT);
    tok[payload - KNOWN_JWT + 5] ^= 1;
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);

    /* One character of the signature changed (first, middle). */
    snprintf(tok, sizeof(tok), "%s", KNOWN_JWT);
    tok[sig - KNOWN_JWT] = tok[sig - KNOWN_JWT] == 'A' ? 'B' : 'A';
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);
    snprintf(tok, sizeof(tok), "%s", KNOWN_JWT);
    tok[sig - KNOWN_JWT + 20] = tok[sig - KNOWN_JWT + 20] == 'A' ? 'B' : 'A';
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);

    /* Another key. */
    ch_token_key_from_secret(SECRET "-other", other);
    assert_int_equal(verify_str(other, KNOWN_JWT, now, &c), CH_ETOKEN);
    memset(other, 0, sizeof(other));
    assert_int_equal(verify_str(other, KNOWN_JWT, now, &c), CH_ETOKEN);
}

/* A verified token is kept for this thread: a repeat is answered from the cache, with the
 * same claims, while a token differing in one byte, or another key, is not (and fails). */
static void test_token_cache(void **state)
{
    uint8_t key[CH_TOKEN_KEY_LEN], other[CH_TOKEN_KEY_LEN];
    ch_token_claims_t c;
    char tok[CH_JWT_MAX_LEN];
    ch_token_key_from_secret(SECRET, key);
    ch_token_key_from_secret(SECRET "-other", other);
    assert_int_equal(verify_str(key, KNOWN_JWT, 1700000000, &c), CH_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(ch_token_cache_get(key, KNOWN_JWT, strlen(KNOWN_JWT), &c), 1);
    assert_true(c.user_id == known_claims.user_id && c.expires_at_s == known_claims.expires_at_s);
    assert_int_equal(ch_token_cache_get(other, KNOWN_JWT, strlen(KNOWN_JWT), &c), 0);
    snprintf(tok, sizeof(tok), "%s", KNOWN_JWT);
    tok[40] ^= 1; /* the payload: same signature, same slot */
    assert_int_equal(ch_token_cache_get(key, tok, strlen(tok), &c), 0);
    assert_int_equal(verify_str(key, tok, 1700000000, &c), CH_ETOKEN);
    /* expiry is checked on every use of a cached token */
    assert_int_equal(verify_str(key, KNOWN_JWT, 1700000900, &c), CH_ETOKEN);
    assert_int_equal(verify_str(key, KNOWN_JWT, 1700000899, &c), CH_OK);
}

static void test_token_alg_none(void **state)
{
    uint8_t key[CH_TOKEN_KEY_LEN];
    ch_token_claims_t c;
    char tok[CH_JWT_MAX_LEN * 2];
    const int64_t now = 1700000000;
    ch_token_key_from_secret(SECRET, key);
    const char *payload = strchr(KNOWN_JWT, '.') + 1;
    const char *sig = strrchr(KNOWN_JWT, '.') + 1;
    int plen = (int)(sig - 1 - payload);

    snprintf(tok, sizeof(tok), "%s.%.*s.", HEADER_NONE, plen, payload);
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);
    snprintf(tok, sizeof(tok), "%s.%.*s", HEADER_NONE, plen, payload);
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);
    snprintf(tok, sizeof(tok), "%s.%.*s.%s", HEADER_NONE, plen, payload, sig);
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);
    /* HS256 header with an empty signature. */
    snprintf(tok, sizeof(tok), "%.*s.", (int)(sig - 1 - KNOWN_JWT), KNOWN_JWT);
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);
}

static void test_token_other_header_even_if_signed(void **state)
{
    /* Only the one header we issue is accepted, even when the rest is correctly signed with
     * our key: no algorithm negotiation through the header. */
    uint8_t key[CH_TOKEN_KEY_LEN];
    ch_token_claims_t c;
    ch_token_key_from_secret(SECRET, key);
    const char *payload = strchr(KNOWN_JWT, '.') + 1;
    const char *headers[] = {
        "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9", /* {"alg":"HS384","typ":"JWT"}, same length */
        HEADER_NONE,
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char tok[CH_JWT_MAX_LEN], sig[64];
        int n = snprintf(tok, sizeof(tok), "%s.%.*s", headers[i], (int)(strrchr(KNOWN_JWT, '.') - payload), payload);
        uint8_t mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key, sizeof(key));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, (size_t)n);
        crypto_auth_hmacsha256_final(&st, mac);
        sodium_bin2base64(sig, sizeof(sig), mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        snprintf(tok + n, sizeof(tok) - (size_t)n, ".%s", sig);
        if (verify_str(key, tok, 1700000000, &c) != CH_ETOKEN)
            fail_msg("token with header %s accepted", headers[i]);
    }
}

static void test_token_malformed(void **state)
{
    uint8_t key[CH_TOKEN_KEY_LEN];
    ch_token_claims_t c;
    const int64_t now = 1700000000;
    ch_token_key_from_secret(SECRET, key);
    size_t full = strlen(KNOWN_JWT);

    /* Truncated at every length. */
    for (size_t n = 0; n < full; n++)
        if (ch_token_verify(key, KNOWN_JWT, n, now, &c) != CH_ETOKEN)
            fail_msg("token truncated to %zu bytes accepted", n);
    /* Extended. */
    char tok[CH_JWT_MAX_LEN * 2];
    snprintf(tok, sizeof(tok), "%sA", KNOWN_JWT);
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);
    snprintf(tok, sizeof(tok), "%s.", KNOWN_JWT);
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);
    snprintf(tok, sizeof(tok), "%s=", KNOWN_JWT);
    assert_int_equal(verify_str(key, tok, now, &c), CH_ETOKEN);

    const char *garbage[] = {"", ".", "..", "a.b.c", "not a token", "Bearer " KNOWN_JWT,
                             "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
                             "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.!!!.???"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        if (verify_str(key, garbage[i], now, &c) != CH_ETOKEN)
            fail_msg("'%s' accepted", garbage[i]);

    /* Random bytes, and something longer than any token we issue. */
    unsigned char rnd[CH_JWT_MAX_LEN + 100];
    randombytes_buf(rnd, sizeof(rnd));
    assert_int_equal(ch_token_verify(key, (const char *)rnd, sizeof(rnd), now, &c), CH_ETOKEN);
    assert_int_equal(ch_token_verify(key, (const char *)rnd, 100, now, &c), CH_ETOKEN);
}

static void test_token_signed_but_bad_claims(void **state)
{
    /* Tokens correctly signed with our key but without usable claims are refused too. */
    uint8_t key[CH_TOKEN_KEY_LEN];
    ch_token_claims_t c;
    char tok[CH_JWT_MAX_LEN];
    ch_token_key_from_secret(SECRET, key);
    ch_token_claims_t no_user = {0, 456, 1700000000, 1700000900};
    ch_token_sign(key, &no_user, tok);
    assert_int_equal(verify_str(key, tok, 1700000000, &c), CH_ETOKEN);
    ch_token_claims_t no_session = {123, 0, 1700000000, 1700000900};
    ch_token_sign(key, &no_session, tok);
    assert_int_equal(verify_str(key, tok, 1700000000, &c), CH_ETOKEN);
}

/* ---- opaque tokens, digests ------------------------------------------------------------------ */

static void test_opaque_token(void **state)
{
    char a[CH_OPAQUE_TOKEN_LEN], b[CH_OPAQUE_TOKEN_LEN];
    ch_opaque_token_new(a);
    ch_opaque_token_new(b);
    assert_int_equal(strlen(a), 43);
    assert_int_equal(strlen(b), 43);
    assert_string_not_equal(a, b);
    for (size_t i = 0; i < 43; i++) {
        char ch = a[i];
        int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                 ch == '_';
        if (!ok)
            fail_msg("'%c' at %zu is not base64url", ch, i);
    }
    /* It decodes back to 32 bytes. */
    unsigned char raw[64];
    size_t raw_len = 0;
    assert_int_equal(sodium_base642bin(raw, sizeof(raw), a, 43, NULL, &raw_len, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    assert_int_equal(raw_len, 32);
}

/* The refresh successor, computed independently in Python:
 *   sub = hashlib.blake2b(b"", digest_size=32, key=key, salt=(1).to_bytes(8, "little") + bytes(8),
 *                         person=b"chrefsuc" + bytes(8)).digest()      (crypto_kdf_derive_from_key)
 *   base64url(hmac.new(sub, token, sha256).digest()) without padding. */
static void test_opaque_token_successor(void **state)
{
    uint8_t key[CH_TOKEN_KEY_LEN], other[CH_TOKEN_KEY_LEN];
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t)i;
        other[i] = (uint8_t)(i + 1);
    }
    const char *tok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
    char a[CH_OPAQUE_TOKEN_LEN], b[CH_OPAQUE_TOKEN_LEN], c[CH_OPAQUE_TOKEN_LEN];
    ch_opaque_token_successor(key, tok, strlen(tok), a);
    assert_string_equal(a, "m48ajiKQrKnWH1tHSuumdsnDBzgtGkevx28hSyAHRf4");
    ch_opaque_token_successor(key, tok, strlen(tok), b); /* deterministic */
    assert_string_equal(a, b);
    ch_opaque_token_successor(key, a, strlen(a), c); /* its own successor: the next in the chain */
    assert_string_equal(c, "lebElm9a_fm0QFIvW8m9wlCJsTokrNwdLtyIIuYQWgc");
    /* Not the plain HMAC under the token key (that is what signs access tokens). */
    assert_string_not_equal(a, "B0T4esd4cNsx2tLJL-zQLZtBY8Ua-zfD7mDtq6Cb0jw");
    ch_opaque_token_successor(other, tok, strlen(tok), b); /* another key, another successor */
    assert_string_not_equal(a, b);
    ch_opaque_token_successor(key, tok, strlen(tok) - 1, b); /* len counts */
    assert_string_not_equal(a, b);
}

static void test_digest_hex(void **state)
{
    char out[CH_DIGEST_HEX_LEN];
    ch_digest_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ch_digest_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ch_digest_hex("abcd", 3, out); /* len counts, not the NUL */
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash_verify),
        cmocka_unit_test(test_password_bytes_not_c_strings),
        cmocka_unit_test(test_password_verify_null_hash),
        cmocka_unit_test(test_key_from_secret),
        cmocka_unit_test(test_token_known_answer),
        cmocka_unit_test(test_token_round_trip),
        cmocka_unit_test(test_token_expiry),
        cmocka_unit_test(test_token_tampered),
        cmocka_unit_test(test_token_cache),
        cmocka_unit_test(test_token_alg_none),
        cmocka_unit_test(test_token_other_header_even_if_signed),
        cmocka_unit_test(test_token_malformed),
        cmocka_unit_test(test_token_signed_but_bad_claims),
        cmocka_unit_test(test_opaque_token),
        cmocka_unit_test(test_opaque_token_successor),
        cmocka_unit_test(test_digest_hex),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
