/* ch_items_hydrate (svc/common/items.h) against a real database: SQLite always and, when
 * CHORUS_TEST_PG_URL is set, PostgreSQL (a fresh database, dropped afterwards). Keys that
 * the viewer may not see come back NULL — deleted, expired story, followers-only post of a
 * user not followed, blocked either way, private account, comment by a blocked user or on
 * an invisible item, a key of the wrong type — others rendered in key order with their
 * facts; duplicates, n = 0 and n = CH_ITEMS_HYDRATE_MAX; the registry hands each domain at
 * most CH_ITEMS_IN_MAX distinct keys per call. ch_target_resolve goes through the same
 * registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/log.h"
#include "svc/common/items.h"
#include "svc/common/sql.h"
#include "svc/engage/target.h"
#include "svc/item_types.h"

#define OK(expr) assert_int_equal((expr), CH_OK)

enum { V = 1, A = 2, F = 3, BLOCKS_V = 4, BLOCKED = 5, PRIV = 6, PRIV_FOLLOWED = 7 };
enum {
    P_PUBLIC = 100, P_DELETED, S_EXPIRED, S_LIVE, P_FOLLOWERS, P_BY_BLOCKER, P_BY_BLOCKED, P_PRIVATE,
    P_PRIVATE_FOLLOWED, R_REEL, P_OWN_FOLLOWERS, S_UNSEEN,
    C_OK = 200, C_BY_BLOCKED, C_ON_PRIVATE, C_DELETED,
    BULK = 1000, /* BULK .. BULK + CH_ITEMS_HYDRATE_MAX: public posts by A */
};

typedef struct {
    const char *name;
    char url[1024], admin_url[512], dbname[96], dir[256];
    int available;
} backend_t;

static backend_t sqlite_backend = {.name = "sqlite"}, pg_backend = {.name = "postgres"};
static ch_config_t cfg;
static ch_svc_t svc;

static void exec_sql(const char *sql, const ch_db_param_t *p, size_t n)
{
    OK(ch_sql_run(&svc, sql, p, n, NULL, NULL));
}

static void user(int64_t id, int is_private)
{
    char handle[32];
    snprintf(handle, sizeof(handle), "u%lld", (long long)id);
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(handle), CH_DB_P_INT(is_private)};
    exec_sql("INSERT INTO users(id, handle, password_hash, display_name, is_private, created_at, updated_at)"
             " VALUES($1, $2, 'x', $2, $3, 0, 0)",
             p, CH_NPARAMS(p));
}

static void item(int64_t id, const char *type, int64_t author, const char *visibility, int deleted, int64_t expires)
{
    ch_db_param_t p[] = {CH_DB_P_INT(id),           CH_DB_P_TEXT(type),
                         CH_DB_P_INT(author),       CH_DB_P_TEXT(visibility),
                         CH_DB_P_INT(1000 + id),    deleted ? CH_DB_P_INT(5) : CH_DB_P_NULL,
                         expires ? CH_DB_P_INT(expires) : CH_DB_P_NULL};
    exec_sql("INSERT INTO items(id, type, author_id, text, media, visibility, created_at, deleted_at, expires_at)"
             " VALUES($1, $2, $3, 'hi', '[]', $4, $5, $6, $7)",
             p, CH_NPARAMS(p));
}

static void comment(int64_t id, int64_t item_id, const char *type, int64_t author, int deleted)
{
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(type), CH_DB_P_INT(item_id), CH_DB_P_INT(author),
                         deleted ? CH_DB_P_INT(5) : CH_DB_P_NULL};
    exec_sql("INSERT INTO comments(id, target_type, target_id, author_id, text, created_at, deleted_at)"
             " VALUES($1, $2, $3, $4, 'c', 7, $5)",
             p, CH_NPARAMS(p));
}

static void pair(const char *sql, int64_t a, int64_t b)
{
    ch_db_param_t p[] = {CH_DB_P_INT(a), CH_DB_P_INT(b)};
    exec_sql(sql, p, 2);
}

