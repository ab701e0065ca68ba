/* Login throttling (OWASP Authentication Cheat Sheet): slows password guessing without
 * letting a stranger lock an account's owner out.
 *
 *  - Per (handle, client address): CHORUS_LOGIN_MAX_FAILURES failures are free; each
 *    further failure makes that pair wait twice as long before its next attempt (1 s, 2 s,
 *    4 s ... at most CHORUS_LOGIN_WINDOW). Failures are forgotten CHORUS_LOGIN_WINDOW
 *    after the first one, and at once on a successful login from that address.
 *  - Per client address, any handle (password spraying): after
 *    CHORUS_LOGIN_IP_MAX_FAILURES failures in the window every attempt from it is refused
 *    until the window ends.
 *  - Per handle, any address (a guessing botnet): after CHORUS_LOGIN_HANDLE_MAX_FAILURES
 *    failures in the window, addresses that have failed on the handle are refused until the
 *    window ends, and the others share CH_LOGIN_HOT_PER_S attempts a second: slowed, never
 *    locked out.
 * Refusals are CH_ERATELIMIT with f->retry_after_s, decided before any password work. */
#ifndef CH_SVC_AUTH_THROTTLE_H
#define CH_SVC_AUTH_THROTTLE_H

#include "svc/context.h"

#define CH_LOGIN_BACKOFF_BASE_MS 1000 /* the first wait after the free failures */
#define CH_LOGIN_HOT_PER_S 1          /* attempts a second on a handle under attack */

/** Whether an attempt on handle (normalised) from ip may check a password now: CH_OK, or
 * CH_ERATELIMIT with f->retry_after_s. Strings are borrowed. */
ch_err_t ch_login_throttle_check(ch_svc_t *svc, const char *handle, const char *ip, ch_fault_t *f);
/** Counts a failed attempt (wrong password or unknown handle) of handle from ip. */
ch_err_t ch_login_throttle_failed(ch_svc_t *svc, const char *handle, const char *ip);
/** Forgets the failures of handle from ip after a successful login. */
ch_err_t ch_login_throttle_succeeded(ch_svc_t *svc, const char *handle, const char *ip);

#endif
