/* The celebrity set's generation (celeb_gen.h). */
#include "svc/feed/celeb_gen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/id.h"
#include "core/log.h"
#include "svc/common/kv_local.h"
#include "svc/common/viewer_gen.h"
#include "svc/feed/facts.h"
#include "svc/feed/fanout.h"
#include "svc/feed/pullset.h"

#define CH__KEY "feed:celeb:gen"

int ch_celeb_gen_crosses(ch_svc_t *svc, int64_t before, int64_t after)
{
    ch_feed_policy_t policy = ch_feed_policy_config(svc->cfg);
    int64_t bound = ch_feed_pull_join_followers(&policy);
    if (bound == INT64_MAX || bound <= 0) /* no rule, or everyone pulled: nobody crosses */
        return 0;
    return (before >= bound) != (after >= bound);
}

static void ch__bump(void *svc, uint64_t unused)
{
    (void)unused;
    char val[24];
    int len = snprintf(val, sizeof(val), "%" PRIu64, ch_id_next());
    /* Kept as long as a viewer generation: longer than any pull set is cached. */
    if (ch_kvl_set(svc, CH__KEY, val, (size_t)len, CH_VIEWER_GEN_TTL_MS) != CH_OK)
        ch_log_warn("feed: celebrity generation not written (kv store): a cached pull set may miss a new %s",
                    "celebrity's posts until it expires");
    ch_feed_gen_forget(svc, 0); /* its cached copy, after the write (svc/feed/facts.h) */
}

void ch_celeb_gen_bump_after_commit(ch_svc_t *svc)
{
    ch_db_after_commit(svc->db, ch__bump, svc, 0);
}

ch_err_t ch_celeb_gen_get(ch_svc_t *svc, uint64_t *out)
{
    char *val = NULL;
    *out = 0;
    ch_err_t err = ch_kvl_get(svc, CH__KEY, &val, NULL);
    if (err == CH_OK && val)
        *out = strtoull(val, NULL, 10);
    free(val);
    return err;
}
