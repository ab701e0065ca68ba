#include "svc/engage/reactions_kind.h"

#include <string.h>

static const char *const ch__kind_names[] = {
#define XX(name, api, weight) api,
    CH_REACTION_KIND_MAP(XX)
#undef XX
    NULL,
};

static const double ch__kind_weights[] = {
#define XX(name, api, weight) weight,
    CH_REACTION_KIND_MAP(XX)
#undef XX
};

double ch_reaction_kind_weight(int kind)
{
    return kind >= 0 && kind < CH_REACTION_KIND_COUNT ? ch__kind_weights[kind] : 1.0;
}

const char *ch_reaction_kind_name(ch_reaction_kind_t kind)
{
    return (unsigned)kind < CH_REACTION_KIND_COUNT ? ch__kind_names[kind] : "unknown";
}

int ch_reaction_kind_parse(const char *name)
{
    for (int i = 0; name && i < CH_REACTION_KIND_COUNT; i++)
        if (strcmp(name, ch__kind_names[i]) == 0)
            return i;
    return -1;
}

const char *const *ch_reaction_kind_names(void)
{
    return ch__kind_names;
}
