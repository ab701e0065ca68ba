/* The first edges of a user's followers or following list, cached (docs/design.md, "### l1",
 * cluster lists on the loop): a fact "F:<user>" (followers) or "G:<user>" (following) in the
 * hydration cache holds the newest CH_GRAPH_EDGES_CACHED edges (edge id, other user), with no
 * viewer's block terms: who the viewer may see is decided by the layer's user facts. Forgotten
 * with the pair's relation after every edge change (ch_hydrate_forget_relation), so a warm
 * first page needs no statement (and, in cluster mode, is served on the loop from the L1). */
#ifndef CH_SVC_GRAPH_EDGE_PAGE_H
#define CH_SVC_GRAPH_EDGE_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

/* Edges kept per list: the first page of the largest limit (100) with room for hidden users. */
#define CH_GRAPH_EDGES_CACHED 128

/** Edges of a list, newest first. */
typedef struct {
    uint64_t edge[CH_GRAPH_EDGES_CACHED]; /* the edge id (the list's cursor) */
    uint64_t user[CH_GRAPH_EDGES_CACHED]; /* the follower (or followee) */
    size_t n;
    int full; /* 1: there may be older edges than these */
} ch_graph_edges_t;

/** Reads user's first edges (following: 1 = the accounts user follows, 0 = its followers)
 * into out: one cache lookup, on a miss one statement whose result is put back under the
 * lookup's lease. 0 when the cache cannot answer (down, or on an event loop: the read moves)
 * and nothing was read; 1 when out is filled; -1 on a database error (*err). */
int ch_graph_edges_read(ch_svc_t *svc, uint64_t user, int following, ch_graph_edges_t *out, ch_err_t *err);

#endif
