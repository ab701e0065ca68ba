/* The hydration layer (svc/common/hydrate.h) against a real database — SQLite always and,
 * when CHORUS_TEST_PG_URL is set, PostgreSQL — with a counting in-test cache driver behind
 * svc->hcache (store/hcache_driver.h):
 *   - the text of every item and comment equals, as JSON, what ch_item_render and
 *     ch__comment_render make of the same rows for the same viewer (the API's objects);
 *   - a warm second read makes no statement (no fact from the database) and one cache get per
 *     round, and a facts-only warm read builds no JSON value at all;
 *   - a value in the cache that does not decode is a miss, never trusted; the cache down
 *     (get fails) reads everything from the database and puts nothing;
 *   - placeholders only when asked; ch_hydrate_users and the append helpers. */
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
#include "core/metrics.h"
#include "store/hcache_driver.h"
#include "svc/common/hydrate.h"
#include "svc/common/hydrate_codec.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/sql.h"
#include "svc/content/render.h"
#include "svc/engage/comments_row.h"
#include "svc/item_types.h"

#define OK(expr) assert_int_equal((expr), CH_OK)

enum { V = 1, A = 2, B = 3, PRIV = 4, BLOCKER = 5 };
enum {
    P_RICH = 100, P_PLAIN, R_REEL, S_SEEN, S_UNSEEN, S_OWN, P_FOLLOWERS, P_PRIVATE, P_BY_BLOCKER,
    C_LIVE = 200, C_PLACEHOLDER, C_REPLY, C_ON_FOLLOWERS,
};

/* ---- a counting cache driver ----------------------------------------------------------- */

#define FAKE_MAX 1024
typedef struct {
    char key[CH_HCACHE_KEY_MAX + 1];
    char *val;
    size_t len;
} fake_entry_t;

static struct {
    fake_entry_t e[FAKE_MAX];
    size_t n;
    uint64_t next_lease;
    int gets, puts, down;
} fake;

static fake_entry_t *fake_find(const char *key)
{
    for (size_t i = 0; i < fake.n; i++)
        if (strcmp(fake.e[i].key, key) == 0)
            return &fake.e[i];
    return NULL;
}

static ch_err_t fake_get(void *impl, const char *const *keys, size_t n, ch_hcache_got_t *got)
{
    (void)impl;
    fake.gets++;
    if (fake.down)
        return CH_EUNAVAILABLE;
    for (size_t i = 0; i < n; i++) {
        fake_entry_t *e = fake_find(keys[i]);
        if (e) {
            got[i].val = malloc(e->len ? e->len : 1);
            memcpy(got[i].val, e->val, e->len);
            got[i].len = e->len;
        } else {
            got[i].lease = ++fake.next_lease;
        }
    }
    return CH_OK;
}

static void fake_set(const char *key, const char *val, size_t len)
{
    fake_entry_t *e = fake_find(key);
    if (!e) {
        assert_true(fake.n < FAKE_MAX);
        e = &fake.e[fake.n++];
        e->val = NULL; /* a slot fake_forget emptied still names the moved entry's value */
        snprintf(e->key, sizeof(e->key), "%s", key);
    }
    free(e->val);
    e->val = malloc(len ? len : 1);
    memcpy(e->val, val, len);
    e->len = len;
}

static void fake_put(void *impl, const char *const *keys, const char *const *vals, const size_t *lens,
                     const uint64_t *leases, size_t n)
{
    (void)impl;
    fake.puts++;
    for (size_t i = 0; i < n; i++) {
        assert_true(leases[i] != 0);
        fake_set(keys[i], vals[i], lens[i]);
    }
}

static void fake_forget(void *impl, const char *const *keys, size_t n)
{
    (void)impl;
    for (size_t i = 0; i < n; i++) {
        fake_entry_t *e = fake_find(keys[i]);
        if (e) {
            free(e->val);
            *e = fake.e[--fake.n];
        }
    }
}

