/* Visibility from facts (svc/common/hydrate_visible.h). Keep in step with
 * svc/graph/visibility.c and its SQL conditions. */
#include "svc/common/hydrate_visible.h"

#include "svc/common/hydrate.h"

static int ch__live(const ch_item_record_t *rec, int64_t now_ms)
{
    return rec && rec->found && (rec->expires_at_ms == 0 || now_ms < rec->expires_at_ms);
}

static int ch__blocked(unsigned rel)
{
    return (rel & (CH_HREL_BLOCKING | CH_HREL_BLOCKED_BY)) != 0;
}

int ch_hydrate_may_see_content(uint64_t viewer, uint64_t author, int author_private, unsigned rel,
                               int followers_only)
{
    if (viewer != 0 && author == viewer)
        return 1;
    if (ch__blocked(rel))
        return 0;
    if (followers_only || author_private)
        return (rel & CH_HREL_FOLLOWING) != 0;
    return 1;
}

int ch_hydrate_visible(uint64_t viewer, int64_t now_ms, unsigned flags, const ch_hvis_t *v)
{
    const ch_item_record_t *rec = v->rec;
    if (!ch__live(rec, now_ms) || !v->author || !v->author->found)
        return 0;
    if (rec->placeholder && !(flags & CH_HYDRATE_PLACEHOLDERS))
        return 0;
    if (rec->parent.type == CH_ITEM_NO_PARENT)
        return !rec->placeholder &&
               ch_hydrate_may_see_content(viewer, rec->author_id, v->author->is_private, v->rel, rec->followers_only);
    /* a comment: its author not blocked either way, and the item it is on visible */
    if (rec->author_id != viewer && ch__blocked(v->rel))
        return 0;
    const ch_item_record_t *parent = v->parent;
    if (!ch__live(parent, now_ms) || parent->placeholder || !v->parent_author || !v->parent_author->found)
        return 0;
    return ch_hydrate_may_see_content(viewer, parent->author_id, v->parent_author->is_private, v->parent_rel,
                                      parent->followers_only);
}
