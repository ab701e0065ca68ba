#include "svc/auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "core/loop_guard.h"
#include "core/text.h"
#include "store/bus.h"
#include "store/kv_multi.h"
#include "svc/auth/passwords.h"
#include "svc/auth/session_vouch.h"
#include "svc/auth/throttle.h"
#include "svc/common/outbox.h"
#include "svc/common/sql.h"
#include "svc/users/users.h"

/* ---- kv keys ----------------------------------------------------------------------------- */

#define CH__KEY_LEN 96

static void ch__key(char *buf, const char *prefix, uint64_t id)
{
    snprintf(buf, CH__KEY_LEN, "%s%llu", prefix, (unsigned long long)id);
}

/* Session validity is cached in the kv store: "sess:ok:<id>" says the database found the
 * session active less than CH__SESSION_OK_TTL_MS ago (its value is the time of that read);
 * "sess:rev:<id>" says it was revoked. Losing the store (a Redis restart, a chorusd restart
 * in embedded mode) only costs a database read: a revoked session can never come back.
 * While a shared store is unavailable the database decides every request (docs/design.md,
 * "Accounts and sessions"). */
#define CH__SESSION_OK_TTL_MS 60000
/* How long after a revocation its marks are still written when the shared store was down:
 * by then every ok mark vouched before it is refused (its read time is older than the TTL),
 * with this much room for clocks of replicas that disagree. */
#define CH__REVOKE_RETRY_MS (CH__SESSION_OK_TTL_MS + 10000)

/* The note a kept pair carries (kv.h, ch_kv_set_del_retrying_noted): which session, and
 * until when the pair is worth writing. */
typedef struct {
    uint64_t session_id;
    int64_t until_ms;
} ch__revoke_note_t;

_Static_assert(sizeof(ch__revoke_note_t) <= CH_KV_NOTE_MAX, "a revocation's note fits a kept write's");

/* Writes the pair (revoked mark set, ok mark deleted), kept for the store's return when it
 * is unavailable, with a note so that ch__kept_marks hears what became of it. */
static ch_err_t ch__write_revoked_pair(ch_svc_t *svc, uint64_t session_id, int64_t until)
{
    char rev_key[CH__KEY_LEN], ok_key[CH__KEY_LEN];
    ch__key(rev_key, "sess:rev:", session_id);
    ch__key(ok_key, "sess:ok:", session_id);
    ch__revoke_note_t note = {session_id, until};
    return ch_kv_set_del_retrying_noted(svc->kv, rev_key, "1", 1, svc->cfg->access_ttl_s * 1000 + 1000, ok_key,
                                        until, &note, sizeof(note));
}

/* Marks a session revoked (after the database says so): sets the revoked mark and drops
 * the ok mark in one atomic step, so no reader of the store sees the revoked mark beside the
 * ok mark it replaces (an ok mark is trusted without looking for a revoked one). A request
 * that raced with us either sees the revoked mark or has its ok mark removed (see
 * ch_auth_check_session: it writes its ok mark before it looks for the revoked one). A
 * shared store that is unavailable gets the pair, as one unit, when it is back, so that an
 * ok mark it kept (a hung Redis, or one restarted from its persistence) cannot vouch for the
 * session again. */
static ch_err_t ch__mark_revoked(ch_svc_t *svc, uint64_t session_id)
{
    ch_err_t err =
        ch_backend_err(CH_BACKEND_KV, ch__write_revoked_pair(svc, session_id, ch_now_ms() + CH__REVOKE_RETRY_MS));
    /* After the ok mark is gone: a check that takes its lease after this forget finds no
     * mark to vouch with; one that took it before loses it (svc/auth/session_vouch.h). When
     * the pair was kept instead (the store refused it), the ok mark is still there: a node may
     * vouch from it until the pair lands, and ch__kept_marks forgets again then. */
    ch_session_vouch_forget(svc, session_id);
    return err;
}

