/* Password hashing and checking for the auth service, through the password hasher
 * (pwhash_pool.h) when one is running, so that Argon2id never runs on the worker pool that
 * serves every other route. Also renders the hasher's and the sessions' metrics. */
#ifndef CH_SVC_AUTH_PASSWORDS_H
#define CH_SVC_AUTH_PASSWORDS_H

#include <stddef.h>

#include "core/client_watch.h"
#include "svc/context.h"

#define CH_PWHASH_RETRY_AFTER_S 1 /* Retry-After of 503 overloaded: a few hashes' time */

/** Starts svc->pwhash sized from the configuration (concurrency = CHORUS_PWHASH_MAX_MEMORY
 * / CHORUS_PWHASH_MEMLIMIT, at least 1; queue CHORUS_PWHASH_QUEUE) and registers its
 * metrics. -1 when its threads cannot start. */
int ch_auth_passwords_start(ch_svc_t *svc);
/** Stops and frees svc->pwhash (after the HTTP server stopped). */
void ch_auth_passwords_stop(ch_svc_t *svc);
/** Hashes pw into out. CH_EOVERLOADED (f->retry_after_s set) when the hasher's queue is
 * full, CH_EUNAVAILABLE when the client went away first (gone, may be NULL) or memory ran
 * out. Blocks for the hash's time. */
ch_err_t ch_auth_password_hash(ch_svc_t *svc, const char *pw, size_t len, const ch_client_watch_t *watch,
                               char out[CH_PWHASH_LEN], ch_fault_t *f);
/** Checks pw against hash (NULL: against the dummy hash, same work, *ok 0) into *ok.
 * Errors as ch_auth_password_hash. */
ch_err_t ch_auth_password_verify(ch_svc_t *svc, const char *hash, const char *pw, size_t len,
                                 const ch_client_watch_t *watch, int *ok, ch_fault_t *f);
/** CH_EOVERLOADED (f->retry_after_s set) when the password hasher would refuse a job now:
 * lets login refuse before its database read. CH_OK otherwise (the hash may still be
 * refused later). */
ch_err_t ch_auth_password_admit(ch_svc_t *svc, ch_fault_t *f);
/** Counts one write of a session's last-seen time (chorus_session_last_seen_writes_total). */
void ch_auth_count_last_seen_write(void);

#endif
