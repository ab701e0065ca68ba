/* The feed's candidate sources and feedback (svc/feed/sources*.c, feedback.c) against a
 * real SQLite database and, when CHORUS_TEST_PG_URL is set (tests/blackbox/
 * test_unit_backends.py in the cluster run), a fresh PostgreSQL database created on that
 * server and dropped afterwards, each with a small community built row by row: engaged by following
 * (counts, via, never own / followed / private / muted / blocked / deleted / old / story),
 * hashtag items (trending, profile interests, tags of engaged items; round-robin, no
 * duplicates), popular (interests, then region, then global; exclusions) and feedback
 * (repeat, visibility, newest-wins per author, trimming). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/feed/sources_int.h"
#include "svc/item_types.h"
#include "svc/engage/target.h"
#include "svc/feed/candidates.h"

#define OK(expr) assert_int_equal((expr), CH_OK)
#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)

static char dir[256];
static char pg_admin[1024], pg_url[2048], pg_name[64];
static ch_config_t cfg;
static ch_svc_t svc;
static unsigned seq = 1;

static void exec_sql(const char *sql, const ch_db_param_t *p, size_t n)
{
    ch_db_conn_t *conn;
    OK(ch_db_acquire(svc.db, &conn));
    OK(ch_db_exec(svc.db, conn, sql, p, n, NULL, NULL));
    ch_db_release(svc.db, conn);
}

static int64_t count(const char *sql)
{
    ch_db_conn_t *conn;
    ch_db_rows_t *rows = NULL;
    OK(ch_db_acquire(svc.db, &conn));
    OK(ch_db_exec(svc.db, conn, sql, NULL, 0, &rows, NULL));
    int64_t n = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    ch_db_release(svc.db, conn);
    return n;
}

static uint64_t id_ago(int64_t ago_ms)
{
    return ch_id_at(ch_now_ms() - ago_ms, seq++ % 4000);
}

/* ---- the community ------------------------------------------------------------------------ */

static uint64_t user(const char *handle, int is_private, const char *interests, const char *region)
{
    uint64_t id = id_ago(10 * DAY_MS);
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(handle), CH_DB_P_INT(is_private), CH_DB_P_TEXT(interests),
                         CH_DB_P_TEXT(region)};
    exec_sql("INSERT INTO users(id, handle, password_hash, display_name, is_private, interests, region, created_at,"
             " updated_at) VALUES($1, $2, 'x', $2, $3, $4, $5, 0, 0)",
             p, 5);
    return id;
}

static void edge(const char *table, uint64_t a, uint64_t b)
{
    char sql[256];
    ch_db_param_t p[] = {CH_DB_P_INT(a), CH_DB_P_INT(b), CH_DB_P_INT(id_ago(DAY_MS))};
    if (strcmp(table, "follows") == 0)
        snprintf(sql, sizeof(sql), "INSERT INTO follows(follower_id, followee_id, id, created_at) VALUES($1, $2, $3, 0)");
    else if (strcmp(table, "blocks") == 0)
        snprintf(sql, sizeof(sql), "INSERT INTO blocks(blocker_id, blocked_id, created_at) VALUES($1, $2, $3)");
    else
        snprintf(sql, sizeof(sql), "INSERT INTO mutes(muter_id, muted_id, created_at) VALUES($1, $2, $3)");
    exec_sql(sql, p, 3);
}

/* An item; tags is a JSON array text or NULL (each tag also gets its hashtags row). */
static uint64_t item(const char *type, uint64_t author, const char *visibility, const char *tags, int64_t ago_ms)
{
    uint64_t id = id_ago(ago_ms);
    int64_t at = ch_id_time_ms(id);
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(type), CH_DB_P_INT(author), CH_DB_P_TEXT(visibility),
                         CH_DB_P_TEXT(tags), CH_DB_P_INT(at),
                         strcmp(type, "story") == 0 ? CH_DB_P_INT(ch_now_ms() + DAY_MS) : CH_DB_P_NULL};
    exec_sql("INSERT INTO items(id, type, author_id, text, visibility, hashtags, created_at, expires_at)"
             " VALUES($1, $2, $3, 'x', $4, $5, $6, $7)",
             p, 7);
    if (tags) {
        char tag[64];
        const char *s = tags;
        while ((s = strchr(s, '"')) != NULL) {
            const char *e = strchr(s + 1, '"');
            snprintf(tag, sizeof(tag), "%.*s", (int)(e - s - 1), s + 1);
            ch_db_param_t q[] = {CH_DB_P_TEXT(tag), CH_DB_P_TEXT(type), CH_DB_P_INT(id), CH_DB_P_INT(author),
                                 CH_DB_P_INT(at)};
            exec_sql("INSERT INTO hashtags(tag, target_type, target_id, author_id, created_at) VALUES($1, $2, $3, $4, $5)",
                     q, 5);
            s = e + 1;
        }
    }
    return id;
}

