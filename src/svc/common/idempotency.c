#include "svc/common/idempotency.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "svc/common/sql.h"

/* Members of a credentials route's answer that are never stored. */
static const char *const ch__token_fields[] = {"access_token", "refresh_token", "expires_in"};

int ch_idem_key_valid(const char *key, size_t len)
{
    if (len < 1 || len > CH_IDEMPOTENCY_KEY_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7E)
            return 0;
    return 1;
}

/* Plain BLAKE2b-256 of (route, body). Nothing in it is secret, so it needs no key: a
 * credentials route hashes its body without the password (re-serialised with sorted keys);
 * the password is checked against the account's Argon2id hash on replay instead. */
static void ch__fingerprint(const ch_idem_req_t *req, char hex[65])
{
    crypto_generichash_state st;
    uint8_t h[32];
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const unsigned char *)req->route, strlen(req->route) + 1);
    if (req->credentials && json_is_object(req->json)) {
        json_t *copy = json_deep_copy(req->json);
        json_object_del(copy, "password");
        char *text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
        if (text)
            crypto_generichash_update(&st, (const unsigned char *)text, strlen(text));
        free(text);
        json_decref(copy);
    } else {
        crypto_generichash_update(&st, (const unsigned char *)req->body, req->body_len);
    }
    crypto_generichash_final(&st, h, sizeof(h));
    sodium_bin2hex(hex, 65, h, sizeof(h));
}

/* The answer as stored: a credentials route's tokens removed. Caller frees. */
static char *ch__storable(const ch_idem_req_t *req, const char *body)
{
    if (!body)
        return ch_strdup("");
    if (!req->credentials)
        return ch_strdup(body);
    json_t *doc = json_loads(body, JSON_DECODE_ANY, NULL);
    if (!json_is_object(doc)) { /* cannot hold a token member then */
        json_decref(doc);
        return ch_strdup(body);
    }
    for (size_t i = 0; i < sizeof(ch__token_fields) / sizeof(ch__token_fields[0]); i++)
        json_object_del(doc, ch__token_fields[i]);
    char *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

ch_err_t ch_idem_lookup(ch_svc_t *svc, const ch_idem_req_t *req, int *status, char **body, ch_fault_t *f)
{
    *status = 0;
    *body = NULL;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(req->user_id), CH_DB_P_TEXT(req->key),
                         CH_DB_P_INT(ch_now_ms() - CH_IDEMPOTENCY_TTL_MS)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT route, fingerprint, status, response FROM idempotency_keys "
                              "WHERE user_id = $1 AND idem_key = $2 AND created_at >= $3",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err != CH_OK || ch_db_rows_count(rows) == 0) {
        ch_db_rows_free(rows);
        return err;
    }
    char fp[65];
    ch__fingerprint(req, fp);
    if (strcmp(ch_db_rows_text(rows, 0, 0), req->route) != 0 || strcmp(ch_db_rows_text(rows, 0, 1), fp) != 0) {
        err = ch_fault(f, CH_EIDEMPOTENCYMISMATCH, "Idempotency-Key",
                       "this Idempotency-Key was used with a different request");
    } else {
        *status = (int)ch_db_rows_int(rows, 0, 2);
        *body = ch_strdup(ch_db_rows_text(rows, 0, 3));
    }
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_idem_record(ch_svc_t *svc, const ch_idem_req_t *req, int status, const char *body, int *taken)
{
    *taken = 0;
    char fp[65];
    ch__fingerprint(req, fp);
    char *stored = ch__storable(req, body);
    if (!stored)
        return CH_EINTERNAL;
    int64_t now = ch_now_ms(), changed = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(req->user_id), CH_DB_P_TEXT(req->key),   CH_DB_P_TEXT(req->route),
                         CH_DB_P_TEXT(fp),           CH_DB_P_INT(status),      CH_DB_P_TEXT(stored),
                         CH_DB_P_INT(now),           CH_DB_P_INT(now - CH_IDEMPOTENCY_TTL_MS)};
    /* An expired row (not swept yet) is taken over; a live one belongs to a request that
     * committed first (on PostgreSQL this waits for it to end). */
    ch_err_t err = ch_sql_run(svc,
                              "INSERT INTO idempotency_keys(user_id, idem_key, route, fingerprint, status, response, "
                              "created_at) VALUES($1, $2, $3, $4, $5, $6, $7) "
                              "ON CONFLICT (user_id, idem_key) DO UPDATE SET route = excluded.route, "
                              "fingerprint = excluded.fingerprint, status = excluded.status, "
                              "response = excluded.response, created_at = excluded.created_at "
                              "WHERE idempotency_keys.created_at < $8",
                              p, CH_NPARAMS(p), NULL, &changed);
    free(stored);
    if (err == CH_OK && changed == 0)
        *taken = 1;
    return err;
}

ch_err_t ch_idem_sweep(ch_svc_t *svc, int64_t now_ms, int64_t *deleted)
{
    int64_t total = 0;
    ch_err_t err = CH_OK;
    for (int round = 0; round < CH_IDEMPOTENCY_SWEEP_ROUNDS; round++) {
        int64_t n = 0;
        ch_db_param_t p[] = {CH_DB_P_INT(now_ms - CH_IDEMPOTENCY_TTL_MS), CH_DB_P_INT(CH_IDEMPOTENCY_SWEEP_BATCH)};
        err = ch_sql_run(svc,
                         "DELETE FROM idempotency_keys WHERE (user_id, idem_key) IN "
                         "(SELECT user_id, idem_key FROM idempotency_keys WHERE created_at < $1 "
                         "ORDER BY created_at LIMIT $2)",
                         p, CH_NPARAMS(p), NULL, &n);
        if (err != CH_OK)
            break;
        total += n;
        if (n < CH_IDEMPOTENCY_SWEEP_BATCH)
            break;
    }
    if (deleted)
        *deleted = total;
    return err;
}

void ch_idem_sweep_tick(ch_svc_t *svc)
{
    static _Atomic int64_t last_ms;
    int64_t now = ch_now_ms();
    int64_t prev = atomic_load(&last_ms);
    if (now - prev < CH_IDEMPOTENCY_SWEEP_EVERY_MS || !atomic_compare_exchange_strong(&last_ms, &prev, now))
        return;
    int64_t deleted = 0;
    ch_err_t err = ch_idem_sweep(svc, now, &deleted);
    if (err != CH_OK)
        ch_log_warn("idempotency: sweeping expired keys failed: %s", ch_err_code(err));
    else if (deleted)
        ch_log_info("idempotency: swept %lld expired key(s)", (long long)deleted);
}
