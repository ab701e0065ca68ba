/* The authors who may have a live story now: see story_active.h. One open-addressing table
 * (linear probing, author 0 = empty slot: no user has id 0) under a read-write lock: a tray
 * read takes the read lock once for all its probes, a note the write lock for one insert. */
#include "svc/content/story_active.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "svc/common/sql.h"

typedef struct {
    uint64_t author; /* 0: empty */
    int64_t until;   /* the latest expiry known of the author's stories (unix ms) */
    uint64_t latest; /* the newest story id known of the author: no live story is newer */
} ch__active_t;

static struct {
    pthread_rwlock_t lock;      /* the table and the flags below */
    pthread_mutex_t load_lock;  /* one load at a time (tried, never waited for) */
    const ch_db_t *db;          /* the database the table describes (the first used) */
    ch__active_t *slots;        /* cap slots, NULL before the first insert */
    size_t cap, n;              /* cap a power of two; n used, at most half of cap */
    int loaded;                 /* the last load succeeded and no insert was refused since */
    int refused;                /* an insert was refused (bound) since the current load began */
    int64_t next_load_at;       /* when to load again (unix ms; 0: at the first use) */
    uint64_t loads, loads_failed;
} ch__set = {.lock = PTHREAD_RWLOCK_INITIALIZER, .load_lock = PTHREAD_MUTEX_INITIALIZER};

