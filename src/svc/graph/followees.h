/* The accounts a user follows, most recently followed first, as a fact "f:<user>" of the
 * hydration cache (store/hcache.h: in process in embedded mode, Redis in cluster mode, bounded
 * by its memory setting), forgotten after every change of the user's edges
 * (ch_hydrate_forget_relation forgets both users' lists): the story tray reads it instead of
 * a range of follows on every request. */
#ifndef CH_SVC_GRAPH_FOLLOWEES_H
#define CH_SVC_GRAPH_FOLLOWEES_H

#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

/* Followees one entry holds at most (8 bytes each, within CH_HCACHE_VALUE_MAX). */
#define CH_GRAPH_FOLLOWEES_CACHED_MAX 4096

/** The first min(max, CH_GRAPH_FOLLOWEES_CACHED_MAX) accounts user follows (approved), most
 * recently followed first, into *out (malloc'd, caller frees; never NULL on CH_OK), *n of
 * them: from the cache, or one range read of index follows_follower put back under its lease.
 * Errors: the database's (*out NULL). */
ch_err_t ch_graph_followees_recent(ch_svc_t *svc, uint64_t user, size_t max, uint64_t **out, size_t *n);

#endif