/* The kept-write hook (kv.h): a revocation's pair kept while the shared store was
 * unavailable has landed, or was dropped. Runs on the store's probe thread once the store
 * takes calls again. Landed: the ok mark is gone only now, so vouches made from it since the
 * revocation's forget (on any node) are forgotten now; a check that read the mark took its
 * lease before the pair landed, hence before this forget is received (session_vouch.h).
 * Dropped: forgotten too, and a pair pushed out of the full queue is written again while
 * its deadline holds (a late pair is not needed: every ok mark it would delete has expired;
 * a refused one would be refused again). This node trusts no ok mark written before the
 * drop anyway: every drop happens while its breaker is open, so the store's next return
 * (ch_kv_recovered_at) comes after it. */
static void ch__kept_marks(void *ctx, ch_kv_kept_fate_t fate, const void *note_bytes, size_t len)
{
    ch_svc_t *svc = ctx;
    ch__revoke_note_t note;
    if (len != sizeof(note))
        return;
    memcpy(&note, note_bytes, sizeof(note));
    if (fate == CH_KV_KEPT_DROPPED_FULL && note.until_ms > ch_now_ms()) {
        ch_err_t err = ch__write_revoked_pair(svc, note.session_id, note.until_ms);
        if (err != CH_OK)
            ch_log_warn("auth: the revocation marks of session %llu were dropped and could not be written again (%s)",
                        (unsigned long long)note.session_id, ch_err_code(err));
    }
    ch_session_vouch_forget(svc, note.session_id);
}

void ch_auth_watch_kept_marks(ch_svc_t *svc, int on)
{
    ch_kv_set_kept_hook(svc->kv, on ? ch__kept_marks : NULL, svc);
}

/* ---- input ------------------------------------------------------------------------------- */

/* Reads a required string field; CH_EINVAL naming it when missing or not a string. */
static ch_err_t ch__req_string(json_t *body, const char *field, const char **out, ch_fault_t *f)
{
    json_t *v = json_object_get(body, field);
    if (!json_is_string(v))
        return ch_fault(f, CH_EINVAL, field, "%s is required and must be a string", field);
    *out = json_string_value(v);
    return CH_OK;
}

static ch_err_t ch__password(json_t *body, const char **pw, size_t *len, ch_fault_t *f)
{
    json_t *v = json_object_get(body, "password");
    if (!json_is_string(v))
        return ch_fault(f, CH_EINVAL, "password", "password is required and must be a string");
    *pw = json_string_value(v);
    *len = json_string_length(v);
    if (*len < CH_PASSWORD_MIN || *len > CH_PASSWORD_MAX)
        return ch_fault(f, CH_EINVAL, "password", "password must be %d to %d bytes", CH_PASSWORD_MIN,
                        CH_PASSWORD_MAX);
    return CH_OK;
}

static ch_err_t ch__device_name(json_t *body, const char **out, ch_fault_t *f)
{
    json_t *v = json_object_get(body, "device_name");
    *out = "";
    if (!v || json_is_null(v))
        return CH_OK;
    const char *s = json_string_value(v);
    long chars = s ? ch_utf8_count(s, strlen(s)) : -1;
    if (chars < 0 || chars > CH_DEVICE_NAME_MAX || ch_text_has_control(s, strlen(s), 0))
        return ch_fault(f, CH_EINVAL, "device_name", "device_name must be a string of at most %d characters",
                        CH_DEVICE_NAME_MAX);
    *out = s;
    return CH_OK;
}

/* ---- sessions and tokens ----------------------------------------------------------------- */

/* Stores the digest of a refresh token of a session on conn (the token itself never). */
static ch_err_t ch__store_refresh(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t session_id, int64_t now,
                                  const char *token)
{
    char digest[CH_DIGEST_HEX_LEN];
    ch_digest_hex(token, strlen(token), digest);
    ch_db_param_t p[] = {CH_DB_P_TEXT(digest), CH_DB_P_INT(session_id), CH_DB_P_INT(now),
                         CH_DB_P_INT(now + svc->cfg->refresh_ttl_s * 1000)};
    return ch_sql_on(svc, conn,
                     "INSERT INTO refresh_tokens(token_hash, session_id, created_at, expires_at) VALUES($1, $2, $3, $4)",
                     p, CH_NPARAMS(p), NULL, NULL);
}

