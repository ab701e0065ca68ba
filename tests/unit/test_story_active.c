/* The story tray's in-process set of authors who may have a live story
 * (svc/content/story_active.h) against a real SQLite database: the first filter loads the
 * live stories (not the expired or deleted ones), a note after it is kept, an entry leaves at
 * its expiry, a row written behind its back shows after a reload (CHORUS_HYDRATE_TTL_MS) and
 * not before, it answers nothing for cluster backends or another database, and past its bound
 * it answers nothing until a load fits. */
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
#include "core/log.h"
#include "svc/common/sql.h"
#include "svc/content/story_active.h"

#define OK(expr) assert_int_equal((expr), CH_OK)

enum { A = 2, B = 3, C = 4, D = 5, E = 6 };

static ch_config_t cfg;
static ch_svc_t svc;
static char dir[256];

static void exec(const char *sql, const ch_db_param_t *p, size_t n)
{
    OK(ch_sql_run(&svc, sql, p, n, NULL, NULL));
}

static void user(int64_t id)
{
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_INT(id)};
    exec("INSERT INTO users(id, handle, password_hash, display_name, is_private, created_at, updated_at)"
         " VALUES($1, 'u' || $2, 'x', 'n', 0, 0, 0)",
         p, CH_NPARAMS(p));
}

static void story(int64_t id, int64_t author, int64_t expires, int deleted)
{
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_INT(author), CH_DB_P_INT(expires),
                         deleted ? CH_DB_P_INT(1) : CH_DB_P_NULL};
    exec("INSERT INTO items(id, type, author_id, visibility, media_url, kind, created_at, expires_at, deleted_at)"
         " VALUES($1, 'story', $2, 'public', 'm.jpg', 'image', 0, $3, $4)",
         p, CH_NPARAMS(p));
}

