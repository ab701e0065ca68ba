/* Migration 15 "market" (issue 15, brd/market.md): sellers, listings, user roles and the
 * Stripe events the webhook stored. Same SQL for SQLite and PostgreSQL (see migrations.c).
 *
 * - sellers: one Stripe Connect Express account per user. charges_enabled, payouts_enabled,
 *   requirements ({currently_due, past_due} as JSON text), disabled_reason and
 *   payout_schedule (JSON text, as Stripe last answered it) are copied from the account
 *   object of account.updated events; event_created / event_id are those of the event last
 *   applied, so an event of an earlier second arriving late changes nothing.
 * - listings: the seventh engageable type (CH_TARGET_LISTING). Money is price_amount in
 *   minor units of currency (ISO 4217, lower case); lat_e7 / lon_e7 are degrees times 10^7
 *   (integers: about 1 cm, exact, and what an R*Tree or PostGIS index can take later).
 *   state is active | reserved | sold | removed; order_id is the order that holds it
 *   (reserved) or bought it (sold). photos is a JSON array of URLs.
 * - user_roles: authorization roles (svc/auth/roles.h); CHORUS_ADMIN_USERS hold admin too.
 * - stripe_events: every verified webhook event, once by id (the deduplication). */
#include "store/db.h"

extern const char ch_migration_market[];
const char ch_migration_market[] =
    "CREATE TABLE sellers ("
    " user_id BIGINT PRIMARY KEY REFERENCES users(id),"
    " stripe_account_id TEXT NOT NULL UNIQUE,"
    " charges_enabled INTEGER NOT NULL DEFAULT 0,"
    " payouts_enabled INTEGER NOT NULL DEFAULT 0,"
    " requirements TEXT NOT NULL DEFAULT '{\"currently_due\":[],\"past_due\":[]}',"
    " disabled_reason TEXT,"
    " payout_schedule TEXT,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " event_created BIGINT NOT NULL DEFAULT 0,"
    " event_id TEXT NOT NULL DEFAULT ''"
    ");\n"
    "CREATE TABLE listings ("
    " id BIGINT PRIMARY KEY,"
    " seller_id BIGINT NOT NULL REFERENCES users(id),"
    " title TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " price_amount BIGINT NOT NULL,"
    " currency TEXT NOT NULL,"
    " category TEXT NOT NULL,"
    " condition TEXT NOT NULL,"
    " photos TEXT NOT NULL,"
    " lat_e7 BIGINT,"
    " lon_e7 BIGINT,"
    " state TEXT NOT NULL DEFAULT 'active',"
    " order_id BIGINT,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL"
    ");\n"
    /* A seller's listings page: newest first, keyset on id. */
    "CREATE INDEX listings_seller ON listings(seller_id, id);\n"
    "CREATE TABLE user_roles ("
    " user_id BIGINT NOT NULL REFERENCES users(id),"
    " role TEXT NOT NULL,"
    " granted_by BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (user_id, role)"
    ");\n"
    "CREATE TABLE stripe_events ("
    " id TEXT PRIMARY KEY,"
    " type TEXT NOT NULL,"
    " created BIGINT NOT NULL,"
    " payload TEXT NOT NULL,"
    " received_at BIGINT NOT NULL"
    ");\n"
    "CREATE INDEX stripe_events_received ON stripe_events(received_at);\n";
