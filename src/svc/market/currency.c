/* The currency table (currency.h): Stripe's list of presentment currencies common to card
 * payments, with Stripe's zero-decimal and three-decimal ones marked. */
#include "svc/market/currency.h"

#include <ctype.h>
#include <string.h>

static const struct {
    char code[4];
    int decimals;
} ch__currencies[] = {
    /* zero-decimal (Stripe: "the amount is in whole units") */
    {"bif", 0}, {"clp", 0}, {"djf", 0}, {"gnf", 0}, {"jpy", 0}, {"kmf", 0}, {"krw", 0}, {"mga", 0},
    {"pyg", 0}, {"rwf", 0}, {"ugx", 0}, {"vnd", 0}, {"vuv", 0}, {"xaf", 0}, {"xof", 0}, {"xpf", 0},
    /* three-decimal */
    {"bhd", 3}, {"jod", 3}, {"kwd", 3}, {"omr", 3}, {"tnd", 3},
    /* two-decimal */
    {"aed", 2}, {"ars", 2}, {"aud", 2}, {"bgn", 2}, {"brl", 2}, {"cad", 2}, {"chf", 2}, {"cny", 2},
    {"czk", 2}, {"dkk", 2}, {"egp", 2}, {"eur", 2}, {"gbp", 2}, {"hkd", 2}, {"huf", 2}, {"idr", 2},
    {"ils", 2}, {"inr", 2}, {"mad", 2}, {"mxn", 2}, {"myr", 2}, {"ngn", 2}, {"nok", 2}, {"nzd", 2},
    {"php", 2}, {"pln", 2}, {"ron", 2}, {"sar", 2}, {"sek", 2}, {"sgd", 2}, {"thb", 2}, {"try", 2},
    {"twd", 2}, {"uah", 2}, {"usd", 2}, {"zar", 2},
};

int ch_currency_lookup(const char *code, int *decimals, char lower[4])
{
    if (!code || strlen(code) != 3)
        return 0;
    char c[4];
    for (int i = 0; i < 3; i++) {
        if (!isalpha((unsigned char)code[i]))
            return 0;
        c[i] = (char)tolower((unsigned char)code[i]);
    }
    c[3] = '\0';
    for (size_t i = 0; i < sizeof(ch__currencies) / sizeof(ch__currencies[0]); i++)
        if (memcmp(ch__currencies[i].code, c, 4) == 0) {
            if (decimals)
                *decimals = ch__currencies[i].decimals;
            if (lower)
                memcpy(lower, c, 4);
            return 1;
        }
    return 0;
}

/* Stripe's minimum charge amounts (docs: "Minimum and maximum charge amounts"), in the minor
 * unit; a currency not listed has one step as its minimum. */
static const struct {
    char code[4];
    long long min;
} ch__minimums[] = {
    {"usd", 50},  {"aed", 200},  {"aud", 50},   {"bgn", 100}, {"brl", 50},  {"cad", 50},   {"chf", 50},
    {"czk", 1500}, {"dkk", 250}, {"eur", 50},   {"gbp", 30},  {"hkd", 400}, {"huf", 17500}, {"inr", 50},
    {"jpy", 50},  {"mxn", 1000}, {"myr", 200},  {"nok", 300}, {"nzd", 50},  {"pln", 200},  {"ron", 200},
    {"sek", 300}, {"sgd", 50},   {"thb", 1000},
};

int ch_currency_amount_ok(const char *lower, long long amount, long long *min, long long *max, long long *step)
{
    int decimals = 2;
    char c[4];
    if (!ch_currency_lookup(lower, &decimals, c))
        return 0;
    long long st = decimals == 3 ? 10 : 1, lo = st, hi = CH_CURRENCY_AMOUNT_MAX;
    for (size_t i = 0; i < sizeof(ch__minimums) / sizeof(ch__minimums[0]); i++)
        if (memcmp(ch__minimums[i].code, c, 4) == 0)
            lo = ch__minimums[i].min;
    if (min)
        *min = lo;
    if (max)
        *max = hi;
    if (step)
        *step = st;
    return amount >= lo && amount <= hi && amount % st == 0;
}

int ch_currency_accepted(const char *accepted, const char *lower)
{
    size_t n = strlen(lower);
    for (const char *c = accepted; c && *c;) {
        const char *end = strchr(c, ',');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len == n && strncmp(c, lower, n) == 0)
            return 1;
        c = end ? end + 1 : NULL;
    }
    return 0;
}