static void fake_clear(void)
{
    for (size_t i = 0; i < fake.n; i++)
        free(fake.e[i].val);
    memset(&fake, 0, sizeof(fake));
}

static size_t fake_bytes(const void *impl)
{
    (void)impl;
    return 0;
}

static void fake_destroy(void *impl)
{
    (void)impl;
    fake_clear();
}

static const ch_hcache_driver_t fake_driver = {.name = "fake", .get_many = fake_get, .put_many = fake_put,
                                               .forget_many = fake_forget, .bytes = fake_bytes,
                                               .destroy = fake_destroy};
static struct ch_hcache fake_cache = {.driver = &fake_driver};

/* ---- the database ------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    char url[1024], admin_url[512], dbname[96], dir[256];
    int available;
} backend_t;

static backend_t sqlite_backend = {.name = "sqlite"}, pg_backend = {.name = "postgres"};
static ch_config_t cfg;
static ch_svc_t svc;

static void exec(const char *sql, const ch_db_param_t *p, size_t n)
{
    OK(ch_sql_run(&svc, sql, p, n, NULL, NULL));
}

static void user(int64_t id, int is_private, const char *avatar)
{
    char handle[32];
    snprintf(handle, sizeof(handle), "u%lld", (long long)id);
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(handle), CH_DB_P_INT(is_private),
                         avatar ? CH_DB_P_TEXT(avatar) : CH_DB_P_NULL};
    exec("INSERT INTO users(id, handle, password_hash, display_name, is_private, avatar_url, created_at, updated_at)"
         " VALUES($1, $2, 'x', 'Name \"' || $2 || '\" \xc3\xa9', $3, $4, 0, 0)",
         p, CH_NPARAMS(p));
}

static void item(int64_t id, const char *type, int64_t author, const char *visibility, int64_t expires)
{
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(type), CH_DB_P_INT(author), CH_DB_P_TEXT(visibility),
                         expires ? CH_DB_P_INT(expires) : CH_DB_P_NULL};
    exec("INSERT INTO items(id, type, author_id, text, media, visibility, video_url, cover_url, media_url, kind,"
         " duration_ms, created_at, expires_at)"
         " VALUES($1, $2, $3, 'hi <b>\"there\"</b>', '[]', $4, 'v.mp4', NULL, 'm.jpg', 'image', 1500, 1700000000000 + $1, $5)",
         p, CH_NPARAMS(p));
}

static void comment(int64_t id, int64_t item_id, int64_t parent, int64_t author, int deleted, int replies)
{
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_INT(item_id), parent ? CH_DB_P_INT(parent) : CH_DB_P_NULL,
                         CH_DB_P_INT(author), deleted ? CH_DB_P_INT(5) : CH_DB_P_NULL, CH_DB_P_INT(replies)};
    exec("INSERT INTO comments(id, target_type, target_id, parent_id, author_id, text, mentions, hashtags,"
         " replies_count, created_at, deleted_at)"
         " VALUES($1, 'post', $2, $3, $4, 'a comment', '[{\"id\":\"3\",\"handle\":\"u3\"}]', '[\"tag\"]', $6, 7, $5)",
         p, CH_NPARAMS(p));
}

static void pair(const char *sql, int64_t a, int64_t b)
{
    ch_db_param_t p[] = {CH_DB_P_INT(a), CH_DB_P_INT(b)};
    exec(sql, p, 2);
}

static void fill(void)
{
    int64_t later = ch_now_ms() + 3600000;
    user(V, 0, NULL), user(A, 0, "https://img/a.png"), user(B, 0, NULL), user(PRIV, 1, NULL), user(BLOCKER, 0, NULL);
    pair("INSERT INTO follows(follower_id, followee_id, id, created_at) VALUES($1, $2, 77, 0)", B, V);
    pair("INSERT INTO follow_requests(requester_id, target_id, id, created_at) VALUES($1, $2, 78, 0)", V, PRIV);
    pair("INSERT INTO mutes(muter_id, muted_id, created_at) VALUES($1, $2, 0)", V, B);
    pair("INSERT INTO blocks(blocker_id, blocked_id, created_at) VALUES($1, $2, 0)", BLOCKER, V);
    item(P_RICH, "post", A, "public", 0);
    exec("UPDATE items SET media = '[{\"url\":\"x.jpg\",\"w\":3}]', edited_at = 1700000009999,"
         " mentions = '[{\"id\":\"3\",\"handle\":\"u3\"}]', hashtags = '[\"caf\xc3\xa9\"]' WHERE id = 100",
         NULL, 0);
    item(P_PLAIN, "post", B, "public", 0);
    item(R_REEL, "reel", A, "public", 0);
    item(S_SEEN, "story", A, "public", later);
    item(S_UNSEEN, "story", A, "public", later);
    item(S_OWN, "story", V, "public", later);
    item(P_FOLLOWERS, "post", A, "followers", 0);
    item(P_PRIVATE, "post", PRIV, "public", 0);
    item(P_BY_BLOCKER, "post", BLOCKER, "public", 0);
    pair("INSERT INTO story_views(story_id, viewer_id, viewed_at) VALUES($1, $2, 0)", S_SEEN, V);
    pair("INSERT INTO target_counters(target_type, target_id, r_like, r_love, comments, views)"
         " VALUES('post', $1, $2, 1, 3, 9)",
         P_RICH, 2);
    pair("INSERT INTO reactions(target_type, target_id, user_id, kind, id, created_at) VALUES('post', $1, $2, 'love', 1, 0)",
         P_RICH, V);
    comment(C_LIVE, P_RICH, 0, B, 0, 0);
    comment(C_PLACEHOLDER, P_RICH, 0, A, 1, 1);
    comment(C_REPLY, P_RICH, C_PLACEHOLDER, A, 0, 0);
    comment(C_ON_FOLLOWERS, P_FOLLOWERS, 0, B, 0, 0);
    pair("INSERT INTO target_counters(target_type, target_id, r_wow) VALUES('comment', $1, $2)", C_LIVE, 4);
    pair("INSERT INTO reactions(target_type, target_id, user_id, kind, id, created_at) VALUES('comment', $1, $2, 'wow', 2, 0)",
         C_LIVE, V);
}

static int open_db(backend_t *b)
{
    char errbuf[256];
    if (ch_db_open(b->url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK) {
        fprintf(stderr, "cannot open %s: %s\n", b->url, errbuf);
        return -1;
    }
    svc.cfg = &cfg;
    svc.hcache = NULL;
    ch_svc_register_item_types();
    fill();
    return 0;
}

static int sqlite_setup(void **state)
{
    backend_t *b = &sqlite_backend;
    *state = b;
    ch_log_set_level(CH_LOG_ERROR);
    snprintf(b->dir, sizeof(b->dir), "%s/chorus-test-hydrate-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(b->dir))
        return -1;
    snprintf(b->url, sizeof(b->url), "sqlite:%s/t.db", b->dir);
    b->available = 1;
    return open_db(b);
}

static int sqlite_teardown(void **state)
{
    (void)state;
    char cmd[512];
    ch_db_close(svc.db);
    svc.db = NULL;
    fake_clear();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sqlite_backend.dir);
    return system(cmd) == 0 ? 0 : -1;
}

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
        return 0;
    snprintf(b->admin_url, sizeof(b->admin_url), "%s", url);
    snprintf(b->dbname, sizeof(b->dbname), "chorus_hydrate_%ld_%ld", (long)getpid(), (long)time(NULL));
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
    (void)state;
    if (!pg_backend.available)
        return 0;
    ch_db_close(svc.db);
    svc.db = NULL;
    fake_clear();
    char sql[512];
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", pg_backend.dbname);
    return admin_run(sql) == CH_OK ? 0 : -1;
}

#define SKIP_UNLESS_AVAILABLE(state)             \
    do {                                         \
        if (!((backend_t *)*(state))->available) \
            skip();                              \
    } while (0)

/* chorus_hydrate_facts_total of every kind from source ("cache" or "db"), summed. */
static uint64_t facts_from(const char *source)
{
    ch_buf_t b = CH_BUF_INIT;
    ch_metrics_render(&b);
    char pat[64];
    snprintf(pat, sizeof(pat), "source=\"%s\"} ", source);
    uint64_t sum = 0;
    for (const char *p = b.data; p && (p = strstr(p, "chorus_hydrate_facts_total{")) != NULL; p++) {
        const char *s = strstr(p, pat), *nl = strchr(p, '\n');
        if (s && (!nl || s < nl))
            sum += strtoull(s + strlen(pat), NULL, 10);
    }
    ch_buf_clear(&b);
    return sum;
}

