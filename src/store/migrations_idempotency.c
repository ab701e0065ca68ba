/* Migration 9 "idempotency_keys": records that commit with their request's effect and hold
 * no secrets (svc/common/idempotency.h). The old table kept a keyed hash of whole bodies
 * (a registration's password among them) and sealed responses with live tokens under a key
 * kept in server_keys; both go, with that key. Old records are simply dropped: a retry of
 * a request made before the upgrade runs again. `fingerprint` is a plain hash of the
 * request without secret fields; `response` is the answer without tokens; rows older than
 * the replay window are swept by created_at. */
#include "store/db.h"

extern const char ch_migration_idempotency[];
const char ch_migration_idempotency[] =
    "DROP TABLE idempotency_keys;\n"
    "DELETE FROM server_keys WHERE name = 'response_sealing';\n"
    "CREATE TABLE idempotency_keys ("
    " user_id BIGINT NOT NULL,"
    " idem_key TEXT NOT NULL,"
    " route TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " response TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (user_id, idem_key)"
    ");\n"
    "CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);\n";
