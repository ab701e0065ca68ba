/* Per-connection order of chat messages: a device sees each conversation's message.new in
 * seq order, whatever order the bus brought them in. Publishers wait for seq - 1's
 * publication (svc/chat/events.c), but that wait is bounded and its record expires: a slow or
 * dead publisher, or one that found no record, lets seq n reach a node before n - 1. Here a
 * frame ahead of the last seq the connection delivered for its conversation is held (bounded
 * per connection in count and bytes) until the missing ones came, or at most
 * CHORUS_WS_REORDER_HOLD_MS; then it goes with a "gap" marker naming the seqs the client
 * fetches from history. A frame at or below the last delivered seq (a duplicate, or one that
 * came after its gap was announced) is dropped: seqs a device sees only go up. A member
 * removed and added again (or who left and was added back) did not miss the seqs sent while
 * they were out: their member.added names the seq they joined at, and the connection's last
 * seq of that conversation moves up to it, so that their first new message goes at once.
 * Loop thread only. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/metrics.h"
#include "gateway/gw_internal.h"

#define CH__MSG_NEW_PREFIX "{\"op\":\"message.new\","
#define CH__MSG_NEW_D "{\"op\":\"message.new\",\"d\":{"
#define CH__KEY_SCAN_MAX 256 /* bytes of a frame where its conversation and seq are looked for */

typedef struct ch__ws_held {
    struct ch__ws_held *next; /* ascending seq */
    int64_t seq;
    ch__gw_frame_t *frame; /* a reference */
} ch__ws_held_t;

typedef struct {
    uint64_t conv;
    int64_t last;          /* the last seq delivered to the connection */
    int64_t hold_until_ms; /* when held frames go anyway (0: nothing held) */
    ch__ws_held_t *held;
    uint64_t used;         /* the order's clock at the last delivery (the least recent goes first) */
} ch__ws_conv_t;

struct ch__ws_order {
    ch__ws_conv_t *convs;
    unsigned n, cap;
    unsigned nheld;
    size_t held_bytes;
    uint64_t clock;
};

/* ---- metrics ---------------------------------------------------------------------------- */

static atomic_int ch__order_renderer_added;
static atomic_ullong ch__order_held, ch__order_gaps, ch__order_dropped;

static void ch__order_render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_gateway_chat_held_total message.new frames a connection held until the seqs before them came.\n"
                  "# TYPE chorus_gateway_chat_held_total counter\n"
                  "chorus_gateway_chat_held_total %llu\n"
                  "# HELP chorus_gateway_chat_gaps_total message.new frames sent with a gap marker (missing seqs: read history).\n"
                  "# TYPE chorus_gateway_chat_gaps_total counter\n"
                  "chorus_gateway_chat_gaps_total %llu\n"
                  "# HELP chorus_gateway_chat_late_dropped_total message.new frames dropped at or below a connection's last seq.\n"
                  "# TYPE chorus_gateway_chat_late_dropped_total counter\n"
                  "chorus_gateway_chat_late_dropped_total %llu\n",
                  (unsigned long long)atomic_load(&ch__order_held), (unsigned long long)atomic_load(&ch__order_gaps),
                  (unsigned long long)atomic_load(&ch__order_dropped));
}

static void ch__order_count(atomic_ullong *counter)
{
    if (!atomic_exchange(&ch__order_renderer_added, 1))
        ch_metrics_add_renderer(ch__order_render, NULL);
    atomic_fetch_add(counter, 1);
}

/* ---- what a frame is ---------------------------------------------------------------------- */

/* The unsigned integer at p (within end) into *out; 0 when there is none or it passes 64 bits. */
static int ch__digits(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++, n++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return n > 0;
}

int ch__ws_order_key(const char *data, size_t len, uint64_t *conv, int64_t *seq)
{
    static const char conv_key[] = "\"conversation_id\":\"", seq_key[] = "\"seq\":";
    if (len < sizeof(CH__MSG_NEW_D) - 1 || memcmp(data, CH__MSG_NEW_D, sizeof(CH__MSG_NEW_D) - 1) != 0)
        return 0;
    /* the renderers (svc/chat) put id, conversation_id and seq first; user text comes after
     * them and is a JSON string, where an unescaped key pattern cannot occur */
    const char *end = data + (len < CH__KEY_SCAN_MAX ? len : CH__KEY_SCAN_MAX);
    const char *c = memmem(data, (size_t)(end - data), conv_key, sizeof(conv_key) - 1);
    const char *s = memmem(data, (size_t)(end - data), seq_key, sizeof(seq_key) - 1);
    if (!c || !s)
        return 0;
    uint64_t cv = 0, sv = 0;
    if (!ch__digits(c + sizeof(conv_key) - 1, end, &cv) || !ch__digits(s + sizeof(seq_key) - 1, end, &sv) ||
        cv == 0 || sv == 0 || sv > INT64_MAX / 2)
        return 0;
    *conv = cv;
    *seq = (int64_t)sv;
    return 1;
}

