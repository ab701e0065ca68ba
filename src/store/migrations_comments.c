/* Migration 6 "comments": comments and replies, mentions, hashtags and their hourly use
 * counts for trending. Same SQL for SQLite and PostgreSQL (see migrations.c).
 *
 * - comments: one level of nesting — parent_id is NULL for a top-level comment and the
 *   top-level comment's id for a reply. (target_type, target_id) is always the commented
 *   item, never another comment. Deletion is soft: deleted_at is set and text, mentions and
 *   hashtags are cleared, so a deleted comment that still has replies keeps its place in
 *   the thread. replies_count counts live replies and moves in the transaction that adds
 *   or deletes one. mentions / hashtags are the JSON arrays the API renders, written with
 *   the mentions and hashtags rows (as on items, below).
 * - mentions: the resolved @handles of a text, one row per (target, user). removed_at is
 *   set when an edit drops the mention, so that a user mentioned again later is not
 *   notified twice.
 * - hashtags: one row per (tag, target); created_at is when the tag came to the target.
 *   Rows of a deleted item or comment are removed.
 * - hashtag_hours: uses of a tag per hour (hour = unix ms / 3,600,000), moved with the
 *   hashtags rows; the baseline of trending.
 * - items.mentions / items.hashtags: the same JSON arrays for posts and reels, so that
 *   every read path renders them from the item row without another query. */
#include "store/db.h"

extern const char ch_migration_comments[];
const char ch_migration_comments[] =
    "CREATE TABLE comments ("
    " id BIGINT PRIMARY KEY,"
    " target_type TEXT NOT NULL,"
    " target_id BIGINT NOT NULL,"
    " parent_id BIGINT,"
    " author_id BIGINT NOT NULL REFERENCES users(id),"
    " text TEXT,"
    " mentions TEXT,"
    " hashtags TEXT,"
    " replies_count BIGINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL,"
    " deleted_at BIGINT"
    ");\n"
    /* Top-level comments of a target, newest first (keyset on id); "top" ranks them. */
    "CREATE INDEX comments_target_top ON comments(target_type, target_id, id) WHERE parent_id IS NULL;\n"
    /* Replies of a comment, oldest first. */
    "CREATE INDEX comments_parent ON comments(parent_id, id) WHERE parent_id IS NOT NULL;\n"
    "CREATE TABLE mentions ("
    " target_type TEXT NOT NULL,"
    " target_id BIGINT NOT NULL,"
    " user_id BIGINT NOT NULL REFERENCES users(id),"
    " author_id BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " removed_at BIGINT,"
    " PRIMARY KEY (target_type, target_id, user_id)"
    ");\n"
    /* Where a user is mentioned, newest first. */
    "CREATE INDEX mentions_user ON mentions(user_id, target_id);\n"
    "CREATE TABLE hashtags ("
    " tag TEXT NOT NULL,"
    " target_type TEXT NOT NULL,"
    " target_id BIGINT NOT NULL,"
    " author_id BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (tag, target_type, target_id)"
    ");\n"
    /* A tag's page, newest first: ids are time-sortable and unique across targets. */
    "CREATE INDEX hashtags_tag_recent ON hashtags(tag, target_id);\n"
    /* A target's tags (edit, delete). */
    "CREATE INDEX hashtags_target ON hashtags(target_type, target_id);\n"
    /* Uses in the last hour, for trending. */
    "CREATE INDEX hashtags_created ON hashtags(created_at, tag);\n"
    "CREATE TABLE hashtag_hours ("
    " tag TEXT NOT NULL,"
    " hour BIGINT NOT NULL,"
    " uses BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (tag, hour)"
    ");\n"
    "ALTER TABLE items ADD COLUMN mentions TEXT;\n"
    "ALTER TABLE items ADD COLUMN hashtags TEXT;\n";
