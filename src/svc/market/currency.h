/* ISO 4217 currencies the marketplace accepts, with the number of decimals of their minor
 * unit as Stripe counts them: amounts are always integers in the smallest unit Stripe
 * takes, so 1000 is 10.00 EUR but 1000 JPY (a zero-decimal currency) and 1.000 KWD. */
#ifndef CH_SVC_MARKET_CURRENCY_H
#define CH_SVC_MARKET_CURRENCY_H

/** Whether code (three letters, either case) is a currency of the table; *decimals (may be
 * NULL) receives its number of minor-unit decimals (0, 2 or 3); lower (may be NULL, 4 bytes)
 * receives the code in lower case, as Stripe writes it. */
int ch_currency_lookup(const char *code, int *decimals, char lower[4]);

#endif
