/* Home timelines: for each active user, the newest items pushed to them by the fan-out
 * workers (svc/feed/fanout), newest first, bounded per user. Two implementations behind one
 * vtable: in-process (sharded by user id, one lock per shard, no global lock) when
 * CHORUS_REDIS is unset, Redis (one sorted set per user, pipelined) otherwise.
 *
 * A timeline exists only for a user who read their feed recently: it is created by
 * ch_timeline_replace (the read path rebuilds it from the database when it is missing) and
 * dropped after CH_TIMELINE_IDLE_TTL_MS without a read (Redis: the key's TTL; in-process:
 * evicted). Pushes go only to timelines that exist (ch_timeline_push_many skips the others),
 * so inactive users cost the write path nothing and are rebuilt on return.
 *
 * Every entry is (item id, author id, type); item ids are time-sortable, so the id is the
 * order. Entries are facts, not answers: the read path still checks visibility of every
 * item it serves. Every call is thread-safe; with Redis they block (worker threads). */
#ifndef CH_STORE_TIMELINE_H
#define CH_STORE_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Entries kept per user (the newest; older ones fall off at insert). */
#define CH_TIMELINE_MAX_ENTRIES 800
/* A timeline not read for this long is dropped (the follower counts as inactive). */
#define CH_TIMELINE_IDLE_TTL_MS (7LL * 24 * 3600 * 1000)
/* Users per ch_timeline_push_many / meta_many call (callers batch followers by this). */
#define CH_TIMELINE_BATCH_MAX 1024
/* The in-process store's memory bound by default (CHORUS_TIMELINE_MAX_MEMORY): past it, the
 * least recently read timelines are evicted (rebuilt from the database at their next read).
 * With Redis the bound is the operator's (maxmemory). */
#define CH_TIMELINE_DEFAULT_MAX_MEMORY ((size_t)256 << 20)

/** One timeline entry. type is the item's target type (svc/engage/target.h numbering). */
typedef struct {
    uint64_t item_id;
    uint64_t author_id;
    uint8_t type;
} ch_timeline_entry_t;

/** What the store knows about a user's timeline. */
typedef struct {
    int exists;            /* 0: no timeline (never built, or dropped as inactive) */
    int64_t last_read_ms;  /* unix ms of the last ch_timeline_touch (0 if none) */
    double read_rate;      /* home-feed reads per hour, exponentially decayed (policy.h) */
} ch_timeline_meta_t;

/** Backend vtable; every slot is mandatory (checked by ch_timeline_open). */
typedef struct ch_timeline_driver {
    const char *name; /* "memory" or "redis" */
    ch_err_t (*open)(const char *url, void **impl_out, char *errbuf, size_t errlen);
    void (*close)(void *impl);
    ch_err_t (*meta_many)(void *impl, const uint64_t *users, size_t n, ch_timeline_meta_t *out);
    ch_err_t (*push_many)(void *impl, const uint64_t *users, size_t n, const ch_timeline_entry_t *e,
                          size_t *pushed_out);
    ch_err_t (*read)(void *impl, uint64_t user, uint64_t before_id, size_t max, ch_timeline_entry_t *out,
                     size_t *n_out, ch_timeline_meta_t *meta_out);
    ch_err_t (*replace)(void *impl, uint64_t user, const ch_timeline_entry_t *entries, size_t n,
                        const ch_timeline_meta_t *meta);
    ch_err_t (*touch)(void *impl, uint64_t user, int64_t now_ms, double read_rate);
    ch_err_t (*remove_author)(void *impl, uint64_t user, uint64_t author_id);
    ch_err_t (*remove_item)(void *impl, const uint64_t *users, size_t n, uint64_t item_id);
    ch_err_t (*drop)(void *impl, uint64_t user);
    void (*render_metrics)(void *impl, ch_buf_t *out);
} ch_timeline_driver_t;

typedef struct ch_timeline ch_timeline_t;

extern const ch_timeline_driver_t ch_timeline_mem_driver;
extern const ch_timeline_driver_t ch_timeline_redis_driver;

/** Opens the store: url NULL or "" = in-process, "redis://..." = Redis (connections made
 * lazily: must not fail while Redis is down). Caller owns *out (ch_timeline_close). */
ch_err_t ch_timeline_open(const char *url, ch_timeline_t **out, char *errbuf, size_t errlen);
/** Closes the store. NULL is fine. */
void ch_timeline_close(ch_timeline_t *tl);
/** Backend name ("memory", "redis"). */
const char *ch_timeline_kind(const ch_timeline_t *tl);
/** Fills out[i] for users[i] (n <= CH_TIMELINE_BATCH_MAX): one round trip. */
ch_err_t ch_timeline_meta_many(ch_timeline_t *tl, const uint64_t *users, size_t n, ch_timeline_meta_t *out);
/** Inserts e into the timeline of each users[i] that exists (others are skipped), keeping
 * the newest CH_TIMELINE_MAX_ENTRIES; inserting an entry already there changes nothing.
 * *pushed_out (may be NULL) gets how many timelines took it. n <= CH_TIMELINE_BATCH_MAX. */
ch_err_t ch_timeline_push_many(ch_timeline_t *tl, const uint64_t *users, size_t n, const ch_timeline_entry_t *e,
                               size_t *pushed_out);
/** Reads up to max entries of user's timeline with item_id < before_id (0 = from the
 * newest), newest first, into out (caller's array of max). meta_out (may be NULL) gets the
 * meta; a missing timeline is CH_OK with *n_out = 0 and meta_out->exists = 0. */
ch_err_t ch_timeline_read(ch_timeline_t *tl, uint64_t user, uint64_t before_id, size_t max, ch_timeline_entry_t *out,
                          size_t *n_out, ch_timeline_meta_t *meta_out);
/** Creates or replaces user's whole timeline with entries (any order; the newest
 * CH_TIMELINE_MAX_ENTRIES kept) and meta (exists is implied), atomically for readers. */
ch_err_t ch_timeline_replace(ch_timeline_t *tl, uint64_t user, const ch_timeline_entry_t *entries, size_t n,
                             const ch_timeline_meta_t *meta);
/** Records a read of user's feed at now_ms with the new read_rate, and keeps the timeline
 * alive for another CH_TIMELINE_IDLE_TTL_MS. No-op when the timeline does not exist. */
ch_err_t ch_timeline_touch(ch_timeline_t *tl, uint64_t user, int64_t now_ms, double read_rate);
/** Removes every entry of author_id from user's timeline (unfollow, block, mute). */
ch_err_t ch_timeline_remove_author(ch_timeline_t *tl, uint64_t user, uint64_t author_id);
/** Removes item_id from the timelines of users[0..n) (a delete; readers filter it too). */
ch_err_t ch_timeline_remove_item(ch_timeline_t *tl, const uint64_t *users, size_t n, uint64_t item_id);
/** Drops user's timeline (it will be rebuilt at the next read). */
ch_err_t ch_timeline_drop(ch_timeline_t *tl, uint64_t user);
/** Sets the in-process store's memory bound in bytes (0 = none; default
 * CH_TIMELINE_DEFAULT_MAX_MEMORY), evicting at once if over it; no-op for Redis. */
void ch_timeline_set_max_memory(ch_timeline_t *tl, size_t bytes);
/** Appends the store's metrics (Prometheus text: timelines, entries, bytes, pushes). */
void ch_timeline_render_metrics(ch_timeline_t *tl, ch_buf_t *out);

#endif
