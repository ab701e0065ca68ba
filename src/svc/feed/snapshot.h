/* Ranked snapshots of a viewer's feed (docs/design.md, "### rank"): the first page of a
 * feed ranks every candidate once and keeps the ranked keys (with reasons, scores and, when
 * explain was asked, features) in the kv store; later pages read it at an offset, so pages
 * never repeat or skip an item while new ones arrive, and a request without cursor ranks
 * again (new items on top).
 *
 * Bounded per viewer and feed: CH_FEED_SNAP_SLOTS slots "feed:snap:<feed>:<viewer>:<slot>",
 * taken round robin by the counter "feed:snap:<feed>:<viewer>:n", each kept
 * CH_FEED_SNAP_TTL_MS and holding at most CH_FEED_SNAP_MAX entries. A cursor "<gen>.<offset>"
 * names its generation; a slot since taken by a later generation, or expired, answers 422
 * (the client starts again). Kv (Redis) down: ch_kvl_* keep the snapshot in this replica's
 * store for the outage (svc/common/kv_local.h). */
#ifndef CH_SVC_FEED_SNAPSHOT_H
#define CH_SVC_FEED_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "svc/feed/candidates.h"
#include "svc/feed/rank_model.h"

#define CH_FEED_SNAP_SLOTS 2
#define CH_FEED_SNAP_TTL_MS (30LL * 60 * 1000)
#define CH_FEED_SNAP_MAX 500
/* Entries kept in a snapshot's head ("feed:snap:<feed>:<viewer>:head", the latest ranking's
 * first entries): what a reused first page reads instead of the whole ranking. */
#define CH_FEED_SNAP_HEAD 60

/** One ranked entry. */
typedef struct {
    ch_feed_cand_t cand;
    double score;
    double features[CH_FEED_F_COUNT]; /* meaningful when the snapshot has_features */
} ch_feed_snap_entry_t;

/** A ranked snapshot (entries owned: ch_feed_snap_clear). */
typedef struct {
    uint64_t gen;     /* names it in cursors; 0 = not stored */
    int64_t at_ms;    /* when it was ranked */
    int has_features; /* ranked with explain: entries carry features */
    uint64_t net_top; /* the newest in-network item id when it was ranked (0 = none) */
    uint64_t vgen;    /* the viewer's generation then (svc/common/viewer_gen.h; 0 = none, UINT64_MAX = unknown) */
    ch_feed_snap_entry_t *entries;
    size_t n;
    size_t total;     /* entries of the whole ranking: n, or more for a head (ch_feed_snap_head) */
    /* A head's entries not decoded yet (ch_feed_snap_more): its text (owned), where they
     * start (NULL: none left) and how many entries[] holds at most. */
    char *text;
    const char *rest;
    size_t cap;
} ch_feed_snap_t;

/** Frees s's entries (and a head's text). */
void ch_feed_snap_clear(ch_feed_snap_t *s);
/** Encodes s as text; returns a malloc'd NUL-terminated string (caller frees), *len_out its
 * length; NULL when out of memory. */
char *ch_feed_snap_encode(const ch_feed_snap_t *s, size_t *len_out);
/** Decodes text (from ch_feed_snap_encode) into s (caller clears). 0 on success, -1 when
 * the text is not a snapshot (s left empty). */
int ch_feed_snap_decode(const char *text, ch_feed_snap_t *s);

/** Parses a cursor "<gen>.<offset>" (gen > 0). 0 on success, -1 when malformed. */
int ch_feed_cursor_parse(const char *cursor, uint64_t *gen, size_t *offset);
/** Writes the cursor of gen at offset into buf (>= 48 bytes). */
void ch_feed_cursor_format(uint64_t gen, size_t offset, char *buf, size_t buflen);

/** Stores s under a new generation for viewer and feed ("home", "reels"): sets s->gen; then
 * its first CH_FEED_SNAP_HEAD entries as the feed's head (ch_feed_snap_head). Kv errors are
 * returned (the caller serves the page anyway, without a cursor). */
ch_err_t ch_feed_snap_save(ch_svc_t *svc, const char *feed, uint64_t viewer, ch_feed_snap_t *s);
/** Loads generation gen of viewer's feed snapshot into s; *found 0 when it expired or its
 * slot holds a later generation. */
ch_err_t ch_feed_snap_load(ch_svc_t *svc, const char *feed, uint64_t viewer, uint64_t gen, ch_feed_snap_t *s,
                           int *found);
/** Loads the latest snapshot saved for viewer's feed into s (caller clears); *found 0 when
 * there is none (never saved, expired, or unreadable). */
ch_err_t ch_feed_snap_latest(ch_svc_t *svc, const char *feed, uint64_t viewer, ch_feed_snap_t *s, int *found);

/** Loads the head of the latest snapshot saved for viewer's feed into s (caller clears):
 * its header (gen, at_ms, net_top, vgen; the ranking's length in s->total) now, its entries on
 * demand (ch_feed_snap_more: s->n is 0 at first), at most min(total, CH_FEED_SNAP_HEAD, max)
 * of them; *found 0 when there is none. A few kB read, and only the entries a page looks at
 * parsed, instead of the whole ranking; pages past the head load the whole snapshot by
 * s->gen. For a page served without explain: the entries' scores and features are not read
 * (left 0). */
ch_err_t ch_feed_snap_head(ch_svc_t *svc, const char *feed, uint64_t viewer, size_t max, ch_feed_snap_t *s,
                           int *found);
/** Decodes up to k more of a head's entries into s->entries[s->n..] (s->n grows); returns how
 * many. 0 for a snapshot fully decoded (ch_feed_snap_load), a head at its bound, or an entry
 * that does not parse (then none is decoded past it: s->n < s->total stays, and the caller
 * loads the whole snapshot). */
size_t ch_feed_snap_more(ch_feed_snap_t *s, size_t k);

/** Forgets the head of viewer's feed (a ranking that fit one page was not stored: the older
 * one it replaces must not be reused after it). Kv errors are returned. */
ch_err_t ch_feed_snap_drop_head(ch_svc_t *svc, const char *feed, uint64_t viewer);

#endif
