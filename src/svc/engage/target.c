#include "svc/engage/target.h"

#include <string.h>

#include "svc/content/content.h"

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
    ch_item_ref_t ref;
    ch_item_type_t item;
    switch (type) {
    case CH_TARGET_POST:
        item = CH_ITEM_POST;
        break;
    case CH_TARGET_REEL:
        item = CH_ITEM_REEL;
        break;
    case CH_TARGET_STORY:
        item = CH_ITEM_STORY;
        break;
    case CH_TARGET_COMMENT:
        return ch_comment_resolve(svc, conn, viewer, id, out, f);
    default: /* livestreams and listings: their domains do not exist yet */
        return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch_target_type_name(type));
    }
    ch_err_t err = ch_content_find(svc, conn, viewer, item, id, &ref, f);
    if (err)
        return err;
    *out = (ch_target_t){type, ref.id, ref.author_id, ref.followers_only};
    return CH_OK;
}
