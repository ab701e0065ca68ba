/* A list's first entries as one hydration-cache fact (docs/design.md, "### l1 on the loop"):
 * the newest entries of a list (followers, reactions, …), each a fixed row of 64-bit
 * columns, with no viewer's terms, so that a warm first page needs no statement and, in
 * cluster mode, is served on the loop from the L1. The fact is put under the lookup's lease
 * and forgotten by the writes that change the list (the caller's domain). A value is binary:
 * the spec's tag, a version byte (1), a flag byte (1: full, there may be older entries), then
 * the rows, little-endian; a value that does not decode exactly is a miss. */
#ifndef CH_SVC_COMMON_ID_PAGE_H
#define CH_SVC_COMMON_ID_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/db.h"
#include "svc/common/hydrate.h"
#include "svc/context.h"

/* Columns per row at most. */
#define CH_ID_PAGE_MAX_COLS 8

/** What one kind of cached list looks like; static, owned by the caller. */
typedef struct {
    char tag;       /* the value's first byte, distinct per kind */
    unsigned cols;  /* 64-bit columns per row, 1..CH_ID_PAGE_MAX_COLS */
    size_t cap;     /* rows kept at most */
    const char *sql; /* its params, then $N+1 = the row limit; its first cols columns */
    /* Optional: turns result row r into cols values; 0 = the list cannot be cached (the
     * caller's statement reads the page). NULL: the columns read as integers. */
    int (*row)(const ch_db_rows_t *rows, size_t r, uint64_t *vals);
    /* Optional: 1 when a decoded row is valid (a value this build cannot read is a miss). */
    int (*valid)(const uint64_t *vals);
    /* Optional: after a miss's statement, fills the columns it does not read in v[0..n × cols)
     * (more statements, e.g. a thread's first replies); an error is the read's (nothing put). */
    ch_err_t (*complete)(ch_svc_t *svc, uint64_t *v, size_t n);
} ch_id_page_spec_t;

/** A list's first rows, newest first; v (cap × cols values, row-major) is the caller's. */
typedef struct {
    uint64_t *v;
    size_t n;
    int full; /* 1: there may be older rows than these */
} ch_id_page_t;

/** Reads the list under key into out (out->v must hold spec->cap × spec->cols values): one
 * cache lookup; on a miss one statement (params p, plus the limit cap + 1) whose rows are
 * put back under the lookup's lease. 0 when the cache cannot answer (down, or on an event
 * loop: the read moves) or the rows cannot be cached, and nothing was read; 1 when out is
 * filled; -1 on a database error (*err). */
int ch_id_page_read(ch_svc_t *svc, const ch_id_page_spec_t *spec, const char *key, const ch_db_param_t *p,
                    size_t np, ch_id_page_t *out, ch_err_t *err);

/** Decodes v[0..len), a value of spec's kind, into out (out->v must hold spec->cap ×
 * spec->cols values): 1 when it is one exactly (rows valid), else 0 (a miss). For callers
 * that read many keys in one lookup (svc/common/author_index.h). */
int ch_id_page_decode(const ch_id_page_spec_t *spec, const char *v, size_t len, ch_id_page_t *out);
/** Encodes pg (pg->n <= spec->cap) as a value of spec's kind; *len is its size. Caller frees. */
char *ch_id_page_encode(const ch_id_page_spec_t *spec, const ch_id_page_t *pg, size_t *len);
/** The rows of pg after cursor in list order, for a page's round of `want` ids: the list is
 * ordered by column col, descending (desc) or ascending; cursor 0 (or above INT64_MAX when
 * descending) is its start. 1 with *from (first row index) and *n (rows, <= want) when pg
 * answers the round: it has want rows past the cursor, or holds the whole list (not full); 0
 * when a full page runs out first (the caller's statement reads the round). */
int ch_id_page_after(const ch_id_page_spec_t *spec, const ch_id_page_t *pg, unsigned col, int desc, uint64_t cursor,
                     size_t want, size_t *from, size_t *n);

/** Appends one shown row of a users page to b (with its leading comma unless first): the
 * row's values and its user's rendering (u->json is set). */
typedef void (*ch_id_page_user_row_fn)(ch_buf_t *b, int first, const uint64_t *row, const ch_hydrated_user_t *u);

/** Renders a first page of a users list, {items, next_cursor}, from pg's rows (id_page_users.c):
 * the users of column user_col hydrated in order for viewer, those the layer hides (a block
 * either way: the statements' terms) skipped, until limit + 1 are shown (the last only says
 * there is more; the cursor is the limit-th's column cursor_col). 1 when *out (or *err) is
 * the answer (*out is the caller's to free); 0 when the rows cannot tell (a full list that
 * runs out first): the caller's statement reads the page. */
int ch_id_page_render_users(ch_svc_t *svc, const ch_id_page_spec_t *spec, const ch_id_page_t *pg, unsigned user_col,
                            unsigned cursor_col, uint64_t viewer, int limit, ch_id_page_user_row_fn append, char **out,
                            ch_err_t *err, ch_fault_t *f);

#endif
