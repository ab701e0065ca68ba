/* Home timelines: the Redis driver.
 *
 * Keys, per user u (the hash tag keeps both in one slot):
 *   tl:{u}   sorted set of entries; every score is 0 and the member is 17 bytes: the item id
 *            big-endian (8), the author id big-endian (8), the type (1). With equal scores
 *            Redis orders members bytewise, and big-endian ids order bytewise as numbers, so
 *            the set is in item-id order, exactly: no id goes through a double (which holds
 *            integers exactly only up to 2^53, and ids are 63-bit). Pages are
 *            ZREVRANGEBYLEX from "(<before_id>", an item is removed by the lex range of its
 *            8-byte prefix, ranks trim the oldest. One more member, the empty string (rank
 *            0, below every entry), is there for as long as the timeline exists: an empty
 *            timeline still has a key, and a push checks existence and size with one ZCARD.
 *   tlm:{u}  hash {r: last_read_ms, q: read_rate}.
 * A timeline exists when both keys do (Redis evicting one under maxmemory loses it whole:
 * rebuilt at the next read). Both carry the idle TTL (CH_TIMELINE_IDLE_TTL_MS), set again by
 * replace and touch: a user who stops reading costs nothing after a week.
 *
 * Trimming: a push lets a sorted set grow up to CH__TLR_SLACK entries past the bound and
 * then cuts it back to the bound at once (one ZREMRANGEBYRANK per CH__TLR_SLACK pushes
 * instead of one per push: a third of the Redis CPU of a push into a full timeline). The
 * entries past the bound are hidden: reads stop at the CH_TIMELINE_MAX_ENTRIES-th newest,
 * removals cut them first (so that none comes back), and a push that lands among them
 * counts as not taken. From outside the store keeps exactly the newest
 * CH_TIMELINE_MAX_ENTRIES, as the in-process one.
 *
 * push_many is one round trip: one EVALSHA for the whole batch, looping over its users (one
 * script per user costs Redis twice the CPU). Such a script spans many slots: Redis Cluster
 * would need a batch per slot. replace is MULTI/EXEC (readers see the old timeline or the
 * new one), touch and remove_author are scripts. Scripts are loaded with SCRIPT LOAD on
 * first use and again after NOSCRIPT (a restarted or flushed server): kv_redis.h's pipeline
 * helper does that, and runs every call.
 *
 * Connections come from a pool of the kv Redis driver (store/kv_redis.h: lazy connect, 1 s
 * timeouts, dead connections retired) and a circuit breaker (store/kv_breaker.h): after a
 * failure, calls answer CH_EUNAVAILABLE at once until its probe finds Redis back. */
#include "store/timeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/u64_bytes.h"
#include "store/kv_breaker.h"
#include "store/kv_redis.h"

#define CH__TLR_MEMBER_LEN 17
#define CH__TLR_KEY_MAX 48 /* "tlm:{" + 20 digits + "}" */
/* Entries a sorted set may hold past the bound before a push cuts it back (hidden). */
#define CH__TLR_SLACK (CH_TIMELINE_MAX_ENTRIES / 8)

enum { CH__TLR_PUSH, CH__TLR_TOUCH, CH__TLR_RM_AUTHOR, CH__TLR_NSCRIPTS };

