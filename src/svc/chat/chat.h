/* Conversations and messages (brd/chat.md "Conversations and messages", "Typing"): direct
 * and group conversations, membership, messages with a per-conversation gapless seq,
 * idempotent on (sender, client_msg_id), history paging, edit and delete, receipts, unread
 * counts, typing. Every change commits first, then its event goes to every member's
 * devices through the bus (svc->bus; nothing when NULL), as the complete frame
 * {"op":"<event>","d":{...}}. Storage and its wide-column mapping: store/migrations_chat.c.
 * Every function answers CH_ENOTFOUND for a conversation the viewer is not a member of
 * (as for one that does not exist), CH_EINVAL with the field for bad input, and
 * CH_EUNAVAILABLE when the database is down (nothing changed). JSON results are owned by
 * the caller. */
#ifndef CH_SVC_CHAT_CHAT_H
#define CH_SVC_CHAT_CHAT_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

/* ---- bounds --------------------------------------------------------------------------- */

/** Most members of a group conversation, creator included. */
#define CH_CHAT_GROUP_MEMBERS_MAX 1024
/* CHORUS_CHAT_MAX_CONVERSATIONS's default: conversations a user may be a member of. */
#define CH_CHAT_MAX_CONVERSATIONS 10000
/** Longest conversation title, in characters. */
#define CH_CHAT_TITLE_MAX 100
/** Message text length, in characters. */
#define CH_CHAT_TEXT_MIN 1
#define CH_CHAT_TEXT_MAX 4000
/** Longest client_msg_id, in characters (a UUID is 36). */
#define CH_CHAT_CLIENT_MSG_ID_MAX 64
/** History page size: default and most. */
#define CH_CHAT_HISTORY_LIMIT_DEFAULT 50
#define CH_CHAT_HISTORY_LIMIT_MAX 200
/** Conversations listing page size: default and most. */
#define CH_CHAT_LIST_LIMIT_DEFAULT 20
#define CH_CHAT_LIST_LIMIT_MAX 100
/** Members rendered with each conversation of the listing (members_count says how many
 * there are; GET /v1/conversations/{id} renders them all). */
#define CH_CHAT_LIST_MEMBERS_MAX 32
/** Width of a message partition's time bucket: 10 days. */
#define CH_CHAT_BUCKET_MS (10LL * 24 * 3600 * 1000)
/** Typing: how long a typing event lasts on the receiving device, and the shortest interval
 * between two fanned-out typing events of one user in one conversation. */
#define CH_CHAT_TYPING_EXPIRES_MS 6000
#define CH_CHAT_TYPING_INTERVAL_MS 2000
/* Most typing events a user may have checked against the database (those past the
 * per-conversation throttle) per window, over all their devices and conversations, is the
 * setting CHORUS_RATE_LIMIT_TYPING (cfg->rate_limit_typing, in CHORUS_RATE_LIMIT_WINDOW): past
 * it typing is refused 429 without any SQL. */

/** message.new goes out in seq order per conversation: a publisher waits at most this long
 * for the one of seq - 1 (a kv entry per conversation that lives CH_CHAT_ORDER_TTL_MS). */
#define CH_CHAT_ORDER_WAIT_MS 1000
#define CH_CHAT_ORDER_TTL_MS 60000
#define CH_CHAT_ORDER_POLL_MIN_US 500  /* its polls: the first pause, doubled up to */
#define CH_CHAT_ORDER_POLL_MAX_US 8000

/* ---- conversations ------------------------------------------------------------------- */

/** Creates a conversation from body {member_ids, title?} for viewer (its admin). One other
 * member: the direct conversation of the two, made once (*created 0 when it existed).
 * Blocked either way: CH_ENOTFOUND. *out is the conversation as GET renders it. */
ch_err_t ch_chat_conv_create(ch_svc_t *svc, uint64_t viewer, json_t *body, json_t **out, int *created, ch_fault_t *f);
/** The conversation with every member, the viewer's unread_count and the last message. */
ch_err_t ch_chat_conv_get(ch_svc_t *svc, uint64_t viewer, uint64_t conv, json_t **out, ch_fault_t *f);
/** The viewer's conversations, latest activity first: {items, next_cursor}; cursor is NULL
 * or one a previous page returned (borrowed). */
ch_err_t ch_chat_conv_list(ch_svc_t *svc, uint64_t viewer, int limit, const char *cursor, json_t **out,
                           ch_fault_t *f);
/** Adds user to a group conversation (viewer must be an admin); adding a member again
 * changes nothing. *out is the conversation. */
ch_err_t ch_chat_member_add(ch_svc_t *svc, uint64_t viewer, uint64_t conv, uint64_t user, json_t **out,
                            ch_fault_t *f);
