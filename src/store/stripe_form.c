/* Stripe's form encoding (store/stripe.h): a JSON object flattened to
 * application/x-www-form-urlencoded the way Stripe's own libraries send it, e.g.
 * {"metadata": {"order": "7"}, "expand": ["latest_charge"]} becomes
 * metadata[order]=7&expand[0]=latest_charge. Keys are visited in the object's order (Jansson
 * keeps insertion order), so equal params give equal bodies: a retried POST carries the same
 * bytes under the same Idempotency-Key. */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "store/stripe.h"

/* Nesting deeper than this is refused (Stripe's own params nest 4 levels at most). */
#define CH__STRIPE_FORM_MAX_DEPTH 8
/* A key path longer than this is refused (bounded stack buffer per level). */
#define CH__STRIPE_FORM_MAX_KEY 1024

/* Appends s percent-encoded: everything but RFC 3986 unreserved characters as %XX. */
static void ch__pct(ch_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            ch_buf_append(b, (const char *)&c, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            ch_buf_append(b, esc, 3);
        }
    }
}

/* Appends one pair; key is already encoded. */
static void ch__pair(ch_buf_t *b, const char *key, const char *val, size_t vlen)
{
    if (b->len)
        ch_buf_append(b, "&", 1);
    ch_buf_append(b, key, strlen(key));
    ch_buf_append(b, "=", 1);
    ch__pct(b, val, vlen);
}

/* Encodes v under the encoded key path key; -1 on a value it cannot encode. */
static int ch__value(ch_buf_t *b, const char *key, const json_t *v, int depth)
{
    char num[32];
    if (depth > CH__STRIPE_FORM_MAX_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_STRING:
        ch__pair(b, key, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        ch__pair(b, key, num, strlen(num));
        return 0;
    case JSON_TRUE:
        ch__pair(b, key, "true", 4);
        return 0;
    case JSON_FALSE:
        ch__pair(b, key, "false", 5);
        return 0;
    case JSON_NULL: /* Stripe reads an empty value as "unset this field" */
        ch__pair(b, key, "", 0);
        return 0;
    case JSON_REAL: /* money is integers; a real is a caller's bug */
        return -1;
    case JSON_ARRAY:
    case JSON_OBJECT:
        break;
    }
    ch_buf_t sub = CH_BUF_INIT;
    int rc = 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item) {
            sub.len = 0;
            ch_buf_printf(&sub, "%s%%5B%zu%%5D", key, i);
            if (sub.len > CH__STRIPE_FORM_MAX_KEY || ch__value(b, sub.data, item, depth + 1) != 0) {
                rc = -1;
                break;
            }
        }
    } else {
        const char *k;
        const json_t *item;
        json_object_foreach((json_t *)v, k, item) {
            if (strpbrk(k, "[]")) { /* Stripe forbids them (metadata keys); they would read as nesting */
                rc = -1;
                break;
            }
            sub.len = 0;
            ch_buf_append(&sub, key, strlen(key));
            ch_buf_append(&sub, "%5B", 3);
            ch__pct(&sub, k, strlen(k));
            ch_buf_append(&sub, "%5D", 3);
            if (sub.len > CH__STRIPE_FORM_MAX_KEY || ch__value(b, sub.data, item, depth + 1) != 0) {
                rc = -1;
                break;
            }
        }
    }
    ch_buf_clear(&sub);
    return rc;
}

char *ch_stripe_form_encode(const json_t *params)
{
    ch_buf_t b = CH_BUF_INIT, key = CH_BUF_INIT;
    if (params && !json_is_object(params))
        return NULL;
    if (params) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)params, k, v) {
            if (strpbrk(k, "[]")) {
                ch_buf_clear(&key);
                ch_buf_clear(&b);
                return NULL;
            }
            key.len = 0;
            ch__pct(&key, k, strlen(k));
            if (!key.data)
                ch_buf_append(&key, "", 0);
            if (key.len > CH__STRIPE_FORM_MAX_KEY || ch__value(&b, key.data, v, 1) != 0) {
                ch_buf_clear(&key);
                ch_buf_clear(&b);
                return NULL;
            }
        }
    }
    ch_buf_clear(&key);
    if (!b.data)
        ch_buf_append(&b, "", 0);
    return b.data;
}