static void fill(void)
{
    int64_t later = ch_now_ms() + 3600000;
    user(V, 0), user(A, 0), user(F, 0), user(BLOCKS_V, 0), user(BLOCKED, 0), user(PRIV, 1), user(PRIV_FOLLOWED, 1);
    pair("INSERT INTO follows(follower_id, followee_id, id, created_at) VALUES($1, $2, 77, 0)", V,
         PRIV_FOLLOWED);
    pair("INSERT INTO blocks(blocker_id, blocked_id, created_at) VALUES($1, $2, 0)", BLOCKS_V, V);
    pair("INSERT INTO blocks(blocker_id, blocked_id, created_at) VALUES($1, $2, 0)", V, BLOCKED);
    item(P_PUBLIC, "post", A, "public", 0, 0);
    item(P_DELETED, "post", A, "public", 1, 0);
    item(S_EXPIRED, "story", A, "public", 0, ch_now_ms() - 1000);
    item(S_LIVE, "story", A, "public", 0, later);
    item(S_UNSEEN, "story", A, "public", 0, later);
    item(P_FOLLOWERS, "post", F, "followers", 0, 0);
    item(P_BY_BLOCKER, "post", BLOCKS_V, "public", 0, 0);
    item(P_BY_BLOCKED, "post", BLOCKED, "public", 0, 0);
    item(P_PRIVATE, "post", PRIV, "public", 0, 0);
    item(P_PRIVATE_FOLLOWED, "post", PRIV_FOLLOWED, "public", 0, 0);
    item(R_REEL, "reel", A, "public", 0, 0);
    item(P_OWN_FOLLOWERS, "post", V, "followers", 0, 0);
    pair("INSERT INTO story_views(story_id, viewer_id, viewed_at) VALUES($1, $2, 0)", S_LIVE, V);
    pair("INSERT INTO target_counters(target_type, target_id, r_like, r_love, comments, views)"
         " VALUES('post', $1, $2, 1, 3, 9)",
         P_PUBLIC, 2);
    pair("INSERT INTO target_counters(target_type, target_id, r_wow) VALUES('comment', $1, $2)", C_OK, 4);
    comment(C_OK, P_PUBLIC, "post", A, 0);
    comment(C_BY_BLOCKED, P_PUBLIC, "post", BLOCKED, 0);
    comment(C_ON_PRIVATE, P_PRIVATE, "post", A, 0);
    comment(C_DELETED, P_PUBLIC, "post", A, 1);
    for (int64_t i = 0; i < CH_ITEMS_HYDRATE_MAX; i++)
        item(BULK + i, "post", A, "public", 0, 0);
}