/* Opens a session with its first refresh token on conn (in a write transaction). */
static ch_err_t ch__open_session(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t user_id, const char *device,
                                 uint64_t *session_out, char refresh[CH_OPAQUE_TOKEN_LEN])
{
    int64_t now = ch_now_ms();
    uint64_t sid = ch_id_next();
    ch_db_param_t p[] = {CH_DB_P_INT(sid), CH_DB_P_INT(user_id), CH_DB_P_TEXT(device), CH_DB_P_INT(now),
                         CH_DB_P_INT(now + svc->cfg->refresh_ttl_s * 1000)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "INSERT INTO sessions(id, user_id, device_name, created_at, last_seen_at, expires_at) "
                             "VALUES($1, $2, $3, $4, $4, $5)",
                             p, CH_NPARAMS(p), NULL, NULL);
    ch_opaque_token_new(refresh);
    if (err == CH_OK)
        err = ch__store_refresh(svc, conn, sid, now, refresh);
    *session_out = sid;
    return err;
}

/* Builds {user, access_token, refresh_token, expires_in} for a session. */
static ch_err_t ch__auth_result(ch_svc_t *svc, uint64_t user_id, uint64_t session_id,
                                const char refresh[CH_OPAQUE_TOKEN_LEN], json_t **out, ch_fault_t *f)
{
    json_t *user = NULL;
    ch_err_t err = ch_users_get_me(svc, user_id, &user, f);
    if (err)
        return err;
    int64_t now_s = ch_now_ms() / 1000;
    ch_token_claims_t claims = {user_id, session_id, now_s, now_s + svc->cfg->access_ttl_s};
    char access[CH_JWT_MAX_LEN];
    size_t len = ch_token_sign(svc->token_key, &claims, access);
    *out = json_pack("{s:o, s:s#, s:s, s:I}", "user", user, "access_token", access, len, "refresh_token", refresh,
                     "expires_in", (json_int_t)svc->cfg->access_ttl_s);
    return CH_OK;
}

/* ---- register ---------------------------------------------------------------------------- */

ch_err_t ch_auth_register(ch_svc_t *svc, json_t *body, json_t **out, ch_fault_t *f)
{
    return ch_auth_register_from(svc, body, NULL, out, f);
}

ch_err_t ch_auth_register_from(ch_svc_t *svc, json_t *body, const ch_auth_origin_t *origin, json_t **out,
                               ch_fault_t *f)
{
    const char *handle_in = NULL, *pw = NULL, *name, *device = NULL;
    size_t pwlen = 0;
    char handle[CH_HANDLE_MAX + 1];
    ch_err_t err;
    if ((err = ch__req_string(body, "handle", &handle_in, f)) || (err = ch_users_check_handle(handle_in, handle, f)) ||
        (err = ch__password(body, &pw, &pwlen, f)) || (err = ch__device_name(body, &device, f)))
        return err;
    json_t *v = json_object_get(body, "display_name");
    name = handle;
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return ch_fault(f, CH_EINVAL, "display_name", "display_name must be a string");
        if ((err = ch_users_check_display_name(json_string_value(v), f)) != CH_OK)
            return err;
        name = json_string_value(v);
    }

    /* Before any database access: a transaction begun by then would hold the write lock
     * for the whole hash. */
    char hash[CH_PWHASH_LEN];
    if ((err = ch_auth_password_hash(svc, pw, pwlen, origin ? &origin->client : NULL, hash, f)) != CH_OK)
        return err;

    ch_db_conn_t *conn;
    if ((err = ch_sql_begin(svc, 1, &conn)) != CH_OK)
        return err;
    uint64_t uid = ch_id_next(), sid = 0;
    int64_t now = ch_now_ms();
    char refresh[CH_OPAQUE_TOKEN_LEN];
    ch_db_param_t p[] = {CH_DB_P_INT(uid), CH_DB_P_TEXT(handle), CH_DB_P_TEXT(hash), CH_DB_P_TEXT(name),
                         CH_DB_P_INT(now)};
    err = ch_sql_on(svc, conn,
                    "INSERT INTO users(id, handle, password_hash, display_name, created_at, updated_at) "
                    "VALUES($1, $2, $3, $4, $5, $5)",
                    p, CH_NPARAMS(p), NULL, NULL);
    if (err == CH_ECONFLICT)
        err = ch_fault(f, CH_EHANDLETAKEN, "handle", "handle '%s' is taken", handle);
    if (err == CH_OK)
        err = ch__open_session(svc, conn, uid, device, &sid, refresh);
    if (err == CH_OK)
        err = ch_outbox_add(svc, conn, "user.created", "user_id", uid);
    if ((err = ch_sql_end(svc, conn, err)) != CH_OK)
        return err;
    return ch__auth_result(svc, uid, sid, refresh, out, f);
}