/* ---- the old renderings ------------------------------------------------------------------ */

static json_t *old_item(uint64_t viewer, uint64_t id)
{
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(id)};
    ch_db_rows_t *rows = NULL;
    OK(ch_sql_run(&svc, "SELECT " CH_ITEM_COLUMNS CH_ITEM_FROM " WHERE i.id = $2", p, 2, &rows, NULL));
    assert_int_equal(ch_db_rows_count(rows), 1);
    json_t *o = ch_item_render(rows, 0);
    ch_db_rows_free(rows);
    return o;
}

static json_t *old_comment(uint64_t viewer, uint64_t id)
{
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(id)};
    ch_db_rows_t *rows = NULL;
    OK(ch_sql_run(&svc, "SELECT " CH_COMMENT_COLUMNS CH_COMMENT_FROM " WHERE c.id = $2", p, 2, &rows, NULL));
    assert_int_equal(ch_db_rows_count(rows), 1);
    json_t *o = ch__comment_render(rows, 0);
    ch_db_rows_free(rows);
    return o;
}

static const ch_item_key_t shown[] = {
    {CH_TARGET_POST, P_RICH},   {CH_TARGET_POST, P_PLAIN},       {CH_TARGET_REEL, R_REEL},
    {CH_TARGET_STORY, S_SEEN},  {CH_TARGET_STORY, S_UNSEEN},     {CH_TARGET_STORY, S_OWN},
    {CH_TARGET_COMMENT, C_LIVE}, {CH_TARGET_COMMENT, C_PLACEHOLDER}, {CH_TARGET_COMMENT, C_REPLY},
};
enum { NSHOWN = sizeof(shown) / sizeof(shown[0]) };