static int open_db(backend_t *b)
{
    char errbuf[256];
    if (ch_db_open(b->url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK) {
        fprintf(stderr, "cannot open %s: %s\n", b->url, errbuf);
        return -1;
    }
    svc.cfg = &cfg;
    ch_svc_register_item_types();
    fill();
    return 0;
}

static int sqlite_setup(void **state)
{
    backend_t *b = &sqlite_backend;
    *state = b;
    ch_log_set_level(CH_LOG_ERROR);
    snprintf(b->dir, sizeof(b->dir), "%s/chorus-test-items-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(b->dir))
        return -1;
    snprintf(b->url, sizeof(b->url), "sqlite:%s/t.db", b->dir);
    b->available = 1;
    return open_db(b);
}

static int sqlite_teardown(void **state)
{
    char cmd[512];
    ch_db_close(svc.db);
    svc.db = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sqlite_backend.dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs sql on a connection to the admin database (no transaction: CREATE/DROP DATABASE). */
static ch_err_t admin_run(const char *sql)
{
    ch_db_t *admin;
    ch_db_conn_t *conn;
    char errbuf[256];
    if (ch_db_open(pg_backend.admin_url, &admin, errbuf, sizeof(errbuf)) != CH_OK)
        return CH_EUNAVAILABLE;
    ch_err_t err = ch_db_acquire(admin, &conn);
    if (err == CH_OK) {
        err = ch_db_exec(admin, conn, sql, NULL, 0, NULL, NULL);
        ch_db_release(admin, conn);
    }
    ch_db_close(admin);
    return err;
}

static int pg_setup(void **state)
{
    backend_t *b = &pg_backend;
    *state = b;
    const char *url = getenv("CHORUS_TEST_PG_URL");
    if (!url || !*url)
        return 0; /* every case skips */
    snprintf(b->admin_url, sizeof(b->admin_url), "%s", url);
    snprintf(b->dbname, sizeof(b->dbname), "chorus_items_%ld_%ld", (long)getpid(), (long)time(NULL));
    snprintf(b->url, sizeof(b->url), "%s%cdbname=%s", url, strchr(url, '?') ? '&' : '?', b->dbname);
    char sql[512];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", b->dbname);
    if (admin_run(sql) != CH_OK)
        return -1;
    b->available = 1;
    return open_db(b);
}

static int pg_teardown(void **state)
{
    if (!pg_backend.available)
        return 0;
    ch_db_close(svc.db);
    svc.db = NULL;
    char sql[512];
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", pg_backend.dbname);
    return admin_run(sql) == CH_OK ? 0 : -1;
}

#define SKIP_UNLESS_AVAILABLE(state)                 \
    do {                                             \
        if (!((backend_t *)*(state))->available)     \
            skip();                                  \
    } while (0)

static uint64_t id_of(json_t *o)
{
    return strtoull(json_string_value(json_object_get(o, "id")), NULL, 10);
}

/* Keys of every visibility case, and whether V sees each. */
static const ch_item_key_t vis_keys[] = {
    {CH_TARGET_POST, P_PUBLIC},          {CH_TARGET_POST, P_DELETED},      {CH_TARGET_STORY, S_EXPIRED},
    {CH_TARGET_STORY, S_LIVE},           {CH_TARGET_POST, P_FOLLOWERS},    {CH_TARGET_POST, P_BY_BLOCKER},
    {CH_TARGET_POST, P_BY_BLOCKED},      {CH_TARGET_POST, P_PRIVATE},      {CH_TARGET_POST, P_PRIVATE_FOLLOWED},
    {CH_TARGET_REEL, R_REEL},            {CH_TARGET_POST, R_REEL},         {CH_TARGET_POST, P_OWN_FOLLOWERS},
    {CH_TARGET_COMMENT, C_OK},           {CH_TARGET_COMMENT, C_BY_BLOCKED}, {CH_TARGET_COMMENT, C_ON_PRIVATE},
    {CH_TARGET_COMMENT, C_DELETED},      {CH_TARGET_POST, P_PUBLIC},       {CH_TARGET_LIVESTREAM, P_PUBLIC},
    {CH_TARGET_POST, 0},                 {CH_TARGET_POST, 999999},         {CH_TARGET_COMMENT, P_PUBLIC},
    {CH_TARGET_STORY, S_UNSEEN},         {200, P_PUBLIC},
};
static const int vis_visible[] = {1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
enum { N = sizeof(vis_keys) / sizeof(vis_keys[0]) };

static void test_visibility(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    const ch_item_key_t *keys = vis_keys;
    const int *visible = vis_visible;
    _Static_assert(sizeof(vis_visible) / sizeof(vis_visible[0]) == N, "one expectation per key");
    json_t *out[N];
    ch_item_facts_t facts[N];
    ch_fault_t f = {0};
    memset(facts, 0xff, sizeof(facts));
    OK(ch_items_hydrate(&svc, V, keys, N, out, facts, &f));
    for (size_t i = 0; i < N; i++) {
        if (!visible[i]) {
            if (out[i])
                fail_msg("key %zu (%u, %llu) should be hidden", i, keys[i].type, (unsigned long long)keys[i].id);
            continue;
        }
        if (!out[i])
            fail_msg("key %zu (%u, %llu) should be visible", i, keys[i].type, (unsigned long long)keys[i].id);
        assert_int_equal(id_of(out[i]), keys[i].id);
    }
    assert_string_equal(json_string_value(json_object_get(out[0], "type")), "post");
    assert_string_equal(json_string_value(json_object_get(out[9], "type")), "reel");
    assert_string_equal(json_string_value(json_object_get(out[3], "type")), "story");
    /* facts from the same row */
    assert_int_equal(facts[0].author_id, A);
    assert_int_equal(facts[0].created_at_ms, 1000 + P_PUBLIC);
    assert_int_equal(facts[0].reactions, 3);
    assert_int_equal(facts[0].comments, 3);
    assert_int_equal(facts[0].views, 9);
    assert_int_equal(facts[0].followers_only, 0);
    assert_int_equal(facts[0].seen, 0);
    assert_int_equal(facts[3].seen, 1);
    assert_int_equal(facts[21].seen, 0);
    assert_int_equal(facts[11].followers_only, 1);
    assert_int_equal(facts[8].author_id, PRIV_FOLLOWED);
    assert_int_equal(facts[12].author_id, A);
    assert_int_equal(facts[12].reactions, 4);
    assert_int_equal(facts[12].created_at_ms, 7);
    /* a duplicate: an equal but separate object */
    assert_true(out[16] != out[0]);
    assert_true(json_equal(out[16], out[0]));
    assert_int_equal(facts[16].reactions, 3);
    /* a comment renders as a comment of its item */
    json_t *target = json_object_get(out[12], "target");
    assert_string_equal(json_string_value(json_object_get(target, "type")), "post");
    for (size_t i = 0; i < N; i++)
        json_decref(out[i]);
}

/* Facts only (out NULL): the same facts and the same visibility as a rendering call (that
 * no JSON is built from warm facts is test_hydrate.c's). */
static void test_facts_only(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    json_t *out[N];
    ch_item_facts_t rendered[N], facts[N];
    ch_fault_t f = {0};
    memset(rendered, 0, sizeof(rendered));
    OK(ch_items_hydrate(&svc, V, vis_keys, N, out, rendered, &f));
    memset(facts, 0xff, sizeof(facts));
    OK(ch_items_hydrate(&svc, V, vis_keys, N, NULL, facts, &f));
    for (size_t i = 0; i < N; i++) {
        if (!vis_visible[i]) {
            if (facts[i].author_id != 0)
                fail_msg("key %zu (%u, %llu) should be hidden", i, vis_keys[i].type,
                         (unsigned long long)vis_keys[i].id);
            assert_null(out[i]);
            continue;
        }
        assert_non_null(out[i]);
        assert_true(facts[i].author_id != 0);
        assert_memory_equal(&facts[i], &rendered[i], sizeof(facts[i]));
        json_decref(out[i]);
    }
    assert_int_equal(facts[16].reactions, 3); /* a duplicate gets its first's facts */
    /* neither out nor facts: nothing to do */
    assert_int_equal(ch_items_hydrate(&svc, V, vis_keys, N, NULL, NULL, &f), CH_EINVAL);
}

static void test_empty_and_too_many(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    ch_fault_t f = {0};
    json_t *out[1] = {(json_t *)0x1};
    OK(ch_items_hydrate(&svc, V, NULL, 0, out, NULL, &f));
    ch_item_key_t *keys = calloc(CH_ITEMS_HYDRATE_MAX + 1, sizeof(*keys));
    json_t **many = calloc(CH_ITEMS_HYDRATE_MAX + 1, sizeof(*many));
    assert_int_equal(ch_items_hydrate(&svc, V, keys, CH_ITEMS_HYDRATE_MAX + 1, many, NULL, &f), CH_EINVAL);
    free(keys);
    free(many);
}

/* n = CH_ITEMS_HYDRATE_MAX, mixing visible posts, hidden posts and comments, facts NULL. */
static void test_max(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    ch_item_key_t keys[CH_ITEMS_HYDRATE_MAX];
    json_t *out[CH_ITEMS_HYDRATE_MAX];
    for (size_t i = 0; i < CH_ITEMS_HYDRATE_MAX; i++)
        keys[i] = i % 7 == 3 ? (ch_item_key_t){CH_TARGET_POST, P_PRIVATE}
                  : i % 7 == 5 ? (ch_item_key_t){CH_TARGET_COMMENT, C_OK}
                               : (ch_item_key_t){CH_TARGET_POST, BULK + (CH_ITEMS_HYDRATE_MAX - 1 - i)};
    ch_fault_t f = {0};
    OK(ch_items_hydrate(&svc, V, keys, CH_ITEMS_HYDRATE_MAX, out, NULL, &f));
    for (size_t i = 0; i < CH_ITEMS_HYDRATE_MAX; i++) {
        if (i % 7 == 3) {
            assert_null(out[i]);
            continue;
        }
        assert_non_null(out[i]);
        assert_int_equal(id_of(out[i]), keys[i].id);
        json_decref(out[i]);
    }
}

/* The registry's side: a type loaded by a counting function receives at most
 * CH_ITEMS_IN_MAX distinct keys per call, so CH_ITEMS_HYDRATE_MAX keys cost
 * CH_ITEMS_HYDRATE_MAX / CH_ITEMS_IN_MAX statements; a failure frees everything. */
static int calls;
static size_t largest;
static ch_err_t fail_on;

static ch_err_t counting_load(ch_svc_t *s, const ch_item_key_t *keys, size_t n, ch_item_record_t *out,
                              ch_fault_t *f)
{
    calls++;
    largest = n > largest ? n : largest;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            assert_false(keys[i].id == keys[j].id);
        char body[64];
        out[i].body_len = (size_t)snprintf(body, sizeof(body), "\"id\":\"%llu\"", (unsigned long long)keys[i].id);
        out[i].body = strdup(body);
        out[i].found = 1;
        out[i].author_id = A;
        out[i].created_at_ms = (int64_t)keys[i].id;
        out[i].parent.type = CH_ITEM_NO_PARENT;
    }
    return calls == 3 ? fail_on : CH_OK;
}

static void test_chunks(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    static const ch_item_type_ops_t ops = {.load_many = counting_load};
    ch_items_register(CH_TARGET_LISTING, &ops);
    ch_item_key_t keys[CH_ITEMS_HYDRATE_MAX];
    json_t *out[CH_ITEMS_HYDRATE_MAX];
    ch_item_facts_t facts[CH_ITEMS_HYDRATE_MAX];
    for (size_t i = 0; i < CH_ITEMS_HYDRATE_MAX; i++)
        keys[i] = (ch_item_key_t){CH_TARGET_LISTING, 1 + i};
    keys[7].id = keys[3].id; /* a duplicate is sent once */
    ch_fault_t f = {0};
    calls = 0, largest = 0, fail_on = CH_OK;
    OK(ch_items_hydrate(&svc, V, keys, CH_ITEMS_HYDRATE_MAX, out, facts, &f));
    assert_int_equal(calls, CH_ITEMS_HYDRATE_MAX / CH_ITEMS_IN_MAX);
    assert_int_equal(largest, CH_ITEMS_IN_MAX);
    for (size_t i = 0; i < CH_ITEMS_HYDRATE_MAX; i++) {
        assert_non_null(out[i]);
        assert_int_equal(id_of(out[i]), keys[i].id);
        assert_int_equal(facts[i].author_id, A);
        assert_int_equal(facts[i].created_at_ms, keys[i].id);
        json_decref(out[i]);
    }
    calls = 0, fail_on = CH_EUNAVAILABLE;
    assert_int_equal(ch_items_hydrate(&svc, V, keys, CH_ITEMS_HYDRATE_MAX, out, facts, &f), CH_EUNAVAILABLE);
    for (size_t i = 0; i < CH_ITEMS_HYDRATE_MAX; i++)
        assert_null(out[i]);
    ch_items_register(CH_TARGET_LISTING, NULL);
}

/* ch_target_resolve goes through the registry: the domains' rules for registered types, a
 * new type plugs in by registering, an unregistered one is not found. */
static ch_err_t listing_resolve(ch_svc_t *s, ch_db_conn_t *conn, uint64_t viewer, ch_target_type_t type, uint64_t id,
                                ch_target_t *out, ch_fault_t *f)
{
    if (id != 42)
        return ch_fault(f, CH_ENOTFOUND, NULL, "listing not found");
    *out = (ch_target_t){type, id, A, 0};
    return CH_OK;
}

static void test_resolve(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    ch_target_t t;
    ch_fault_t f = {0};
    OK(ch_target_resolve(&svc, NULL, V, CH_TARGET_POST, P_PUBLIC, &t, &f));
    assert_int_equal(t.type, CH_TARGET_POST);
    assert_int_equal(t.author_id, A);
    OK(ch_target_resolve(&svc, NULL, V, CH_TARGET_POST, P_OWN_FOLLOWERS, &t, &f));
    assert_int_equal(t.followers_only, 1);
    OK(ch_target_resolve(&svc, NULL, V, CH_TARGET_STORY, S_LIVE, &t, &f));
    OK(ch_target_resolve(&svc, NULL, V, CH_TARGET_COMMENT, C_OK, &t, &f));
    assert_int_equal(t.type, CH_TARGET_COMMENT);
    const ch_item_key_t hidden[] = {{CH_TARGET_POST, P_DELETED},      {CH_TARGET_STORY, S_EXPIRED},
                                    {CH_TARGET_POST, P_FOLLOWERS},    {CH_TARGET_POST, P_BY_BLOCKER},
                                    {CH_TARGET_POST, P_BY_BLOCKED},   {CH_TARGET_POST, P_PRIVATE},
                                    {CH_TARGET_POST, R_REEL},         {CH_TARGET_COMMENT, C_BY_BLOCKED},
                                    {CH_TARGET_COMMENT, C_ON_PRIVATE}, {CH_TARGET_COMMENT, C_DELETED},
                                    {CH_TARGET_LIVESTREAM, P_PUBLIC}, {CH_TARGET_LISTING, 42}};
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
        assert_int_equal(ch_target_resolve(&svc, NULL, V, hidden[i].type, hidden[i].id, &t, &f), CH_ENOTFOUND);
    static const ch_item_type_ops_t ops = {.resolve = listing_resolve};
    ch_items_register(CH_TARGET_LISTING, &ops);
    OK(ch_target_resolve(&svc, NULL, V, CH_TARGET_LISTING, 42, &t, &f));
    assert_int_equal(t.type, CH_TARGET_LISTING);
    assert_int_equal(ch_target_resolve(&svc, NULL, V, CH_TARGET_LISTING, 43, &t, &f), CH_ENOTFOUND);
    ch_items_register(CH_TARGET_LISTING, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visibility),
        cmocka_unit_test(test_facts_only),
        cmocka_unit_test(test_empty_and_too_many),
        cmocka_unit_test(test_max),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_resolve),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, sqlite_setup, sqlite_teardown);
    failed += cmocka_run_group_tests_name("postgres", tests, pg_setup, pg_teardown);
    return failed;
}
