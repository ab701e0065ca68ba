/* Migration 5 "reactions": reactions, the persisted per-target counters and views. Same SQL
 * for SQLite and PostgreSQL (see migrations.c).
 *
 * The rows are the truth: `reactions` holds one row per (target, user) and `views` one row
 * per (target, viewer). `target_counters` is derived from them: every write moves it, in
 * the same transaction, by exactly what its statements changed, and `chorusd
 * repair-counters` recomputes it from the rows (svc/engage/counters.h). Column names carry
 * an r_ prefix because LIKE is an SQL keyword. */
#include "store/db.h"

extern const char ch_migration_reactions[];
const char ch_migration_reactions[] =
    /* id is time-sortable, given when the user reacts and kept when the kind changes: the
     * list is newest first by id, paged by keyset on it. prev_kind is the kind the last
     * change replaced, so that one upsert tells the writer what it changed (RETURNING). */
    "CREATE TABLE reactions ("
    " target_type TEXT NOT NULL,"
    " target_id BIGINT NOT NULL,"
    " user_id BIGINT NOT NULL REFERENCES users(id),"
    " kind TEXT NOT NULL,"
    " prev_kind TEXT,"
    " id BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (target_type, target_id, user_id)"
    ");\n"
    /* Who reacted, newest first; and the same filtered by ?kind=. */
    "CREATE INDEX reactions_target_id ON reactions(target_type, target_id, id);\n"
    "CREATE INDEX reactions_target_kind_id ON reactions(target_type, target_id, kind, id);\n"
    /* One row per target that was ever engaged with; a missing row means all zero. */
    "CREATE TABLE target_counters ("
    " target_type TEXT NOT NULL,"
    " target_id BIGINT NOT NULL,"
    " r_like BIGINT NOT NULL DEFAULT 0,"
    " r_love BIGINT NOT NULL DEFAULT 0,"
    " r_haha BIGINT NOT NULL DEFAULT 0,"
    " r_wow BIGINT NOT NULL DEFAULT 0,"
    " r_sad BIGINT NOT NULL DEFAULT 0,"
    " r_angry BIGINT NOT NULL DEFAULT 0,"
    " comments BIGINT NOT NULL DEFAULT 0,"
    " views BIGINT NOT NULL DEFAULT 0,"
    " watch_ms BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (target_type, target_id)"
    ");\n"
    /* A viewer's views of one target. counted_at opens the current 24 h window, count_id is
     * the id of the view that opened it (so a request learns from RETURNING whether it was
     * the one that counted, even when two land in the same millisecond), counted is how many
     * windows were opened in all (the views counter is the sum of it). */
    "CREATE TABLE views ("
    " target_type TEXT NOT NULL,"
    " target_id BIGINT NOT NULL,"
    " user_id BIGINT NOT NULL REFERENCES users(id),"
    " counted_at BIGINT NOT NULL,"
    " count_id BIGINT NOT NULL,"
    " counted BIGINT NOT NULL DEFAULT 1,"
    " watch_ms_total BIGINT NOT NULL DEFAULT 0,"
    " last_viewed_at BIGINT NOT NULL,"
    " PRIMARY KEY (target_type, target_id, user_id)"
    ");\n"
    /* Story views recorded before this migration become views, and their count moves from
     * items.views_count to the counters: one source of truth from here on. */
    "INSERT INTO views(target_type, target_id, user_id, counted_at, count_id, counted, watch_ms_total,"
    " last_viewed_at)"
    " SELECT 'story', story_id, viewer_id, viewed_at, 0, 1, 0, viewed_at FROM story_views;\n"
    "INSERT INTO target_counters(target_type, target_id, views)"
    " SELECT 'story', story_id, COUNT(*) FROM story_views GROUP BY story_id;\n";
