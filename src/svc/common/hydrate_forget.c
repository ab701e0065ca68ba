/* The hydration layer's invalidation hooks (svc/common/hydrate.h). A forget inside the
 * thread's ambient transaction is queued in a thread-local list and sent, all at once, by one
 * after-commit call; a list left by a transaction that rolled back (its after-commit call was
 * dropped) is sent with the next one: forgetting more than needed only costs a miss. */
#include <stdlib.h>
#include <string.h>

#include "svc/common/hydrate.h"
#include "core/alloc.h"
#include "core/log.h"
#include "svc/common/hydrate_keys.h"

/* Keys per forget call. A transaction's queue, and a hold's (which may begin before its
 * writer's commit), start in place with as many and grow on the heap
 * (freed once sent) up to CH__FORGET_QUEUE_MAX; past that, keys are sent before the commit
 * (which a reader's lease cannot outrun only when sent after it: hence the bound is large and
 * hitting it is logged as an error). */
#define CH__FORGET_PENDING_MAX 256
#define CH__FORGET_QUEUE_MAX 16384

typedef struct {
    uint64_t serial;  /* the transaction (ch_db_ambient_serial) the queue belongs to */
    int hooked;       /* the after-commit call of that transaction is registered */
    size_t n;
    ch_hkey_t *heap;  /* NULL: keys are in place */
    size_t heap_cap;
    ch_hkey_t keys[CH__FORGET_PENDING_MAX];
} ch__forget_queue_t;

static _Thread_local ch__forget_queue_t ch__q;

/* Forgets collected outside a transaction between ch_hydrate_forget_hold and
 * ch_hydrate_forget_flush (a writer that commits itself, holding from before its commit):
 * sent together by the flush, after the commit; grown on the heap as the queue is. */
static _Thread_local int ch__held_on;
static _Thread_local ch__forget_queue_t ch__held;

static void ch__send(ch_svc_t *svc, ch_hkey_t *keys, size_t n)
{
    const char *ptrs[CH__FORGET_PENDING_MAX];
    for (size_t at = 0; at < n; at += CH__FORGET_PENDING_MAX) {
        size_t m = n - at < CH__FORGET_PENDING_MAX ? n - at : CH__FORGET_PENDING_MAX;
        for (size_t i = 0; i < m; i++)
            ptrs[i] = keys[at + i];
        ch_hcache_forget_many(svc->hcache, ptrs, m);
    }
}

static ch_hkey_t *ch__q_keys(ch__forget_queue_t *q)
{
    return q->heap ? q->heap : q->keys;
}

/* Sends queue q and empties it. */
static void ch__q_send(ch_svc_t *svc, ch__forget_queue_t *q)
{
    if (q->n && svc && svc->hcache)
        ch__send(svc, ch__q_keys(q), q->n);
    free(q->heap);
    q->heap = NULL;
    q->heap_cap = 0;
    q->n = 0;
}

/* Room for n more keys in queue q: 0, or -1 past CH__FORGET_QUEUE_MAX. */
static int ch__q_reserve(ch__forget_queue_t *q, size_t n)
{
    size_t cap = q->heap ? q->heap_cap : CH__FORGET_PENDING_MAX;
    if (q->n + n <= cap)
        return 0;
    if (q->n + n > CH__FORGET_QUEUE_MAX)
        return -1;
    size_t want = cap * 2 > q->n + n ? cap * 2 : q->n + n;
    if (want > CH__FORGET_QUEUE_MAX)
        want = CH__FORGET_QUEUE_MAX;
    ch_hkey_t *heap = ch_realloc(q->heap, want * sizeof(ch_hkey_t));
    if (!q->heap)
        memcpy(heap, q->keys, q->n * sizeof(ch_hkey_t));
    q->heap = heap;
    q->heap_cap = want;
    return 0;
}

/* Adds keys[0..n) to queue q; past CH__FORGET_QUEUE_MAX what it holds is sent first (before
 * the commit: logged as an error, see above). */
static void ch__q_add(ch_svc_t *svc, ch__forget_queue_t *q, ch_hkey_t *keys, size_t n)
{
    if (ch__q_reserve(q, n) != 0) {
        ch_log_error("hydrate: more than %d cache keys forgotten in one transaction: sending some before the commit",
                     CH__FORGET_QUEUE_MAX);
        ch__q_send(svc, q);
    }
    memcpy(ch__q_keys(q)[q->n], keys, n * sizeof(ch_hkey_t));
    q->n += n;
}

