/* Reading comments: one comment, a target's top-level comments newest first (keyset on the
 * time-sortable id, so pages never repeat or skip one while new ones arrive), and the
 * replies of a comment oldest first, through the hydration layer (comments_page.c); the
 * single comment GET is ch_page_item_get. "top" is in comments_top.c. */
#include "core/clock.h"
#include "core/id.h"
#include "svc/engage/comments_row.h"
#include "svc/graph/visibility.h"

/* Whether the layer's facts show comment id to viewer (flags: CH_HYDRATE_PLACEHOLDERS lets a
 * deleted one with live replies count): then it exists, is on an item the viewer may see and
 * is not by a user blocked either way, which is what the callers below ask of
 * ch__comment_find, without a statement (in cluster mode, from the L1 on the loop). 0 (not
 * shown, or the facts could not be read) sends them to ch__comment_find, which tells a 404
 * from the rest. */
static int ch__comment_shown(ch_svc_t *svc, uint64_t viewer, uint64_t id, unsigned flags)
{
    if (id == 0 || id > INT64_MAX)
        return 0;
    ch_item_key_t key = {CH_TARGET_COMMENT, id};
    ch_hydrated_t h;
    ch_fault_t scratch = {0};
    if (ch_hydrate_items(svc, viewer, &key, 1, CH_HYDRATE_FACTS_ONLY | flags, &h, &scratch) != CH_OK)
        return 0;
    int shown = h.facts.author_id != 0;
    ch_hydrated_free(&h, 1);
    return shown;
}

ch_err_t ch_comments_replies(ch_svc_t *svc, uint64_t viewer, uint64_t comment_id, int limit, uint64_t after,
                             char **out, ch_fault_t *f)
{
    if (!ch__comment_shown(svc, viewer, comment_id, CH_HYDRATE_PLACEHOLDERS)) {
        ch__comment_ref_t c;
        ch_err_t err = ch__comment_find(svc, NULL, viewer, comment_id, &c, f);
        if (err)
            return err;
        /* A deleted comment keeps its thread; one by a user blocked either way hides it. */
        if (c.blocked)
            return ch__comment_not_found(f);
    }
    return ch__comments_replies_page(svc, viewer, comment_id, limit, after > INT64_MAX ? (uint64_t)INT64_MAX : after,
                                     out, f);
}

ch_err_t ch_comments_list(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id,
                          ch_comments_sort_t sort, int limit, const char *cursor, char **out, ch_fault_t *f)
{
    if (type == CH_TARGET_COMMENT) { /* the comments of a comment are its replies */
        uint64_t after = cursor ? ch_id_parse(cursor) : 0;
        if (cursor && (after == 0 || after > INT64_MAX))
            return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned");
        ch_err_t err = CH_OK;
        if (!ch__comment_shown(svc, viewer, id, 0)) {
            ch__comment_ref_t c;
            err = ch__comment_find(svc, NULL, viewer, id, &c, f);
            if (err == CH_OK && c.deleted)
                err = ch__comment_not_found(f);
        }
        return err ? err : ch_comments_replies(svc, viewer, id, limit, after, out, f);
    }
    uint64_t before = INT64_MAX;
    if (sort == CH_COMMENTS_SORT_NEW && cursor) {
        before = ch_id_parse(cursor);
        if (before == 0 || before > INT64_MAX)
            return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned");
    }
    /* The item from the layer's facts (posts, reels, stories; the rule of single-item GETs) */
    if (id == 0 || id > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch_target_type_name(type));
    ch_target_t item;
    ch_err_t err = ch_target_resolve_read(svc, viewer, type, id, &item, f);
    if (err)
        return err;
    return sort == CH_COMMENTS_SORT_NEW ? ch__comments_new(svc, viewer, &item, limit, before, out, f)
                                        : ch__comments_top(svc, viewer, &item, limit, cursor, out, f);
}