/* ---- login -------------------------------------------------------------------------------- */

ch_err_t ch_auth_login(ch_svc_t *svc, json_t *body, json_t **out, ch_fault_t *f)
{
    return ch_auth_login_from(svc, body, NULL, out, f);
}

ch_err_t ch_auth_login_from(ch_svc_t *svc, json_t *body, const ch_auth_origin_t *origin, json_t **out,
                            ch_fault_t *f)
{
    const char *handle_in = NULL, *pw = NULL, *device = NULL;
    size_t pwlen = 0;
    char handle[CH_HANDLE_MAX + 1];
    ch_err_t err;
    if ((err = ch__req_string(body, "handle", &handle_in, f)) || (err = ch__req_string(body, "password", &pw, f)) ||
        (err = ch__device_name(body, &device, f)))
        return err;
    pwlen = json_string_length(json_object_get(body, "password"));
    /* A handle that cannot exist is just an unknown handle: same answer, same work. */
    int plausible = ch_users_check_handle(handle_in, handle, NULL) == CH_OK && pwlen <= CH_PASSWORD_MAX;
    if (!plausible)
        snprintf(handle, sizeof(handle), "-");

    const char *ip = origin && origin->client_ip ? origin->client_ip : "internal";
    if ((err = ch_login_throttle_check(svc, handle, ip, f)) != CH_OK ||
        (err = ch_auth_password_admit(svc, f)) != CH_OK) /* an overload costs no database read */
        return err;

    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(handle)};
    if ((err = ch_sql_run(svc, "SELECT id, password_hash FROM users WHERE handle = $1", p, 1, &rows, NULL)) != CH_OK)
        return err;
    int found = plausible && ch_db_rows_count(rows) == 1, ok = 0;
    /* An unknown handle is checked against the dummy hash: same work, same answer. */
    err = ch_auth_password_verify(svc, found ? ch_db_rows_text(rows, 0, 1) : NULL, pw, pwlen,
                                  origin ? &origin->client : NULL, &ok, f);
    ok = ok && found;
    uint64_t uid = found ? (uint64_t)ch_db_rows_int(rows, 0, 0) : 0;
    ch_db_rows_free(rows);
    if (err)
        return err;
    if (!ok) {
        if ((err = ch_login_throttle_failed(svc, handle, ip)) != CH_OK)
            return err;
        return ch_fault(f, CH_ECREDENTIALS, NULL, "wrong handle or password");
    }
    if ((err = ch_login_throttle_succeeded(svc, handle, ip)) != CH_OK)
        return err;

    ch_db_conn_t *conn;
    uint64_t sid = 0;
    char refresh[CH_OPAQUE_TOKEN_LEN];
    if ((err = ch_sql_begin(svc, 1, &conn)) != CH_OK)
        return err;
    err = ch_sql_end(svc, conn, ch__open_session(svc, conn, uid, device, &sid, refresh));
    return err ? err : ch__auth_result(svc, uid, sid, refresh, out, f);
}

/* ---- refresh ------------------------------------------------------------------------------ */

/* A refresh token was presented a second time: someone holds a copy. Revokes the session on
 * conn, inside the refresh transaction (so that the revocation commits with it, under no
 * second request deadline); *sid_out receives the session to mark revoked in the shared
 * store after the commit (0 when the token is unknown). */
