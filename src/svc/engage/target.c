#include "svc/engage/target.h"

#include <string.h>

#include "svc/common/hydrate.h"

static const struct {
    const char *name;
    const char *segment;
} ch__targets[] = {
#define XX(name, type, segment) {type, segment},
    CH_TARGET_MAP(XX)
#undef XX
};

const char *ch_target_type_name(ch_target_type_t type)
{
    return (int)type >= 0 && type < CH__TARGET_COUNT ? ch__targets[type].name : "unknown";
}

int ch_target_from_segment(const char *segment)
{
    for (int i = 0; i < CH__TARGET_COUNT; i++)
        if (strcmp(segment, ch__targets[i].segment) == 0)
            return i;
    return -1;
}

int ch_target_from_name(const char *name)
{
    for (int i = 0; i < CH__TARGET_COUNT; i++)
        if (strcmp(name, ch__targets[i].name) == 0)
            return i;
    return -1;
}

ch_err_t ch_target_resolve(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_target_type_t type, uint64_t id,
                           ch_target_t *out, ch_fault_t *f)
{
    const ch_item_type_ops_t *ops = ch_items_ops((int)type);
    if (!ops || !ops->resolve) /* livestreams and listings: their domains do not exist yet */
        return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch_target_type_name(type));
    return ops->resolve(svc, conn, viewer, type, id, out, f);
}

ch_err_t ch_target_resolve_read(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, ch_target_t *out,
                                ch_fault_t *f)
{
    if (type != CH_TARGET_POST && type != CH_TARGET_REEL && type != CH_TARGET_STORY && type != CH_TARGET_COMMENT)
        return ch_target_resolve(svc, NULL, viewer, type, id, out, f);
    ch_item_key_t key = {(uint8_t)type, id};
    ch_hydrated_t h;
    ch_err_t err = ch_hydrate_items(svc, viewer, &key, 1, CH_HYDRATE_FACTS_ONLY, &h, f);
    if (err)
        return err;
    int shown = h.facts.author_id != 0;
    *out = (ch_target_t){type, id, h.facts.author_id, h.facts.followers_only};
    ch_hydrated_free(&h, 1);
    return shown ? CH_OK : ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch_target_type_name(type));
}
