/* Feed lab, cost model: the total cost per hour of delivering every item of a community to
 * its followers under push-all, pull-all and the per-(author, follower) hybrid of
 * svc/feed/policy.h, on four synthetic communities (read-heavy, write-heavy,
 * celebrity-heavy, mixed). The model of "Feeding Frenzy" (Silberstein et al., SIGMOD
 * 2010): an edge author -> follower costs p·H per hour when pushed (one timeline insert per
 * item the author posts) and c·L when pulled (one query of the author at each read of the
 * follower), so
 *   push-all = Σ_edges p·H,   pull-all = Σ_edges c·L,   hybrid = Σ_edges (rule ? p·H : c·L)
 * where the rule is ch_feed_policy_push (the writer's decision, with the celebrity rule).
 * Also printed: the ideal per-edge minimum (no celebrity rule), and the hybrid "as served":
 * the reader pulls with the policy's hysteresis margin (ch_feed_policy_pull), so an edge
 * in that margin costs both its push and its pull.
 *
 * No server, no database: the communities are generated in memory, deterministically
 * (splitmix64, the seed's generator). Run by `make feedlab` and `make bench`.
 *
 * Usage: costmodel [--users N] [--seed S] [--strict]
 *   --strict: exit 1 when a goal of issue 11 is missed (hybrid <= min(push, pull) on the
 *   read-heavy, write-heavy and celebrity-heavy communities; < both on the mixed one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/feed/policy.h"
#include "svc/seed/rng.h"

#define CH_LAB_DEFAULT_USERS 50000
#define CH_LAB_MAX_USERS 2000000
/* Rates are drawn log-normally around a median; sigma of ln(rate). */
#define CH_LAB_RATE_SIGMA 1.0

/* One synthetic community: rate medians (per hour) for posting and reading, how many
 * followees an ordinary user has, and the celebrities. A `share` of the users (the
 * "mixed" community) draws from the second pair of medians instead. */
typedef struct {
    const char *name;
    double post_median, read_median;     /* most users */
    double share2;                       /* share of users with the second profile */
    double post_median2, read_median2;
    unsigned follows;                    /* mean followees of an ordinary user */
    unsigned celebrities;                /* accounts every `celeb_share` of users follow */
    double celeb_share;
    double celeb_post;                   /* celebrities' posting rate per hour */
    int goal;                            /* 1: hybrid <= min(push, pull); 2: < both; 0: none */
} ch_lab_community_t;

static const ch_lab_community_t ch_lab_communities[] = {
    /* Readers: post about once a day, read every half hour. */
    {"read-heavy", 0.04, 2.0, 0, 0, 0, 40, 0, 0, 0, 1},
    /* Writers (bots, news, busy posters): several posts an hour, read twice a day. */
    {"write-heavy", 4.0, 0.08, 0, 0, 0, 40, 0, 0, 0, 1},
    /* Ordinary users plus 20 celebrities (news-like accounts posting 5 times an hour),
     * each followed by a third of everyone; the audience reads a few times a day. */
    {"celebrity-heavy", 0.1, 0.2, 0, 0, 0, 20, 20, 0.35, 5.0, 1},
    /* Half heavy readers who rarely post, half heavy posters who rarely read. */
    {"mixed", 0.04, 2.0, 0.5, 4.0, 0.08, 40, 0, 0, 0, 2},
    /* Not a goal, the price of the celebrity rule: the same celebrities posting once an
     * hour, to followers for whom a push would be cheaper than their pulls. */
    {"celebrity, slow posters", 0.1, 0.2, 0, 0, 0, 20, 20, 0.35, 1.0, 0},
};

typedef struct {
    double push_all, pull_all, hybrid, ideal, served;
    unsigned long long edges, pushed_edges, celebrity_edges;
    unsigned long long max_followers;
} ch_lab_costs_t;

static double ch__lognormal(ch_seed_rng_t *r, double median)
{
    /* Box-Muller: one normal draw. */
    double u1 = 1.0 - ch_seed_unit(r), u2 = ch_seed_unit(r);
    double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
    return median * exp(CH_LAB_RATE_SIGMA * z);
}

/* Followee j of user i in the ordinary graph: power law over the users (the seed's n·u^3,
 * made milder with ^2 so that no ordinary account reaches the celebrity threshold). */
static size_t ch__followee(ch_seed_rng_t *r, size_t n)
{
    double u = ch_seed_unit(r);
    size_t j = (size_t)((double)n * u * u);
    return j < n ? j : n - 1;
}

/* Walks every edge of community c twice with the same draws: first to count followers,
 * then to cost each edge with the author's follower count known. */
