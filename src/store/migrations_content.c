/* Migration 3, "content": what authors create — posts, reels and stories — and who has seen
 * which story. Same SQL for SQLite and PostgreSQL (see migrations.c). */
#include "store/db.h"

/* One polymorphic table for the three authored types, so that engagement, feeds and search
 * address every item as (type, id) and share one row layout:
 *   post:  text, media (JSON array of {url, kind, width, height}), visibility
 *   reel:  text (the caption), video_url, cover_url, duration_ms
 *   story: media_url, kind, duration_ms, expires_at
 * Deletion is soft (deleted_at) so ids are never reused and workers can still read what
 * went away. views_count is kept in the transaction that inserts into story_views. */
extern const char ch_migration_content[];
const char ch_migration_content[] =
    "CREATE TABLE items ("
    " id BIGINT PRIMARY KEY,"
    " type TEXT NOT NULL,"
    " author_id BIGINT NOT NULL REFERENCES users(id),"
    " text TEXT,"
    " media TEXT,"
    " visibility TEXT NOT NULL DEFAULT 'public',"
    " video_url TEXT,"
    " cover_url TEXT,"
    " media_url TEXT,"
    " kind TEXT,"
    " duration_ms BIGINT,"
    " views_count BIGINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL,"
    " edited_at BIGINT,"
    " deleted_at BIGINT,"
    " expires_at BIGINT"
    ");\n"
    /* Author timelines: newest first, keyset on id. */
    "CREATE INDEX items_author_type ON items(author_id, type, id);\n"
    /* Active stories of an author: only the unexpired tail is scanned, however many
     * stories the author posted over the years. */
    "CREATE INDEX items_live_stories ON items(author_id, expires_at)"
    " WHERE type = 'story' AND deleted_at IS NULL;\n"
    "CREATE TABLE story_views ("
    " story_id BIGINT NOT NULL REFERENCES items(id),"
    " viewer_id BIGINT NOT NULL REFERENCES users(id),"
    " viewed_at BIGINT NOT NULL,"
    " PRIMARY KEY (story_id, viewer_id)"
    ");\n"
    /* The viewers list: newest first, keyset on (viewed_at, viewer_id). */
    "CREATE INDEX story_views_story_time ON story_views(story_id, viewed_at, viewer_id);\n";