static int setup(void **state)
{
    (void)state;
    char url[300], errbuf[256];
    ch_log_set_level(CH_LOG_ERROR);
    snprintf(dir, sizeof(dir), "%s/chorus-test-story-active-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK)
        return -1;
    cfg.hydrate_ttl_ms = 60000;
    svc.cfg = &cfg;
    svc.local_backends = 1;
    ch_story_active_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    ch_story_active_reset();
    ch_db_close(svc.db);
    svc.db = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The filter of authors[0..n) at now: the kept authors and their bounds. */
static size_t filter(uint64_t *authors, size_t n, int64_t now, uint64_t *latest)
{
    size_t kept = 99;
    assert_int_equal(ch_story_active_filter(&svc, authors, latest, n, now, &kept), 1);
    return kept;
}

static void test_loads_live_stories_then_keeps_notes(void **state)
{
    (void)state;
    int64_t now = ch_now_ms();
    for (int64_t u = A; u <= E; u++)
        user(u);
    story(10, A, now + 3600000, 0);
    story(11, A, now + 3600000, 1); /* deleted: not A's bound */
    story(12, B, now - 1, 0);       /* expired */
    story(13, C, now + 3600000, 1); /* deleted */
    story(14, D, now + 3600000, 0);
    story(9, D, now + 3600000, 0);
    uint64_t authors[] = {E, D, C, B, A}, latest[5] = {0};
    assert_int_equal(filter(authors, 5, now, latest), 2);
    assert_int_equal(authors[0], D);
    assert_int_equal(latest[0], 14);
    assert_int_equal(authors[1], A);
    assert_int_equal(latest[1], 10);
    /* A story created now (noted after its commit) is in at once, with its id as the bound. */
    story(20, E, now + 3600000, 0);
    ch_story_active_note(&svc, E, 20, now + 3600000);
    ch_story_active_note(&svc, A, 21, now + 1000); /* a newer id, an earlier expiry */
    uint64_t again[] = {E, D, C, B, A};
    assert_int_equal(filter(again, 5, now, latest), 3);
    assert_int_equal(again[0], E);
    assert_int_equal(latest[0], 20);
    assert_int_equal(again[2], A);
    assert_int_equal(latest[2], 21);
    /* At a time past every expiry nobody is kept. */
    uint64_t later[] = {E, D, A};
    assert_int_equal(filter(later, 3, now + 3600001, latest), 0);
}

static void test_an_expired_entry_leaves_and_a_row_behind_its_back_needs_a_reload(void **state)
{
    (void)state;
    int64_t now = ch_now_ms();
    user(A), user(B);
    ch_story_active_note(&svc, A, 30, now + 500); /* noted before the first load: merged */
    uint64_t authors[] = {A, B}, latest[2];
    assert_int_equal(filter(authors, 2, now, latest), 1); /* the load finds no row, the note stays */
    assert_int_equal(authors[0], A);
    uint64_t past[] = {A, B};
    assert_int_equal(filter(past, 2, now + 500, latest), 0); /* expired */
    /* Written by another process: no note. Seen only once a reload is due (the TTL). */
    story(31, B, now + 3600000, 0);
    uint64_t before[] = {A, B};
    assert_int_equal(filter(before, 2, now + 1000, latest), 0);
    uint64_t after[] = {A, B};
    assert_int_equal(filter(after, 2, now + 60000 + 5000, latest), 1);
    assert_int_equal(after[0], B);
    assert_int_equal(latest[0], 31);
}

static void test_answers_nothing_for_cluster_backends_or_another_database(void **state)
{
    (void)state;
    uint64_t authors[] = {A}, latest[1] = {7};
    size_t kept = 99;
    svc.local_backends = 0;
    assert_int_equal(ch_story_active_filter(&svc, authors, latest, 1, ch_now_ms(), &kept), 0);
    svc.local_backends = 1;
    assert_int_equal(ch_story_active_filter(&svc, authors, latest, 1, ch_now_ms(), &kept), 1); /* binds svc.db */
    ch_svc_t other = svc;
    other.db = (ch_db_t *)(void *)&other; /* another database: never read through */
    kept = 99;
    assert_int_equal(ch_story_active_filter(&other, authors, latest, 1, ch_now_ms(), &kept), 0);
    assert_int_equal(kept, 99);
    ch_story_active_note(&other, A, 40, ch_now_ms() + 3600000); /* ignored */
    assert_int_equal(ch_story_active_filter(&svc, authors, latest, 1, ch_now_ms(), &kept), 1);
    assert_int_equal(kept, 0);
}

/* Past CH_STORY_ACTIVE_AUTHORS_MAX live authors a note is refused and the table stops
 * answering (the tray then reads every followee's index entry, so the refused author's story
 * is not missed); it answers again once a load fits. */
static void test_past_its_bound_it_stops_answering_until_a_load_fits(void **state)
{
    (void)state;
    int64_t now = ch_now_ms(), until = now + 3600000;
    uint64_t first = 1000, authors[1], latest[2];
    authors[0] = A;
    assert_int_equal(filter(authors, 1, now, latest), 0); /* the first load: no rows */
    for (uint64_t u = first; u < first + CH_STORY_ACTIVE_AUTHORS_MAX; u++)
        ch_story_active_note(&svc, u, u, until);
    uint64_t last[] = {first + CH_STORY_ACTIVE_AUTHORS_MAX - 1, A};
    assert_int_equal(filter(last, 2, now, latest), 1); /* at the bound: still answers */
    assert_int_equal(last[0], first + CH_STORY_ACTIVE_AUTHORS_MAX - 1);
    assert_int_equal(latest[0], first + CH_STORY_ACTIVE_AUTHORS_MAX - 1);
    ch_story_active_note(&svc, first + CH_STORY_ACTIVE_AUTHORS_MAX, 7, until); /* one more: refused */
    uint64_t refused[] = {first + CH_STORY_ACTIVE_AUTHORS_MAX, first};
    size_t kept = 99;
    assert_int_equal(ch_story_active_filter(&svc, refused, latest, 2, now, &kept), 0);
    assert_int_equal(kept, 99);                                    /* nothing written */
    assert_int_equal(refused[0], first + CH_STORY_ACTIVE_AUTHORS_MAX); /* the list untouched */
    /* Once the notes have expired, the next load (due after the TTL) fits: it answers again. */
    uint64_t after[] = {first, A};
    assert_int_equal(filter(after, 2, until + 60000 + 5000, latest), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_loads_live_stories_then_keeps_notes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_expired_entry_leaves_and_a_row_behind_its_back_needs_a_reload, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_answers_nothing_for_cluster_backends_or_another_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_past_its_bound_it_stops_answering_until_a_load_fits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
