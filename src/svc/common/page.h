/* Pages as JSON text (docs/design.md, "Hydration", "lists"): every list endpoint reads its
 * ids with one indexed statement, hydrates them (svc/common/hydrate.h) and assembles the
 * answer here with ch_buf_t, splicing the layer's texts; no Jansson tree is built for a page.
 * The answer text goes to the HTTP call as its raw body. */
#ifndef CH_SVC_COMMON_PAGE_H
#define CH_SVC_COMMON_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "svc/common/hydrate.h"

/* Most items a page may ask for (?limit, http/call.h: 1..100). */
#define CH_PAGE_LIMIT_MAX 100

/** Appends `"<id>"` (an id as a JSON string) to b. */
void ch_page_id(ch_buf_t *b, uint64_t id);
/** Appends `"<RFC 3339 time of ms>"` to b. */
void ch_page_time(ch_buf_t *b, int64_t ms);
/** Appends `,"next_cursor":"<next>"}` or `,"next_cursor":null}` (next 0) to b: the end of a
 * page opened with `{"items":[...]`. */
void ch_page_close(ch_buf_t *b, uint64_t next);
/** Appends the summary of u (shown: u->json set) with members spliced in before its closing
 * brace (extra without braces, extra_len 0 = none). */
void ch_page_user_with(ch_buf_t *b, const ch_hydrated_user_t *u, const char *extra, size_t extra_len);
/** Appends u's summary with its "is_private" member (follower lists, notification actors). */
void ch_page_user_private(ch_buf_t *b, const ch_hydrated_user_t *u);

/** Hydrates keys[0..n) (n <= CH_ITEMS_HYDRATE_MAX) for viewer with flags and sets *out to
 * {"items":[the shown ones, in order],"next_cursor":next or null} (malloc'd text, caller
 * frees). Errors of the layer are returned with f filled. */
ch_err_t ch_page_items(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n, unsigned flags,
                       uint64_t next, char **out, ch_fault_t *f);

/** One item as viewer sees it (single-item GETs): *out is its JSON text (malloc'd, caller
 * frees); CH_ENOTFOUND "<type> not found" when it does not exist, was deleted or expired, or
 * the viewer may not see it. */
ch_err_t ch_page_item_get(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, char **out,
                          ch_fault_t *f);

/* Rounds of reading ids a page makes at most when the layer hides many of them. */
#define CH_PAGE_ROUNDS_MAX 4

/** Reads the next ids of a list after cursor (0 = from the start), in the list's order, into
 * keys[0..*n) (*n <= want). ctx is the caller's. */
typedef ch_err_t (*ch_page_ids_fn)(ch_svc_t *svc, void *ctx, uint64_t cursor, size_t want, ch_item_key_t *keys,
                                   size_t *n);

/** A page filled by ch_page_fill. */
typedef struct {
    ch_hydrated_t h[CH_PAGE_LIMIT_MAX]; /* the shown items, in order (owned: ch_hydrated_free) */
    uint64_t ids[CH_PAGE_LIMIT_MAX];    /* their ids */
    size_t n;
    uint64_t next;                      /* the cursor of the next page, 0 = none */
} ch_page_t;

/** Fills a page of up to limit (<= CH_PAGE_LIMIT_MAX) items the viewer may see, for lists
 * whose visibility is decided by the layer after the ids are read: rounds of 2 * limit + 1
 * ids from next_ids, hydrated with flags, until limit are shown, the list ends, scan_max ids
 * were read or CH_PAGE_ROUNDS_MAX rounds were made. The cursor continues after the last id
 * considered: the limit-th shown, or the last read when the page comes back short (only when
 * many items were hidden). The call sets pg->n and pg->next and fills h[0..n), ids[0..n)
 * (the rest of pg is not touched: a caller need not zero it). */
ch_err_t ch_page_fill(ch_svc_t *svc, uint64_t viewer, unsigned flags, int limit, size_t scan_max, uint64_t cursor,
                      ch_page_ids_fn next_ids, void *ctx, ch_page_t *pg, ch_fault_t *f);
/** Appends {"items":[pg's texts],"next_cursor":...} to b. */
void ch_page_append(ch_buf_t *b, const ch_page_t *pg);

/** The up-front check of an author's lists (timelines, stories, followers): the viewer may
 * see author's content (svc/graph/visibility.h rules, from the layer's cached facts): the user
 * exists, no block either way, and a private account is the viewer's own or followed.
 * *followers (may be NULL) is set when followers-only items are shown too (own or
 * following). CH_ENOTFOUND "user not found" otherwise. */
ch_err_t ch_page_check_author(ch_svc_t *svc, uint64_t viewer, uint64_t author, int *followers, ch_fault_t *f);

#endif