int ch__ws_order_joined_key(const char *data, size_t len, uint64_t user, uint64_t *conv, int64_t *joined)
{
    static const char head[] = "{\"op\":\"member.added\",\"d\":{", conv_key[] = "\"conversation_id\":\"",
                      user_key[] = "\"user_id\":\"", seq_key[] = "\"joined_seq\":";
    if (len < sizeof(head) - 1 || memcmp(data, head, sizeof(head) - 1) != 0)
        return 0;
    /* ids and numbers only: no user text where a key pattern could hide */
    const char *end = data + (len < CH__KEY_SCAN_MAX ? len : CH__KEY_SCAN_MAX);
    const char *c = memmem(data, (size_t)(end - data), conv_key, sizeof(conv_key) - 1);
    const char *u = memmem(data, (size_t)(end - data), user_key, sizeof(user_key) - 1);
    const char *s = memmem(data, (size_t)(end - data), seq_key, sizeof(seq_key) - 1);
    uint64_t cv = 0, uv = 0, sv = 0;
    if (!c || !u || !s || !ch__digits(c + sizeof(conv_key) - 1, end, &cv) ||
        !ch__digits(u + sizeof(user_key) - 1, end, &uv) || !ch__digits(s + sizeof(seq_key) - 1, end, &sv) ||
        cv == 0 || uv != user || sv > INT64_MAX / 2)
        return 0;
    *conv = cv;
    *joined = (int64_t)sv;
    return 1;
}

/* ---- delivery ----------------------------------------------------------------------------- */

/* Sends f to c, marked as coming after a gap: the seqs after after_seq and before its own are
 * missing (the client reads them from history: after_seq / before_seq). */
static void ch__send_after_gap(ch__gw_conn_t *c, const ch__gw_frame_t *f, int64_t after_seq, int64_t seq)
{
    char mark[96];
    int m = snprintf(mark, sizeof(mark), "\"gap\":{\"after_seq\":%lld,\"before_seq\":%lld},", (long long)after_seq,
                     (long long)seq);
    size_t head = sizeof(CH__MSG_NEW_PREFIX) - 1, len = f->len + (size_t)m;
    char *buf = ch_malloc(len);
    memcpy(buf, f->data, head);
    memcpy(buf + head, mark, (size_t)m);
    memcpy(buf + head + (size_t)m, f->data + head, f->len - head);
    ch__gw_conn_send(c, buf, len);
    free(buf);
    ch__order_count(&ch__order_gaps);
}

static void ch__held_pop(ch__ws_order_t *o, ch__ws_conv_t *e)
{
    ch__ws_held_t *h = e->held;
    e->held = h->next;
    o->nheld--;
    o->held_bytes -= h->frame->len;
    ch__gw_frame_release(h->frame);
    free(h);
}

/* Delivers e's held frames that follow its last seq (and drops those at or below it). */
static void ch__release_next(ch__gw_conn_t *c, ch__ws_order_t *o, ch__ws_conv_t *e)
{
    while (e->held && e->held->seq <= e->last + 1) {
        if (e->held->seq == e->last + 1) {
            ch__gw_conn_send(c, e->held->frame->data, e->held->frame->len);
            e->last = e->held->seq;
        }
        ch__held_pop(o, e);
    }
    if (!e->held)
        e->hold_until_ms = 0;
}

/* Delivers the frames e holds up to seq upto (all: INT64_MAX), in seq order, each jump marked
 * as a gap. */
static void ch__release_upto(ch__gw_conn_t *c, ch__ws_order_t *o, ch__ws_conv_t *e, int64_t upto)
{
    while (e->held && e->held->seq <= upto) {
        ch__ws_held_t *h = e->held;
        if (h->seq > e->last + 1)
            ch__send_after_gap(c, h->frame, e->last, h->seq);
        else if (h->seq == e->last + 1)
            ch__gw_conn_send(c, h->frame->data, h->frame->len);
        if (h->seq > e->last)
            e->last = h->seq;
        ch__held_pop(o, e);
    }
    if (!e->held)
        e->hold_until_ms = 0;
}

/* Delivers every frame e holds, in seq order, each jump marked as a gap (their time is up). */
static void ch__release_all(ch__gw_conn_t *c, ch__ws_order_t *o, ch__ws_conv_t *e)
{
    ch__release_upto(c, o, e, INT64_MAX);
}

/* The entry of conv; NULL when the connection has none. */
static ch__ws_conv_t *ch__find(ch__ws_order_t *o, uint64_t conv)
{
    for (unsigned i = 0; i < o->n; i++)
        if (o->convs[i].conv == conv)
            return &o->convs[i];
    return NULL;
}

/* A fresh entry for conv: a new slot, or the least recently used one holding nothing (its
 * conversation starts again from its next frame). NULL when every slot holds frames. */