static const char *const ch__tlr_scripts[CH__TLR_NSCRIPTS] = {
    /* KEYS: tl of each user of a batch; ARGV: member, bound, slack. Returns how many
     * timelines took the entry (an entry that lands among the hidden ones does not count).
     * c counts the empty member: ranks 1..c-1-bound are hidden. The newest (the common
     * case) is found at the tail, without ZRANK's walk. */
    [CH__TLR_PUSH] = "local m, max, slack, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), 0\n"
                     "for i = 1, #KEYS do\n"
                     "  local tl = KEYS[i]\n"
                     "  local c = redis.call('ZCARD', tl)\n"
                     "  if c > 0 and redis.call('ZADD', tl, 0, m) == 1 then\n"
                     "    c = c + 1\n"
                     "    local hidden, took = c - 1 - max, 1\n"
                     "    if hidden > 0 then\n"
                     "      if redis.call('ZRANGE', tl, -1, -1)[1] ~= m and redis.call('ZRANK', tl, m) <= hidden then\n"
                     "        took = 0\n"
                     "      end\n"
                     "      if hidden > slack then redis.call('ZREMRANGEBYRANK', tl, 1, hidden) end\n"
                     "    end\n"
                     "    n = n + took\n"
                     "  end\n"
                     "end\n"
                     "return n\n",
    /* KEYS: tl, tlm; ARGV: last_read_ms, read_rate, ttl ms. No-op unless both exist. */
    [CH__TLR_TOUCH] = "if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then\n"
                      "  return 0\n"
                      "end\n"
                      "redis.call('HSET', KEYS[2], 'r', ARGV[1], 'q', ARGV[2])\n"
                      "redis.call('PEXPIRE', KEYS[2], ARGV[3])\n"
                      "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
                      "return 1\n",
    /* KEYS: tl; ARGV: the author id (8 bytes big-endian), the bound. The hidden entries go
     * first (none may surface). Returns how many went. */
    [CH__TLR_RM_AUTHOR] = "redis.call('ZREMRANGEBYRANK', KEYS[1], 1, -tonumber(ARGV[2]) - 1)\n"
                          "local gone = {}\n"
                          "for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 1, -1)) do\n"
                          "  if string.sub(m, 9, 16) == ARGV[1] then gone[#gone + 1] = m end\n"
                          "end\n"
                          "for i = 1, #gone, 500 do\n"
                          "  redis.call('ZREM', KEYS[1], unpack(gone, i, math.min(i + 499, #gone)))\n"
                          "end\n"
                          "return #gone\n",
};

typedef struct {
    void *pool; /* a kv Redis driver impl: its connection pool */
    ch_kv_breaker_t *brk;
    ch__kv_redis_scripts_t scripts;
    atomic_ullong pushes, unavailable;
} ch__tlr_t;

/* ---- encoding ------------------------------------------------------------------------ */

static void ch__tlr_member(const ch_timeline_entry_t *e, unsigned char *out)
{
    ch_be64_put(out, e->item_id);
    ch_be64_put(out + 8, e->author_id);
    out[16] = e->type;
}

static size_t ch__tlr_key(char *buf, const char *prefix, uint64_t user)
{
    return (size_t)snprintf(buf, CH__TLR_KEY_MAX, "%s:{%llu}", prefix, (unsigned long long)user);
}

/* ---- running a pipeline -------------------------------------------------------------- */

/* One pipelined round trip (kv_redis.h: SCRIPT LOAD when needed, once more after NOSCRIPT),
 * through the breaker: refused at once while Redis is down; an unavailable answer trips it. */
static ch_err_t ch__tlr_run(ch__tlr_t *r, const char *op, int scripts, ch__kv_redis_build_fn build,
                            ch__kv_redis_take_fn take, void *arg)
{
    ch_err_t err = ch__kv_redis_pipeline(r->pool, r->brk, scripts ? &r->scripts : NULL, op, build, take, arg);
    if (err == CH_EUNAVAILABLE)
        atomic_fetch_add_explicit(&r->unavailable, 1, memory_order_relaxed);
    return err;
}

static ch_err_t ch__tlr_parse_meta(const redisReply *rep, ch_timeline_meta_t *out)
{
    memset(out, 0, sizeof(*out));
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
        return CH_EINTERNAL;
    const redisReply *r = rep->element[0], *q = rep->element[1];
    if (r->type == REDIS_REPLY_NIL)
        return CH_OK;
    if (r->type != REDIS_REPLY_STRING || (q->type != REDIS_REPLY_STRING && q->type != REDIS_REPLY_NIL))
        return CH_EINTERNAL;
    out->exists = 1;
    out->last_read_ms = strtoll(r->str, NULL, 10);
    out->read_rate = q->type == REDIS_REPLY_STRING ? strtod(q->str, NULL) : 0;
    return CH_OK;
}

/* ---- meta_many ----------------------------------------------------------------------- */

typedef struct {
    const uint64_t *users;
    size_t n;
    ch_timeline_meta_t *out;
} ch__tlr_meta_arg_t;