static void react(uint64_t who, const char *type, uint64_t target, int64_t ago_ms)
{
    ch_db_param_t p[] = {CH_DB_P_TEXT(type), CH_DB_P_INT(target), CH_DB_P_INT(who), CH_DB_P_INT(id_ago(ago_ms))};
    exec_sql("INSERT INTO reactions(target_type, target_id, user_id, kind, id, created_at) VALUES($1, $2, $3, 'like', $4, 0)",
             p, 4);
}

static void comment(uint64_t who, const char *type, uint64_t target, int64_t ago_ms)
{
    ch_db_param_t p[] = {CH_DB_P_INT(id_ago(ago_ms)), CH_DB_P_TEXT(type), CH_DB_P_INT(target), CH_DB_P_INT(who)};
    exec_sql("INSERT INTO comments(id, target_type, target_id, author_id, text, created_at) VALUES($1, $2, $3, $4, 'c', 0)",
             p, 4);
}

static void velocity(const char *type, uint64_t target, const char *score, int64_t ago_ms)
{
    ch_db_param_t p[] = {CH_DB_P_TEXT(type), CH_DB_P_INT(target), CH_DB_P_TEXT(score),
                         CH_DB_P_INT(ch_now_ms() - ago_ms)};
    exec_sql("INSERT INTO velocity(target_type, target_id, score, updated_at) VALUES($1, $2, CAST($3 AS DOUBLE PRECISION), $4)", p,
             4);
}

/* viewer V follows A, B, C; X (region FR), Y, Z are strangers, P a private stranger, M is
 * muted by V, K blocks V, W is blocked by V. */
static struct {
    uint64_t v, a, b, c, x, y, z, p, m, k, w;
    uint64_t x1, y1, z1, p1, m1, k1, w1, a1, v1, f1, d1, s1, o1;
    uint64_t cats_y, cats_m, dogs_x, trend1, trend2, birds_z, birds_src;
} g;

/* One statement on a database of its own (CREATE / DROP DATABASE). */
static int admin_exec(const char *admin_url, const char *sql)
{
    ch_db_t *admin;
    ch_db_conn_t *conn;
    char errbuf[256];
    if (ch_db_open(admin_url, &admin, errbuf, sizeof(errbuf)) != CH_OK) {
        fprintf(stderr, "cannot open %s: %s\n", admin_url, errbuf);
        return -1;
    }
    ch_err_t err = ch_db_acquire(admin, &conn);
    if (err == CH_OK) {
        err = ch_db_exec(admin, conn, sql, NULL, 0, NULL, NULL);
        ch_db_release(admin, conn);
    }
    ch_db_close(admin);
    return err == CH_OK ? 0 : -1;
}

static void build_community(void);

static int open_and_build(const char *url)
{
    char errbuf[256];
    ch_log_set_level(CH_LOG_ERROR);
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK)
        return -1;
    svc.cfg = &cfg; /* refresh periods 0: every call computes */
    ch_svc_register_item_types(); /* feedback resolves items */
    ch_feed__popular_reset();
    build_community();
    return 0;
}

