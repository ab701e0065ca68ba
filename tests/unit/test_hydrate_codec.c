/* The hydration cache's value encodings (svc/common/hydrate_codec.h): every kind round-trips,
 * and a truncated, extended, flipped or foreign value is refused (a miss), never trusted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svc/common/hydrate_codec.h"

static const char body[] = "\"id\":\"7\",\"type\":\"post\",\"text\":\"h\\u00e9\"";

static ch_item_record_t sample(void)
{
    return (ch_item_record_t){.found = 1, .body = (char *)body, .body_len = sizeof(body) - 1, .author_id = 42,
                              .created_at_ms = 1700000000123, .expires_at_ms = 1700086400123, .followers_only = 1,
                              .placeholder = 0, .parent = {CH_TARGET_POST, 99}, .reactions = 5, .comments = 3,
                              .views = INT64_MAX};
}

static void test_record_round_trip(void **state)
{
    (void)state;
    ch_item_record_t in = sample(), out;
    size_t len;
    char *val = ch_hcodec_record_encode(&in, &len);
    assert_int_equal(ch_hcodec_record_decode(val, len, &out), 0);
    assert_int_equal(out.found, 1);
    assert_int_equal(out.body_len, in.body_len);
    assert_memory_equal(out.body, body, in.body_len);
    assert_int_equal(out.body[out.body_len], '\0');
    assert_int_equal(out.author_id, 42);
    assert_int_equal(out.created_at_ms, in.created_at_ms);
    assert_int_equal(out.expires_at_ms, in.expires_at_ms);
    assert_int_equal(out.followers_only, 1);
    assert_int_equal(out.placeholder, 0);
    assert_int_equal(out.parent.type, CH_TARGET_POST);
    assert_int_equal(out.parent.id, 99);
    assert_int_equal(out.reactions, 5);
    assert_int_equal(out.comments, 3);
    assert_int_equal(out.views, INT64_MAX);
    free(out.body);
    /* an item on no other item, a placeholder */
    in.parent = (ch_item_key_t){CH_ITEM_NO_PARENT, 0};
    in.placeholder = 1;
    free(val);
    val = ch_hcodec_record_encode(&in, &len);
    assert_int_equal(ch_hcodec_record_decode(val, len, &out), 0);
    assert_int_equal(out.parent.type, CH_ITEM_NO_PARENT);
    assert_int_equal(out.placeholder, 1);
    free(out.body);
    free(val);
    /* not found: small, and nothing else */
    ch_item_record_t none = {.found = 0};
    val = ch_hcodec_record_encode(&none, &len);
    assert_true(len <= 4);
    assert_int_equal(ch_hcodec_record_decode(val, len, &out), 0);
    assert_int_equal(out.found, 0);
    assert_null(out.body);
    free(val);
}

static void test_record_refused(void **state)
{
    (void)state;
    ch_item_record_t in = sample(), out;
    size_t len;
    char *val = ch_hcodec_record_encode(&in, &len);
    /* every truncation */
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(ch_hcodec_record_decode(val, cut, &out), -1);
        assert_null(out.body);
        assert_int_equal(out.found, 0);
    }
    /* one byte more */
    char *longer = malloc(len + 1);
    memcpy(longer, val, len);
    longer[len] = 'x';
    assert_int_equal(ch_hcodec_record_decode(longer, len + 1, &out), -1);
    free(longer);
    /* a wrong kind, version or flag byte; author 0 */
    const size_t at[] = {0, 1, 2, 3, 4};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        char saved = val[at[i]];
        val[at[i]] = 7;
        assert_int_equal(ch_hcodec_record_decode(val, len, &out), -1);
        val[at[i]] = saved;
    }
    char author[8];
    memcpy(author, val + 6, 8);
    memset(val + 6, 0, 8);
    assert_int_equal(ch_hcodec_record_decode(val, len, &out), -1);
    memcpy(val + 6, author, 8);
    /* a body length that disagrees with the value's length */
    val[6 + 56] ^= 1;
    assert_int_equal(ch_hcodec_record_decode(val, len, &out), -1);
    val[6 + 56] ^= 1;
    assert_int_equal(ch_hcodec_record_decode(val, len, &out), 0);
    free(out.body);
    free(val);
    /* garbage and other kinds' values */
    assert_int_equal(ch_hcodec_record_decode(NULL, 0, &out), -1);
    assert_int_equal(ch_hcodec_record_decode("garbage, not a record", 21, &out), -1);
    val = ch_hcodec_rel_encode(CH_HREL_FOLLOWING, &len);
    assert_int_equal(ch_hcodec_record_decode(val, len, &out), -1);
    free(val);
}

