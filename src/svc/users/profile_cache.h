/* An in-process cache of rendered public profiles (JSON text) by user id, for embedded
 * mode where this process is the only writer of the users table. Bounded and O(1):
 * 64 shards of direct-mapped slots, one mutex per shard; a colliding insert replaces the
 * slot. A per-shard version makes a read that raced with a write unable to re-insert a
 * stale profile: every writer calls ch_profile_cache_forget after its commit. */
#ifndef CH_SVC_USERS_PROFILE_CACHE_H
#define CH_SVC_USERS_PROFILE_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ch_profile_cache ch_profile_cache_t;

/** Creates a cache of about `capacity` profiles. Caller owns it (ch_profile_cache_destroy). */
ch_profile_cache_t *ch_profile_cache_create(size_t capacity);
/** Frees the cache and every entry. NULL is fine. */
void ch_profile_cache_destroy(ch_profile_cache_t *cache);
/** A copy of the cached profile of id (caller frees), or NULL. *version_out receives the
 * shard version to pass to ch_profile_cache_put after reading the profile elsewhere. */
char *ch_profile_cache_get(ch_profile_cache_t *cache, uint64_t id, uint64_t *version_out);
/** Stores a profile (copied) unless the shard changed since version_seen. */
void ch_profile_cache_put(ch_profile_cache_t *cache, uint64_t id, const char *json, size_t len,
                          uint64_t version_seen);
/** Drops id's profile; call after committing any change to that user's row. */
void ch_profile_cache_forget(ch_profile_cache_t *cache, uint64_t id);

#endif
