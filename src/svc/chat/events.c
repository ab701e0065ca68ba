/* Chat events to members' devices through the bus, after the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "store/bus.h"
#include "store/kv_multi.h"
#include "svc/common/sql.h"
#include "svc/chat/chat_int.h"
#include "svc/chat/send_writer.h"

/* The frame {"op":op,"d":d} (op: a constant of ours, nothing to escape), d rendered once;
 * malloc'd, the caller frees; NULL out of memory. Laid out as the gateway's seq order reads
 * it (gateway/ws_order.c: conversation_id and seq in the first 256 bytes). */
static char *ch__chat_frame(const char *op, const json_t *d, size_t *len)
{
    char *body = json_dumps(d, JSON_COMPACT);
    if (!body)
        return NULL;
    size_t oplen = strlen(op), blen = strlen(body);
    char *text = malloc(sizeof("{\"op\":\"\",\"d\":}") + oplen + blen);
    if (text) {
        size_t at = 0;
        memcpy(text + at, "{\"op\":\"", 7), at += 7;
        memcpy(text + at, op, oplen), at += oplen;
        memcpy(text + at, "\",\"d\":", 6), at += 6;
        memcpy(text + at, body, blen), at += blen;
        text[at++] = '}';
        text[at] = '\0';
        *len = at;
    }
    free(body);
    return text;
}

static void ch__chat_publish_text(ch_svc_t *svc, const uint64_t *ids, size_t n, const char *op, const char *text,
                                  size_t len)
{
    ch_err_t err = ch_bus_publish_many(svc->bus, ids, n, text, len);
    if (err)
        ch_log(CH_LOG_WARN, "chat: %s to %zu users not published: %s", op, n, ch_err_code(err));
}

void ch__chat_publish(ch_svc_t *svc, const uint64_t *ids, size_t n, const char *op, json_t *d)
{
    if (!svc->bus || n == 0)
        return;
    size_t len = 0;
    char *text = ch__chat_frame(op, d, &len);
    if (!text)
        return;
    ch__chat_publish_text(svc, ids, n, op, text, len);
    free(text);
}

/* ---- the writer's message.new frames, kept for the senders' acks ----------------------------
 * The writer publishes a batch's messages, then answers each send in the same order on the
 * same thread (svc/common/batch_writer.c); the ack's "d" is the message, so the frame
 * rendered for the publication is kept (a FIFO per thread, on from the writer's first
 * ch_chat_frames_begin; each send's answer takes or drops its frame, and each begin frees what
 * is left) and the ack is made from it: one rendering per message, not one per publication
 * and one per ack. */
typedef struct {
    const json_t *msg; /* the message it renders (compared, never dereferenced) */
    char *text;
    size_t len;
} ch__kept_frame_t;

static _Thread_local ch__kept_frame_t ch__kept[CH_CHAT_SEND_BATCH_MAX];
static _Thread_local size_t ch__kept_head, ch__kept_n;
static _Thread_local int ch__keeping;

void ch_chat_frames_begin(void)
{
    ch_chat_frames_end();
    ch__keeping = 1;
}

void ch_chat_frames_end(void)
{
    for (size_t i = ch__kept_head; i < ch__kept_n; i++)
        free(ch__kept[i].text);
    ch__kept_head = ch__kept_n = 0;
    ch__keeping = 0;
}

/* Keeps text (taken) as the frame of msg when the writer asked for it; frees it otherwise. */
static void ch__chat_frame_keep(const json_t *msg, char *text, size_t len)
{
    if (!ch__keeping || ch__kept_n == CH_CHAT_SEND_BATCH_MAX) {
        free(text);
        return;
    }
    ch__kept[ch__kept_n++] = (ch__kept_frame_t){msg, text, len};
}

