#include "svc/engage/target.h"

#include <string.h>

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