static void check_equal_to_old(const ch_hydrated_t *h)
{
    for (size_t i = 0; i < NSHOWN; i++) {
        if (!h[i].json)
            fail_msg("key %zu (%u, %llu) not shown", i, shown[i].type, (unsigned long long)shown[i].id);
        json_error_t e;
        json_t *now = json_loadb(h[i].json, h[i].len, 0, &e);
        if (!now)
            fail_msg("key %zu: not JSON (%s): %s", i, e.text, h[i].json);
        assert_int_equal(strlen(h[i].json), h[i].len);
        json_t *old = shown[i].type == CH_TARGET_COMMENT ? old_comment(V, shown[i].id) : old_item(V, shown[i].id);
        if (!json_equal(now, old)) {
            char *a = json_dumps(old, JSON_SORT_KEYS), *b = json_dumps(now, JSON_SORT_KEYS);
            fail_msg("key %zu differs:\nold %s\nnew %s", i, a, b);
        }
        json_decref(now);
        json_decref(old);
    }
}

static void test_same_as_old_rendering(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    ch_hydrated_t h[NSHOWN];
    ch_fault_t f = {0};
    svc.hcache = NULL;
    OK(ch_hydrate_items(&svc, V, shown, NSHOWN, CH_HYDRATE_PLACEHOLDERS, h, &f));
    check_equal_to_old(h);
    assert_true(strstr(h[0].json, "\"my_reaction\":\"love\"") != NULL);
    assert_true(strstr(h[6].json, "\"my_reaction\":\"wow\"") != NULL);
    assert_int_equal(h[0].facts.reactions, 3);
    assert_int_equal(h[0].facts.comments, 3);
    assert_int_equal(h[0].facts.views, 9);
    assert_int_equal(h[3].facts.seen, 1);
    assert_int_equal(h[4].facts.seen, 0);
    assert_int_equal(h[5].facts.seen, 1); /* one's own story counts as seen */
    assert_int_equal(h[1].facts.muted, 1);
    assert_int_equal(h[0].facts.muted, 0);
    assert_int_equal(h[6].facts.reactions, 4);
    ch_hydrated_free(h, NSHOWN);
    /* the same through a cold and then a warm cache */
    svc.hcache = &fake_cache;
    fake_clear();
    OK(ch_hydrate_items(&svc, V, shown, NSHOWN, CH_HYDRATE_PLACEHOLDERS, h, &f));
    check_equal_to_old(h);
    ch_hydrated_free(h, NSHOWN);
    OK(ch_hydrate_items(&svc, V, shown, NSHOWN, CH_HYDRATE_PLACEHOLDERS, h, &f));
    check_equal_to_old(h);
    ch_hydrated_free(h, NSHOWN);
    fake_clear();
    svc.hcache = NULL;
}

