/* ISO 4217 currencies the marketplace accepts, with the number of decimals of their minor
 * unit as Stripe counts them: amounts are always integers in the smallest unit Stripe
 * takes, so 1000 is 10.00 EUR but 1000 JPY (a zero-decimal currency) and 1.000 KWD. */
#ifndef CH_SVC_MARKET_CURRENCY_H
#define CH_SVC_MARKET_CURRENCY_H

/** Whether code (three letters, either case) is a currency of the table; *decimals (may be
 * NULL) receives its number of minor-unit decimals (0, 2 or 3); lower (may be NULL, 4 bytes)
 * receives the code in lower case, as Stripe writes it. */
int ch_currency_lookup(const char *code, int *decimals, char lower[4]);

/** Whether lower (a code as ch_currency_lookup writes it) is in accepted, a comma list of
 * lower-case codes (CHORUS_MARKET_CURRENCIES: the platform's settlement currencies; Stripe
 * settles in them, so fees, transfers and reconciliation add up without FX). */
int ch_currency_accepted(const char *accepted, const char *lower);

/** Stripe's largest amount for a charge: eight digits of the minor unit (999,999.99 USD). */
#define CH_CURRENCY_AMOUNT_MAX 99999999LL

/** The amounts Stripe takes in currency lower (as ch_currency_lookup writes it): from *min
 * to *max in multiples of *step (10 for the three-decimal BHD/JOD/KWD/OMR/TND, whose last
 * digit Stripe requires to be 0; 1 otherwise). *min is Stripe's published minimum charge
 * where it publishes one (0.50 USD, 0.30 GBP, 50 JPY, ...), else one step. Returns 1 when
 * amount is one of them. Any output pointer may be NULL. */
int ch_currency_amount_ok(const char *lower, long long amount, long long *min, long long *max, long long *step);

#endif