static ch_err_t ch__revoke_stolen(ch_svc_t *svc, ch_db_conn_t *conn, const char *digest, int64_t now,
                                  uint64_t *sid_out)
{
    *sid_out = 0;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(digest)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT session_id FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NOT NULL", p,
                             1, &rows, NULL);
    if (err || ch_db_rows_count(rows) == 0) {
        ch_db_rows_free(rows);
        return err;
    }
    uint64_t sid = (uint64_t)ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    ch_log_warn("refresh token reused: revoking session %llu", (unsigned long long)sid);
    ch_db_param_t r[] = {CH_DB_P_INT(sid), CH_DB_P_INT(now)};
    err = ch_sql_on(svc, conn, "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", r, 2, NULL,
                    NULL);
    if (err == CH_OK)
        *sid_out = sid;
    return err;
}

/* The reuse interval (docs/design.md, "Accounts and sessions"): token was used less than
 * CHORUS_REFRESH_REUSE_INTERVAL ago, and its successor (successor_digest) is still unused
 * and unexpired in a live session: a retry whose answer was lost, not theft. Sets
 * *session_id and *user_id when so (0 otherwise). Runs on conn, after the rotating UPDATE
 * found nothing to rotate: that UPDATE waited for any concurrent rotation of the same token
 * to commit, so its successor row is visible here. */
static ch_err_t ch__reuse_within_interval(ch_svc_t *svc, ch_db_conn_t *conn, const char *digest,
                                          const char *successor_digest, int64_t now, uint64_t *session_id,
                                          uint64_t *user_id)
{
    *session_id = *user_id = 0;
    if (svc->cfg->refresh_reuse_s <= 0)
        return CH_OK;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(digest), CH_DB_P_TEXT(successor_digest), CH_DB_P_INT(now),
                         CH_DB_P_INT(now - svc->cfg->refresh_reuse_s * 1000)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT s.id, s.user_id FROM refresh_tokens o "
                             "JOIN refresh_tokens n ON n.session_id = o.session_id "
                             "JOIN sessions s ON s.id = o.session_id "
                             "WHERE o.token_hash = $1 AND o.used_at > $4 "
                             "AND n.token_hash = $2 AND n.used_at IS NULL AND n.expires_at > $3 "
                             "AND s.revoked_at IS NULL AND s.expires_at > $3",
                             p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 1) {
        *session_id = (uint64_t)ch_db_rows_int(rows, 0, 0);
        *user_id = (uint64_t)ch_db_rows_int(rows, 0, 1);
    }
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_auth_refresh(ch_svc_t *svc, json_t *body, json_t **out, ch_fault_t *f)
{
    const char *token = NULL;
    ch_err_t err = ch__req_string(body, "refresh_token", &token, f);
    if (err)
        return err;
    /* The successor is derived from the token, not drawn at random: a retry of this
     * refresh within the reuse interval can be given the same one although only its digest
     * is stored. */
    char digest[CH_DIGEST_HEX_LEN], refresh[CH_OPAQUE_TOKEN_LEN], refresh_digest[CH_DIGEST_HEX_LEN];
    ch_digest_hex(token, strlen(token), digest);
    ch_opaque_token_successor(svc->token_key, token, strlen(token), refresh);
    ch_digest_hex(refresh, strlen(refresh), refresh_digest);
    int64_t now = ch_now_ms();

    ch_db_conn_t *conn;
    if ((err = ch_sql_begin(svc, 1, &conn)) != CH_OK)
        return err;
    /* Single use: only the first presenter flips used_at. */
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(digest), CH_DB_P_INT(now)};
    err = ch_sql_on(svc, conn,
                    "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL "
                    "AND expires_at > $2 AND session_id IN "
                    "(SELECT id FROM sessions WHERE revoked_at IS NULL AND expires_at > $2) "
                    "RETURNING session_id",
                    p, 2, &rows, NULL);
    uint64_t sid = 0, uid = 0, stolen = 0;
    int invalid = 0; /* the token is invalid, expired or used: answered CH_ETOKEN after commit */
    if (err == CH_OK && ch_db_rows_count(rows) == 1) {
        sid = (uint64_t)ch_db_rows_int(rows, 0, 0);
        ch_db_rows_free(rows);
        rows = NULL;
        ch_db_param_t s[] = {CH_DB_P_INT(sid), CH_DB_P_INT(now), CH_DB_P_INT(now + svc->cfg->refresh_ttl_s * 1000)};
        err = ch_sql_on(svc, conn,
                        "UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1 RETURNING user_id", s, 3,
                        &rows, NULL);
        uid = err == CH_OK && ch_db_rows_count(rows) == 1 ? (uint64_t)ch_db_rows_int(rows, 0, 0) : 0;
        if (err == CH_OK)
            err = ch__store_refresh(svc, conn, sid, now, refresh);
    } else if (err == CH_OK) {
        err = ch__reuse_within_interval(svc, conn, digest, refresh_digest, now, &sid, &uid);
        if (err == CH_OK && sid == 0) {
            invalid = 1;
            err = ch__revoke_stolen(svc, conn, digest, now, &stolen);
        } else if (err == CH_OK)
            ch_log_info("refresh token presented again within the reuse interval: session %llu keeps its successor",
                        (unsigned long long)sid);
    }
    ch_db_rows_free(rows);
    err = ch_sql_end(svc, conn, err);
    if (err == CH_OK && invalid) {
        ch_err_t e2 = stolen ? ch__mark_revoked(svc, stolen) : CH_OK;
        return e2 ? e2 : ch_fault(f, CH_ETOKEN, NULL, "refresh token is invalid, expired or already used");
    }
    return err ? err : ch__auth_result(svc, uid, sid, refresh, out, f);
}