/* Fibonacci hashing: ids are time-ordered, their high bits alike; the multiply spreads them. */
static size_t ch__slot(uint64_t author, size_t cap)
{
    return (size_t)((author * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

/* The slot holding author, or the empty slot where it would go. */
static ch__active_t *ch__find(ch__active_t *slots, size_t cap, uint64_t author)
{
    size_t i = ch__slot(author, cap);
    while (slots[i].author && slots[i].author != author)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

/* Rebuilds the table with the entries live at now and room for one more (at most a third
 * of the slots used): 0 when even that exceeds CH_STORY_ACTIVE_AUTHORS_MAX. Write lock held. */
static int ch__rebuild(int64_t now)
{
    size_t live = 0;
    for (size_t i = 0; i < ch__set.cap; i++)
        live += ch__set.slots[i].author && ch__set.slots[i].until > now;
    if (live + 1 > CH_STORY_ACTIVE_AUTHORS_MAX)
        return 0;
    size_t cap = 1024;
    while (cap < 3 * (live + 1))
        cap *= 2;
    ch__active_t *slots = ch_calloc(cap, sizeof(*slots));
    for (size_t i = 0; i < ch__set.cap; i++)
        if (ch__set.slots[i].author && ch__set.slots[i].until > now)
            *ch__find(slots, cap, ch__set.slots[i].author) = ch__set.slots[i];
    free(ch__set.slots);
    ch__set.slots = slots;
    ch__set.cap = cap;
    ch__set.n = live;
    return 1;
}

/* Records that author has a story (id latest or older) live until `until`; a refused insert
 * (bound) marks the table incomplete until a load fits. Write lock held. */
static void ch__put(uint64_t author, uint64_t latest, int64_t until, int64_t now)
{
    if (until <= now || author == 0)
        return;
    if (ch__set.cap) {
        ch__active_t *e = ch__find(ch__set.slots, ch__set.cap, author);
        if (e->author) {
            if (until > e->until)
                e->until = until;
            if (latest > e->latest)
                e->latest = latest;
            return;
        }
    }
    if (2 * (ch__set.n + 1) > ch__set.cap && !ch__rebuild(now)) {
        ch__set.refused = 1;
        ch__set.loaded = 0;
        return;
    }
    *ch__find(ch__set.slots, ch__set.cap, author) = (ch__active_t){author, until, latest};
    ch__set.n++;
}

static atomic_int ch__renderer_added;

/* /metrics: the table's size and whether it answers. */
static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    pthread_rwlock_rdlock(&ch__set.lock);
    size_t n = ch__set.n, cap = ch__set.cap;
    int loaded = ch__set.loaded;
    unsigned long long loads = ch__set.loads, failed = ch__set.loads_failed;
    pthread_rwlock_unlock(&ch__set.lock);
    ch_buf_printf(out,
                  "# HELP chorus_story_active_authors Authors the story tray's in-process set holds (embedded "
                  "mode; expired ones until the table grows), of at most %d.\n"
                  "# TYPE chorus_story_active_authors gauge\nchorus_story_active_authors %zu\n"
                  "# HELP chorus_story_active_slots Slots of the set's table (24 bytes each).\n"
                  "# TYPE chorus_story_active_slots gauge\nchorus_story_active_slots %zu\n"
                  "# HELP chorus_story_active_answering 1 while the set answers the tray, 0 while every followee's "
                  "index entry is read (not loaded yet, over its bound, or its load failed).\n"
                  "# TYPE chorus_story_active_answering gauge\nchorus_story_active_answering %d\n"
                  "# HELP chorus_story_active_loads_total Loads of the set from the database, by result.\n"
                  "# TYPE chorus_story_active_loads_total counter\n"
                  "chorus_story_active_loads_total{result=\"ok\"} %llu\n"
                  "chorus_story_active_loads_total{result=\"failed\"} %llu\n",
                  CH_STORY_ACTIVE_AUTHORS_MAX, n, cap, loaded, loads - failed, failed);
}

/* 1 when the table may describe svc's database (binding it to the first one seen). */
static int ch__ours(ch_svc_t *svc)
{
    if (!svc->local_backends || !svc->db)
        return 0;
    if (!atomic_load_explicit(&ch__renderer_added, memory_order_relaxed) && !atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL); /* once, at the first use */
    pthread_rwlock_rdlock(&ch__set.lock);
    const ch_db_t *db = ch__set.db;
    pthread_rwlock_unlock(&ch__set.lock);
    if (db)
        return db == svc->db;
    pthread_rwlock_wrlock(&ch__set.lock);
    if (!ch__set.db)
        ch__set.db = svc->db;
    int ours = ch__set.db == svc->db;
    pthread_rwlock_unlock(&ch__set.lock);
    return ours;
}

void ch_story_active_note(ch_svc_t *svc, uint64_t author, uint64_t story, int64_t expires_at)
{
    if (!ch__ours(svc))
        return;
    /* Noted whether or not the table is loaded: a load running now may have read before this
     * story's commit, and merges into what the notes left. */
    pthread_rwlock_wrlock(&ch__set.lock);
    ch__put(author, story, expires_at, ch_now_ms());
    pthread_rwlock_unlock(&ch__set.lock);
}

/* Every author with a live story, its latest expiry and newest id: one pass over the partial
 * index items_live_stories; one row more than the bound says it is exceeded. */
static const char ch__load_sql[] = "SELECT i.author_id, MAX(i.expires_at), MAX(i.id) FROM items i"
                                   " WHERE i.type = 'story' AND i.deleted_at IS NULL AND i.expires_at > $1"
                                   " GROUP BY i.author_id LIMIT $2";

/* Loads the database's live stories into the table (merged with the notes). The caller holds
 * load_lock. */
static void ch__load(ch_svc_t *svc, int64_t now)
{
    pthread_rwlock_wrlock(&ch__set.lock);
    ch__set.refused = 0; /* a refusal from now on may concern a story this load does not see */
    pthread_rwlock_unlock(&ch__set.lock);
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(now), CH_DB_P_INT(CH_STORY_ACTIVE_AUTHORS_MAX + 1)};
    ch_err_t err = ch_sql_run(svc, ch__load_sql, p, CH_NPARAMS(p), &rows, NULL);
    /* On an event loop a long statement is cut at the loop's budget and the whole call runs
     * again on a worker: that run loads (no delay); a real failure is tried again in a second. */
    int moved = err != CH_OK && ch_db_loop_busy_peek();
    size_t nr = err == CH_OK ? ch_db_rows_count(rows) : 0;
    pthread_rwlock_wrlock(&ch__set.lock);
    if (err == CH_OK) {
        for (size_t r = 0; r < nr && nr <= CH_STORY_ACTIVE_AUTHORS_MAX; r++)
            ch__put((uint64_t)ch_db_rows_int(rows, r, 0), (uint64_t)ch_db_rows_int(rows, r, 2),
                    ch_db_rows_int(rows, r, 1), now);
        ch__set.loaded = nr <= CH_STORY_ACTIVE_AUTHORS_MAX && !ch__set.refused;
        /* again after the hydration cache's TTL: what another process wrote joins by then */
        int64_t ttl = svc->cfg && svc->cfg->hydrate_ttl_ms > 0 ? svc->cfg->hydrate_ttl_ms : 600000;
        ch__set.next_load_at = ch_now_ms() + ttl;
        ch__set.loads++;
    } else if (!moved) { /* the table stays what it was (loaded or not) */
        ch__set.next_load_at = ch_now_ms() + 1000;
        ch__set.loads++;
        ch__set.loads_failed++;
    }
    pthread_rwlock_unlock(&ch__set.lock);
    ch_db_rows_free(rows);
    if (err == CH_OK && nr > CH_STORY_ACTIVE_AUTHORS_MAX)
        ch_log_warn("story tray: more than %d authors have a live story: every followee's index entry is read",
                    CH_STORY_ACTIVE_AUTHORS_MAX);
}

int ch_story_active_filter(ch_svc_t *svc, uint64_t *authors, uint64_t *latest, size_t n, int64_t now, size_t *kept)
{
    if (!ch__ours(svc))
        return 0;
    pthread_rwlock_rdlock(&ch__set.lock);
    int64_t next = ch__set.next_load_at;
    pthread_rwlock_unlock(&ch__set.lock);
    /* The first use, or an old load (another process may write the same file): load again.
     * A reader that finds another thread loading serves the table it has, if loaded. */
    if (now >= next) {
        if (pthread_mutex_trylock(&ch__set.load_lock) == 0) {
            ch__load(svc, now);
            pthread_mutex_unlock(&ch__set.load_lock);
        }
    }
    pthread_rwlock_rdlock(&ch__set.lock);
    if (!ch__set.loaded) {
        pthread_rwlock_unlock(&ch__set.lock);
        return 0;
    }
    size_t m = 0;
    for (size_t i = 0; i < n && ch__set.cap; i++) {
        const ch__active_t *e = ch__find(ch__set.slots, ch__set.cap, authors[i]);
        if (e->author && e->until > now) {
            latest[m] = e->latest;
            authors[m++] = authors[i];
        }
    }
    pthread_rwlock_unlock(&ch__set.lock);
    *kept = m;
    return 1;
}

void ch_story_active_reset(void)
{
    pthread_mutex_lock(&ch__set.load_lock);
    pthread_rwlock_wrlock(&ch__set.lock);
    free(ch__set.slots);
    ch__set.slots = NULL;
    ch__set.cap = ch__set.n = 0;
    ch__set.db = NULL;
    ch__set.loaded = ch__set.refused = 0;
    ch__set.next_load_at = 0;
    pthread_rwlock_unlock(&ch__set.lock);
    pthread_mutex_unlock(&ch__set.load_lock);
}