char *ch_chat_frames_take(const json_t *msg, size_t *len)
{
    if (ch__kept_head == ch__kept_n || ch__kept[ch__kept_head].msg != msg)
        return NULL; /* not published by this batch (a refusal, a retry answered with the original) */
    ch__kept_frame_t *k = &ch__kept[ch__kept_head++];
    *len = k->len;
    return k->text;
}

void ch_chat_frames_drop(const json_t *msg)
{
    size_t len = 0;
    free(ch_chat_frames_take(msg, &len));
}

void ch__chat_publish_member(ch_svc_t *svc, const uint64_t *ids, size_t n, const char *op, uint64_t conv,
                             uint64_t user, uint64_t by)
{
    char b[3][CH_ID_STR_LEN];
    json_t *d = json_pack("{s:s, s:s, s:s}", "conversation_id", ch_id_format(conv, b[0]), "user_id",
                          ch_id_format(user, b[1]), "by", ch_id_format(by, b[2]));
    ch__chat_publish(svc, ids, n, op, d);
    json_decref(d);
}

/* The last seq of conv whose message.new was published; -1 when there is no record (never,
 * expired), -2 when the kv store cannot say (down: waiting would only slow every send). */
static int64_t ch__published_seq(ch_svc_t *svc, const char *key)
{
    char *v = NULL;
    size_t len = 0;
    int64_t seq = -1;
    if (ch_kv_get(svc->kv, key, &v, &len) != CH_OK)
        return -2;
    if (v) {
        char buf[24];
        snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), v);
        seq = strtoll(buf, NULL, 10);
    }
    free(v);
    return seq;
}

int ch__chat_publish_claim(ch_svc_t *svc, uint64_t conv, int64_t seq)
{
    char key[64];
    int64_t n = 0;
    snprintf(key, sizeof(key), "chat:pubclaim:%llu:%lld", (unsigned long long)conv, (long long)seq);
    /* a kv store that cannot answer: publish (a repeat beats a loss) */
    return ch_kv_incr(svc->kv, key, CH_CHAT_ORDER_TTL_MS, &n, NULL) != CH_OK || n == 1;
}

/* Waits (at most CH_CHAT_ORDER_WAIT_MS, polling with backoff) until the record key says seq - 1
 * was published; at once when there is no record or the kv store cannot say. */
static void ch__wait_previous(ch_svc_t *svc, const char *key, int64_t seq)
{
    int64_t until = ch_mono_ms() + CH_CHAT_ORDER_WAIT_MS, last;
    long pause_us = CH_CHAT_ORDER_POLL_MIN_US;
    while (seq > 1 && (last = ch__published_seq(svc, key)) >= 0 && last < seq - 1 && ch_mono_ms() < until) {
        struct timespec ts = {0, pause_us * 1000};
        nanosleep(&ts, NULL);
        pause_us = pause_us * 2 > CH_CHAT_ORDER_POLL_MAX_US ? CH_CHAT_ORDER_POLL_MAX_US : pause_us * 2;
    }
}

/* The conversation's last seq (-1 when it cannot be read). */
static int64_t ch__last_seq(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv)
{
    ch_db_param_t p[] = {CH_DB_P_INT(conv)};
    ch_db_rows_t *rows = NULL;
    int64_t last = -1;
    if (ch_sql_on(svc, conn, "SELECT last_seq FROM conversations WHERE id = $1", p, CH_NPARAMS(p), &rows, NULL) ==
            CH_OK &&
        ch_db_rows_count(rows) == 1)
        last = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    return last;
}

