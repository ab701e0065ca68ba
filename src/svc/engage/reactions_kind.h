/* The six reaction kinds, in the order of their counter columns (r_like, ...) and of the
 * counts the API shows. Adding a kind means a migration adding its column. */
#ifndef CH_SVC_ENGAGE_REACTIONS_KIND_H
#define CH_SVC_ENGAGE_REACTIONS_KIND_H

/* name, API name, ranking weight (the value of its engagement events: a like is the
 * cheapest signal, the other kinds say more) */
#define CH_REACTION_KIND_MAP(XX)   \
    XX(LIKE,  "like",  1.0)        \
    XX(LOVE,  "love",  1.5)        \
    XX(HAHA,  "haha",  1.5)        \
    XX(WOW,   "wow",   1.5)        \
    XX(SAD,   "sad",   1.5)        \
    XX(ANGRY, "angry", 1.5)

typedef enum {
#define XX(name, api, weight) CH_REACTION_##name,
    CH_REACTION_KIND_MAP(XX)
#undef XX
    CH_REACTION_KIND_COUNT
} ch_reaction_kind_t;

/** The API name of a kind ("like"); static storage. */
const char *ch_reaction_kind_name(ch_reaction_kind_t kind);
/** The ranking weight of a kind (1.0 for one this build does not know). */
double ch_reaction_kind_weight(int kind);
/** Parses an API name into a kind; -1 when it is not one. */
int ch_reaction_kind_parse(const char *name);
/** A NULL-terminated array of the API names, for ch_field_enum (static storage). */
const char *const *ch_reaction_kind_names(void);

#endif
