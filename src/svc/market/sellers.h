/* Sellers (brd/market.md "Sellers"): a user's Stripe Connect Express account, onboarded
 * through Account Links, kept current from account.updated webhooks (svc/market/webhook.c),
 * stored in the `sellers` table (migration 15). A seller may list once Stripe says
 * charges_enabled. Stripe is reached through svc->stripe (store/stripe.h); when it is NULL
 * (CHORUS_STRIPE_SECRET_KEY unset) every call that needs Stripe is CH_EUNAVAILABLE. */
#ifndef CH_SVC_MARKET_SELLERS_H
#define CH_SVC_MARKET_SELLERS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

/* Room for a Stripe account id ("acct_" + up to 250 characters) and its NUL. */
#define CH_SELLER_ACCOUNT_ID_MAX 256

/** The Stripe account of user_id, read on conn (borrowed; NULL borrows one from the pool;
 * may be inside the caller's transaction): copies the account id into account_id_out (size
 * bytes, at least CH_SELLER_ACCOUNT_ID_MAX) and sets *charges_enabled (may be NULL).
 * CH_ENOTFOUND when the user has no seller account; CH_EUNAVAILABLE when the database
 * cannot answer. For orders: the destination of a transfer. */
ch_err_t ch_seller_account_for_user(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t user_id, char *account_id_out,
                                    size_t size, int *charges_enabled);

/** POST /v1/me/seller: makes (once) user's Express account and a fresh onboarding Account
 * Link. body (borrowed, may be NULL) may carry {refresh_url, return_url}; otherwise the
 * setting CHORUS_MARKET_ONBOARDING_URL applies (with ?step=refresh / ?step=return). *out is {account_id,
 * onboarding_url, expires_at} (caller owns it); *created is 1 when the account was made by
 * this call. CH_EUNAVAILABLE when Stripe is not configured or does not answer (nothing
 * stored half: the account id is stored only once Stripe made it, and the creation is
 * idempotent by the key seller:<user_id>:account). */
ch_err_t ch_seller_onboard(ch_svc_t *svc, uint64_t user_id, const json_t *body, json_t **out, int *created,
                           ch_fault_t *f);
/** GET /v1/me/seller: {account_id, charges_enabled, payouts_enabled, requirements:
 * {currently_due, past_due, disabled_reason}, payout_schedule, updated_at} (caller owns
 * *out). CH_ENOTFOUND when user is no seller. */
ch_err_t ch_seller_get(ch_svc_t *svc, uint64_t user_id, json_t **out, ch_fault_t *f);
/** PATCH /v1/me/seller {payout_schedule}: validates it, sends it to Stripe and stores the
 * schedule Stripe answers. CH_EINVAL naming the field, CH_ENOTFOUND when user is no seller,
 * CH_EUNAVAILABLE when Stripe is not configured or does not answer (nothing stored). *out
 * is the seller object as ch_seller_get. */
ch_err_t ch_seller_update(ch_svc_t *svc, uint64_t user_id, const json_t *body, json_t **out, ch_fault_t *f);

#endif