static int setup(void **state)
{
    (void)state;
    char url[512];
    snprintf(dir, sizeof(dir), "%s/chorus-test-feedsrc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    return open_and_build(url);
}

static int pg_setup(void **state)
{
    (void)state;
    const char *url = getenv("CHORUS_TEST_PG_URL");
    char sql[128];
    snprintf(pg_admin, sizeof(pg_admin), "%s", url);
    snprintf(pg_name, sizeof(pg_name), "chorus_feedsrc_%ld", (long)getpid());
    snprintf(pg_url, sizeof(pg_url), "%s%cdbname=%s", url, strchr(url, '?') ? '&' : '?', pg_name);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", pg_name);
    if (admin_exec(pg_admin, sql) != 0)
        return -1;
    return open_and_build(pg_url);
}

static int pg_teardown(void **state)
{
    (void)state;
    char sql[128];
    ch_db_close(svc.db);
    ch_feed__popular_reset();
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", pg_name);
    return admin_exec(pg_admin, sql);
}

static void build_community(void)
{

    g.v = user("viewer", 0, "[\"cats\"]", "FR");
    g.a = user("alice", 0, "[]", NULL);
    g.b = user("bob", 0, "[]", NULL);
    g.c = user("carol", 0, "[]", NULL);
    g.x = user("xavier", 0, "[]", "FR");
    g.y = user("yves", 0, "[]", "DE");
    g.z = user("zoe", 0, "[]", NULL);
    g.p = user("private", 1, "[]", NULL);
    g.m = user("muted", 0, "[]", NULL);
    g.k = user("blocker", 0, "[]", NULL);
    g.w = user("blocked", 0, "[]", NULL);
    edge("follows", g.v, g.a);
    edge("follows", g.v, g.b);
    edge("follows", g.v, g.c);
    edge("mutes", g.v, g.m);
    edge("blocks", g.k, g.v);
    edge("blocks", g.v, g.w);

    g.x1 = item("post", g.x, "public", NULL, 3 * HOUR_MS);
    g.y1 = item("post", g.y, "public", NULL, 3 * HOUR_MS);
    g.z1 = item("reel", g.z, "public", NULL, 3 * HOUR_MS);
    g.p1 = item("post", g.p, "public", NULL, 3 * HOUR_MS);
    g.m1 = item("post", g.m, "public", NULL, 3 * HOUR_MS);
    g.k1 = item("post", g.k, "public", NULL, 3 * HOUR_MS);
    g.w1 = item("post", g.w, "public", NULL, 3 * HOUR_MS);
    g.a1 = item("post", g.a, "public", NULL, 3 * HOUR_MS);
    g.v1 = item("post", g.v, "public", NULL, 3 * HOUR_MS);
    g.f1 = item("post", g.x, "followers", NULL, 3 * HOUR_MS);
    g.d1 = item("post", g.y, "public", NULL, 3 * HOUR_MS);
    g.s1 = item("story", g.y, "public", NULL, 3 * HOUR_MS);
    g.o1 = item("post", g.z, "public", NULL, 6 * DAY_MS);
    exec_sql("UPDATE items SET deleted_at = 1 WHERE id = $1", (ch_db_param_t[]){CH_DB_P_INT(g.d1)}, 1);

    /* Engagements of the followees, oldest first. */
    react(g.c, "post", g.x1, 2 * HOUR_MS);
    react(g.b, "post", g.x1, 90 * 60000);
    comment(g.a, "post", g.x1, 80 * 60000);
    react(g.a, "post", g.x1, 70 * 60000); /* a second engagement of A: counted once */
    react(g.a, "reel", g.z1, 60 * 60000);
    react(g.b, "reel", g.z1, 50 * 60000);
    comment(g.a, "post", g.y1, 40 * 60000);
    const uint64_t excluded[] = {g.p1, g.m1, g.k1, g.w1, g.a1, g.v1, g.f1, g.d1};
    for (size_t i = 0; i < sizeof(excluded) / sizeof(excluded[0]); i++) {
        react(g.b, "post", excluded[i], 30 * 60000);
        react(g.c, "post", excluded[i], 20 * 60000);
        comment(g.a, "post", excluded[i], 10 * 60000);
    }
    react(g.a, "story", g.s1, 10 * 60000);
    react(g.b, "post", g.o1, 5 * DAY_MS); /* beyond the window */
    react(g.x, "post", g.o1, 10 * 60000); /* not a followee */

    /* Tags. */
    g.cats_y = item("post", g.y, "public", "[\"cats\"]", 2 * HOUR_MS);
    g.cats_m = item("post", g.m, "public", "[\"cats\"]", HOUR_MS);
    g.dogs_x = item("post", g.x, "public", "[\"dogs\"]", 2 * HOUR_MS);
    g.trend1 = item("post", g.z, "public", "[\"trend\"]", 20 * 60000);
    g.trend2 = item("reel", g.z, "public", "[\"trend\", \"cats\"]", 10 * 60000);
    g.birds_src = item("post", g.a, "public", "[\"birds\"]", 2 * HOUR_MS);
    g.birds_z = item("post", g.z, "public", "[\"birds\"]", 3 * HOUR_MS);
    react(g.v, "post", g.birds_src, HOUR_MS);

    /* Velocity. */
    velocity("post", g.x1, "10", 0);
    velocity("post", g.y1, "50", 0);
    velocity("post", g.cats_y, "1", 0);
    velocity("post", g.dogs_x, "5", 0);
    velocity("post", g.m1, "100", 0);
    velocity("post", g.p1, "100", 0);
    velocity("post", g.k1, "100", 0);
    velocity("post", g.w1, "100", 0);
    velocity("post", g.v1, "100", 0);
    velocity("post", g.f1, "100", 0);
    velocity("post", g.d1, "100", 0);
    velocity("post", g.o1, "100", 4 * DAY_MS); /* outside the window */
    velocity("reel", g.z1, "7", 0);
    velocity("reel", g.trend2, "3", 0);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    ch_db_close(svc.db);
    ch_feed__popular_reset();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(ch_feed_reason_name(CH_FEED_REASON_FOLLOWING), "following");
    assert_string_equal(ch_feed_reason_name(CH_FEED_REASON_LIKED_BY_FOLLOWING), "liked_by_following");
    assert_string_equal(ch_feed_reason_name(CH_FEED_REASON_TRENDING_HASHTAG), "trending_hashtag");
    assert_string_equal(ch_feed_reason_name(CH_FEED_REASON_INTEREST), "interest");
    assert_string_equal(ch_feed_reason_name(CH_FEED_REASON_POPULAR), "popular");
    assert_string_equal(ch_feed_reason_name(CH_FEED_REASON_SUGGESTED), "suggested");
}

static void test_engaged_by_following(void **state)
{
    (void)state;
    ch_feed_cand_t out[CH_FEED_SOURCE_ENGAGED_MAX];
    size_t n = 0;
    ch_fault_t f = {0};
    OK(ch_feed_engaged_by_following(&svc, g.v, CH_FEED_SOURCE_ENGAGED_MAX, out, &n, &f));
    assert_int_equal(n, 3);
    /* x1: three followees (A's newest engagement first), z1: two, y1: one. */
    assert_int_equal(out[0].key.id, g.x1);
    assert_int_equal(out[0].key.type, CH_TARGET_POST);
    assert_int_equal(out[0].author_id, g.x);
    assert_int_equal(out[0].reason, CH_FEED_REASON_LIKED_BY_FOLLOWING);
    assert_int_equal(out[0].via[0], g.a);
    assert_int_equal(out[0].via[1], g.b);
    assert_int_equal(out[0].via[2], g.c);
    assert_int_equal(out[1].key.id, g.z1);
    assert_int_equal(out[1].key.type, CH_TARGET_REEL);
    assert_int_equal(out[1].via[0], g.b);
    assert_int_equal(out[1].via[1], g.a);
    assert_int_equal(out[1].via[2], 0);
    assert_int_equal(out[2].key.id, g.y1);
    assert_int_equal(out[2].via[0], g.a);
    assert_string_equal(out[2].tag, "");
    /* Bounded by max. */
    OK(ch_feed_engaged_by_following(&svc, g.v, 1, out, &n, &f));
    assert_int_equal(n, 1);
    assert_int_equal(out[0].key.id, g.x1);
    /* Someone following nobody gets nothing. */
    OK(ch_feed_engaged_by_following(&svc, g.z, 10, out, &n, &f));
    assert_int_equal(n, 0);
}

static int find(const ch_feed_cand_t *out, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (out[i].key.id == id)
            return (int)i;
    return -1;
}

static void test_hashtag_items(void **state)
{
    (void)state;
    ch_feed_cand_t out[CH_FEED_SOURCE_HASHTAG_MAX];
    size_t n = 0;
    ch_fault_t f = {0};
    OK(ch_feed_hashtag_items(&svc, g.v, CH_FEED_SOURCE_HASHTAG_MAX, out, &n, &f));
    /* trend (trending): trend2 and trend1; cats (interest): cats_y (trend2 came under trend,
     * cats_m is muted); birds (tag of an engaged item): birds_z (birds_src is by a followee
     * but public: it may come too). Never dogs. */
    int t2 = find(out, n, g.trend2), t1 = find(out, n, g.trend1), cy = find(out, n, g.cats_y),
        bz = find(out, n, g.birds_z);
    assert_true(t2 >= 0 && t1 >= 0 && cy >= 0 && bz >= 0);
    assert_int_equal(out[t2].reason, CH_FEED_REASON_TRENDING_HASHTAG);
    assert_string_equal(out[t2].tag, "trend");
    assert_int_equal(out[t2].key.type, CH_TARGET_REEL);
    assert_int_equal(out[t1].reason, CH_FEED_REASON_TRENDING_HASHTAG);
    assert_int_equal(out[cy].reason, CH_FEED_REASON_INTEREST);
    assert_string_equal(out[cy].tag, "cats");
    assert_int_equal(out[bz].reason, CH_FEED_REASON_INTEREST);
    assert_string_equal(out[bz].tag, "birds");
    assert_int_equal(find(out, n, g.cats_m), -1);
    assert_int_equal(find(out, n, g.dogs_x), -1);
    /* Round-robin: the first pass takes each tag's newest item. */
    assert_int_equal(out[0].key.id, g.trend2);
    assert_int_equal(out[1].key.id, g.cats_y);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_false(out[i].key.id == out[j].key.id);
    /* Bounded by max. */
    OK(ch_feed_hashtag_items(&svc, g.v, 2, out, &n, &f));
    assert_int_equal(n, 2);
}

static void test_popular(void **state)
{
    (void)state;
    ch_feed_cand_t out[CH_FEED_SOURCE_POPULAR_MAX];
    size_t n = 0;
    ch_fault_t f = {0};
    OK(ch_feed_popular(&svc, g.v, CH_TARGET_POST, CH_FEED_SOURCE_POPULAR_MAX, out, &n, &f));
    /* cats_y (interest) first, then x1 and dogs_x (region FR, by velocity), then y1. */
    assert_int_equal(n, 4);
    assert_int_equal(out[0].key.id, g.cats_y);
    assert_int_equal(out[1].key.id, g.x1);
    assert_int_equal(out[2].key.id, g.dogs_x);
    assert_int_equal(out[3].key.id, g.y1);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].reason, CH_FEED_REASON_POPULAR);
        assert_int_equal(out[i].key.type, CH_TARGET_POST);
    }
    assert_int_equal(out[1].author_id, g.x);
    /* Another viewer (no interests, no region) sees global order, muted and blocked
     * authors of V included, own item excluded. */
    OK(ch_feed_popular(&svc, g.m, CH_TARGET_POST, CH_FEED_SOURCE_POPULAR_MAX, out, &n, &f));
    assert_int_equal(find(out, n, g.m1), -1);
    assert_true(find(out, n, g.k1) >= 0 && find(out, n, g.w1) >= 0 && find(out, n, g.v1) >= 0);
    assert_int_equal(find(out, n, g.p1), -1);
    assert_int_equal(find(out, n, g.f1), -1);
    assert_int_equal(find(out, n, g.d1), -1);
    assert_int_equal(find(out, n, g.o1), -1);
    assert_int_equal(out[n - 1].key.id, g.cats_y); /* the lowest velocity last */
    /* Reels. */
    OK(ch_feed_popular(&svc, g.v, CH_TARGET_REEL, 10, out, &n, &f));
    assert_int_equal(n, 2);
    assert_int_equal(out[0].key.id, g.trend2); /* #cats */
    assert_int_equal(out[1].key.id, g.z1);
    OK(ch_feed_popular(&svc, g.v, CH_TARGET_REEL, 1, out, &n, &f));
    assert_int_equal(n, 1);
    /* The shared, cached computation gives the same answer. */
    cfg.feed_popular_refresh_ms = 60000;
    for (int i = 0; i < 2; i++) {
        OK(ch_feed_popular(&svc, g.v, CH_TARGET_POST, CH_FEED_SOURCE_POPULAR_MAX, out, &n, &f));
        assert_int_equal(n, 4);
        assert_int_equal(out[0].key.id, g.cats_y);
    }
    cfg.feed_popular_refresh_ms = 0;
}

