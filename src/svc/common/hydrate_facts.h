/* The facts the hydration layer (svc/common/hydrate.h) caches besides item records: a user's
 * summary, the relation bits between a viewer and another user, and a viewer's own state on
 * an item. Filled by the domains' loaders (svc/users/summary_load.h, svc/graph/rel_load.h,
 * svc/engage/viewer_state_load.h), encoded by svc/common/hydrate_codec.h. */
#ifndef CH_SVC_COMMON_HYDRATE_FACTS_H
#define CH_SVC_COMMON_HYDRATE_FACTS_H

#include <stddef.h>
#include <stdint.h>

/** A user as anyone sees it ("u:<id>"). */
typedef struct {
    int found;         /* 0: no such user (cached as such) */
    int is_private;
    char *summary;     /* {"id","handle","display_name","avatar_url"} as JSON text (malloc'd, NUL-terminated;
                          ch_huser_clear), NULL when not found */
    size_t summary_len;
} ch_huser_t;

/** Frees u's summary and zeroes it. */
void ch_huser_clear(ch_huser_t *u);

/* Relation bits of a viewer with another user ("r:<viewer>:<other>"). */
enum {
    CH_HREL_FOLLOWING = 1u << 0,   /* viewer follows other (approved) */
    CH_HREL_REQUESTED = 1u << 1,   /* viewer's follow request to other is pending */
    CH_HREL_FOLLOWED_BY = 1u << 2, /* other follows viewer */
    CH_HREL_BLOCKING = 1u << 3,    /* viewer blocks other */
    CH_HREL_BLOCKED_BY = 1u << 4,  /* other blocks viewer */
    CH_HREL_MUTING = 1u << 5,      /* viewer mutes other */
    CH_HREL_ALL = (1u << 6) - 1,
};

/* Longest reaction kind name kept as a viewer's state. */
#define CH_HVIEWER_KIND_MAX 15

/** A viewer's own state on an item ("v:<viewer>:<type>:<id>"). */
typedef struct {
    int seen;                           /* stories: a story_views row of the viewer */
    char kind[CH_HVIEWER_KIND_MAX + 1]; /* the viewer's reaction kind ("like"), "" = none */
} ch_hviewer_t;

#endif