/* ---- sessions ----------------------------------------------------------------------------- */

ch_err_t ch_auth_revoke_session(ch_svc_t *svc, uint64_t user_id, uint64_t session_id, ch_fault_t *f)
{
    int64_t changed = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(session_id), CH_DB_P_INT(user_id), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_run(svc,
                              "UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
                              p, 3, NULL, &changed);
    if (err)
        return err;
    if (changed == 0) {
        /* Already revoked: a retry of a revocation whose answer was lost (the first attempt
         * may have committed without writing the shared store's marks) succeeds again and
         * writes the marks. Another user's session, or none, is not found. */
        ch_db_rows_t *rows = NULL;
        ch_db_param_t q[] = {CH_DB_P_INT(session_id), CH_DB_P_INT(user_id)};
        err = ch_sql_run(svc, "SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NOT NULL", q, 2,
                         &rows, NULL);
        int revoked = err == CH_OK && ch_db_rows_count(rows) == 1;
        ch_db_rows_free(rows);
        if (err)
            return err;
        if (!revoked)
            return ch_fault(f, CH_ENOTFOUND, NULL, "session not found");
    }
    err = ch__mark_revoked(svc, session_id);
    /* the gateway closes the session's open WebSockets (a Redis outage: they stay until
     * their access token expires, as a bearer token does over HTTP) */
    if (err == CH_OK && svc->bus && ch_bus_publish_revoke(svc->bus, user_id, session_id) != CH_OK)
        ch_log_warn("auth: revocation of session %llu not sent to the gateway (bus down)", (unsigned long long)session_id);
    return err;
}

/* Whether the database holds the session as active (not revoked, not expired). */
static ch_err_t ch__session_active_in_db(ch_svc_t *svc, uint64_t session_id, int *active)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(session_id), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_run(svc, "SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
                              p, 2, &rows, NULL);
    *active = err == CH_OK && ch_db_rows_count(rows) == 1;
    ch_db_rows_free(rows);
    return err;
}

/* Whether an ok mark still vouches: read less than the TTL ago, and after the shared store
 * last came back from an outage (a mark written before could have outlived a revocation
 * whose marks did not reach the store). */
