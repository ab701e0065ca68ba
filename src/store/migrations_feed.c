/* Migration 11 "feed": what the feed's fan-out policy (svc/feed/policy.h) keeps per author:
 * the posting rate (items per hour, exponentially decayed, kept at rate_at), updated by the
 * fan-out worker for every post or reel it sees, read by the home feed to decide which
 * followees it pulls. */
#include "store/db.h"

extern const char ch_migration_feed[];
const char ch_migration_feed[] =
    "CREATE TABLE feed_authors ("
    " author_id BIGINT PRIMARY KEY,"
    " post_rate DOUBLE PRECISION NOT NULL,"
    " rate_at BIGINT NOT NULL"
    ");\n";
