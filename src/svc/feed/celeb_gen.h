/* The generation of the celebrity set: one kv key ("feed:celeb:gen", a fresh id) written
 * whenever a user's followers_count crosses ch_feed_pull_join_followers, either way (the
 * graph's pair transaction, after its commit). A cached pull set (svc/feed/pullset.h) lists
 * the viewer's celebrity followees as of one such generation and is current only while it
 * is still the kv's: a followee who becomes a celebrity stops being pushed by the fan-out,
 * so every follower's set must be computed again at once. Kv (Redis) down: ch_kvl_* keep it
 * in this replica's store for the outage. */
#ifndef CH_SVC_FEED_CELEB_GEN_H
#define CH_SVC_FEED_CELEB_GEN_H

#include <stdint.h>

#include "svc/context.h"

/** Whether a followers_count moving from before to after crosses the celebrity bound of
 * svc's configuration (either way; never when there is no such rule). */
int ch_celeb_gen_crosses(ch_svc_t *svc, int64_t before, int64_t after);
/** Writes a new generation once the thread's ambient transaction commits (at once when none
 * is active); errors are logged, not returned. svc is borrowed for the process. */
void ch_celeb_gen_bump_after_commit(ch_svc_t *svc);
/** The current generation into *out (0 = none kept). */
ch_err_t ch_celeb_gen_get(ch_svc_t *svc, uint64_t *out);

#endif
