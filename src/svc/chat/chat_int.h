/* Internals shared by the chat service's files (chat.h is the public face). */
#ifndef CH_SVC_CHAT_CHAT_INT_H
#define CH_SVC_CHAT_CHAT_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "svc/chat/chat.h"
#include "svc/common/sql.h"

/** A conversation as one member sees it, read on the caller's connection. */
typedef struct {
    uint64_t id;
    int direct;          /* a direct conversation (else a group) */
    uint64_t other;      /* direct: the other member */
    int64_t last_seq;
    int64_t last_bucket;
    int64_t members_count;
    int64_t last_activity_at; /* unix ms */
    int admin;           /* the viewer is an admin */
    int64_t delivered_seq, read_seq; /* the viewer's receipts */
    int64_t joined_seq; /* the conversation's last_seq when the viewer joined: sees seq > it */
} ch__chat_conv_t;

/** Reads conv for member viewer into c; CH_ENOTFOUND ("conversation not found") when it does
 * not exist or viewer is not a member. for_update: inside a write transaction, locks the
 * conversation's row (PostgreSQL FOR UPDATE; SQLite's write lock already serialises). */
ch_err_t ch__chat_load(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t conv, int for_update,
                       ch__chat_conv_t *c, ch_fault_t *f);
/** The ids of conv's members (*ids malloc'd, caller frees; NULL when none). */
ch_err_t ch__chat_member_ids(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, uint64_t **ids, size_t *n);
/** The ids of conv's members who see seq (joined before it; *ids malloc'd, caller frees). */
ch_err_t ch__chat_member_ids_seeing(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, int64_t seq, uint64_t **ids,
                                    size_t *n);
/** Sets *blocked when a blocks b or b blocks a. */
ch_err_t ch__chat_blocked(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t a, uint64_t b, int *blocked);
/** CH_ENOTFOUND "conversation not found" (as a send) when c (loaded for viewer) is a direct
 * conversation and a block stands between its two members; else CH_OK. */
ch_err_t ch__chat_direct_blocked(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, const ch__chat_conv_t *c,
                                 ch_fault_t *f);
/* Users per statement of ch__chat_conv_cap. */
#define CH__CHAT_CAP_CHUNK 256
/** The namespace of the conversation cap's advisory locks on PostgreSQL (the two-int4-key
 * form: a key space apart from the one-bigint-key locks such as the schema's); the second key
 * is the user id folded to 31 bits (a collision only serialises two users' joins). */
#define CH__CHAT_CAP_LOCK_NS 7242013
/** CH_ECONFLICT naming the user when one of the n ids is already a member of the most
 * conversations allowed (CHORUS_CHAT_MAX_CONVERSATIONS); checked on conn, inside the joining
 * transaction, before they join one more. On PostgreSQL it first takes an advisory lock per
 * user until the commit, so that concurrent joins of one user count one after the other. */
ch_err_t ch__chat_conv_cap(ch_svc_t *svc, ch_db_conn_t *conn, const uint64_t *ids, size_t n, ch_fault_t *f);
/** Counts one against viewer's chat rate (CHORUS_RATE_LIMIT_MESSAGES): CH_ERATELIMIT past it. */
ch_err_t ch__chat_rate_hit(ch_svc_t *svc, uint64_t viewer, ch_fault_t *f);
/** Renders conv for viewer (a member): members (all, or the first CH_CHAT_LIST_MEMBERS_MAX),
 * last_message, unread_count, the viewer's receipts. */
ch_err_t ch__chat_conv_render(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t conv, int all_members,
                              json_t **out);
/** The columns ch__chat_msg_render reads, from messages m. */
#define CH__CHAT_MSG_COLUMNS                                                                                \
    "m.id, m.conversation_id, m.seq, m.sender_id, m.client_msg_id, m.text, m.reply_to, m.created_at,"      \
    " m.edited_at, m.deleted_at"