/** Removes user from a group conversation (viewer must be an admin, or be user). */
ch_err_t ch_chat_member_remove(ch_svc_t *svc, uint64_t viewer, uint64_t conv, uint64_t user, ch_fault_t *f);
/** The viewer leaves a group conversation (the oldest member becomes admin when the last
 * admin leaves). */
ch_err_t ch_chat_leave(ch_svc_t *svc, uint64_t viewer, uint64_t conv, ch_fault_t *f);

/* ---- messages ------------------------------------------------------------------------ */

/** A message to send; strings borrowed from the request. */
typedef struct {
    uint64_t conversation_id; /* from the path (REST) or the frame (WS) */
    const char *client_msg_id;
    const char *text;
    uint64_t reply_to; /* a message id of the conversation, or 0 */
} ch_chat_send_t;

/** Reads {client_msg_id, text, reply_to?} (and conversation_id when with_conversation, as
 * WS frames carry it) from d into in (borrowing d's strings). */
ch_err_t ch_chat_send_parse(json_t *d, int with_conversation, ch_chat_send_t *in, ch_fault_t *f);
/** Sends a message; a retry of (viewer, client_msg_id) returns the original with *created 0.
 * A new one past CHORUS_RATE_LIMIT_MESSAGES a minute: CH_ERATELIMIT. *out is the message. */
ch_err_t ch_chat_msg_send(ch_svc_t *svc, uint64_t viewer, const ch_chat_send_t *in, json_t **out, int *created,
                          ch_fault_t *f);
/** Whether sends go through the group-commit writer (SQLite; svc->chat_writer), so that
 * ch_chat_msg_send_enqueue may be used. */
int ch_chat_send_queued(const ch_svc_t *svc);
/** The outcome of a queued send: err CH_OK with msg (owned by the callee) and created as
 * ch_chat_msg_send's, or an error with f (borrowed for the call) filled. */
typedef void (*ch_chat_send_done_fn)(void *arg, ch_err_t err, const ch_fault_t *f, json_t *msg, int created);
/** ch_chat_msg_send without waiting: in is copied; done(arg, ...) is called exactly once, on
 * the writer thread, after the transaction holding the message committed and message.new was
 * published (or the send failed). Only when ch_chat_send_queued. Never blocks on the
 * database; the caller's ch_db_deadline is the send's deadline. */
void ch_chat_msg_send_enqueue(ch_svc_t *svc, uint64_t viewer, const ch_chat_send_t *in, ch_chat_send_done_fn done,
                              void *arg);
/** A page of history, rendered in ascending seq order: with after_seq >= 0, the first
 * limit messages after it (below before_seq when > 0): how a device catches up; else the
 * last limit messages below before_seq (> 0) or of all: scrolling back. *out is
 * {items, has_more, last_seq}; has_more tells whether the same direction has more. */
ch_err_t ch_chat_msg_history(ch_svc_t *svc, uint64_t viewer, uint64_t conv, int64_t after_seq, int64_t before_seq,
                             int limit, json_t **out, ch_fault_t *f);
/** Edits the text of the viewer's own message (body {text}); *out is the message. */
ch_err_t ch_chat_msg_edit(ch_svc_t *svc, uint64_t viewer, uint64_t conv, uint64_t msg, json_t *body, json_t **out,
                          ch_fault_t *f);
/** Deletes the viewer's own message: a tombstone for everyone (text gone, seq kept). */
ch_err_t ch_chat_msg_delete(ch_svc_t *svc, uint64_t viewer, uint64_t conv, uint64_t msg, ch_fault_t *f);

/* ---- receipts and typing ------------------------------------------------------------- */

/** Moves the viewer's delivered_seq (read 0) or read_seq and delivered_seq (read 1) up to
 * seq; a lower seq changes nothing; a seq past the last message is CH_EINVAL. *out (may be
 * NULL) is {conversation_id, user_id, delivered_seq, read_seq} as they are now. */
ch_err_t ch_chat_receipt(ch_svc_t *svc, uint64_t viewer, uint64_t conv, int64_t seq, int read, json_t **out,
                         ch_fault_t *f);
/** The viewer types in conv: the other members' devices get a typing event, at most one per
 * CH_CHAT_TYPING_INTERVAL_MS per (viewer, conv) (more are accepted and dropped before any
 * SQL); those past the throttle count against CHORUS_RATE_LIMIT_TYPING per viewer (CH_ERATELIMIT
 * past it, before any SQL), then membership and blocks are checked. */
ch_err_t ch_chat_typing(ch_svc_t *svc, uint64_t viewer, uint64_t conv, ch_fault_t *f);
/** Publishes at once what the test-only publication hook still delays and joins its threads
 * (svc/chat/publish_hook.c; nothing when it is off): before the bus goes. */
void ch_chat_publish_hook_stop(void);

#endif