static const ch_item_key_t hidden[] = {
    {CH_TARGET_POST, P_FOLLOWERS},       {CH_TARGET_POST, P_PRIVATE},   {CH_TARGET_POST, P_BY_BLOCKER},
    {CH_TARGET_COMMENT, C_ON_FOLLOWERS}, {CH_TARGET_POST, R_REEL},      {CH_TARGET_POST, 999999},
    {CH_TARGET_LIVESTREAM, P_RICH},      {CH_TARGET_POST, 0},           {250, 1},
};
enum { NHIDDEN = sizeof(hidden) / sizeof(hidden[0]) };

static void test_warm_read_runs_no_statement(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    ch_item_key_t keys[NSHOWN + NHIDDEN];
    memcpy(keys, shown, sizeof(shown));
    memcpy(keys + NSHOWN, hidden, sizeof(hidden));
    size_t n = NSHOWN + NHIDDEN;
    ch_hydrated_t h[NSHOWN + NHIDDEN];
    ch_fault_t f = {0};
    svc.hcache = &fake_cache;
    fake_clear();
    uint64_t db0 = facts_from("db");
    OK(ch_hydrate_items(&svc, V, keys, n, CH_HYDRATE_PLACEHOLDERS, h, &f));
    assert_true(facts_from("db") > db0);
    assert_true(fake.gets <= 3); /* records, the items commented on, the rest */
    assert_true(fake.puts >= 1);
    for (size_t i = NSHOWN; i < n; i++)
        assert_null(h[i].json);
    ch_hydrated_free(h, n);
    /* warm: the same answer, no fact from the database, nothing put */
    uint64_t db1 = facts_from("db"), cache1 = facts_from("cache");
    fake.gets = fake.puts = 0;
    OK(ch_hydrate_items(&svc, V, keys, n, CH_HYDRATE_PLACEHOLDERS, h, &f));
    check_equal_to_old(h);
    for (size_t i = NSHOWN; i < n; i++)
        assert_null(h[i].json);
    assert_int_equal(facts_from("db"), db1);
    assert_true(facts_from("cache") > cache1);
    assert_true(fake.gets <= 3);
    assert_int_equal(fake.puts, 0);
    ch_hydrated_free(h, n);
    /* facts only, warm: the same facts, not one JSON value built */
    ch_hydrated_t facts[NSHOWN + NHIDDEN];
    OK(ch_hydrate_items(&svc, V, keys, n, CH_HYDRATE_PLACEHOLDERS, h, &f));
    OK(ch_hydrate_items(&svc, V, keys, n, CH_HYDRATE_PLACEHOLDERS | CH_HYDRATE_FACTS_ONLY, facts, &f));
    for (size_t i = 0; i < n; i++) {
        assert_null(facts[i].json);
        assert_int_equal(facts[i].facts.author_id != 0, h[i].json != NULL);
        if (h[i].json)
            assert_memory_equal(&facts[i].facts, &h[i].facts, sizeof(h[i].facts));
    }
    ch_hydrated_free(h, n);
    svc.hcache = NULL;
    fake_clear();
}

