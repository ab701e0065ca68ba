/* Migration 10 "db_probe": one row that /readyz's write probe upserts (ch_db_probe_write),
 * so that readiness fails when the database can answer but not write (disk full, read-only
 * file system or server). */
#include "store/db.h"

extern const char ch_migration_db_probe[];
const char ch_migration_db_probe[] =
    "CREATE TABLE db_probe ("
    " id BIGINT PRIMARY KEY,"
    " written_at BIGINT NOT NULL"
    ");\n";
