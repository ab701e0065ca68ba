#include "svc/seed/rng.h"

#include <math.h>

uint64_t ch_seed_next(ch_seed_rng_t *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double ch_seed_unit(ch_seed_rng_t *r)
{
    return (double)(ch_seed_next(r) >> 11) / 9007199254740992.0;
}

size_t ch_seed_pick(ch_seed_rng_t *r, size_t n)
{
    return (size_t)(ch_seed_next(r) % n);
}

size_t ch_seed_popular(ch_seed_rng_t *r, size_t n)
{
    size_t i = (size_t)((double)n * pow(ch_seed_unit(r), 3.0));
    return i < n ? i : n - 1;
}

double ch_seed_exp(ch_seed_rng_t *r, double mean)
{
    return -log(1.0 - ch_seed_unit(r)) * mean; /* 1 - u is in (0, 1] */
}

size_t ch_seed_round(ch_seed_rng_t *r, double x)
{
    double whole = floor(x);
    return (size_t)whole + (ch_seed_unit(r) < x - whole);
}

size_t ch_seed_weighted(ch_seed_rng_t *r, const double *w, size_t n)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    double x = ch_seed_unit(r) * total;
    for (size_t i = 0; i + 1 < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}
