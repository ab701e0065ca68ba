/* Migration 4 "events": the engagement event log. In embedded mode it is the log; in
 * cluster mode it is also the outbox from which batches are shipped to ClickHouse
 * (shipped_at marks what went). */
#include "store/db.h"

extern const char ch_migration_events[];
const char ch_migration_events[] =
    "CREATE TABLE engagement_events ("
    " id BIGINT PRIMARY KEY,"
    " ts BIGINT NOT NULL,"
    " user_id BIGINT NOT NULL,"
    " kind TEXT NOT NULL,"
    " target_type TEXT NOT NULL,"
    " target_id BIGINT NOT NULL,"
    " author_id BIGINT NOT NULL,"
    " value DOUBLE PRECISION NOT NULL,"
    " shipped_at BIGINT"
    ");\n"
    "CREATE INDEX engagement_events_unshipped ON engagement_events(shipped_at, id);\n"
    "CREATE INDEX engagement_events_target ON engagement_events(target_type, target_id, ts);\n";
