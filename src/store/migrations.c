/* The relational schema, as an append-only list of migrations. The same SQL text runs on
 * SQLite and PostgreSQL, so it keeps to their common ground: BIGINT ids assigned by the
 * application (time-sortable, see DESIGN.md), INTEGER 0/1 booleans, BIGINT unix-ms times,
 * TEXT for JSON. Never edit a migration that has shipped: add a new one. */
#include "store/db.h"

/* Later migrations live in their domain's file (migrations_<domain>.c). */
extern const char ch_migration_graph[];
extern const char ch_migration_content[];
extern const char ch_migration_events[];
extern const char ch_migration_comments[];
extern const char ch_migration_notifications[];
extern const char ch_migration_idempotency[];
extern const char ch_migration_notification_targets[];
extern const char ch_migration_reactions[];
extern const char ch_migration_db_probe[];
extern const char ch_migration_feed[];
extern const char ch_migration_feed_sources[];
extern const char ch_migration_presence_settings[];
extern const char ch_migration_chat_joined[];
extern const char ch_migration_recon[];
extern const char ch_migration_strays[];
extern const char ch_migration_chat[];
extern const char ch_migration_market[];
extern const char ch_migration_orders[];

/* Accounts: users, login sessions and their refresh tokens, idempotent request replay,
 * server-side secrets, and the transactional outbox that feeds workers. */
static const char ch__migration_accounts[] =
    "CREATE TABLE users ("
    " id BIGINT PRIMARY KEY,"
    " handle TEXT NOT NULL UNIQUE,"
    " password_hash TEXT NOT NULL,"
    " display_name TEXT NOT NULL,"
    " bio TEXT NOT NULL DEFAULT '',"
    " avatar_url TEXT,"
    " is_private INTEGER NOT NULL DEFAULT 0,"
    " interests TEXT NOT NULL DEFAULT '[]',"
    " region TEXT,"
    " followers_count BIGINT NOT NULL DEFAULT 0,"
    " following_count BIGINT NOT NULL DEFAULT 0,"
    " posts_count BIGINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL"
    ");\n"
    "CREATE TABLE sessions ("
    " id BIGINT PRIMARY KEY,"
    " user_id BIGINT NOT NULL REFERENCES users(id),"
    " device_name TEXT NOT NULL DEFAULT '',"
    " created_at BIGINT NOT NULL,"
    " last_seen_at BIGINT NOT NULL,"
    " expires_at BIGINT NOT NULL,"
    " revoked_at BIGINT"
    ");\n"
    "CREATE INDEX sessions_user_created ON sessions(user_id, created_at);\n"
    "CREATE TABLE refresh_tokens ("
    " token_hash TEXT PRIMARY KEY,"
    " session_id BIGINT NOT NULL REFERENCES sessions(id),"
    " created_at BIGINT NOT NULL,"
    " expires_at BIGINT NOT NULL,"
    " used_at BIGINT"
    ");\n"
    "CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);\n"
    "CREATE TABLE idempotency_keys ("
    " user_id BIGINT NOT NULL,"
    " idem_key TEXT NOT NULL,"
    " route TEXT NOT NULL,"
    " request_hash TEXT NOT NULL,"
    " status INTEGER NOT NULL DEFAULT 0,"
    " response TEXT,"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (user_id, idem_key)"
    ");\n"
    "CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);\n"
    "CREATE TABLE server_keys ("
    " name TEXT PRIMARY KEY,"
    " secret TEXT NOT NULL,"
    " created_at BIGINT NOT NULL"
    ");\n"
    "CREATE TABLE outbox ("
    " id BIGINT PRIMARY KEY,"
    " topic TEXT NOT NULL,"
    " aggregate_id BIGINT NOT NULL,"
    " payload TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " published_at BIGINT"
    ");\n"
    "CREATE INDEX outbox_unpublished ON outbox(published_at, id);\n";

const ch_db_migration_t ch_db_migrations[] = {
    {1, "accounts", ch__migration_accounts},
    {2, "graph", ch_migration_graph},
    {3, "content", ch_migration_content},
    {4, "events", ch_migration_events},
    {5, "reactions", ch_migration_reactions},
    {6, "comments", ch_migration_comments},
    {7, "notifications", ch_migration_notifications},
    {8, "notification_targets", ch_migration_notification_targets},
    {9, "idempotency_keys", ch_migration_idempotency},
    {10, "db_probe", ch_migration_db_probe},
    {11, "feed", ch_migration_feed},
    {12, "feed_sources", ch_migration_feed_sources},
    {13, "presence_settings", ch_migration_presence_settings},
    {14, "chat", ch_migration_chat},
    {15, "market", ch_migration_market},
    {16, "orders", ch_migration_orders},
    {17, "chat_joined", ch_migration_chat_joined},
    {18, "recon", ch_migration_recon},
    {19, "strays", ch_migration_strays},
};

const size_t ch_db_migrations_count = sizeof(ch_db_migrations) / sizeof(ch_db_migrations[0]);
