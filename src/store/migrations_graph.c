/* Migration 2, "graph": who follows, asked to follow, blocks and mutes whom. Same SQL for
 * SQLite and PostgreSQL (see migrations.c).
 *
 * Every read the graph serves at scale is an index range or point lookup that never
 * touches the table rows:
 *   "does A follow B"                 follows primary key (follower_id, followee_id)
 *   followers of X, newest first      follows_followee (followee_id, id, follower_id)
 *   following of X, newest first      follows_follower (follower_id, id, followee_id)
 *   pending requests to X, newest     follow_requests_target (target_id, id, requester_id)
 *   whom V blocks / mutes             blocks / mutes primary key prefix (V, ...)
 *   who blocks V                      blocks_blocked (blocked_id, blocker_id)
 * Edge ids are time-sortable ids (core/id.h) given when the edge was made, so lists page
 * by keyset on them: an edge made during a walk sorts before its first page and is never
 * seen twice. */
#include "store/db.h"

extern const char ch_migration_graph[];
const char ch_migration_graph[] =
    "CREATE TABLE follows ("
    " follower_id BIGINT NOT NULL REFERENCES users(id),"
    " followee_id BIGINT NOT NULL REFERENCES users(id),"
    " id BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (follower_id, followee_id)"
    ");\n"
    "CREATE UNIQUE INDEX follows_followee ON follows(followee_id, id, follower_id);\n"
    "CREATE UNIQUE INDEX follows_follower ON follows(follower_id, id, followee_id);\n"
    "CREATE TABLE follow_requests ("
    " requester_id BIGINT NOT NULL REFERENCES users(id),"
    " target_id BIGINT NOT NULL REFERENCES users(id),"
    " id BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (requester_id, target_id)"
    ");\n"
    "CREATE UNIQUE INDEX follow_requests_target ON follow_requests(target_id, id, requester_id);\n"
    "CREATE TABLE blocks ("
    " blocker_id BIGINT NOT NULL REFERENCES users(id),"
    " blocked_id BIGINT NOT NULL REFERENCES users(id),"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (blocker_id, blocked_id)"
    ");\n"
    "CREATE INDEX blocks_blocked ON blocks(blocked_id, blocker_id);\n"
    "CREATE TABLE mutes ("
    " muter_id BIGINT NOT NULL REFERENCES users(id),"
    " muted_id BIGINT NOT NULL REFERENCES users(id),"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (muter_id, muted_id)"
    ");\n";
