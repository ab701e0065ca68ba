/* Migration 7 "notifications": grouped notifications, the cursors of the workers that
 * consume the outbox and the event log, and the ranking signals folded from the log.
 *
 * - notifications: one row per (recipient, kind, target); target_type '' and target_id 0
 *   for kinds without a target (follow, follow_request). `gid` is the stable key; `id` is
 *   the group's version, a new time-sortable id each time an actor joins, so "newest
 *   first" and "read up to id X" are plain keyset conditions on (user_id, id). The three
 *   newest actors are kept in the row (actor1_id newest) so a page is one indexed read.
 * - notification_actors: who is in each group (exact, de-duplicated counts; recomputing
 *   the first three when one leaves; finding every group of an actor on block or mute).
 * - consumer_offsets: per consumer, every row of its source with id <= last_id is done;
 *   consumer_seen: rows above last_id already done (see svc/worker/consumer.h).
 * - affinity, velocity: time-decayed scores, read by primary key (svc/engage/signals.h). */
#include "store/db.h"

extern const char ch_migration_notifications[];
const char ch_migration_notifications[] =
    "CREATE TABLE notifications ("
    " gid BIGINT PRIMARY KEY,"
    " user_id BIGINT NOT NULL,"
    " kind TEXT NOT NULL,"
    " target_type TEXT NOT NULL,"
    " target_id BIGINT NOT NULL,"
    " id BIGINT NOT NULL,"
    " actor1_id BIGINT,"
    " actor2_id BIGINT,"
    " actor3_id BIGINT,"
    " actors_count BIGINT NOT NULL,"
    " is_read INTEGER NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL"
    ");\n"
    "CREATE UNIQUE INDEX notifications_group ON notifications(user_id, kind, target_type, target_id);\n"
    "CREATE UNIQUE INDEX notifications_user_id ON notifications(user_id, id);\n"
    "CREATE INDEX notifications_unread ON notifications(user_id, id) WHERE is_read = 0;\n"
    "CREATE TABLE notification_actors ("
    " gid BIGINT NOT NULL,"
    " actor_id BIGINT NOT NULL,"
    " user_id BIGINT NOT NULL,"
    " seq BIGINT NOT NULL,"
    " PRIMARY KEY (gid, actor_id)"
    ");\n"
    "CREATE INDEX notification_actors_latest ON notification_actors(gid, seq);\n"
    "CREATE INDEX notification_actors_user ON notification_actors(user_id, actor_id);\n"
    "CREATE TABLE consumer_offsets ("
    " name TEXT PRIMARY KEY,"
    " last_id BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL"
    ");\n"
    "CREATE TABLE consumer_seen ("
    " name TEXT NOT NULL,"
    " event_id BIGINT NOT NULL,"
    " PRIMARY KEY (name, event_id)"
    ");\n"
    "CREATE TABLE affinity ("
    " viewer_id BIGINT NOT NULL,"
    " author_id BIGINT NOT NULL,"
    " score DOUBLE PRECISION NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " PRIMARY KEY (viewer_id, author_id)"
    ");\n"
    "CREATE TABLE velocity ("
    " target_type TEXT NOT NULL,"
    " target_id BIGINT NOT NULL,"
    " score DOUBLE PRECISION NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " PRIMARY KEY (target_type, target_id)"
    ");\n";

/* Migration 8 "notification_targets": finding every group about one target, to drop them
 * when the target is deleted. */
extern const char ch_migration_notification_targets[];
const char ch_migration_notification_targets[] =
    "CREATE INDEX notifications_target ON notifications(target_type, target_id);\n";