static void ch__flush(void *ctx, uint64_t unused)
{
    (void)unused;
    ch_svc_t *svc = ctx;
    ch__q.hooked = 0;
    ch__q_send(svc, &ch__q);
}

/* Forgets keys[0..n) now or after the commit of the thread's ambient transaction. */
static void ch__forget(ch_svc_t *svc, ch_hkey_t *keys, size_t n)
{
    if (!svc || !svc->hcache || n == 0)
        return;
    if (!ch_db_ambient_active(svc->db)) {
        if (!ch__held_on)
            ch__send(svc, keys, n);
        else
            ch__q_add(svc, &ch__held, keys, n);
        return;
    }
    uint64_t serial = ch_db_ambient_serial();
    if (ch__q.serial != serial) { /* an earlier transaction's queue: rolled back, or never hooked */
        ch__q_send(svc, &ch__q);
        ch__q.hooked = 0;
        ch__q.serial = serial;
    }
    ch__q_add(svc, &ch__q, keys, n);
    if (!ch__q.hooked) {
        ch__q.hooked = 1;
        ch_db_after_commit(svc->db, ch__flush, svc, 0);
    }
}

void ch_hydrate_forget_hold(void)
{
    ch__held_on = 1;
}

void ch_hydrate_forget_flush(ch_svc_t *svc)
{
    ch__q_send(svc, &ch__held);
    ch__held_on = 0;
}

void ch_hydrate_forget_item(ch_svc_t *svc, ch_target_type_t type, uint64_t id)
{
    ch_hkey_t k[1];
    ch_hkey_item(k[0], (unsigned)type, id);
    ch__forget(svc, k, 1);
}

void ch_hydrate_forget_user(ch_svc_t *svc, uint64_t user)
{
    ch_hkey_t k[1];
    ch_hkey_user(k[0], user);
    ch__forget(svc, k, 1);
}

void ch_hydrate_forget_relation(ch_svc_t *svc, uint64_t a, uint64_t b)
{
    ch_hkey_t k[8];
    ch_hkey_rel(k[0], a, b);
    ch_hkey_rel(k[1], b, a);
    ch_hkey_followees(k[2], a);
    ch_hkey_followees(k[3], b);
    ch_hkey_edges(k[4], 0, a); /* the first pages of both users' follower lists */
    ch_hkey_edges(k[5], 0, b);
    ch_hkey_edges(k[6], 1, a); /* and following lists */
    ch_hkey_edges(k[7], 1, b);
    ch__forget(svc, k, 8);
}

void ch_hydrate_forget_viewer_item(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id)
{
    ch_hkey_t k[1];
    ch_hkey_viewer_item(k[0], viewer, (unsigned)type, id);
    ch__forget(svc, k, 1);
}

void ch_hydrate_forget_stories(ch_svc_t *svc, uint64_t author)
{
    ch_hkey_t k[1];
    ch_hkey_stories(k[0], author);
    ch__forget(svc, k, 1);
}

void ch_hydrate_forget_author_items(ch_svc_t *svc, uint64_t author)
{
    ch_hkey_t k[1];
    ch_hkey_author_items(k[0], author);
    ch__forget(svc, k, 1);
}

void ch_hydrate_forget_reactions(ch_svc_t *svc, ch_target_type_t type, uint64_t id)
{
    ch_hkey_t k[1];
    ch_hkey_reactions(k[0], (unsigned)type, id);
    ch__forget(svc, k, 1);
}

void ch_hydrate_forget_notifications(ch_svc_t *svc, uint64_t user)
{
    ch_hkey_t k[2];
    ch_hkey_notifications(k[0], user);
    ch_hkey_unread(k[1], user);
    ch__forget(svc, k, 2);
}

void ch_hydrate_forget_thread(ch_svc_t *svc, ch_target_type_t type, uint64_t id, uint64_t parent)
{
    ch_hkey_t k[3];
    ch_hkey_thread(k[0], (unsigned)type, id);
    ch_hkey_ranking(k[1], (unsigned)type, id);
    if (parent)
        ch_hkey_replies(k[2], parent);
    ch__forget(svc, k, parent ? 3 : 2);
}

void ch_hydrate_forget_tag(ch_svc_t *svc, const char *tag)
{
    ch_hkey_t k[1];
    ch_hkey_tag(k[0], tag);
    ch__forget(svc, k, 1);
}

void ch_hydrate_forget_profile(ch_svc_t *svc, uint64_t user)
{
    ch_hkey_t k[1];
    ch_hkey_profile(k[0], user);
    ch__forget(svc, k, 1);
}
