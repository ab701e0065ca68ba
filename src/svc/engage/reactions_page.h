/* The newest reactions on a target, cached (docs/design.md, "### l1", cluster lists on the
 * loop): a fact "X:<type>:<id>" in the hydration cache holds its newest CH_REACTIONS_CACHED
 * reactions (reaction id, user, kind, time), with no viewer's block terms (the layer's user
 * facts decide who the viewer sees). Forgotten after the commit of every reaction set,
 * changed or removed on the target (reactions_apply.c, ch_hydrate_forget_reactions), so a warm first page of the
 * reactions list needs no statement. Internal to svc/engage. */
#ifndef CH_SVC_ENGAGE_REACTIONS_PAGE_H
#define CH_SVC_ENGAGE_REACTIONS_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/items.h"
#include "svc/context.h"

/* Reactions kept per target: the largest page (100) with room for hidden users. */
#define CH_REACTIONS_CACHED 128

/** A target's newest reactions, newest first. */
typedef struct {
    struct {
        uint64_t id, user;
        int64_t at_ms;
        uint8_t kind; /* ch_reaction_kind_t */
    } r[CH_REACTIONS_CACHED];
    size_t n;
    int full; /* 1: there may be older reactions than these */
} ch__reactions_page_t;

/** Reads the target's newest reactions into out: one cache lookup, on a miss one statement
 * put back under the lookup's lease. 0 when the cache cannot answer (down, or on an event
 * loop: the read moves) and nothing was read; 1 when out is filled; -1 on a database error
 * (*err). */
int ch__reactions_page_read(ch_svc_t *svc, ch_target_type_t type, uint64_t id, ch__reactions_page_t *out,
                            ch_err_t *err);

#endif
