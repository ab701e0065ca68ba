/* Migration 14 "chat": conversations, their members and messages (brd/chat.md
 * "Conversations and messages"). Same SQL for SQLite and PostgreSQL (see migrations.c).
 *
 * The message tables are shaped for a wide-column store (Cassandra/ScyllaDB), one table per
 * query, no joins on the hot path:
 * - messages: partition key (conversation_id, bucket), clustering key seq. bucket is the
 *   10-day time bucket (CH_CHAT_BUCKET_MS) of the message, never lower than the bucket of
 *   the message before it, so (bucket, seq) sorts as seq does and a partition stays bounded
 *   in time. id is unique (the lookup table message_by_id(id -> conversation_id, bucket,
 *   seq) of a wide-column store; here a unique index), and (sender_id, client_msg_id) is
 *   unique (the idempotency lookup, a lightweight-transaction insert there).
 * - message_buckets: partition conversation_id, clustering bucket, with the first seq of
 *   each bucket: history paging by seq reads it first to know which partitions to read.
 * - conversations: the counter row. last_seq is the per-conversation sequence, moved by
 *   the UPDATE of the message's own transaction (the row lock orders concurrent senders on
 *   PostgreSQL, BEGIN IMMEDIATE on SQLite), so seq is gapless and in commit order.
 *   last_bucket is the bucket of the newest message; last_activity_at orders the listing.
 *   direct_key "<lo>:<hi>" makes a direct conversation of two users unique.
 * - conversation_members: one row per current member (leaving deletes it), with the
 *   member's receipts: delivered_seq <= read_seq is never true the other way; unread =
 *   conversations.last_seq - read_seq, no counting scan. A new member starts with both at
 *   the conversation's last_seq.
 * - chat_push_jobs: push notifications owed to members with no live connection, coalesced:
 *   one row per (user, conversation) with the newest message and how many arrived since the
 *   push service last took the row (it deletes or resets it when it sends). */
#include "store/db.h"

extern const char ch_migration_chat[];
const char ch_migration_chat[] =
    "CREATE TABLE conversations ("
    " id BIGINT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " title TEXT,"
    " direct_key TEXT UNIQUE,"
    " created_by BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " last_seq BIGINT NOT NULL DEFAULT 0,"
    " last_bucket BIGINT NOT NULL DEFAULT 0,"
    " last_activity_at BIGINT NOT NULL,"
    " members_count BIGINT NOT NULL DEFAULT 0"
    ");\n"
    "CREATE TABLE conversation_members ("
    " conversation_id BIGINT NOT NULL,"
    " user_id BIGINT NOT NULL,"
    " role TEXT NOT NULL,"
    " joined_at BIGINT NOT NULL,"
    " delivered_seq BIGINT NOT NULL DEFAULT 0,"
    " read_seq BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (conversation_id, user_id)"
    ");\n"
    /* A user's conversations (the listing, share lookups). */
    "CREATE INDEX conversation_members_user ON conversation_members(user_id, conversation_id);\n"
    "CREATE TABLE messages ("
    " conversation_id BIGINT NOT NULL,"
    " bucket BIGINT NOT NULL,"
    " seq BIGINT NOT NULL,"
    " id BIGINT NOT NULL UNIQUE,"
    " sender_id BIGINT NOT NULL,"
    " client_msg_id TEXT NOT NULL,"
    " text TEXT,"
    " reply_to BIGINT,"
    " created_at BIGINT NOT NULL,"
    " edited_at BIGINT,"
    " deleted_at BIGINT,"
    " PRIMARY KEY (conversation_id, bucket, seq)"
    ");\n"
    "CREATE UNIQUE INDEX messages_sender_client ON messages(sender_id, client_msg_id);\n"
    "CREATE TABLE message_buckets ("
    " conversation_id BIGINT NOT NULL,"
    " bucket BIGINT NOT NULL,"
    " first_seq BIGINT NOT NULL,"
    " PRIMARY KEY (conversation_id, bucket)"
    ");\n"
    "CREATE TABLE chat_push_jobs ("
    " user_id BIGINT NOT NULL,"
    " conversation_id BIGINT NOT NULL,"
    " message_id BIGINT NOT NULL,"
    " seq BIGINT NOT NULL,"
    " pending BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " PRIMARY KEY (user_id, conversation_id)"
    ");\n";
