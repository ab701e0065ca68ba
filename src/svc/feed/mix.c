/* Mixing after scoring: a greedy pass over the ranked list (mix.h). O(n^2) in the worst
 * case, n <= CH_FEED_MIX_MAX; on ordinary lists each position looks at a few items. */
#include "svc/feed/mix.h"

#include <string.h>

/* Which rules a pick must keep at this position (bit per rule). */
enum { CH__RULE_RUN = 1, CH__RULE_REEL = 2, CH__RULE_OON = 4 };

int ch_feed_mix(const ch_feed_mix_item_t *items, size_t n, const ch_feed_mix_params_t *params, size_t *order_out)
{
    if (n > CH_FEED_MIX_MAX)
        return -1;
    unsigned char used[CH_FEED_MIX_MAX];
    memset(used, 0, n);
    size_t in_network = 0, reels_left = 0;
    for (size_t i = 0; i < n; i++) {
        in_network += items[i].in_network != 0;
        reels_left += items[i].is_reel != 0;
    }
    int cap_oon = in_network >= CH_FEED_MIX_SUPPLY_MIN && params->oon_share < 100;
    size_t oon = 0, since_reel = 0, run = 0, first = 0; /* first: lowest unused index */
    uint64_t last_author = 0;
    for (size_t pos = 0; pos < n; pos++) {
        while (used[first])
            first++;
        int need_reel = params->reel_every > 0 && reels_left > 0 && since_reel + 1 >= (size_t)params->reel_every;
        size_t pick = n;
        for (unsigned rules = CH__RULE_RUN | CH__RULE_REEL | CH__RULE_OON; pick == n;) {
            for (size_t i = first; i < n; i++) {
                if (used[i])
                    continue;
                const ch_feed_mix_item_t *it = &items[i];
                if ((rules & CH__RULE_RUN) && pos > 0 && run >= CH_FEED_MIX_MAX_RUN && it->author_id == last_author)
                    continue;
                if ((rules & CH__RULE_REEL) && need_reel && !it->is_reel)
                    continue;
                if ((rules & CH__RULE_OON) && cap_oon && !it->in_network &&
                    (oon + 1) * 100 > (size_t)params->oon_share * (pos + 1))
                    continue;
                pick = i;
                break;
            }
            /* give way: out-of-network cap first, then the reel quota, then the author run */
            if (pick == n)
                rules = (rules & CH__RULE_OON) ? rules & ~(unsigned)CH__RULE_OON
                        : (rules & CH__RULE_REEL) ? rules & ~(unsigned)CH__RULE_REEL
                                                   : 0;
            if (pick == n && rules == 0) {
                pick = first;
                break;
            }
        }
        const ch_feed_mix_item_t *it = &items[pick];
        used[pick] = 1;
        order_out[pos] = pick;
        run = pos > 0 && it->author_id == last_author ? run + 1 : 1;
        last_author = it->author_id;
        since_reel = it->is_reel ? 0 : since_reel + 1;
        reels_left -= it->is_reel != 0;
        oon += !it->in_network;
    }
    return 0;
}