static int ch__tlr_meta_build(redisContext *c, void *arg, char sha[][41])
{
    ch__tlr_meta_arg_t *a = arg;
    char k[CH__TLR_KEY_MAX];
    for (size_t i = 0; i < a->n; i++) {
        size_t kl = ch__tlr_key(k, "tlm", a->users[i]);
        if (redisAppendCommand(c, "HMGET %b r q", k, kl) != REDIS_OK)
            return -1;
        kl = ch__tlr_key(k, "tl", a->users[i]);
        if (redisAppendCommand(c, "EXISTS %b", k, kl) != REDIS_OK)
            return -1;
    }
    return (int)(2 * a->n);
}

static ch_err_t ch__tlr_meta_take(redisReply **reps, int n, void *arg)
{
    ch__tlr_meta_arg_t *a = arg;
    for (int i = 0; i < n / 2; i++) {
        if (ch__tlr_parse_meta(reps[2 * i], &a->out[i]) != CH_OK || reps[2 * i + 1]->type != REDIS_REPLY_INTEGER)
            return CH_EINTERNAL;
        if (reps[2 * i + 1]->integer == 0) /* the entries are gone (evicted): no timeline */
            a->out[i] = (ch_timeline_meta_t){0};
    }
    return CH_OK;
}

static ch_err_t ch__tlr_meta_many(void *impl, const uint64_t *users, size_t n, ch_timeline_meta_t *out)
{
    ch__tlr_meta_arg_t a = {users, n, out};
    return ch__tlr_run(impl, "timeline HMGET", 0, ch__tlr_meta_build, ch__tlr_meta_take, &a);
}

/* ---- push_many ----------------------------------------------------------------------- */

typedef struct {
    const uint64_t *users;
    size_t n;
    unsigned char member[CH__TLR_MEMBER_LEN];
    size_t pushed;
} ch__tlr_push_arg_t;

static int ch__tlr_push_build(redisContext *c, void *arg, char sha[][41])
{
    ch__tlr_push_arg_t *a = arg;
    /* EVALSHA sha numkeys tl:{u} ... member bound slack */
    size_t argc = 6 + a->n;
    const char **argv = ch_malloc(argc * sizeof(*argv));
    size_t *lens = ch_malloc(argc * sizeof(*lens));
    char *keys = ch_malloc(a->n * CH__TLR_KEY_MAX), numkeys[16], max[16], slack[16];
    snprintf(numkeys, sizeof(numkeys), "%zu", a->n);
    snprintf(max, sizeof(max), "%d", CH_TIMELINE_MAX_ENTRIES);
    snprintf(slack, sizeof(slack), "%d", CH__TLR_SLACK);
    argv[0] = "EVALSHA";
    argv[1] = sha[CH__TLR_PUSH];
    argv[2] = numkeys;
    for (size_t i = 0; i < a->n; i++) {
        argv[3 + i] = keys + i * CH__TLR_KEY_MAX;
        lens[3 + i] = ch__tlr_key(keys + i * CH__TLR_KEY_MAX, "tl", a->users[i]);
    }
    argv[argc - 3] = (const char *)a->member;
    lens[argc - 3] = CH__TLR_MEMBER_LEN;
    argv[argc - 2] = max;
    argv[argc - 1] = slack;
    for (size_t i = 0; i < 3; i++)
        lens[i] = strlen(argv[i]);
    lens[argc - 2] = strlen(max);
    lens[argc - 1] = strlen(slack);
    int ok = redisAppendCommandArgv(c, (int)argc, argv, lens) == REDIS_OK;
    free(argv);
    free(lens);
    free(keys);
    return ok ? 1 : -1;
}

static ch_err_t ch__tlr_push_take(redisReply **reps, int n, void *arg)
{
    ch__tlr_push_arg_t *a = arg;
    if (n != 1 || reps[0]->type != REDIS_REPLY_INTEGER || reps[0]->integer < 0 || (size_t)reps[0]->integer > a->n)
        return CH_EINTERNAL;
    a->pushed = (size_t)reps[0]->integer;
    return CH_OK;
}

static ch_err_t ch__tlr_push_many(void *impl, const uint64_t *users, size_t n, const ch_timeline_entry_t *e,
                                  size_t *pushed_out)
{
    ch__tlr_t *r = impl;
    ch__tlr_push_arg_t a = {.users = users, .n = n};
    ch__tlr_member(e, a.member);
    ch_err_t err = ch__tlr_run(r, "timeline push", 1, ch__tlr_push_build, ch__tlr_push_take, &a);
    if (err == CH_OK) {
        atomic_fetch_add_explicit(&r->pushes, a.pushed, memory_order_relaxed);
        if (pushed_out)
            *pushed_out = a.pushed;
    }
    return err;
}

