/* Migration 12 "feed_sources": what the feed's candidate sources, feedback and user
 * suggestions read (svc/feed/sources*.c, feedback.c, suggest.c), as index ranges:
 *
 * - reactions_user, comments_author: a user's engagements, newest first (keyset on the
 *   time-sortable id), for "engaged by people you follow" and a viewer's recent tags.
 * - velocity_recent: the targets engaged with in the last days, for the popular top-K.
 * - users_popular, users_region_popular: the most followed accounts, globally and per
 *   region, for suggestions (cold start).
 * - feed_feedback: what a viewer said about an item (POST /v1/feed/feedback), one row per
 *   (user, target, signal); a repeat is the same row. author_id is the item's author when
 *   the signal was given (see_less_author, see_more act on it). id is time-sortable: the
 *   newest CH_FEED_FEEDBACK_MAX rows of a user are kept, older ones trimmed on insert. */
#include "store/db.h"

extern const char ch_migration_feed_sources[];
const char ch_migration_feed_sources[] =
    "CREATE INDEX reactions_user ON reactions(user_id, id);\n"
    "CREATE INDEX comments_author ON comments(author_id, id);\n"
    "CREATE INDEX velocity_recent ON velocity(updated_at);\n"
    "CREATE INDEX users_popular ON users(followers_count, id);\n"
    "CREATE INDEX users_region_popular ON users(region, followers_count, id);\n"
    "CREATE TABLE feed_feedback ("
    " user_id BIGINT NOT NULL,"
    " target_type TEXT NOT NULL,"
    " target_id BIGINT NOT NULL,"
    " signal TEXT NOT NULL,"
    " author_id BIGINT NOT NULL,"
    " id BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (user_id, target_type, target_id, signal)"
    ");\n"
    "CREATE INDEX feed_feedback_user_id ON feed_feedback(user_id, id);\n";