void ch__chat_republish(ch_svc_t *svc, uint64_t conv, int64_t seq, json_t *msg)
{
    char key[48];
    snprintf(key, sizeof(key), "chat:pubseq:%llu", (unsigned long long)conv);
    int64_t last;
    if (!svc->bus || (last = ch__published_seq(svc, key)) == -2 || last >= seq)
        return;
    /* the record is below seq: lost, or its publisher is between its commit and its publish
     * (then the claim is taken: the publisher publishes, once) */
    if (!ch__chat_publish_claim(svc, conv, seq))
        return;
    ch_db_conn_t *conn = NULL;
    uint64_t *ids = NULL;
    size_t n = 0;
    if (ch_db_acquire(svc->db, &conn) != CH_OK) {
        (void)ch_kv_set_max(svc->kv, key, seq, CH_CHAT_ORDER_TTL_MS, NULL); /* as below */
        return;
    }
    /* No record (it expired, or the kv store lost it): nothing says whether seq went out.
     * Republished only while it is the conversation's newest message: a later one may have
     * reached the devices already, and seq after it would break the conversation's order
     * (devices fetch a gap by after_seq). */
    ch_err_t err = last == -1 && ch__last_seq(svc, conn, conv) != seq ? CH_ENOTFOUND : CH_OK;
    /* those who see seq: members who joined before it and are still members */
    if (err == CH_OK)
        err = ch__chat_member_ids_seeing(svc, conn, conv, seq, &ids, &n);
    ch_db_release(svc->db, conn);
    if (err == CH_OK) {
        ch__wait_previous(svc, key, seq); /* per-conversation order, as a first publication */
        ch__chat_publish(svc, ids, n, "message.new", msg);
    }
    /* Claimed: the record moves past seq even when the members could not be read (the
     * publication is lost; devices fetch it by after_seq), so that the next send does not wait
     * CH_CHAT_ORDER_WAIT_MS for it. */
    (void)ch_kv_set_max(svc->kv, key, seq, CH_CHAT_ORDER_TTL_MS, NULL);
    free(ids);
}

void ch__chat_order_start(ch_svc_t *svc, uint64_t conv)
{
    char key[48];
    snprintf(key, sizeof(key), "chat:pubseq:%llu", (unsigned long long)conv);
    (void)ch_kv_set_max(svc->kv, key, 0, CH_CHAT_ORDER_TTL_MS, NULL); /* best effort, as the record */
}

void ch__chat_publish_new_in_order(ch_svc_t *svc, const uint64_t *ids, size_t n, uint64_t conv, int64_t seq,
                                   json_t *msg)
{
    if (!svc->bus || n == 0)
        return;
    char key[48];
    snprintf(key, sizeof(key), "chat:pubseq:%llu", (unsigned long long)conv);
    if (ch__chat_publish_hook(svc, ids, n, conv, seq, msg))
        return;
    size_t len = 0;
    char *text = ch__chat_frame("message.new", msg, &len);
    if (text) {
        ch__chat_publish_text(svc, ids, n, "message.new", text, len);
        ch__chat_frame_keep(msg, text, len); /* the sender's ack is made from it */
    }
    (void)ch_kv_set_max(svc->kv, key, seq, CH_CHAT_ORDER_TTL_MS, NULL); /* for a later retry's republish */
}

void ch__chat_publish_new(ch_svc_t *svc, const uint64_t *ids, size_t n, uint64_t conv, int64_t seq, json_t *msg)
{
    if (!svc->bus || n == 0)
        return;
    char key[48];
    snprintf(key, sizeof(key), "chat:pubseq:%llu", (unsigned long long)conv);
    /* seq - 1 committed before seq (the counter row's lock): its publisher is at most a few
     * steps behind. Wait for it, boundedly, polling with backoff; past the bound (a publisher
     * that died between its commit and its publish) devices fetch the gap by after_seq. No
     * record (never written, expired, a restarted Redis) or a kv store that cannot say: no
     * order is known, publish at once. */
    ch__wait_previous(svc, key, seq);
    if (ch__chat_publish_hook(svc, ids, n, conv, seq, msg))
        return;
    ch__chat_publish(svc, ids, n, "message.new", msg);
    /* Only up: a late publisher of an older seq must not move the record back. */
    (void)ch_kv_set_max(svc->kv, key, seq, CH_CHAT_ORDER_TTL_MS, NULL);
}