/* ---- read ---------------------------------------------------------------------------- */

typedef struct {
    uint64_t user, before_id;
    size_t max, n;
    ch_timeline_entry_t *out;
    ch_timeline_meta_t meta;
} ch__tlr_read_arg_t;

static int ch__tlr_read_build(redisContext *c, void *arg, char sha[][41])
{
    ch__tlr_read_arg_t *a = arg;
    char k1[CH__TLR_KEY_MAX], k2[CH__TLR_KEY_MAX];
    size_t l1 = ch__tlr_key(k1, "tl", a->user), l2 = ch__tlr_key(k2, "tlm", a->user);
    unsigned char from[9] = {'+'};
    size_t flen = 1;
    if (a->before_id) {
        from[0] = '(';
        ch_be64_put(from + 1, a->before_id);
        flen = 9;
    }
    /* the meta, whether the entries exist, the page (above the empty member), and the
     * oldest visible entry (the bound-th newest; the empty member or nothing when fewer) */
    if (redisAppendCommand(c, "HMGET %b r q", k2, l2) != REDIS_OK ||
        redisAppendCommand(c, "EXISTS %b", k1, l1) != REDIS_OK ||
        redisAppendCommand(c, "ZREVRANGEBYLEX %b %b ( LIMIT 0 %lld", k1, l1, from, flen, (long long)a->max) !=
            REDIS_OK ||
        redisAppendCommand(c, "ZRANGE %b -%d -%d", k1, l1, CH_TIMELINE_MAX_ENTRIES, CH_TIMELINE_MAX_ENTRIES) !=
            REDIS_OK)
        return -1;
    return 4;
}

static ch_err_t ch__tlr_read_take(redisReply **reps, int n, void *arg)
{
    ch__tlr_read_arg_t *a = arg;
    if (ch__tlr_parse_meta(reps[0], &a->meta) != CH_OK || reps[1]->type != REDIS_REPLY_INTEGER ||
        reps[2]->type != REDIS_REPLY_ARRAY || reps[3]->type != REDIS_REPLY_ARRAY)
        return CH_EINTERNAL;
    a->n = 0;
    if (!a->meta.exists || reps[1]->integer == 0) { /* one key without the other: evicted, expiring */
        a->meta = (ch_timeline_meta_t){0};
        return CH_OK;
    }
    const redisReply *oldest = reps[3]->elements == 1 && reps[3]->element[0]->type == REDIS_REPLY_STRING
                                   ? reps[3]->element[0]
                                   : NULL;
    for (size_t i = 0; i < reps[2]->elements && a->n < a->max; i++) {
        const redisReply *m = reps[2]->element[i];
        if (m->type != REDIS_REPLY_STRING || m->len != CH__TLR_MEMBER_LEN)
            continue; /* not ours: skipped */
        if (oldest && oldest->len == CH__TLR_MEMBER_LEN && memcmp(m->str, oldest->str, CH__TLR_MEMBER_LEN) < 0)
            break; /* hidden: past the bound */
        const unsigned char *p = (const unsigned char *)m->str;
        a->out[a->n++] = (ch_timeline_entry_t){.item_id = ch_be64_get(p), .author_id = ch_be64_get(p + 8),
                                               .type = p[16]};
    }
    return CH_OK;
}

static ch_err_t ch__tlr_read(void *impl, uint64_t user, uint64_t before_id, size_t max, ch_timeline_entry_t *out,
                             size_t *n_out, ch_timeline_meta_t *meta_out)
{
    ch__tlr_read_arg_t a = {.user = user, .before_id = before_id, .max = max, .out = out};
    ch_err_t err = ch__tlr_run(impl, "timeline read", 0, ch__tlr_read_build, ch__tlr_read_take, &a);
    if (err == CH_OK) {
        *n_out = a.n;
        if (meta_out)
            *meta_out = a.meta;
    }
    return err;
}

/* ---- replace ------------------------------------------------------------------------- */

typedef struct {
    uint64_t user;
    const ch_timeline_entry_t *sorted; /* ascending, deduplicated, at most the bound */
    size_t n;
    const ch_timeline_meta_t *meta;
} ch__tlr_replace_arg_t;