static size_t json_allocs;
static void *counting_malloc(size_t size)
{
    json_allocs++;
    return malloc(size);
}

static void test_facts_only_builds_no_json_when_warm(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    ch_hydrated_t h[NSHOWN];
    ch_item_facts_t facts[NSHOWN];
    ch_fault_t f = {0};
    svc.hcache = &fake_cache;
    fake_clear();
    OK(ch_hydrate_items(&svc, V, shown, NSHOWN, 0, h, &f)); /* warms every fact */
    ch_hydrated_free(h, NSHOWN);
    json_allocs = 0;
    json_set_alloc_funcs(counting_malloc, free);
    ch_err_t err = ch_items_hydrate(&svc, V, shown, NSHOWN, NULL, facts, &f);
    json_set_alloc_funcs(malloc, free);
    OK(err);
    assert_int_equal(json_allocs, 0);
    assert_int_equal(facts[0].author_id, A);
    assert_int_equal(facts[3].seen, 1);
    svc.hcache = NULL;
    fake_clear();
}

/* Garbage under every key is a miss: the answer is right, read from the database. */
static void test_garbage_is_a_miss(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    ch_hydrated_t h[NSHOWN];
    ch_fault_t f = {0};
    svc.hcache = &fake_cache;
    fake_clear();
    OK(ch_hydrate_items(&svc, V, shown, NSHOWN, CH_HYDRATE_PLACEHOLDERS, h, &f));
    ch_hydrated_free(h, NSHOWN);
    assert_true(fake.n > 0);
    for (size_t i = 0; i < fake.n; i++) {
        /* a plausible prefix cut short, then its first byte flipped */
        fake.e[i].len = fake.e[i].len > 4 ? fake.e[i].len - 1 : 1;
        if (i % 2)
            fake.e[i].val[0] ^= 0x20;
    }
    uint64_t db0 = facts_from("db");
    OK(ch_hydrate_items(&svc, V, shown, NSHOWN, CH_HYDRATE_PLACEHOLDERS, h, &f));
    check_equal_to_old(h);
    assert_true(facts_from("db") >= db0 + NSHOWN);
    ch_hydrated_free(h, NSHOWN);
    /* a hostile "viewer state" that would break the JSON it is spliced into */
    ch_hkey_t k;
    fake_set(ch_hkey_viewer_item(k, V, CH_TARGET_POST, P_RICH), "V\001\000\003\",\"", 7);
    OK(ch_hydrate_items(&svc, V, shown, NSHOWN, CH_HYDRATE_PLACEHOLDERS, h, &f));
    check_equal_to_old(h);
    ch_hydrated_free(h, NSHOWN);
    svc.hcache = NULL;
    fake_clear();
}

/* The cache down: everything from the database, nothing put, the same answer. */
static void test_cache_down(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    ch_hydrated_t h[NSHOWN];
    ch_fault_t f = {0};
    svc.hcache = &fake_cache;
    fake_clear();
    fake.down = 1;
    OK(ch_hydrate_items(&svc, V, shown, NSHOWN, CH_HYDRATE_PLACEHOLDERS, h, &f));
    check_equal_to_old(h);
    assert_int_equal(fake.puts, 0);
    assert_int_equal(fake.n, 0);
    ch_hydrated_free(h, NSHOWN);
    svc.hcache = NULL;
    fake_clear();
}

