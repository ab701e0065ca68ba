/* Visibility from facts (svc/common/hydrate_visible.h), every rule of svc/graph/visibility.h:
 * own content; blocks either way; followers-only and private authors need an approved
 * follow (a pending request is not one); expiry; placeholders only when asked; comments:
 * their author not blocked either way, and the item they are on visible (also
 * followers-only and private items, deleted, expired), whoever wrote the comment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "svc/common/hydrate.h"
#include "svc/common/hydrate_visible.h"

enum { V = 1, A = 2, B = 3 };
#define NOW 1000000

static ch_huser_t pub = {.found = 1}, priv = {.found = 1, .is_private = 1}, gone = {0};

static ch_item_record_t post(uint64_t author, int followers_only)
{
    return (ch_item_record_t){.found = 1, .author_id = author, .followers_only = followers_only,
                              .parent = {CH_ITEM_NO_PARENT, 0}};
}

static int sees(const ch_item_record_t *rec, const ch_huser_t *author, unsigned rel)
{
    ch_hvis_t v = {.rec = rec, .author = author, .rel = rel};
    return ch_hydrate_visible(V, NOW, 0, &v);
}

static void test_content_rules(void **state)
{
    (void)state;
    ch_item_record_t p = post(A, 0), fo = post(A, 1), own = post(V, 1);
    assert_true(sees(&p, &pub, 0));
    assert_false(sees(&p, &gone, 0));    /* the author does not exist */
    assert_false(sees(&p, NULL, 0));
    assert_false(sees(&p, &pub, CH_HREL_BLOCKING));
    assert_false(sees(&p, &pub, CH_HREL_BLOCKED_BY));
    assert_false(sees(&p, &pub, CH_HREL_BLOCKED_BY | CH_HREL_FOLLOWING));
    assert_true(sees(&p, &pub, CH_HREL_MUTING)); /* muting is the caller's rule */
    assert_true(sees(&p, &pub, CH_HREL_FOLLOWED_BY));
    /* followers-only */
    assert_false(sees(&fo, &pub, 0));
    assert_false(sees(&fo, &pub, CH_HREL_REQUESTED));
    assert_false(sees(&fo, &pub, CH_HREL_FOLLOWED_BY));
    assert_true(sees(&fo, &pub, CH_HREL_FOLLOWING));
    /* a private author */
    assert_false(sees(&p, &priv, 0));
    assert_false(sees(&p, &priv, CH_HREL_REQUESTED));
    assert_true(sees(&p, &priv, CH_HREL_FOLLOWING));
    assert_false(sees(&p, &priv, CH_HREL_FOLLOWING | CH_HREL_BLOCKING));
    /* one's own, whatever the facts say */
    assert_true(sees(&own, &priv, 0));
    /* not found; expired; expiring later */
    ch_item_record_t none = {0};
    none.parent.type = CH_ITEM_NO_PARENT;
    assert_false(sees(&none, &pub, 0));
    p.expires_at_ms = NOW;
    assert_false(sees(&p, &pub, 0));
    p.expires_at_ms = NOW + 1;
    assert_true(sees(&p, &pub, 0));
    own.expires_at_ms = NOW - 1; /* also one's own expired story */
    assert_false(sees(&own, &pub, 0));
    /* anonymous: public content of public authors only */
    ch_hvis_t v = {.rec = &fo, .author = &pub};
    assert_false(ch_hydrate_visible(0, NOW, 0, &v));
    v.rec = &p;
    assert_true(ch_hydrate_visible(0, NOW, 0, &v));
    v.author = &priv;
    assert_false(ch_hydrate_visible(0, NOW, 0, &v));
}

static int sees_comment(const ch_item_record_t *c, unsigned rel, const ch_item_record_t *item,
                        const ch_huser_t *item_author, unsigned item_rel, unsigned flags)
{
    ch_hvis_t v = {.rec = c, .author = &pub, .rel = rel, .parent = item, .parent_author = item_author,
                   .parent_rel = item_rel};
    return ch_hydrate_visible(V, NOW, flags, &v);
}