static int ch__tlr_replace_build(redisContext *c, void *arg, char sha[][41])
{
    ch__tlr_replace_arg_t *a = arg;
    char k1[CH__TLR_KEY_MAX], k2[CH__TLR_KEY_MAX], ms[24], rate[32];
    size_t l1 = ch__tlr_key(k1, "tl", a->user), l2 = ch__tlr_key(k2, "tlm", a->user);
    snprintf(ms, sizeof(ms), "%lld", (long long)(a->meta ? a->meta->last_read_ms : 0));
    snprintf(rate, sizeof(rate), "%.17g", a->meta ? a->meta->read_rate : 0.0);
    int sent = 0, ok = 1;
    ok &= redisAppendCommand(c, "MULTI") == REDIS_OK;
    ok &= redisAppendCommand(c, "DEL %b %b", k1, l1, k2, l2) == REDIS_OK;
    sent += 2;
    {
        size_t argc = 4 + 2 * a->n; /* ZADD key 0 "" (the timeline's own member) 0 entry ... */
        const char **argv = ch_malloc(argc * sizeof(*argv));
        size_t *lens = ch_malloc(argc * sizeof(*lens));
        unsigned char *members = ch_malloc(a->n * CH__TLR_MEMBER_LEN + 1);
        argv[0] = "ZADD";
        lens[0] = 4;
        argv[1] = k1;
        lens[1] = l1;
        argv[2] = "0";
        lens[2] = 1;
        argv[3] = "";
        lens[3] = 0;
        for (size_t i = 0; i < a->n; i++) {
            ch__tlr_member(&a->sorted[i], members + i * CH__TLR_MEMBER_LEN);
            argv[4 + 2 * i] = "0";
            lens[4 + 2 * i] = 1;
            argv[5 + 2 * i] = (const char *)members + i * CH__TLR_MEMBER_LEN;
            lens[5 + 2 * i] = CH__TLR_MEMBER_LEN;
        }
        ok &= redisAppendCommandArgv(c, (int)argc, argv, lens) == REDIS_OK;
        sent++;
        free(argv);
        free(lens);
        free(members);
        ok &= redisAppendCommand(c, "PEXPIRE %b %lld", k1, l1, (long long)CH_TIMELINE_IDLE_TTL_MS) == REDIS_OK;
        sent++;
    }
    ok &= redisAppendCommand(c, "HSET %b r %s q %s", k2, l2, ms, rate) == REDIS_OK;
    ok &= redisAppendCommand(c, "PEXPIRE %b %lld", k2, l2, (long long)CH_TIMELINE_IDLE_TTL_MS) == REDIS_OK;
    ok &= redisAppendCommand(c, "EXEC") == REDIS_OK;
    sent += 3;
    return ok ? sent : -1;
}

static ch_err_t ch__tlr_exec_take(redisReply **reps, int n, void *arg)
{
    const redisReply *exec = reps[n - 1];
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != (size_t)(n - 2))
        return CH_EINTERNAL;
    for (size_t i = 0; i < exec->elements; i++)
        if (exec->element[i]->type == REDIS_REPLY_ERROR)
            return CH_EINTERNAL;
    return CH_OK;
}

static int ch__tlr_entry_cmp(const void *a, const void *b)
{
    uint64_t x = ((const ch_timeline_entry_t *)a)->item_id, y = ((const ch_timeline_entry_t *)b)->item_id;
    return x < y ? -1 : x > y;
}

static ch_err_t ch__tlr_replace(void *impl, uint64_t user, const ch_timeline_entry_t *entries, size_t n,
                                const ch_timeline_meta_t *meta)
{
    ch_timeline_entry_t *sorted = n ? ch_malloc(n * sizeof(*sorted)) : NULL;
    size_t kept = 0;
    if (n) {
        memcpy(sorted, entries, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), ch__tlr_entry_cmp);
        for (size_t i = 0; i < n; i++) /* one member per item id, as the in-process store */
            if (kept == 0 || sorted[kept - 1].item_id != sorted[i].item_id)
                sorted[kept++] = sorted[i];
    }
    size_t from = kept > CH_TIMELINE_MAX_ENTRIES ? kept - CH_TIMELINE_MAX_ENTRIES : 0;
    ch__tlr_replace_arg_t a = {.user = user, .sorted = sorted ? sorted + from : NULL, .n = kept - from,
                               .meta = meta};
    ch_err_t err = ch__tlr_run(impl, "timeline replace", 0, ch__tlr_replace_build, ch__tlr_exec_take, &a);
    free(sorted);
    return err;
}