static int ch__ok_mark_valid(ch_svc_t *svc, const char *value)
{
    int64_t at = atoll(value), now = ch_now_ms();
    return at > ch_kv_recovered_at(svc->kv) && now - at < CH__SESSION_OK_TTL_MS;
}

/* A kv error of the session check: an outage of the shared store is counted and answered
 * *degraded = 1 (the database decides alone); anything else is the request's error. */
static ch_err_t ch__session_kv(ch_svc_t *svc, ch_err_t err, int *degraded)
{
    ch_backend_err(CH_BACKEND_KV, err);
    if (ch_kv_outage(svc->kv, err)) {
        *degraded = 1;
        return CH_OK;
    }
    return err;
}

/* Reads the ok mark into *ok (caller frees); for_fact: with the revoked mark after it, in
 * the same round trip, into *rev (caller frees; else left NULL). */
static ch_err_t ch__read_marks(ch_svc_t *svc, const char *ok_key, uint64_t session_id, int for_fact, char **ok,
                               char **rev)
{
    *ok = *rev = NULL;
    if (!for_fact)
        return ch_kv_get(svc->kv, ok_key, ok, NULL);
    char rev_key[CH__KEY_LEN], *vals[2];
    ch__key(rev_key, "sess:rev:", session_id);
    const char *keys[2] = {ok_key, rev_key};
    ch_err_t err = ch_kv_get_many(svc->kv, keys, 2, vals);
    *ok = vals[0];
    *rev = vals[1];
    return err;
}

/* ch_auth_check_session through the shared store and the database; *vouched_at gets the
 * time the session was last found active by the database when it may be kept as a vouch in
 * the L1 (0: nothing to keep). for_fact: the caller holds a lease to keep one. Then the ok
 * mark is read with the revoked mark after it, in order: a mark written back by a check
 * whose database read came before a revocation that had landed (it deletes the mark once it
 * sees the revoked one) is refused, so a vouch is made from an ok mark only when no
 * revocation had landed before it was read, and every later landing forgets it again
 * (ch__kept_marks; docs/design.md "### l1 on the loop" gives the argument). */
static ch_err_t ch__check_session_store(ch_svc_t *svc, uint64_t session_id, int for_fact, ch_fault_t *f,
                                        int64_t *vouched_at)
{
    char ok_key[CH__KEY_LEN], key[CH__KEY_LEN], *value = NULL, *revoked = NULL, now[24];
    int degraded = 0;
    *vouched_at = 0;
    ch__key(ok_key, "sess:ok:", session_id);
    ch_err_t err = ch__session_kv(svc, ch__read_marks(svc, ok_key, session_id, for_fact, &value, &revoked), &degraded);
    if (err)
        return err;
    if (revoked) { /* a revocation landed: the database said so before it was written */
        free(value);
        free(revoked);
        return ch_fault(f, CH_ETOKEN, NULL, "session has been revoked");
    }
    if (value) { /* vouched for less than a minute ago: last seen was recorded then */
        int valid = ch__ok_mark_valid(svc, value);
        int64_t at = atoll(value);
        free(value);
        value = NULL;
        if (valid) {
            *vouched_at = for_fact ? at : 0;
            return CH_OK;
        }
    }
    /* Not vouched for recently: ask the database, then vouch, then look for a revocation
     * that raced with the read (ch__mark_revoked sets it and drops the ok mark at once, so
     * one of the two orders catches it). */
    int active = 0;
    int64_t read_at = ch_now_ms();
    if ((err = ch__session_active_in_db(svc, session_id, &active)) != CH_OK)
        return err;
    if (!active)
        return ch_fault(f, CH_ETOKEN, NULL, "session has been revoked");
    if (degraded) /* the database decided; no mark, and last seen stays the database's */
        return CH_OK;
    int len = snprintf(now, sizeof(now), "%lld", (long long)read_at);
    if ((err = ch__session_kv(svc, ch_kv_set(svc->kv, ok_key, now, (size_t)len, CH__SESSION_OK_TTL_MS), &degraded)) !=
        CH_OK)
        return err;
    if (degraded)
        return CH_OK;
    ch__key(key, "sess:rev:", session_id);
    if ((err = ch__session_kv(svc, ch_kv_get(svc->kv, key, &value, NULL), &degraded)) != CH_OK)
        return err;
    if (value || degraded) {
        /* Revoked meanwhile, or unknown: the mark must not vouch (a revocation that raced
         * with us may not have reached the store either). */
        ch_kv_del_retrying(svc->kv, ok_key, ch_now_ms() + CH__REVOKE_RETRY_MS);
        if (value) {
            free(value);
            return ch_fault(f, CH_ETOKEN, NULL, "session has been revoked");
        }
        return CH_OK;
    }
    /* Asked the database: at most once per CH__SESSION_OK_TTL_MS per session (two requests
     * racing past a missing mark both write, harmlessly). */
    *vouched_at = read_at;
    ch__key(key, "sess:seen:", session_id);
    len = snprintf(now, sizeof(now), "%lld", (long long)ch_now_ms());
    err = ch__session_kv(svc, ch_kv_set(svc->kv, key, now, (size_t)len, svc->cfg->refresh_ttl_s * 1000), &degraded);
    if (err == CH_OK && !degraded)
        ch_auth_count_last_seen_write();
    return err;
}