static void test_comment_rules(void **state)
{
    (void)state;
    ch_item_record_t item = post(A, 0), fo = post(A, 1), own_fo = post(V, 1);
    ch_item_record_t c = {.found = 1, .author_id = B, .parent = {CH_TARGET_POST, 10}};
    assert_true(sees_comment(&c, 0, &item, &pub, 0, 0));
    /* its author blocked either way */
    assert_false(sees_comment(&c, CH_HREL_BLOCKING, &item, &pub, 0, 0));
    assert_false(sees_comment(&c, CH_HREL_BLOCKED_BY, &item, &pub, 0, 0));
    /* a private commenter does not hide a comment on a visible item */
    ch_hvis_t v = {.rec = &c, .author = &priv, .parent = &item, .parent_author = &pub};
    assert_true(ch_hydrate_visible(V, NOW, 0, &v));
    /* the item: missing, deleted, expired, its author gone */
    assert_false(sees_comment(&c, 0, NULL, &pub, 0, 0));
    ch_item_record_t deleted = {0};
    deleted.parent.type = CH_ITEM_NO_PARENT;
    assert_false(sees_comment(&c, 0, &deleted, &pub, 0, 0));
    ch_item_record_t expired = post(A, 0);
    expired.expires_at_ms = NOW - 5;
    assert_false(sees_comment(&c, 0, &expired, &pub, 0, 0));
    assert_false(sees_comment(&c, 0, &item, &gone, 0, 0));
    /* the item's author blocks the viewer, or the viewer them */
    assert_false(sees_comment(&c, 0, &item, &pub, CH_HREL_BLOCKED_BY, 0));
    assert_false(sees_comment(&c, 0, &item, &pub, CH_HREL_BLOCKING, 0));
    /* on a followers-only item, on a private author's item */
    assert_false(sees_comment(&c, 0, &fo, &pub, 0, 0));
    assert_false(sees_comment(&c, 0, &fo, &pub, CH_HREL_REQUESTED, 0));
    assert_true(sees_comment(&c, 0, &fo, &pub, CH_HREL_FOLLOWING, 0));
    assert_false(sees_comment(&c, 0, &item, &priv, 0, 0));
    assert_true(sees_comment(&c, 0, &item, &priv, CH_HREL_FOLLOWING, 0));
    /* the viewer's own comment on an item they may not see is not shown either */
    ch_item_record_t mine = c;
    mine.author_id = V;
    assert_false(sees_comment(&mine, 0, &fo, &pub, 0, 0));
    /* the viewer's own followers-only item */
    assert_true(sees_comment(&c, 0, &own_fo, &priv, 0, 0));
    /* placeholders only when asked */
    ch_item_record_t ph = c;
    ph.placeholder = 1;
    assert_false(sees_comment(&ph, 0, &item, &pub, 0, 0));
    assert_true(sees_comment(&ph, 0, &item, &pub, 0, CH_HYDRATE_PLACEHOLDERS));
    assert_false(sees_comment(&ph, CH_HREL_BLOCKED_BY, &item, &pub, 0, CH_HYDRATE_PLACEHOLDERS));
    assert_false(sees_comment(&ph, 0, &fo, &pub, 0, CH_HYDRATE_PLACEHOLDERS));
}

static void test_may_see_content(void **state)
{
    (void)state;
    assert_true(ch_hydrate_may_see_content(V, V, 1, CH_HREL_BLOCKING, 1));
    assert_true(ch_hydrate_may_see_content(V, A, 0, 0, 0));
    assert_false(ch_hydrate_may_see_content(V, A, 0, 0, 1));
    assert_false(ch_hydrate_may_see_content(V, A, 1, 0, 0));
    assert_true(ch_hydrate_may_see_content(V, A, 1, CH_HREL_FOLLOWING, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_rules),
        cmocka_unit_test(test_comment_rules),
        cmocka_unit_test(test_may_see_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