/* ---- touch, remove_author, remove_item, drop ----------------------------------------- */

typedef struct {
    uint64_t user;
    int64_t now_ms;
    double read_rate;
    uint64_t author_id;
} ch__tlr_one_arg_t;

static ch_err_t ch__tlr_int_take(redisReply **reps, int n, void *arg)
{
    for (int i = 0; i < n; i++)
        if (reps[i]->type != REDIS_REPLY_INTEGER)
            return CH_EINTERNAL;
    return CH_OK;
}

static int ch__tlr_touch_build(redisContext *c, void *arg, char sha[][41])
{
    ch__tlr_one_arg_t *a = arg;
    char k1[CH__TLR_KEY_MAX], k2[CH__TLR_KEY_MAX], rate[32];
    size_t l1 = ch__tlr_key(k1, "tl", a->user), l2 = ch__tlr_key(k2, "tlm", a->user);
    snprintf(rate, sizeof(rate), "%.17g", a->read_rate);
    return redisAppendCommand(c, "EVALSHA %s 2 %b %b %lld %s %lld", sha[CH__TLR_TOUCH], k1, l1, k2, l2,
                              (long long)a->now_ms, rate, (long long)CH_TIMELINE_IDLE_TTL_MS) == REDIS_OK
               ? 1
               : -1;
}

static ch_err_t ch__tlr_touch(void *impl, uint64_t user, int64_t now_ms, double read_rate)
{
    ch__tlr_one_arg_t a = {.user = user, .now_ms = now_ms, .read_rate = read_rate};
    return ch__tlr_run(impl, "timeline touch", 1, ch__tlr_touch_build, ch__tlr_int_take, &a);
}

static int ch__tlr_rm_author_build(redisContext *c, void *arg, char sha[][41])
{
    ch__tlr_one_arg_t *a = arg;
    char k1[CH__TLR_KEY_MAX];
    unsigned char author[8];
    size_t l1 = ch__tlr_key(k1, "tl", a->user);
    ch_be64_put(author, a->author_id);
    return redisAppendCommand(c, "EVALSHA %s 1 %b %b %d", sha[CH__TLR_RM_AUTHOR], k1, l1, author, sizeof(author),
                              CH_TIMELINE_MAX_ENTRIES) == REDIS_OK
               ? 1
               : -1;
}

static ch_err_t ch__tlr_remove_author(void *impl, uint64_t user, uint64_t author_id)
{
    ch__tlr_one_arg_t a = {.user = user, .author_id = author_id};
    return ch__tlr_run(impl, "timeline remove_author", 1, ch__tlr_rm_author_build, ch__tlr_int_take, &a);
}

typedef struct {
    const uint64_t *users;
    size_t n;
    uint64_t item_id;
} ch__tlr_rm_item_arg_t;

static int ch__tlr_rm_item_build(redisContext *c, void *arg, char sha[][41])
{
    ch__tlr_rm_item_arg_t *a = arg;
    /* Every member of the item starts with its 8 bytes: the range [id, (id + 1). */
    unsigned char lo[9] = {'['}, hi[9] = {'+'};
    size_t hlen = 1;
    ch_be64_put(lo + 1, a->item_id);
    if (a->item_id != UINT64_MAX) {
        hi[0] = '(';
        ch_be64_put(hi + 1, a->item_id + 1);
        hlen = 9;
    }
    char k1[CH__TLR_KEY_MAX];
    for (size_t i = 0; i < a->n; i++) {
        size_t l1 = ch__tlr_key(k1, "tl", a->users[i]);
        /* the hidden entries first: none may surface when a visible one goes */
        if (redisAppendCommand(c, "ZREMRANGEBYRANK %b 1 -%d", k1, l1, CH_TIMELINE_MAX_ENTRIES + 1) != REDIS_OK ||
            redisAppendCommand(c, "ZREMRANGEBYLEX %b %b %b", k1, l1, lo, sizeof(lo), hi, hlen) != REDIS_OK)
            return -1;
    }
    return (int)(2 * a->n);
}

