/* Migration 19 "strays": the first POST of a job, and payments that landed on a PaymentIntent that is not its order's
 * (issue 15, svc/market/strays.h). Same SQL for SQLite and PostgreSQL.
 *
 * - market_stray_payments: one row per such PaymentIntent (payment_intent_id unique: a
 *   webhook delivered again, or another event of the same PaymentIntent, finds the row and
 *   changes nothing). order_id is the order its metadata names; amount/currency what
 *   Stripe received; charge_id its charge (NULL when the event named none); refund_id the
 *   refund that sent it back. state 'refunding' until the refund is stored, then
 *   'refunded'. Its refund is a market_jobs row of kind 'stray' whose order_id is this
 *   row's id (a job row keys its Stripe Idempotency-Key by (order_id, step), and a step of
 *   32 characters cannot hold a PaymentIntent's id).
 * - market_jobs.first_post_at: when the job first sent its POST with its Idempotency-Key
 *   (NULL: never). The park rule (a key Stripe may have forgotten after 24 h) reads it,
 *   not created_at, which a rearm resets and which a job that waits without posting
 *   (a refund waiting for its reversal) ages all the same. A rearm keeps it: it is the
 *   key's age. */
#include "store/db.h"

extern const char ch_migration_strays[];
const char ch_migration_strays[] =
    "CREATE TABLE market_stray_payments ("
    " id BIGINT PRIMARY KEY,"
    " payment_intent_id TEXT NOT NULL UNIQUE,"
    " order_id BIGINT NOT NULL,"
    " amount BIGINT NOT NULL CHECK (amount > 0),"
    " currency TEXT NOT NULL,"
    " charge_id TEXT,"
    " refund_id TEXT,"
    " state TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL"
    ");\n"
    "CREATE INDEX market_stray_payments_order ON market_stray_payments(order_id, id);\n"
    "ALTER TABLE market_jobs ADD COLUMN first_post_at BIGINT;\n";
