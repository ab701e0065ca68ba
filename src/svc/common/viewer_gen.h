/* A per-user generation in the kv store ("viewer:gen:<user>"): a fresh id written by every
 * change of what a user's ranked feeds depend on besides new items (feedback, follow,
 * unfollow, approval, block, mute, either side of a pair). The feed reuses a ranking only
 * while the generation it recorded is still the current one (svc/feed/rank.c). Kv (Redis)
 * down: ch_kvl_* keep it in this replica's store for the outage. */
#ifndef CH_SVC_COMMON_VIEWER_GEN_H
#define CH_SVC_COMMON_VIEWER_GEN_H

#include <stdint.h>

#include "svc/context.h"

/* How long a generation is kept: longer than any ranking is reused (CHORUS_FEED_REUSE_MS
 * at most 600000), so a change after a ranking is always still visible when it is read. */
#define CH_VIEWER_GEN_TTL_MS (20LL * 60 * 1000)

/** Writes a new generation for user now (a fresh id). Errors are logged and counted, not
 * returned: the caller's change is made already. */
void ch_viewer_gen_bump(ch_svc_t *svc, uint64_t user);
/** ch_viewer_gen_bump once the thread's ambient transaction commits, or at once when none
 * is active (ch_db_after_commit); svc is borrowed for the process. */
void ch_viewer_gen_bump_after_commit(ch_svc_t *svc, uint64_t user);
/** The current generation of user into *out (0 = none kept). */
ch_err_t ch_viewer_gen_get(ch_svc_t *svc, uint64_t user, uint64_t *out);

#endif