static ch_err_t ch__tlr_remove_item(void *impl, const uint64_t *users, size_t n, uint64_t item_id)
{
    for (size_t off = 0; off < n; off += CH_TIMELINE_BATCH_MAX) {
        ch__tlr_rm_item_arg_t a = {users + off, n - off < CH_TIMELINE_BATCH_MAX ? n - off : CH_TIMELINE_BATCH_MAX,
                                   item_id};
        ch_err_t err = ch__tlr_run(impl, "timeline remove_item", 0, ch__tlr_rm_item_build, ch__tlr_int_take, &a);
        if (err != CH_OK)
            return err;
    }
    return CH_OK;
}

static int ch__tlr_drop_build(redisContext *c, void *arg, char sha[][41])
{
    ch__tlr_one_arg_t *a = arg;
    char k1[CH__TLR_KEY_MAX], k2[CH__TLR_KEY_MAX];
    size_t l1 = ch__tlr_key(k1, "tl", a->user), l2 = ch__tlr_key(k2, "tlm", a->user);
    return redisAppendCommand(c, "DEL %b %b", k1, l1, k2, l2) == REDIS_OK ? 1 : -1;
}

static ch_err_t ch__tlr_drop(void *impl, uint64_t user)
{
    ch__tlr_one_arg_t a = {.user = user};
    return ch__tlr_run(impl, "timeline drop", 0, ch__tlr_drop_build, ch__tlr_int_take, &a);
}

/* ---- lifecycle, metrics -------------------------------------------------------------- */

static void ch__tlr_close(void *impl)
{
    ch__tlr_t *r = impl;
    if (!r)
        return;
    ch_kv_breaker_destroy(r->brk); /* first: its probe uses the pool */
    if (r->pool)
        ch_kv_redis_driver.close(r->pool);
    ch__kv_redis_scripts_clear(&r->scripts);
    free(r);
}

static ch_err_t ch__tlr_open(const char *url, void **impl_out, char *errbuf, size_t errlen)
{
    ch__tlr_t *r = ch_calloc(1, sizeof(*r));
    ch__kv_redis_scripts_init(&r->scripts, ch__tlr_scripts, CH__TLR_NSCRIPTS);
    atomic_init(&r->pushes, 0);
    atomic_init(&r->unavailable, 0);
    ch_err_t err = ch_kv_redis_driver.open(url, &r->pool, errbuf, errlen);
    if (err != CH_OK) {
        ch__tlr_close(r);
        return err;
    }
    r->brk = ch_kv_breaker_create(&ch_kv_redis_driver, r->pool, CH_KV_DEFAULT_PROBE_INTERVAL_MS);
    if (!r->brk) {
        snprintf(errbuf, errlen, "timeline: cannot start the redis probe thread");
        ch__tlr_close(r);
        return CH_EINTERNAL;
    }
    ch_kv_breaker_set_label(r->brk, "timeline",
                            "answer unavailable (home timelines: the feed's callers rebuild or retry)");
    *impl_out = r;
    return CH_OK;
}

static void ch__tlr_render_metrics(void *impl, ch_buf_t *out)
{
    ch__tlr_t *r = impl;
    ch_buf_printf(out,
                  "# HELP chorus_timeline_pushes_total Entries inserted into home timelines by fan-out.\n"
                  "# TYPE chorus_timeline_pushes_total counter\nchorus_timeline_pushes_total %llu\n"
                  "# HELP chorus_timeline_unavailable_total Timeline calls answered unavailable (Redis down or "
                  "refusing; most fail at once while the breaker is open).\n"
                  "# TYPE chorus_timeline_unavailable_total counter\nchorus_timeline_unavailable_total %llu\n",
                  (unsigned long long)atomic_load(&r->pushes), (unsigned long long)atomic_load(&r->unavailable));
}

const ch_timeline_driver_t ch_timeline_redis_driver = {
    .name = "redis",
    .open = ch__tlr_open,
    .close = ch__tlr_close,
    .meta_many = ch__tlr_meta_many,
    .push_many = ch__tlr_push_many,
    .read = ch__tlr_read,
    .replace = ch__tlr_replace,
    .touch = ch__tlr_touch,
    .remove_author = ch__tlr_remove_author,
    .remove_item = ch__tlr_remove_item,
    .drop = ch__tlr_drop,
    .render_metrics = ch__tlr_render_metrics,
};