static ch__ws_conv_t *ch__add(ch__ws_order_t *o, uint64_t conv)
{
    ch__ws_conv_t *e = NULL;
    if (o->n < o->cap || o->cap < CH_WS_ORDER_CONVS) {
        if (o->n == o->cap) {
            o->cap = o->cap ? o->cap * 2 : 4;
            o->convs = ch_realloc(o->convs, o->cap * sizeof(*o->convs));
        }
        e = &o->convs[o->n++];
    } else {
        for (unsigned i = 0; i < o->n; i++)
            if (!o->convs[i].held && (!e || o->convs[i].used < e->used))
                e = &o->convs[i];
        if (!e)
            return NULL;
    }
    memset(e, 0, sizeof(*e));
    e->conv = conv;
    return e;
}

/* Releases, with their gaps, the conversations held the longest until the holdings fit. */
static void ch__enforce_bounds(ch__gw_conn_t *c, ch__ws_order_t *o)
{
    while (o->nheld > CH_WS_ORDER_HELD_MAX || o->held_bytes > CH_WS_ORDER_HELD_BYTES) {
        ch__ws_conv_t *oldest = NULL;
        for (unsigned i = 0; i < o->n; i++)
            if (o->convs[i].held && (!oldest || o->convs[i].hold_until_ms < oldest->hold_until_ms))
                oldest = &o->convs[i];
        if (!oldest)
            return;
        ch__release_all(c, o, oldest);
    }
}

void ch__ws_order_deliver(ch__gw_conn_t *c, ch__gw_frame_t *f, uint64_t conv, int64_t seq, int64_t now,
                          int64_t hold_ms)
{
    ch__ws_order_t **op = ch__gw_conn_order(c), *o = *op;
    if (!o)
        o = *op = ch_calloc(1, sizeof(*o));
    ch__ws_conv_t *e = ch__find(o, conv);
    if (!e) {
        /* the connection's first frame of conv (or its entry was recycled): it starts here */
        if ((e = ch__add(o, conv)) != NULL) {
            e->last = seq;
            e->used = ++o->clock;
        }
        ch__gw_conn_send(c, f->data, f->len);
        return;
    }
    e->used = ++o->clock;
    if (e->held && now >= e->hold_until_ms)
        ch__release_all(c, o, e);
    if (seq <= e->last) { /* a repeat, or late after its gap was announced */
        ch__order_count(&ch__order_dropped);
        return;
    }
    if (seq == e->last + 1) {
        ch__gw_conn_send(c, f->data, f->len);
        e->last = seq;
        ch__release_next(c, o, e);
        return;
    }
    if (hold_ms <= 0) { /* no holding: at once, with its gap */
        ch__send_after_gap(c, f, e->last, seq);
        e->last = seq;
        ch__release_next(c, o, e);
        return;
    }
    ch__ws_held_t **p = &e->held;
    while (*p && (*p)->seq < seq)
        p = &(*p)->next;
    if (*p && (*p)->seq == seq)
        return; /* held already */
    ch__ws_held_t *h = ch_malloc(sizeof(*h));
    h->seq = seq;
    h->frame = f;
    atomic_fetch_add(&f->refs, 1);
    h->next = *p;
    *p = h;
    o->nheld++;
    o->held_bytes += f->len;
    if (!e->hold_until_ms)
        e->hold_until_ms = now + hold_ms;
    ch__order_count(&ch__order_held);
    ch__enforce_bounds(c, o);
}

void ch__ws_order_joined(ch__gw_conn_t *c, uint64_t conv, int64_t joined)
{
    ch__ws_order_t *o = *ch__gw_conn_order(c);
    ch__ws_conv_t *e = o ? ch__find(o, conv) : NULL;
    /* The seqs between what the connection had before the removal and the join were never
     * theirs (apart from those held, below): the next one to deliver is joined + 1 (one held
     * already goes now). Only up. */
    if (!e || joined <= e->last)
        return;
    /* Frames held up to the join were published to them while a member (before the removal):
     * they go now, a jump marked as a gap, before the order restarts at the join. */
    ch__release_upto(c, o, e, joined);
    if (joined > e->last)
        e->last = joined;
    ch__release_next(c, o, e);
}

void ch__ws_order_tick(ch__gw_conn_t *c, int64_t now)
{
    ch__ws_order_t *o = *ch__gw_conn_order(c);
    for (unsigned i = 0; o && o->nheld && i < o->n; i++)
        if (o->convs[i].held && now >= o->convs[i].hold_until_ms)
            ch__release_all(c, o, &o->convs[i]);
}

void ch__ws_order_resync(ch__gw_conn_t *c)
{
    ch__ws_order_t *o = *ch__gw_conn_order(c);
    if (!o)
        return;
    for (unsigned i = 0; i < o->n; i++)
        if (o->convs[i].held)
            ch__release_all(c, o, &o->convs[i]);
    o->n = 0;
}

void ch__ws_order_free(ch__ws_order_t *o)
{
    if (!o)
        return;
    for (unsigned i = 0; i < o->n; i++)
        while (o->convs[i].held)
            ch__held_pop(o, &o->convs[i]);
    free(o->convs);
    free(o);
}
