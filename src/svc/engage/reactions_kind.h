/* The six reaction kinds, in the order of their counter columns (r_like, ...) and of the
 * counts the API shows. Adding a kind means a migration adding its column. */
#ifndef CH_SVC_ENGAGE_REACTIONS_KIND_H
#define CH_SVC_ENGAGE_REACTIONS_KIND_H

/*  name    API name */
#define CH_REACTION_KIND_MAP(XX) \
    XX(LIKE,  "like")            \
    XX(LOVE,  "love")            \
    XX(HAHA,  "haha")            \
    XX(WOW,   "wow")             \
    XX(SAD,   "sad")             \
    XX(ANGRY, "angry")

typedef enum {
#define XX(name, api) CH_REACTION_##name,
    CH_REACTION_KIND_MAP(XX)
#undef XX
    CH_REACTION_KIND_COUNT
} ch_reaction_kind_t;

/** The API name of a kind ("like"); static storage. */
const char *ch_reaction_kind_name(ch_reaction_kind_t kind);
/** Parses an API name into a kind; -1 when it is not one. */
int ch_reaction_kind_parse(const char *name);
/** A NULL-terminated array of the API names, for ch_field_enum (static storage). */
const char *const *ch_reaction_kind_names(void);

#endif
