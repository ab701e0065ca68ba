/* The registry of engageable item types (docs/design.md, "Item-type registry"): each
 * content domain registers, for its types, how to resolve one item for a viewer, how to
 * check visibility and how to render many items at once. Engagement, the feed and later
 * livestreams and listings go through this registry, never into another domain's files.
 *
 * The registry knows no domain: the list of type numbers and names lives here, and each
 * domain fills its rows at start-up (ch_svc_register_item_types, svc/item_types.h, calls
 * every domain's register function once, before any thread serves). The table is
 * read-only afterwards, so lookups take no lock. */
#ifndef CH_SVC_COMMON_ITEMS_H
#define CH_SVC_COMMON_ITEMS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

/* Keys per ch_items_hydrate call. */
#define CH_ITEMS_HYDRATE_MAX 500
/* Distinct ids per load_many call: the size of the fixed IN list of a loading statement
 * (one statement text and one prepared statement whatever the number of keys; unused
 * slots bind 0, which is no item's id). The hydration layer splits larger groups in chunks. */
#define CH_ITEMS_IN_MAX 100

/* The engageable types: reactions, comments, mentions, hashtags, views, notifications,
 * events and the feed address an item as (type, id).
 *  name         type name     path segment */
#define CH_TARGET_MAP(XX)                      \
    XX(POST,       "post",       "posts")       \
    XX(REEL,       "reel",       "reels")       \
    XX(STORY,      "story",      "stories")     \
    XX(COMMENT,    "comment",    "comments")    \
    XX(LIVESTREAM, "livestream", "livestreams") \
    XX(LISTING,    "listing",    "listings")

typedef enum {
#define XX(name, type, segment) CH_TARGET_##name,
    CH_TARGET_MAP(XX)
#undef XX
    CH__TARGET_COUNT
} ch_target_type_t;

/** An item (target) the viewer may see and engage with, as resolved by its type. */
typedef struct {
    ch_target_type_t type;
    uint64_t id;
    uint64_t author_id;   /* who owns it (notified, affinity) */
    int followers_only;   /* its visibility (for mentions: who may see it) */
} ch_target_t;

/** An item addressed polymorphically. */
typedef struct {
    uint8_t type; /* target type number (ch_target_type_t) */
    uint64_t id;
} ch_item_key_t;

/** What ranking needs to know about an item, read by the same statement that renders it. */
typedef struct {
    uint64_t author_id; /* never 0 for an item returned (facts-only hydration: 0 = not returned) */
    int64_t created_at_ms;
    int64_t reactions;  /* all kinds */
    int64_t comments;   /* comments and replies */
    int64_t views;
    int followers_only;
    int seen;           /* stories: the viewer saw it */
    int muted;          /* the viewer mutes the author (svc/common/hydrate.h; muting is the caller's rule) */
} ch_item_facts_t;

/* ch_item_record_t.parent.type of an item that is on no other item. */
#define CH_ITEM_NO_PARENT 0xff

/** An item as anyone sees it: what the hydration layer (svc/common/hydrate.h) caches per
 * item, filled by the item's type (load_many). Nothing in it depends on a viewer. */
typedef struct {
    int found;             /* 0: no such item, deleted (and no placeholder), or of another type
                              (cached as such, so a missing item costs no statement either) */
    char *body;            /* the item object's members as JSON text without the braces and
                              without "author", "my_reaction" and "seen" (malloc'd; the layer
                              frees it); a placeholder's body holds its "author": null itself */
    size_t body_len;
    uint64_t author_id;
    int64_t created_at_ms;
    int64_t expires_at_ms; /* shown while now < it; 0 = never expires */
    int followers_only;    /* the item's own visibility; comments: that of the item they are on */
    int placeholder;       /* comments: deleted, kept as a thread placeholder for its live replies */
    ch_item_key_t parent;  /* comments: the item they are on, which the viewer must be able to
                              see; .type CH_ITEM_NO_PARENT otherwise */
    int64_t reactions;     /* all kinds */
    int64_t comments;      /* comments and replies (comments: replies) */
    int64_t views;
} ch_item_record_t;