static void test_placeholders_and_duplicates(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    const ch_item_key_t keys[] = {{CH_TARGET_COMMENT, C_PLACEHOLDER}, {CH_TARGET_POST, P_RICH},
                                  {CH_TARGET_POST, P_RICH}};
    ch_hydrated_t h[3];
    ch_fault_t f = {0};
    OK(ch_hydrate_items(&svc, V, keys, 3, 0, h, &f));
    assert_null(h[0].json); /* a placeholder only when asked */
    assert_non_null(h[1].json);
    assert_non_null(h[2].json);
    assert_true(h[1].json != h[2].json);
    assert_string_equal(h[1].json, h[2].json);
    /* the append helpers */
    ch_buf_t b = CH_BUF_INIT;
    ch_hydrated_append_array(&b, h, 3);
    json_t *arr = json_loads(b.data, 0, NULL);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 2);
    json_decref(arr);
    ch_buf_clear(&b);
    ch_hydrated_append_with(&b, &h[1], "\"reason\":\"following\"", 20);
    json_t *o = json_loads(b.data, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "following");
    assert_string_equal(json_string_value(json_object_get(o, "id")), "100");
    json_decref(o);
    ch_buf_clear(&b);
    ch_hydrated_append_array(&b, h, 1);
    assert_string_equal(b.data, "[]");
    ch_buf_clear(&b);
    ch_hydrated_free(h, 3);
    assert_null(h[1].json);
    /* too many */
    assert_int_equal(ch_hydrate_items(&svc, V, keys, CH_ITEMS_HYDRATE_MAX + 1, 0, h, &f), CH_EINVAL);
}

/* Rows are matched to keys by (type, id): a post asked as a reel too (one load chunk) is still
 * found as a post, in either order, and the reel key is not found. */
static void test_type_and_id_match(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    const ch_item_key_t keys[][2] = {{{CH_TARGET_REEL, P_PLAIN}, {CH_TARGET_POST, P_PLAIN}},
                                     {{CH_TARGET_POST, P_RICH}, {CH_TARGET_REEL, P_RICH}}};
    const int post_at[] = {1, 0};
    ch_fault_t f = {0};
    svc.hcache = &fake_cache;
    for (int round = 0; round < 2; round++) { /* cold, then warm */
        for (int c = 0; c < 2; c++) {
            ch_hydrated_t h[2];
            OK(ch_hydrate_items(&svc, V, keys[c], 2, 0, h, &f));
            assert_non_null(h[post_at[c]].json);
            assert_null(h[1 - post_at[c]].json);
            ch_hydrated_free(h, 2);
        }
    }
    svc.hcache = NULL;
    fake_clear();
}

/* Inside an ambient transaction nothing is put: a record read from uncommitted rows is not
 * served after the rollback. */
static void test_ambient_transaction_puts_nothing(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    const ch_item_key_t key = {CH_TARGET_POST, P_PLAIN};
    ch_hydrated_t h[1];
    ch_fault_t f = {0};
    svc.hcache = &fake_cache;
    fake_clear();
    OK(ch_db_ambient_begin(svc.db));
    exec("UPDATE items SET text = 'uncommitted' WHERE id = 101", NULL, 0);
    OK(ch_hydrate_items(&svc, V, &key, 1, 0, h, &f));
    assert_non_null(h[0].json);
    assert_non_null(strstr(h[0].json, "uncommitted")); /* the transaction sees its own rows */
    ch_hydrated_free(h, 1);
    assert_int_equal(fake.puts, 0);
    assert_int_equal(ch_db_ambient_end(svc.db, 0), CH_OK);

    OK(ch_hydrate_items(&svc, V, &key, 1, 0, h, &f));
    assert_non_null(h[0].json);
    assert_null(strstr(h[0].json, "uncommitted"));
    ch_hydrated_free(h, 1);
    svc.hcache = NULL;
    fake_clear();
}

