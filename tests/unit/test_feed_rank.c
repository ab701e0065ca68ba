/* Feed ranking internals without a server: the model files (weights, linear, logistic),
 * the current model's swap, features, mixing rules, snapshot text and cursors, the seen
 * list (svc/feed/rank_model.h, rank_features.h, mix.h, snapshot.h, seen.h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/kv.h"
#include "svc/feed/mix.h"
#include "svc/feed/rank_features.h"
#include "svc/feed/rank_model.h"
#include "svc/feed/seen.h"
#include "svc/feed/snapshot.h"

#define CLOSE(a, b) assert_true(fabs((a) - (b)) < 1e-9)

/* ---- model ---------------------------------------------------------------------------- */

static void test_feature_names(void **state)
{
    (void)state;
    for (int f = 0; f < CH_FEED_F_COUNT; f++)
        assert_int_equal(ch_feed_feature_from_name(ch_feed_feature_name((ch_feed_feature_t)f)), f);
    assert_int_equal(ch_feed_feature_from_name("bogus"), -1);
    assert_string_equal(ch_feed_feature_name(CH_FEED_F_RECENCY), "recency");
}

static void test_weights_file(void **state)
{
    (void)state;
    ch_feed_model_t m, d;
    char err[128];
    ch_feed_model_defaults(&d);
    assert_int_equal(ch_feed_model_parse_weights("# comment\n\nrecency = 5\n  seen: -1.5 # trailing\nbias=0.25\n",
                                                 &m, err, sizeof(err)),
                     0);
    assert_int_equal(m.kind, CH_FEED_MODEL_WEIGHTED);
    CLOSE(m.w[CH_FEED_F_RECENCY], 5);
    CLOSE(m.w[CH_FEED_F_SEEN], -1.5);
    CLOSE(m.bias, 0.25);
    CLOSE(m.w[CH_FEED_F_AFFINITY], d.w[CH_FEED_F_AFFINITY]); /* not named: built in */
    assert_int_equal(ch_feed_model_parse_weights("recency 2\naffinity = x\n", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 2"));
    assert_int_equal(ch_feed_model_parse_weights("novelty = 1\n", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "novelty"));
    assert_int_equal(ch_feed_model_parse_weights("recency = inf\n", &m, err, sizeof(err)), -1);
    assert_int_equal(ch_feed_model_parse_weights("= 3\n", &m, err, sizeof(err)), -1);
    assert_int_equal(ch_feed_model_parse_weights("", &m, err, sizeof(err)), 0);
}

static void test_json_model(void **state)
{
    (void)state;
    ch_feed_model_t m;
    char err[128];
    double x[CH_FEED_F_COUNT] = {0};
    assert_int_equal(ch_feed_model_parse_json("{\"type\": \"linear\", \"bias\": 1, \"weights\": {\"recency\": 2,"
                                              " \"seen\": -3}}",
                                              &m, err, sizeof(err)),
                     0);
    assert_int_equal(m.kind, CH_FEED_MODEL_LINEAR);
    CLOSE(m.w[CH_FEED_F_AFFINITY], 0); /* not named: 0 */
    x[CH_FEED_F_RECENCY] = 0.5;
    x[CH_FEED_F_SEEN] = 1;
    x[CH_FEED_F_AFFINITY] = 7;
    CLOSE(ch_feed_model_score(&m, x), 1 + 1 - 3);
    assert_int_equal(ch_feed_model_parse_json("{\"type\": \"logistic\", \"weights\": {\"recency\": 2}}", &m, err,
                                              sizeof(err)),
                     0);
    CLOSE(ch_feed_model_score(&m, x), 1 / (1 + exp(-1.0)));
    const char *bad[] = {"", "[]", "{\"type\": \"tree\", \"weights\": {}}", "{\"type\": \"linear\"}",
                         "{\"type\": \"linear\", \"weights\": {\"novelty\": 1}}",
                         "{\"type\": \"linear\", \"weights\": {\"recency\": \"1\"}}",
                         "{\"type\": \"linear\", \"bias\": \"1\", \"weights\": {}}",
                         "{\"type\": \"linear\", \"weights\": {}, \"extra\": 1}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ch_feed_model_parse_json(bad[i], &m, err, sizeof(err)), -1);
}

static void test_default_score(void **state)
{
    (void)state;
    ch_feed_model_t m;
    ch_feed_model_defaults(&m);
    double x[CH_FEED_F_COUNT] = {0}, y[CH_FEED_F_COUNT] = {0};
    x[CH_FEED_F_RECENCY] = y[CH_FEED_F_RECENCY] = 1;
    y[CH_FEED_F_SEEN] = 1;
    assert_true(ch_feed_model_score(&m, x) > ch_feed_model_score(&m, y)); /* seen demotes */
    y[CH_FEED_F_SEEN] = 0;
    y[CH_FEED_F_FEEDBACK] = -1;
    assert_true(ch_feed_model_score(&m, x) > ch_feed_model_score(&m, y)); /* see less demotes */
    y[CH_FEED_F_FEEDBACK] = 1;
    assert_true(ch_feed_model_score(&m, x) < ch_feed_model_score(&m, y)); /* see more promotes */
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_current_model_swap(void **state)
{
    (void)state;
    char dir[] = "/tmp/chorus_feed_modelXXXXXX", path[128], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/model.json", dir);
    ch_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    const ch_feed_model_t *m0 = ch_feed_model_acquire(); /* nothing loaded: built in */
    assert_int_equal(m0->kind, CH_FEED_MODEL_WEIGHTED);
    ch_feed_model_release(m0);

    write_file(path, "{\"type\": \"linear\", \"bias\": 2, \"weights\": {\"seen\": 1}}");
    snprintf(cfg.feed_model_path, sizeof(cfg.feed_model_path), "%s", path);
    assert_int_equal(ch_feed_model_load_current(&cfg, err, sizeof(err)), 0);
    const ch_feed_model_t *m1 = ch_feed_model_acquire(); /* a reader holds it across a swap */
    CLOSE(m1->bias, 2);

    write_file(path, "{\"type\": \"logistic\", \"bias\": 3, \"weights\": {}}");
    assert_int_equal(ch_feed_model_load_current(&cfg, err, sizeof(err)), 0);
    CLOSE(m1->bias, 2); /* still valid (ASan would see a use after free) */
    assert_int_equal(m1->kind, CH_FEED_MODEL_LINEAR);
    ch_feed_model_release(m1);
    const ch_feed_model_t *m2 = ch_feed_model_acquire();
    CLOSE(m2->bias, 3);
    ch_feed_model_release(m2);

    write_file(path, "{\"type\": \"linear\", \"weights\": {\"nope\": 1}}"); /* bad: the old stays */
    assert_int_equal(ch_feed_model_load_current(&cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "nope"));
    const ch_feed_model_t *m3 = ch_feed_model_acquire();
    CLOSE(m3->bias, 3);
    ch_feed_model_release(m3);

    snprintf(cfg.feed_model_path, sizeof(cfg.feed_model_path), "%s/missing.json", dir);
    assert_int_equal(ch_feed_model_load_current(&cfg, err, sizeof(err)), -1);

    cfg.feed_model_path[0] = '\0';
    snprintf(path, sizeof(path), "%s/weights.txt", dir);
    write_file(path, "bias = 4\n");
    snprintf(cfg.feed_weights_path, sizeof(cfg.feed_weights_path), "%s", path);
    assert_int_equal(ch_feed_model_load_current(&cfg, err, sizeof(err)), 0);
    const ch_feed_model_t *m4 = ch_feed_model_acquire();
    assert_int_equal(m4->kind, CH_FEED_MODEL_WEIGHTED);
    CLOSE(m4->bias, 4);
    ch_feed_model_release(m4);
    ch_feed_model_shutdown();
    unlink(path);
    snprintf(path, sizeof(path), "%s/model.json", dir);
    unlink(path);
    rmdir(dir);
}

/* ---- features ------------------------------------------------------------------------- */

static void test_features(void **state)
{
    (void)state;
    double x[CH_FEED_F_COUNT];
    ch_feed_raw_t r = {.age_ms = 0, .affinity = 0, .type_share = 0.5, .in_network = 1};
    ch_feed_features(&r, x);
    CLOSE(x[CH_FEED_F_RECENCY], 1);
    CLOSE(x[CH_FEED_F_EXPLORE], 1); /* new, no engagement */
    CLOSE(x[CH_FEED_F_IN_NETWORK], 1);
    CLOSE(x[CH_FEED_F_TYPE_PREF], 0.5);
    r.age_ms = CH_FEED_RECENCY_HALF_LIFE_MS;
    r.reactions = 5;
    r.feedback = -3;
    r.seen = 1;
    r.affinity = NAN;
    ch_feed_features(&r, x);
    CLOSE(x[CH_FEED_F_RECENCY], 0.5);
    CLOSE(x[CH_FEED_F_EXPLORE], 0);
    CLOSE(x[CH_FEED_F_FEEDBACK], -1);
    CLOSE(x[CH_FEED_F_SEEN], 1);
    CLOSE(x[CH_FEED_F_AFFINITY], 0);
    CLOSE(x[CH_FEED_F_ENGAGEMENT], log(6));
    r.age_ms = 1000;
    r.reactions = 10; /* engaged already: no boost */
    ch_feed_features(&r, x);
    CLOSE(x[CH_FEED_F_EXPLORE], 0);
}

/* ---- mixing --------------------------------------------------------------------------- */

static void mix(const ch_feed_mix_item_t *items, size_t n, int reel_every, int oon, size_t *order)
{
    ch_feed_mix_params_t p = {.reel_every = reel_every, .oon_share = oon};
    assert_int_equal(ch_feed_mix(items, n, &p, order), 0);
    unsigned char seen[CH_FEED_MIX_MAX] = {0};
    for (size_t i = 0; i < n; i++) { /* a permutation */
        assert_true(order[i] < n);
        assert_false(seen[order[i]]);
        seen[order[i]] = 1;
    }
}

static void test_mix_author_runs(void **state)
{
    (void)state;
    ch_feed_mix_item_t it[10];
    size_t order[10];
    for (int i = 0; i < 10; i++)
        it[i] = (ch_feed_mix_item_t){.author_id = i < 6 ? 1 : 2, .in_network = 1};
    mix(it, 10, 0, 100, order);
    int run = 0;
    uint64_t last = 0;
    for (int i = 0; i < 8; i++) { /* while author 2 has items, never 3 of author 1 in a row */
        uint64_t a = it[order[i]].author_id;
        run = a == last ? run + 1 : 1;
        last = a;
        assert_true(run <= CH_FEED_MIX_MAX_RUN);
    }
    assert_int_equal(order[0], 0); /* best first */
    assert_int_equal(order[1], 1);
    assert_int_equal(it[order[2]].author_id, 2);
    /* one author only: everything still shown, in order */
    for (int i = 0; i < 10; i++)
        it[i].author_id = 7;
    mix(it, 10, 0, 100, order);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(order[i], i);
}

static void test_mix_reel_quota(void **state)
{
    (void)state;
    ch_feed_mix_item_t it[30];
    size_t order[30];
    for (int i = 0; i < 30; i++) /* reels rank last */
        it[i] = (ch_feed_mix_item_t){.author_id = (uint64_t)i + 1, .is_reel = i >= 25, .in_network = 1};
    mix(it, 30, 5, 100, order);
    int since = 0, reels_left = 5;
    for (int i = 0; i < 30; i++) {
        int r = it[order[i]].is_reel;
        reels_left -= r;
        since = r ? 0 : since + 1;
        if (reels_left > 0 || r)
            assert_true(since < 5);
    }
    assert_true(it[order[4]].is_reel); /* the fifth item is the best reel */
    assert_int_equal(order[4], 25);
}

static void test_mix_oon_cap(void **state)
{
    (void)state;
    enum { N = 60 };
    ch_feed_mix_item_t it[N];
    size_t order[N];
    for (int i = 0; i < N; i++) /* out of network ranks first */
        it[i] = (ch_feed_mix_item_t){.author_id = (uint64_t)i + 1, .in_network = i >= 30};
    mix(it, N, 0, 30, order);
    size_t oon = 0;
    for (size_t i = 0; i < 30; i++) {
        oon += !it[order[i]].in_network;
        assert_true(oon * 100 <= 30 * (i + 1));
    }
    /* little in-network supply: no cap */
    for (int i = 0; i < N; i++)
        it[i].in_network = i >= N - 5;
    mix(it, N, 0, 30, order);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(order[i], i);
    /* too many */
    ch_feed_mix_params_t p = {0};
    assert_int_equal(ch_feed_mix(it, CH_FEED_MIX_MAX + 1, &p, order), -1);
}

/* ---- snapshots and cursors ------------------------------------------------------------ */

static void test_snapshot_roundtrip(void **state)
{
    (void)state;
    ch_feed_snap_entry_t e[3];
    memset(e, 0, sizeof(e));
    e[0].cand = (ch_feed_cand_t){.key = {1, 123456789012345ULL}, .author_id = 42, .reason = CH_FEED_REASON_FOLLOWING};
    e[0].score = 3.25;
    e[1].cand = (ch_feed_cand_t){.key = {0, 7}, .author_id = 9, .reason = CH_FEED_REASON_LIKED_BY_FOLLOWING,
                                 .via = {5, 6, 0}};
    e[1].score = -0.5;
    e[2].cand = (ch_feed_cand_t){.key = {0, 8}, .author_id = 9, .reason = CH_FEED_REASON_TRENDING_HASHTAG};
    snprintf(e[2].cand.tag, sizeof(e[2].cand.tag), "caf\xc3\xa9,ok");
    for (int f = 0; f < CH_FEED_F_COUNT; f++)
        e[2].features[f] = f * 0.5;
    for (int hf = 0; hf < 2; hf++) {
        ch_feed_snap_t s = {.gen = 77, .at_ms = 1700000000000LL, .has_features = hf, .entries = e, .n = 3}, d;
        size_t len;
        char *text = ch_feed_snap_encode(&s, &len);
        assert_non_null(text);
        assert_int_equal(strlen(text), len);
        assert_int_equal(ch_feed_snap_decode(text, &d), 0);
        assert_int_equal(d.gen, 77);
        assert_int_equal(d.at_ms, 1700000000000LL);
        assert_int_equal(d.n, 3);
        assert_int_equal(d.has_features, hf);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(d.entries[i].cand.key.type, e[i].cand.key.type);
            assert_int_equal(d.entries[i].cand.key.id, e[i].cand.key.id);
            assert_int_equal(d.entries[i].cand.author_id, e[i].cand.author_id);
            assert_int_equal(d.entries[i].cand.reason, e[i].cand.reason);
            assert_memory_equal(d.entries[i].cand.via, e[i].cand.via, sizeof(e[i].cand.via));
            assert_string_equal(d.entries[i].cand.tag, e[i].cand.tag);
            CLOSE(d.entries[i].score, e[i].score);
        }
        if (hf)
            CLOSE(d.entries[2].features[3], 1.5);
        ch_feed_snap_clear(&d);
        text[len - 2] = '\0'; /* cut: refused */
        assert_int_equal(ch_feed_snap_decode(text, &d), -1);
        assert_null(d.entries);
        free(text);
    }
    ch_feed_snap_t d;
    assert_int_equal(ch_feed_snap_decode("F1:1:2:0:1\n", &d), -1);
    assert_int_equal(ch_feed_snap_decode("garbage", &d), -1);
    assert_int_equal(ch_feed_snap_decode("F1:1:2:0:0\n", &d), 0);
    assert_int_equal(d.n, 0);
    ch_feed_snap_clear(&d);
}

/* The head of a stored snapshot: its first CH_FEED_SNAP_HEAD entries and the ranking's length,
 * naming the generation whose whole slot holds the rest. */
static void test_snapshot_head(void **state)
{
    (void)state;
    ch_svc_t svc;
    memset(&svc, 0, sizeof(svc));
    char err[128];
    assert_int_equal(ch_kv_open(NULL, &svc.kv, err, sizeof(err)), CH_OK);
    enum { N = CH_FEED_SNAP_HEAD + 40 };
    ch_feed_snap_entry_t *e = calloc(N, sizeof(*e));
    for (int i = 0; i < N; i++)
        e[i].cand = (ch_feed_cand_t){.key = {0, 1000u + (unsigned)i}, .author_id = 7, .reason = CH_FEED_REASON_POPULAR};
    ch_feed_snap_t s = {.at_ms = 1700000000000LL, .net_top = 99, .vgen = 5, .entries = e, .n = N}, h, all;
    int found = 1;
    assert_int_equal(ch_feed_snap_head(&svc, "home", 1, CH_FEED_SNAP_MAX, &h, &found), CH_OK);
    assert_false(found); /* none saved yet */
    assert_int_equal(ch_feed_snap_save(&svc, "home", 1, &s), CH_OK);
    assert_true(s.gen != 0);
    assert_int_equal(ch_feed_snap_head(&svc, "home", 1, CH_FEED_SNAP_MAX, &h, &found), CH_OK);
    assert_true(found);
    assert_int_equal(h.gen, s.gen);
    assert_int_equal(h.n, 0); /* entries are parsed as a page needs them */
    assert_int_equal(h.total, N);
    assert_int_equal(ch_feed_snap_more(&h, 5), 5);
    assert_int_equal(h.n, 5);
    assert_int_equal(h.entries[4].cand.key.id, 1004u);
    assert_int_equal(ch_feed_snap_more(&h, SIZE_MAX), CH_FEED_SNAP_HEAD - 5);
    assert_int_equal(ch_feed_snap_more(&h, 1), 0); /* the head's bound */
    assert_int_equal(h.n, CH_FEED_SNAP_HEAD);
    assert_int_equal(h.net_top, 99);
    assert_int_equal(h.vgen, 5);
    assert_int_equal(h.entries[CH_FEED_SNAP_HEAD - 1].cand.key.id, 1000u + CH_FEED_SNAP_HEAD - 1);
    assert_int_equal(ch_feed_snap_load(&svc, "home", 1, h.gen, &all, &found), CH_OK);
    assert_true(found);
    assert_int_equal(all.n, N);
    assert_int_equal(all.total, N);
    assert_int_equal(ch_feed_snap_more(&all, 1), 0); /* a whole snapshot: nothing left to parse */
    ch_feed_snap_clear(&all);
    ch_feed_snap_clear(&h);
    /* only the entries a page needs are decoded; the ranking's length is still told */
    assert_int_equal(ch_feed_snap_head(&svc, "home", 1, 7, &h, &found), CH_OK);
    assert_true(found);
    assert_int_equal(ch_feed_snap_more(&h, 3), 3);
    assert_int_equal(ch_feed_snap_more(&h, 100), 4); /* at most max */
    assert_int_equal(h.n, 7);
    assert_int_equal(h.total, N);
    assert_int_equal(h.entries[6].cand.key.id, 1006u);
    assert_string_equal(h.entries[6].cand.tag, "");
    ch_feed_snap_clear(&h);
    /* a short ranking's head is all of it; the reels feed has its own */
    s.n = 3;
    assert_int_equal(ch_feed_snap_save(&svc, "reels", 1, &s), CH_OK);
    assert_int_equal(ch_feed_snap_head(&svc, "reels", 1, CH_FEED_SNAP_MAX, &h, &found), CH_OK);
    assert_true(found);
    assert_int_equal(ch_feed_snap_more(&h, 10), 3);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.total, 3);
    ch_feed_snap_clear(&h);
    /* an entry that does not parse ends the head there: the caller loads the whole ranking */
    static const char bad[] = "H1:5\nF2:9:1700000000000:0:2:0:0\n0,1,7,4,0,0,0,0,\nx\n";
    assert_int_equal(ch_kv_set(svc.kv, "feed:snap:home:2:head", bad, sizeof(bad) - 1, 60000), CH_OK);
    assert_int_equal(ch_feed_snap_head(&svc, "home", 2, CH_FEED_SNAP_MAX, &h, &found), CH_OK);
    assert_true(found);
    assert_int_equal(h.total, 5);
    assert_int_equal(ch_feed_snap_more(&h, 10), 1);
    assert_int_equal(ch_feed_snap_more(&h, 10), 0);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.entries[0].cand.key.id, 1u);
    ch_feed_snap_clear(&h);
    free(e);
    ch_kv_close(svc.kv);
}

static void test_cursors(void **state)
{
    (void)state;
    char buf[48];
    uint64_t gen;
    size_t off;
    ch_feed_cursor_format(123, 20, buf, sizeof(buf));
    assert_string_equal(buf, "123.20");
    assert_int_equal(ch_feed_cursor_parse(buf, &gen, &off), 0);
    assert_int_equal(gen, 123);
    assert_int_equal(off, 20);
    const char *bad[] = {"", "1", "1.", ".1", "0.5", "1.x", "1.2.3", "-1.2", "1.99999", "99999999999999999999.1",
                         "1 .2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ch_feed_cursor_parse(bad[i], &gen, &off), -1);
}

/* ---- seen ----------------------------------------------------------------------------- */

static void test_seen_list(void **state)
{
    (void)state;
    ch_item_key_t add[3] = {{0, 5}, {1, 6}, {0, 5}}, keys[CH_FEED_SEEN_MAX];
    size_t len;
    char *t = ch_feed_seen_merge("0:1,1:6,0:2", add, 3, &len);
    assert_string_equal(t, "0:5,1:6,0:1,0:2");
    size_t n = ch_feed_seen_parse(t, keys, CH_FEED_SEEN_MAX);
    assert_int_equal(n, 4);
    ch_feed_seen_sort(keys, n);
    assert_true(ch_feed_seen_has(keys, n, (ch_item_key_t){1, 6}));
    assert_false(ch_feed_seen_has(keys, n, (ch_item_key_t){0, 6}));
    free(t);
    /* bounded: the oldest fall off */
    ch_item_key_t *many = malloc(sizeof(*many) * 1200);
    for (size_t i = 0; i < 1200; i++)
        many[i] = (ch_item_key_t){0, i + 1};
    t = ch_feed_seen_merge(NULL, many, 1200, &len);
    assert_int_equal(ch_feed_seen_parse(t, keys, CH_FEED_SEEN_MAX), CH_FEED_SEEN_MAX);
    assert_int_equal(keys[0].id, 1);
    char *t2 = ch_feed_seen_merge(t, (ch_item_key_t[]){{1, 9}}, 1, &len);
    assert_int_equal(ch_feed_seen_parse(t2, keys, CH_FEED_SEEN_MAX), CH_FEED_SEEN_MAX);
    assert_int_equal(keys[0].id, 9);
    assert_int_equal(keys[CH_FEED_SEEN_MAX - 1].id, CH_FEED_SEEN_MAX - 1);
    free(t);
    free(t2);
    free(many);
    assert_int_equal(ch_feed_seen_parse("0:1,x:2", keys, 10), 1);
    assert_int_equal(ch_feed_seen_parse(NULL, keys, 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feature_names),   cmocka_unit_test(test_weights_file),
        cmocka_unit_test(test_json_model),      cmocka_unit_test(test_default_score),
        cmocka_unit_test(test_current_model_swap), cmocka_unit_test(test_features),
        cmocka_unit_test(test_mix_author_runs), cmocka_unit_test(test_mix_reel_quota),
        cmocka_unit_test(test_mix_oon_cap),     cmocka_unit_test(test_snapshot_roundtrip), cmocka_unit_test(test_snapshot_head),
        cmocka_unit_test(test_cursors),         cmocka_unit_test(test_seen_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