#define CH__CHAT_MSG_NCOLS 10
/** Renders row r (CH__CHAT_MSG_COLUMNS from column col) as a message object. */
json_t *ch__chat_msg_render(const ch_db_rows_t *rows, size_t r, size_t col);
/** Reads and renders message (conv, msg id) on conn; CH_ENOTFOUND "message not found". */
ch_err_t ch__chat_msg_get(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, uint64_t msg, json_t **out,
                          ch_fault_t *f);
/** Sends {"op": op, "d": d} to every device of the n users (after the commit); d borrowed.
 * Nothing when the process has no bus; a bus failure is logged and counted, never an error
 * of the request (devices catch up from history). */
void ch__chat_publish(ch_svc_t *svc, const uint64_t *ids, size_t n, const char *op, json_t *d);
/** Publishes message.new of msg (seq of conv) to ids so that every device sees a
 * conversation's messages in seq order, whichever node or thread committed them: waits
 * (at most CH_CHAT_ORDER_WAIT_MS, polling with backoff) until seq - 1 was published, as the kv
 * store records (a record that only moves up); at once when there is no record. */
void ch__chat_publish_new(ch_svc_t *svc, const uint64_t *ids, size_t n, uint64_t conv, int64_t seq, json_t *msg);
/** Starts a new conversation's ordering record at 0 (nothing published yet), so that the
 * publisher of seq 2 waits for seq 1's as for any later one; without it "no record" read as
 * "order unknown, publish at once" and a new conversation's first messages could reach a
 * device out of order (seen on cluster). Best effort. */
void ch__chat_order_start(ch_svc_t *svc, uint64_t conv);
/** ch__chat_publish_new for a publisher that publishes every message of conv in seq order
 * itself (the SQLite writer: one thread, in commit order): no wait, no read of the record;
 * the record is still moved to seq. */
void ch__chat_publish_new_in_order(ch_svc_t *svc, const uint64_t *ids, size_t n, uint64_t conv, int64_t seq,
                                   json_t *msg);
/** Claims the publication of message.new of (conv, seq): 1 for the first caller (or when the
 * kv store cannot answer), 0 after. The direct send path claims before publishing and a
 * retry's republish claims too, so that a retry landing between a commit and its publish does
 * not send message.new twice (the writer of SQLite publishes before any later send runs). */
int ch__chat_publish_claim(ch_svc_t *svc, uint64_t conv, int64_t seq);
/** After a retry found msg (seq of conv) already committed: when the ordering record is
 * below seq (its publication was lost: a bus or kv failure after the commit, a process that
 * died there) and nobody claimed it (ch__chat_publish_claim), publishes message.new again to
 * the members of conv who see seq (not those who joined after it), read on its own
 * connection, after seq - 1 was published (as ch__chat_publish_new waits), and moves the
 * record to seq (also when that read failed). With no record at all (expired, lost with the
 * kv store) only while seq is the conversation's last message: never after a later one.
 * Nothing when the kv store cannot say. */
void ch__chat_republish(ch_svc_t *svc, uint64_t conv, int64_t seq, json_t *msg);
/** The test-only publication hook (publish_hook.c, off unless CHORUS_TEST_CHAT_PUBLISH_DELAY_MS
 * is set): 1 when it took msg's message.new (dropped, or to be published late by a thread of its
 * own, which moves the ordering record then), 0 when the caller publishes as usual. ids and msg
 * borrowed (copied / referenced). */
int ch__chat_publish_hook(ch_svc_t *svc, const uint64_t *ids, size_t n, uint64_t conv, int64_t seq, json_t *msg);
/** Publishes a membership event {conversation_id, user_id, by, role?} to ids. */
void ch__chat_publish_member(ch_svc_t *svc, const uint64_t *ids, size_t n, const char *op, uint64_t conv,
                             uint64_t user, uint64_t by);
/** Reads an id field (a string of digits) of obj; *out 0 when absent or null. */
ch_err_t ch__chat_id_field(json_t *obj, const char *name, int required, uint64_t *out, ch_fault_t *f);

#endif