/* A cached record whose body is not JSON does not fail ch_items_hydrate: that item is left
 * out (and forgotten: the next read loads it again), the others are answered. */
static void test_corrupt_cached_body(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    const ch_item_key_t keys[] = {{CH_TARGET_POST, P_PLAIN}, {CH_TARGET_POST, P_RICH}};
    ch_fault_t f = {0};
    svc.hcache = &fake_cache;
    fake_clear();
    char body[] = "\"id\":\"101\",\"text\":";
    ch_item_record_t rec = {.found = 1, .author_id = B, .created_at_ms = 1, .body = body,
                            .body_len = strlen(body), .parent = {CH_ITEM_NO_PARENT, 0}};
    size_t len;
    char *val = ch_hcodec_record_encode(&rec, &len);
    assert_non_null(val);
    ch_hkey_t k;
    fake_set(ch_hkey_item(k, CH_TARGET_POST, P_PLAIN), val, len);
    free(val);

    json_t *out[2];
    OK(ch_items_hydrate(&svc, V, keys, 2, out, NULL, &f));
    assert_null(out[0]);
    assert_non_null(out[1]);
    json_decref(out[1]);
    OK(ch_items_hydrate(&svc, V, keys, 2, out, NULL, &f));
    assert_non_null(out[0]);
    assert_string_equal(json_string_value(json_object_get(out[0], "id")), "101");
    json_decref(out[0]);
    json_decref(out[1]);
    svc.hcache = NULL;
    fake_clear();
}

static void test_users(void **state)
{
    SKIP_UNLESS_AVAILABLE(state);
    const uint64_t ids[] = {A, B, PRIV, BLOCKER, 999999, V, A};
    ch_hydrated_user_t u[7];
    ch_fault_t f = {0};
    for (int round = 0; round < 2; round++) { /* cold, then warm */
        svc.hcache = &fake_cache;
        OK(ch_hydrate_users(&svc, V, ids, 7, u, &f));
        json_t *a = json_loads(u[0].json, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(a, "id")), "2");
        assert_string_equal(json_string_value(json_object_get(a, "handle")), "u2");
        assert_string_equal(json_string_value(json_object_get(a, "avatar_url")), "https://img/a.png");
        json_decref(a);
        assert_int_equal(u[0].following, 0);
        assert_int_equal(u[1].followed_by, 1);
        assert_int_equal(u[1].muting, 1);
        assert_int_equal(u[2].is_private, 1);
        assert_int_equal(u[2].requested, 1);
        assert_null(u[3].json); /* blocks the viewer */
        assert_null(u[4].json); /* no such user */
        assert_non_null(u[5].json);
        assert_string_equal(u[6].json, u[0].json);
        assert_ptr_not_equal(u[6].json, u[0].json); /* each its own text (freed one by one) */
        ch_hydrated_users_free(u, 7);
    }
    /* anonymous: no relation, a blocker is shown */
    OK(ch_hydrate_users(&svc, 0, ids, 7, u, &f));
    assert_non_null(u[3].json);
    assert_int_equal(u[1].followed_by, 0);
    ch_hydrated_users_free(u, 7);
    svc.hcache = NULL;
    fake_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_old_rendering),
        cmocka_unit_test(test_warm_read_runs_no_statement),
        cmocka_unit_test(test_facts_only_builds_no_json_when_warm),
        cmocka_unit_test(test_garbage_is_a_miss),
        cmocka_unit_test(test_cache_down),
        cmocka_unit_test(test_placeholders_and_duplicates),
        cmocka_unit_test(test_users),
        cmocka_unit_test(test_type_and_id_match),
        cmocka_unit_test(test_ambient_transaction_puts_nothing),
        cmocka_unit_test(test_corrupt_cached_body),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, sqlite_setup, sqlite_teardown);
    failed += cmocka_run_group_tests_name("postgres", tests, pg_setup, pg_teardown);
    return failed;
}