static int ch__cost(const ch_lab_community_t *c, size_t n, uint64_t seed, const ch_feed_policy_t *pol,
                    ch_lab_costs_t *out)
{
    double *post = malloc(n * sizeof(*post)), *read = malloc(n * sizeof(*read));
    unsigned *followers = calloc(n, sizeof(*followers));
    if (!post || !read || !followers) {
        free(post);
        free(read);
        free(followers);
        return -1;
    }
    ch_seed_rng_t rr = {seed};
    for (size_t i = 0; i < n; i++) {
        int second = c->share2 > 0 && ch_seed_unit(&rr) < c->share2;
        post[i] = ch__lognormal(&rr, second ? c->post_median2 : c->post_median);
        read[i] = ch__lognormal(&rr, second ? c->read_median2 : c->read_median);
        if (i < c->celebrities)
            post[i] = c->celeb_post;
    }
    memset(out, 0, sizeof(*out));
    for (int pass = 0; pass < 2; pass++) {
        ch_seed_rng_t r = {seed ^ 0x666f6c6c6f7773ULL};
        for (size_t f = 0; f < n; f++) {
            size_t degree = c->follows / 4 + ch_seed_pick(&r, c->follows * 3 / 2 + 1);
            /* Ordinary followees (duplicates allowed: the model counts edge costs). */
            for (size_t d = 0; d <= degree + c->celebrities; d++) {
                size_t a;
                if (d < c->celebrities) { /* the celebrities first, each with its share */
                    if (ch_seed_unit(&r) >= c->celeb_share)
                        continue;
                    a = d;
                } else if (d == degree + c->celebrities) {
                    break;
                } else {
                    a = c->celebrities + ch__followee(&r, n - c->celebrities);
                }
                if (a == f)
                    continue;
                if (pass == 0) {
                    followers[a]++;
                    continue;
                }
                double push = post[a] * pol->push_cost, pull = read[f] * pol->pull_cost;
                int p = ch_feed_policy_push(pol, followers[a], post[a], read[f]);
                int reader_pulls = ch_feed_policy_pull(pol, followers[a], post[a], read[f]);
                out->edges++;
                out->push_all += push;
                out->pull_all += pull;
                out->hybrid += p ? push : pull;
                out->ideal += push < pull ? push : pull;
                out->served += (p ? push : 0) + (reader_pulls ? pull : 0);
                out->pushed_edges += (unsigned long long)p;
                out->celebrity_edges += pol->celebrity_followers > 0 && followers[a] >= pol->celebrity_followers;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (followers[i] > out->max_followers)
            out->max_followers = followers[i];
    free(post);
    free(read);
    free(followers);
    return 0;
}

static void ch__usage(void)
{
    fprintf(stderr, "usage: costmodel [--users N (2-%d)] [--seed S] [--strict]\n", CH_LAB_MAX_USERS);
    exit(2);
}

int main(int argc, char **argv)
{
    size_t n = CH_LAB_DEFAULT_USERS;
    uint64_t seed = 42;
    int strict = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--users") == 0 && i + 1 < argc) {
            char *end;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end || v < 2 || v > CH_LAB_MAX_USERS)
                ch__usage();
            n = v;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--strict") == 0) {
            strict = 1;
        } else {
            ch__usage();
        }
    }
    ch_feed_policy_t pol = ch_feed_policy_default();
    printf("Feed lab cost model (Feeding Frenzy, SIGMOD 2010): cost per hour, H = %.1f per timeline insert, "
           "L = %.1f per author pulled at a read;\nhybrid = the writer's rule of svc/feed/policy.h with the "
           "celebrity rule (>= %lld followers: pull); %zu users per community, seed %llu.\n\n",
           pol.push_cost, pol.pull_cost, (long long)pol.celebrity_followers, n, (unsigned long long)seed);
    printf("| community | edges | max followers | celebrity edges | push-all | pull-all | hybrid | hybrid / min | "
           "pushed edges | ideal min | as served | goal |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    int missed = 0;
    for (size_t k = 0; k < sizeof(ch_lab_communities) / sizeof(ch_lab_communities[0]); k++) {
        const ch_lab_community_t *c = &ch_lab_communities[k];
        ch_lab_costs_t r;
        if (ch__cost(c, n, seed + k, &pol, &r) != 0) {
            fprintf(stderr, "costmodel: out of memory\n");
            return 1;
        }
        double lo = r.push_all < r.pull_all ? r.push_all : r.pull_all;
        /* Relative slack for rounding of sums of many doubles. */
        int ok = c->goal == 2 ? r.hybrid < r.push_all && r.hybrid < r.pull_all : r.hybrid <= lo * (1 + 1e-9);
        const char *verdict = c->goal == 0   ? "(no goal)"
                              : c->goal == 2 ? (ok ? "met (< both)" : "MISSED (< both)")
                                             : (ok ? "met (<= min)" : "MISSED (<= min)");
        missed |= c->goal && !ok;
        printf("| %s | %llu | %llu | %llu | %.0f | %.0f | %.0f | %.3f | %.1f %% | %.0f | %.0f | %s |\n", c->name,
               r.edges, r.max_followers, r.celebrity_edges, r.push_all, r.pull_all, r.hybrid, r.hybrid / lo,
               r.edges ? 100.0 * (double)r.pushed_edges / (double)r.edges : 0.0, r.ideal, r.served, verdict);
    }
    printf("\nideal min: every edge at its cheaper cost (no celebrity rule); as served: the reader also pulls "
           "the edges within the policy's hysteresis margin (x%.0f), which then cost both.\n",
           pol.hysteresis);
    return strict && missed ? 1 : 0;
}