static void test_user(void **state)
{
    (void)state;
    char summary[] = "{\"id\":\"3\",\"handle\":\"ann\",\"display_name\":\"Ann\",\"avatar_url\":null}";
    ch_huser_t in = {.found = 1, .is_private = 1, .summary = summary, .summary_len = strlen(summary)}, out;
    size_t len;
    char *val = ch_hcodec_user_encode(&in, &len);
    assert_int_equal(ch_hcodec_user_decode(val, len, &out), 0);
    assert_int_equal(out.found, 1);
    assert_int_equal(out.is_private, 1);
    assert_string_equal(out.summary, summary);
    assert_int_equal(out.summary_len, strlen(summary));
    ch_huser_clear(&out);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(ch_hcodec_user_decode(val, cut, &out), -1);
        assert_null(out.summary);
    }
    val[3] = 2; /* not a flag */
    assert_int_equal(ch_hcodec_user_decode(val, len, &out), -1);
    val[3] = 1;
    val[len - 1] = 'x'; /* not an object's end */
    assert_int_equal(ch_hcodec_user_decode(val, len, &out), -1);
    free(val);
    ch_huser_t none = {0};
    val = ch_hcodec_user_encode(&none, &len);
    assert_int_equal(ch_hcodec_user_decode(val, len, &out), 0);
    assert_int_equal(out.found, 0);
    assert_int_equal(ch_hcodec_user_decode(val, len + 0 - 1, &out), -1);
    free(val);
}

static void test_rel_and_viewer(void **state)
{
    (void)state;
    size_t len;
    unsigned bits;
    for (unsigned b = 0; b <= CH_HREL_ALL; b++) {
        char *val = ch_hcodec_rel_encode(b, &len);
        assert_int_equal(ch_hcodec_rel_decode(val, len, &bits), 0);
        assert_int_equal(bits, b);
        assert_int_equal(ch_hcodec_rel_decode(val, len - 1, &bits), -1);
        val[2] = (char)0x80; /* an unknown bit */
        assert_int_equal(ch_hcodec_rel_decode(val, len, &bits), -1);
        free(val);
    }
    ch_hviewer_t in = {.seen = 1, .kind = "angry"}, out;
    char *val = ch_hcodec_viewer_encode(&in, &len);
    assert_int_equal(ch_hcodec_viewer_decode(val, len, &out), 0);
    assert_int_equal(out.seen, 1);
    assert_string_equal(out.kind, "angry");
    for (size_t cut = 0; cut < len; cut++) /* a shorter kind is not another kind */
        assert_int_equal(ch_hcodec_viewer_decode(val, cut, &out), -1);
    val[5] = '"'; /* would break the JSON it is spliced into */
    assert_int_equal(ch_hcodec_viewer_decode(val, len, &out), -1);
    free(val);
    ch_hviewer_t none = {0};
    val = ch_hcodec_viewer_encode(&none, &len);
    assert_int_equal(ch_hcodec_viewer_decode(val, len, &out), 0);
    assert_int_equal(out.seen, 0);
    assert_string_equal(out.kind, "");
    free(val);
    assert_int_equal(ch_hcodec_viewer_decode("V\001\001\024averyveryverylongkind", 24, &out), -1);
}

static void test_members(void **state)
{
    (void)state;
    size_t len;
    char *m = ch_hcodec_members(json_pack("{s:s, s:i}", "a", "x", "b", 2), &len);
    assert_string_equal(m, "\"a\":\"x\",\"b\":2");
    assert_int_equal(len, strlen(m));
    free(m);
    assert_null(ch_hcodec_members(json_array(), &len));
    assert_null(ch_hcodec_members(NULL, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trip), cmocka_unit_test(test_record_refused),
        cmocka_unit_test(test_user),              cmocka_unit_test(test_rel_and_viewer),
        cmocka_unit_test(test_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