ch_err_t ch_auth_check_session(ch_svc_t *svc, uint64_t session_id, ch_fault_t *f)
{
    ch_session_vouch_t v;
    if (ch_session_vouch_get(svc, session_id, &v))
        return CH_OK;
    if (ch_loop_guard_refuse()) /* on the loop in cluster mode: the store is a round trip away */
        return ch_fault(f, CH_EUNAVAILABLE, NULL, "session not vouched for in memory");
    int64_t vouched_at = 0;
    ch_err_t err = ch__check_session_store(svc, session_id, v.lease != 0, f, &vouched_at);
    if (err == CH_OK && vouched_at)
        ch_session_vouch_put(svc, &v, vouched_at);
    return err;
}

ch_err_t ch_auth_list_sessions(ch_svc_t *svc, uint64_t user_id, uint64_t current_session, int limit,
                               uint64_t before_id, json_t **out, ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user_id), CH_DB_P_INT(ch_now_ms()),
                         CH_DB_P_INT(before_id ? before_id : (uint64_t)INT64_MAX), CH_DB_P_INT(limit + 1)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT id, device_name, created_at, last_seen_at FROM sessions "
                              "WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND id < $3 "
                              "ORDER BY id DESC LIMIT $4",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    json_t *items = json_array();
    size_t n = ch_db_rows_count(rows);
    for (size_t i = 0; i < n && i < (size_t)limit && err == CH_OK; i++) {
        uint64_t sid = (uint64_t)ch_db_rows_int(rows, i, 0);
        int64_t seen = ch_db_rows_int(rows, i, 3);
        char key[CH__KEY_LEN], *kv_seen = NULL, created[CH_RFC3339_LEN], last[CH_RFC3339_LEN];
        ch__key(key, "sess:seen:", sid);
        err = ch_backend_err(CH_BACKEND_KV, ch_kv_get(svc->kv, key, &kv_seen, NULL));
        if (ch_kv_outage(svc->kv, err)) /* the database's column alone */
            err = CH_OK;
        if (kv_seen && atoll(kv_seen) > seen)
            seen = atoll(kv_seen);
        free(kv_seen);
        ch_format_rfc3339(ch_db_rows_int(rows, i, 2), created);
        ch_format_rfc3339(seen, last);
        json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", ch_db_rows_text(rows, i, 0),
                                               "device_name", ch_db_rows_text(rows, i, 1), "created_at", created,
                                               "last_seen_at", last, "current", sid == current_session));
    }
    json_t *next = n > (size_t)limit ? json_string(ch_db_rows_text(rows, (size_t)limit - 1, 0)) : json_null();
    ch_db_rows_free(rows);
    if (err) {
        json_decref(items);
        json_decref(next);
        return err;
    }
    (void)f;
    *out = json_pack("{s:o, s:o}", "items", items, "next_cursor", next);
    return CH_OK;
}
