/* Accounts' credentials and sessions: register, login (Argon2id on the password hasher,
 * constant answer and timing for unknown handles, throttled failures: throttle.h), rotating refresh tokens with reuse detection,
 * logout, session listing and revocation, and the per-request session check.
 * Results are Jansson objects {user, access_token, refresh_token, expires_in}, owned by
 * the caller. All calls block: run them on worker threads. */
#ifndef CH_SVC_AUTH_H
#define CH_SVC_AUTH_H

#include <jansson.h>
#include <stdint.h>

#include "core/client_watch.h"
#include "svc/context.h"

#define CH_PASSWORD_MIN 8
#define CH_PASSWORD_MAX 128
#define CH_DEVICE_NAME_MAX 64

/** Where a register or login comes from. Both members borrowed for the call. */
typedef struct {
    const char *client_ip;         /* the peer address: login throttling is per address */
    ch_client_watch_t client;      /* whether the client is still there: queued password work
                                      of a departed client is skipped */
} ch_auth_origin_t;

/** Creates an account and its first session. CH_EHANDLETAKEN when the handle exists;
 * CH_EOVERLOADED (f->retry_after_s set) when the password hasher's queue is full. The
 * password is hashed before any database access. origin may be NULL (no client to watch). */
ch_err_t ch_auth_register_from(ch_svc_t *svc, json_t *body, const ch_auth_origin_t *origin, json_t **out,
                               ch_fault_t *f);
/** ch_auth_register_from without an origin. */
ch_err_t ch_auth_register(ch_svc_t *svc, json_t *body, json_t **out, ch_fault_t *f);
/** Checks credentials {handle, password, device_name} and opens a session.
 * CH_ECREDENTIALS for unknown handle or wrong password (same work either way);
 * CH_ERATELIMIT (f->retry_after_s set) when throttle.h refuses the attempt;
 * CH_EOVERLOADED (f->retry_after_s set) when the password hasher's queue is full.
 * origin NULL: an internal caller, throttled as the address "internal". */
ch_err_t ch_auth_login_from(ch_svc_t *svc, json_t *body, const ch_auth_origin_t *origin, json_t **out,
                            ch_fault_t *f);
/** ch_auth_login_from without an origin (an internal caller, e.g. a replay). */
ch_err_t ch_auth_login(ch_svc_t *svc, json_t *body, json_t **out, ch_fault_t *f);
/** Rotates a refresh token {refresh_token} into a new pair. Presented again within
 * CHORUS_REFRESH_REUSE_INTERVAL of its use while its successor is unused, it answers the
 * same successor (a retry whose answer was lost); presented again otherwise it revokes its
 * whole session (someone holds a copy). CH_ETOKEN for an unknown, expired, used or revoked
 * token. */
ch_err_t ch_auth_refresh(ch_svc_t *svc, json_t *body, json_t **out, ch_fault_t *f);
/** Revokes one of the user's sessions; CH_ENOTFOUND when it is not theirs or not active. */
ch_err_t ch_auth_revoke_session(ch_svc_t *svc, uint64_t user_id, uint64_t session_id, ch_fault_t *f);
/** Per-request check of a verified access token's session: CH_ETOKEN when it was revoked
 * or has expired (kv store first, the database when the store cannot vouch for it);
 * records the session's last-seen time when it asks the database, so at most once a
 * minute per session. */
ch_err_t ch_auth_check_session(ch_svc_t *svc, uint64_t session_id, ch_fault_t *f);
/** Turns on (on = 1) or off (0) what the node does when a revocation's marks kept for an
 * unavailable shared store land or are dropped: the session's vouches in the L1 are forgotten
 * on every node again, and a pair pushed out of a full queue is written again while its
 * deadline holds (docs/design.md, "### l1 on the loop"). svc is borrowed until it is turned
 * off, which waits for a call in progress: turn it off before the hydration cache goes. */
void ch_auth_watch_kept_marks(ch_svc_t *svc, int on);
/** One page of the user's active sessions, newest first: {items, next_cursor}. */
ch_err_t ch_auth_list_sessions(ch_svc_t *svc, uint64_t user_id, uint64_t current_session, int limit,
                               uint64_t before_id, json_t **out, ch_fault_t *f);

#endif
