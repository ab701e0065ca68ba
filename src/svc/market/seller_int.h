/* Internal to the sellers of svc/market: what chorus keeps of a Stripe account object, and
 * the one statement that stores it, shared by onboarding (seller.c) and account.updated
 * (seller_events.c). */
#ifndef CH_SVC_MARKET_SELLER_INT_H
#define CH_SVC_MARKET_SELLER_INT_H

#include <jansson.h>

#include "svc/market/sellers.h"

/** The seller's columns from a Stripe account object (borrowed): requirements and
 * payout_schedule as JSON text (malloc'd). */
typedef struct {
    const char *account_id;
    int charges_enabled, payouts_enabled;
    char *requirements;        /* {"currently_due": [...], "past_due": [...]} */
    const char *disabled_reason; /* NULL when none */
    char *payout_schedule;     /* settings.payouts.schedule, NULL when the account has none */
} ch__seller_state_t;

/** Reads account into *st (account borrowed for st's life). 0 when it is not an account
 * object with an id. */
int ch__seller_state_from(const json_t *account, ch__seller_state_t *st);
/** Frees what st holds. */
void ch__seller_state_clear(ch__seller_state_t *st);

#endif