static void test_feedback(void **state)
{
    (void)state;
    ch_fault_t f = {0};
    ch_item_key_t x1 = {CH_TARGET_POST, g.x1}, y1 = {CH_TARGET_POST, g.y1}, cats_y = {CH_TARGET_POST, g.cats_y},
                  z1 = {CH_TARGET_REEL, g.z1};
    OK(ch_feed_feedback_add(&svc, g.v, x1, CH_FEED_SIGNAL_NOT_INTERESTED, &f));
    OK(ch_feed_feedback_add(&svc, g.v, x1, CH_FEED_SIGNAL_NOT_INTERESTED, &f)); /* repeat */
    OK(ch_feed_feedback_add(&svc, g.v, y1, CH_FEED_SIGNAL_SEE_LESS_AUTHOR, &f));
    OK(ch_feed_feedback_add(&svc, g.v, cats_y, CH_FEED_SIGNAL_SEE_MORE, &f)); /* same author Y: newer wins */
    OK(ch_feed_feedback_add(&svc, g.v, z1, CH_FEED_SIGNAL_SEE_LESS_AUTHOR, &f));
    assert_int_equal(count("SELECT COUNT(*) FROM feed_feedback"), 4);
    /* Not visible or not there: 404, nothing stored. */
    assert_int_equal(ch_feed_feedback_add(&svc, g.v, (ch_item_key_t){CH_TARGET_POST, g.p1}, CH_FEED_SIGNAL_SEE_MORE, &f),
                     CH_ENOTFOUND);
    assert_int_equal(ch_feed_feedback_add(&svc, g.v, (ch_item_key_t){CH_TARGET_POST, g.k1}, CH_FEED_SIGNAL_SEE_MORE, &f),
                     CH_ENOTFOUND);
    assert_int_equal(ch_feed_feedback_add(&svc, g.v, (ch_item_key_t){CH_TARGET_POST, g.d1}, CH_FEED_SIGNAL_SEE_MORE, &f),
                     CH_ENOTFOUND);
    assert_int_equal(ch_feed_feedback_add(&svc, g.v, (ch_item_key_t){CH_TARGET_REEL, g.x1}, CH_FEED_SIGNAL_SEE_MORE, &f),
                     CH_ENOTFOUND);
    assert_int_equal(ch_feed_feedback_add(&svc, g.v, (ch_item_key_t){CH_TARGET_STORY, g.s1}, CH_FEED_SIGNAL_SEE_MORE, &f),
                     CH_EINVAL);
    assert_int_equal(count("SELECT COUNT(*) FROM feed_feedback"), 4);

    ch_feed_feedback_t fb;
    OK(ch_feed_feedback_load(&svc, g.v, &fb, &f));
    assert_int_equal(fb.n_hidden, 1);
    assert_int_equal(fb.hidden[0].id, g.x1);
    assert_int_equal(fb.hidden[0].type, CH_TARGET_POST);
    assert_int_equal(fb.n_more_authors, 1);
    assert_int_equal(fb.more_authors[0], g.y);
    assert_int_equal(fb.n_less_authors, 1);
    assert_int_equal(fb.less_authors[0], g.z);
    ch_feed_feedback_clear(&fb);
    assert_null(fb.hidden);

    /* Bounded per user: old rows are trimmed by the next insert. */
    for (int i = 0; i < CH_FEED_FEEDBACK_MAX + 20; i++) {
        ch_db_param_t p[] = {CH_DB_P_INT(g.v), CH_DB_P_INT(1000 + i), CH_DB_P_INT(id_ago(DAY_MS))};
        exec_sql("INSERT INTO feed_feedback(user_id, target_type, target_id, signal, author_id, id, created_at)"
                 " VALUES($1, 'post', $2, 'not_interested', 1, $3, 0)",
                 p, 3);
    }
    OK(ch_feed_feedback_add(&svc, g.v, z1, CH_FEED_SIGNAL_NOT_INTERESTED, &f));
    assert_int_equal(count("SELECT COUNT(*) FROM feed_feedback"), CH_FEED_FEEDBACK_MAX);
    OK(ch_feed_feedback_load(&svc, g.v, &fb, &f));
    /* The five signals above are newer than the back-dated rows: three of them are not
     * about hiding, so 497 hidden items are left, z1 (the newest) and x1 first. */
    assert_int_equal(fb.n_hidden, CH_FEED_FEEDBACK_MAX - 3);
    assert_int_equal(fb.hidden[0].id, g.z1);
    assert_int_equal(fb.hidden[0].type, CH_TARGET_REEL);
    assert_int_equal(fb.hidden[1].id, g.x1);
    ch_feed_feedback_clear(&fb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_engaged_by_following),
        cmocka_unit_test(test_hashtag_items),
        cmocka_unit_test(test_popular),
        cmocka_unit_test(test_feedback),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, setup, teardown);
    const char *pg = getenv("CHORUS_TEST_PG_URL");
    if (pg && *pg)
        failed += cmocka_run_group_tests_name("postgres", tests, pg_setup, pg_teardown);
    return failed;
}