/** How a domain serves one item type. Slots may be NULL: the type then has no item of that
 * kind (resolve: CH_ENOTFOUND; hydration: not shown). */
typedef struct {
    /** Resolves item id of type for viewer: it exists, is live (not deleted or expired) and
     * viewer may see it; else CH_ENOTFOUND "<type> not found" in f. conn may be NULL (one
     * is borrowed) or the caller's, inside its transaction. */
    ch_err_t (*resolve)(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_target_type_t type, uint64_t id,
                        ch_target_t *out, ch_fault_t *f);
    /** Reads the records of keys[0..n) (n <= CH_ITEMS_IN_MAX, distinct, every key's type
     * registered with this same function) in ONE statement, whoever looks: out[] comes
     * zeroed; out[i].found stays 0 for an item missing, deleted (without placeholder) or of
     * another type. Expiry is the layer's (expires_at_ms), not a reason to leave one out. */
    ch_err_t (*load_many)(ch_svc_t *svc, const ch_item_key_t *keys, size_t n, ch_item_record_t *out, ch_fault_t *f);
} ch_item_type_ops_t;

/** Registers ops (static storage, borrowed for the process) for type. Call at start-up,
 * before threads read the registry; registering a type again replaces its row. */
void ch_items_register(ch_target_type_t type, const ch_item_type_ops_t *ops);
/** The ops registered for type, or NULL (unknown or unregistered type). */
const ch_item_type_ops_t *ch_items_ops(int type);

/** Writes "($first, $first+1, ..., $first+CH_ITEMS_IN_MAX-1)" into buf (cap bytes, at least
 * CH_ITEMS_IN_SQL_LEN): the IN list of a hydrating statement. */
#define CH_ITEMS_IN_SQL_LEN 1024
void ch_items_sql_in(char *buf, size_t cap, unsigned first);
/** Runs a hydrating statement: $1 = viewer, $2 = now (ms), $3 ... the ids of keys[0..n)
 * (n <= CH_ITEMS_IN_MAX) padded with 0 to the IN list of ch_items_sql_in(buf, cap, 3), so the
 * text never changes. *rows_out is the caller's (ch_db_rows_free). */
ch_err_t ch_items_run_in(ch_svc_t *svc, const char *sql, uint64_t viewer, const ch_item_key_t *keys, size_t n,
                         ch_db_rows_t **rows_out);
/** The index of the key with id among keys[0..n), or -1. */
int ch_items_find(const ch_item_key_t *keys, size_t n, uint64_t id);
/** The index of the key (type, id) among keys[0..n), or -1 (load_many: a row matches only
 * the key of its own type). */
int ch_items_find_key(const ch_item_key_t *keys, size_t n, unsigned type, uint64_t id);

/** Renders keys[0..n) (n <= CH_ITEMS_HYDRATE_MAX) as viewer sees them, through the hydration
 * layer (svc/common/hydrate.h: ch_hydrate_items, each text parsed), so in a constant number
 * of cache round trips and statements (one per kind of fact, group of types sharing a table
 * and CH_ITEMS_IN_MAX distinct ids, never one per item). Duplicate keys get equal, separate objects. out[i] receives the item
 * object (caller owns it) or NULL when the item does not exist, was deleted or expired, or
 * the viewer may not see it (blocked either way, private without approval, followers-only),
 * and for one whose cached text does not parse (left out, logged, its record forgotten).
 * facts (may be NULL) receives, for every non-NULL out[i], facts[i]. Muting is the caller's
 * rule, not applied here.
 * out NULL (facts non-NULL): facts only, read by the same statements with the same
 * visibility, without building any JSON; facts[i] is zeroed (author_id 0) for every item
 * that out[i] would have left NULL. Ranking reads its candidates so; only a page is rendered. */
ch_err_t ch_items_hydrate(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n, json_t **out,
                          ch_item_facts_t *facts, ch_fault_t *f);

#endif
