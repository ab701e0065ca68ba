/* Stripe webhook signatures (store/stripe.h): "Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...]"
 * where each v1 is HMAC-SHA256 keyed with a webhook secret (the whole "whsec_..." string, as
 * Stripe's libraries use it) over "<t>.<raw body>". While a secret is rolled Stripe sends one
 * v1 per secret, and the receiver knows one or both: any pair that matches is enough. v0 and
 * unknown schemes are ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/stripe.h"

/* A header longer than this is refused unread (a real one holds a few signatures). */
#define CH__STRIPE_SIG_HEADER_MAX 4096
/* At most this many v1 entries are compared (two while rolling; a few more is harmless). */
#define CH__STRIPE_SIG_MAX_V1 8
/* A timestamp has at most this many digits (unix seconds until the year 33658). */
#define CH__STRIPE_SIG_MAX_T_DIGITS 12

/* Parses the header: *t and up to CH__STRIPE_SIG_MAX_V1 decoded v1 digests. 0 when it holds
 * exactly one well-formed t and at least one well-formed v1. */
static int ch__parse(const char *header, int64_t *t, unsigned char (*v1)[crypto_auth_hmacsha256_BYTES], size_t *nv1)
{
    int have_t = 0;
    *nv1 = 0;
    size_t hlen = strnlen(header, CH__STRIPE_SIG_HEADER_MAX + 1);
    if (hlen > CH__STRIPE_SIG_HEADER_MAX)
        return -1;
    const char *p = header, *end = header + hlen;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        while (p < item_end && (*p == ' ' || *p == '\t'))
            p++;
        const char *eq = memchr(p, '=', (size_t)(item_end - p));
        if (!eq)
            return -1; /* every item is key=value */
        size_t klen = (size_t)(eq - p);
        const char *val = eq + 1;
        size_t vlen = (size_t)(item_end - val);
        while (vlen && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
            vlen--;
        if (klen == 1 && p[0] == 't') {
            if (have_t || vlen == 0 || vlen > CH__STRIPE_SIG_MAX_T_DIGITS)
                return -1;
            int64_t n = 0;
            for (size_t i = 0; i < vlen; i++) {
                if (val[i] < '0' || val[i] > '9')
                    return -1;
                n = n * 10 + (val[i] - '0');
            }
            *t = n;
            have_t = 1;
        } else if (klen == 2 && p[0] == 'v' && p[1] == '1') {
            size_t bin_len = 0;
            const char *hex_end = NULL;
            if (vlen == 2 * crypto_auth_hmacsha256_BYTES && *nv1 < CH__STRIPE_SIG_MAX_V1 &&
                sodium_hex2bin(v1[*nv1], crypto_auth_hmacsha256_BYTES, val, vlen, NULL, &bin_len, &hex_end) == 0 &&
                bin_len == crypto_auth_hmacsha256_BYTES && hex_end == val + vlen)
                (*nv1)++;
            /* a v1 that is not 64 hex digits can match nothing: skipped, like an unknown scheme */
        }
        p = comma ? comma + 1 : end;
    }
    return have_t && *nv1 ? 0 : -1;
}

ch_err_t ch_stripe_verify_signature(const char *header, const char *payload, size_t len,
                                    const char *const *secrets, size_t nsecrets, int64_t now_s,
                                    int64_t tolerance_s)
{
    unsigned char v1[CH__STRIPE_SIG_MAX_V1][crypto_auth_hmacsha256_BYTES];
    size_t nv1 = 0;
    int64_t t = 0;
    if (!header || (!payload && len) || ch__parse(header, &t, v1, &nv1) != 0)
        return CH_EUNAUTH;
    if (tolerance_s < 0 || t < now_s - tolerance_s || t > now_s + tolerance_s)
        return CH_EUNAUTH; /* stale (a replay) or from the future (a clock far off) */
    char tbuf[CH__STRIPE_SIG_MAX_T_DIGITS + 2];
    int tlen = snprintf(tbuf, sizeof(tbuf), "%lld.", (long long)t);
    int ok = 0;
    for (size_t i = 0; i < nsecrets; i++) {
        if (!secrets[i] || !secrets[i][0])
            continue;
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)secrets[i], strlen(secrets[i]));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)tbuf, (unsigned long long)tlen);
        if (len)
            crypto_auth_hmacsha256_update(&st, (const unsigned char *)payload, len);
        crypto_auth_hmacsha256_final(&st, mac);
        /* every pair is compared (no early exit): the time taken says nothing about which matched */
        for (size_t j = 0; j < nv1; j++)
            ok |= sodium_memcmp(mac, v1[j], sizeof(mac)) == 0;
        sodium_memzero(&st, sizeof(st));
    }
    return ok ? CH_OK : CH_EUNAUTH;
}
