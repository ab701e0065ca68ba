#include "svc/common/idempotency.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "svc/common/sql.h"

int ch_idem_key_valid(const char *key, size_t len)
{
    if (len < 1 || len > CH_IDEMPOTENCY_KEY_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7E)
            return 0;
    return 1;
}

/* Keyed BLAKE2b over (tag, route, body): tag 'h' gives the stored request fingerprint,
 * tag 's' the sealing key of the stored response. */
static void ch__derive(ch_svc_t *svc, char tag, const ch_idem_req_t *req, uint8_t out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, svc->sealing_key, sizeof(svc->sealing_key), 32);
    crypto_generichash_update(&st, (const unsigned char *)&tag, 1);
    crypto_generichash_update(&st, (const unsigned char *)req->route, strlen(req->route) + 1);
    crypto_generichash_update(&st, (const unsigned char *)req->body, req->body_len);
    crypto_generichash_final(&st, out, 32);
}

static void ch__fingerprint(ch_svc_t *svc, const ch_idem_req_t *req, char hex[65])
{
    uint8_t h[32];
    ch__derive(svc, 'h', req, h);
    sodium_bin2hex(hex, 65, h, sizeof(h));
}

/* Opens a sealed response; NULL when it does not open (key or data damaged). */
static char *ch__unseal(ch_svc_t *svc, const ch_idem_req_t *req, const char *b64)
{
    size_t raw_cap = strlen(b64), raw_len = 0;
    unsigned char *raw = malloc(raw_cap + 1);
    char *plain = NULL;
    uint8_t key[32];
    ch__derive(svc, 's', req, key);
    if (sodium_base642bin(raw, raw_cap, b64, strlen(b64), NULL, &raw_len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
        raw_len >= crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        size_t plain_len = raw_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
        plain = malloc(plain_len + 1);
        if (crypto_secretbox_open_easy((unsigned char *)plain, raw + crypto_secretbox_NONCEBYTES,
                                       raw_len - crypto_secretbox_NONCEBYTES, raw, key) == 0) {
            plain[plain_len] = '\0';
        } else {
            free(plain);
            plain = NULL;
        }
    }
    free(raw);
    return plain;
}

static char *ch__seal(ch_svc_t *svc, const ch_idem_req_t *req, const char *body, size_t len)
{
    uint8_t key[32];
    ch__derive(svc, 's', req, key);
    size_t raw_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    unsigned char *raw = malloc(raw_len);
    randombytes_buf(raw, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(raw + crypto_secretbox_NONCEBYTES, (const unsigned char *)body, len, raw, key);
    size_t b64_len = sodium_base64_ENCODED_LEN(raw_len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    sodium_bin2base64(b64, b64_len, raw, raw_len, sodium_base64_VARIANT_ORIGINAL);
    free(raw);
    return b64;
}

ch_err_t ch_idem_begin(ch_svc_t *svc, const ch_idem_req_t *req, int *replay_status, char **replay_body,
                       ch_fault_t *f)
{
    char fp[65];
    ch__fingerprint(svc, req, fp);
    int64_t now = ch_now_ms();
    *replay_status = 0;
    *replay_body = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        int64_t inserted = 0;
        ch_db_param_t ins[] = {CH_DB_P_INT(req->user_id), CH_DB_P_TEXT(req->key), CH_DB_P_TEXT(req->route),
                               CH_DB_P_TEXT(fp), CH_DB_P_INT(now)};
        ch_err_t err = ch_sql_run(svc,
                                  "INSERT INTO idempotency_keys(user_id, idem_key, route, request_hash, status, created_at) "
                                  "VALUES($1, $2, $3, $4, 0, $5) ON CONFLICT (user_id, idem_key) DO NOTHING",
                                  ins, CH_NPARAMS(ins), NULL, &inserted);
        if (err || inserted == 1)
            return err;

        ch_db_rows_t *rows = NULL;
        ch_db_param_t sel[] = {CH_DB_P_INT(req->user_id), CH_DB_P_TEXT(req->key)};
        if ((err = ch_sql_run(svc,
                              "SELECT route, request_hash, status, response, created_at FROM idempotency_keys "
                              "WHERE user_id = $1 AND idem_key = $2",
                              sel, 2, &rows, NULL)) != CH_OK)
            return err;
        if (ch_db_rows_count(rows) == 0) { /* released meanwhile: claim again */
            ch_db_rows_free(rows);
            continue;
        }
        if (ch_db_rows_int(rows, 0, 4) < now - CH_IDEMPOTENCY_TTL_MS) { /* expired: forget it */
            ch_db_rows_free(rows);
            ch_db_param_t del[] = {CH_DB_P_INT(req->user_id), CH_DB_P_TEXT(req->key),
                                   CH_DB_P_INT(now - CH_IDEMPOTENCY_TTL_MS)};
            if ((err = ch_sql_run(svc,
                                  "DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND created_at < $3",
                                  del, 3, NULL, NULL)) != CH_OK)
                return err;
            continue;
        }
        if (strcmp(ch_db_rows_text(rows, 0, 0), req->route) != 0 || strcmp(ch_db_rows_text(rows, 0, 1), fp) != 0)
            err = ch_fault(f, CH_EIDEMPOTENCYMISMATCH, "Idempotency-Key",
                           "this Idempotency-Key was used with a different request");
        else if (ch_db_rows_int(rows, 0, 2) == 0)
            err = ch_fault(f, CH_EIDEMPOTENCYBUSY, "Idempotency-Key", "a request with this Idempotency-Key is in progress");
        else if ((*replay_body = ch__unseal(svc, req, ch_db_rows_text(rows, 0, 3))) == NULL)
            err = ch_fault(f, CH_EINTERNAL, NULL, "stored response cannot be opened");
        else
            *replay_status = (int)ch_db_rows_int(rows, 0, 2);
        ch_db_rows_free(rows);
        return err;
    }
    return ch_fault(f, CH_EIDEMPOTENCYBUSY, "Idempotency-Key", "a request with this Idempotency-Key is in progress");
}

void ch_idem_finish(ch_svc_t *svc, const ch_idem_req_t *req, int status, const char *body, size_t len)
{
    ch_err_t err;
    if (status >= 500) {
        ch_db_param_t p[] = {CH_DB_P_INT(req->user_id), CH_DB_P_TEXT(req->key)};
        err = ch_sql_run(svc, "DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND status = 0", p, 2,
                         NULL, NULL);
    } else {
        char *sealed = ch__seal(svc, req, body ? body : "", body ? len : 0);
        ch_db_param_t p[] = {CH_DB_P_INT(req->user_id), CH_DB_P_TEXT(req->key), CH_DB_P_INT(status),
                             CH_DB_P_TEXT(sealed)};
        err = ch_sql_run(svc, "UPDATE idempotency_keys SET status = $3, response = $4 WHERE user_id = $1 AND idem_key = $2",
                         p, CH_NPARAMS(p), NULL, NULL);
        free(sealed);
    }
    if (err)
        ch_log_warn("idempotency record for key '%s' not saved: %s", req->key, ch_err_code(err));
}
