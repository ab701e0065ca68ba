/* The item-type registry: a table of per-type ops filled by the domains at start-up, and
 * batch hydration as JSON values on top of the hydration layer (svc/common/hydrate.h). */
#include "svc/common/items.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "svc/common/hydrate.h"
#include "svc/common/sql.h"

static const ch_item_type_ops_t *ch__ops[CH__TARGET_COUNT];

void ch_items_register(ch_target_type_t type, const ch_item_type_ops_t *ops)
{
    if ((int)type >= 0 && type < CH__TARGET_COUNT)
        ch__ops[type] = ops;
}

const ch_item_type_ops_t *ch_items_ops(int type)
{
    return type >= 0 && type < CH__TARGET_COUNT ? ch__ops[type] : NULL;
}

void ch_items_sql_in(char *buf, size_t cap, unsigned first)
{
    size_t len = 0;
    for (unsigned i = 0; i < CH_ITEMS_IN_MAX && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s$%u", i ? ", " : "(", first + i);
    if (len < cap)
        snprintf(buf + len, cap - len, ")");
}

ch_err_t ch_items_run_in(ch_svc_t *svc, const char *sql, uint64_t viewer, const ch_item_key_t *keys, size_t n,
                         ch_db_rows_t **rows_out)
{
    ch_db_param_t p[2 + CH_ITEMS_IN_MAX];
    p[0] = CH_DB_P_INT(viewer);
    p[1] = CH_DB_P_INT(ch_now_ms());
    for (size_t i = 0; i < CH_ITEMS_IN_MAX; i++)
        p[2 + i] = CH_DB_P_INT(i < n ? keys[i].id : 0);
    return ch_sql_run(svc, sql, p, CH_NPARAMS(p), rows_out, NULL);
}

int ch_items_find(const ch_item_key_t *keys, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i].id == id)
            return (int)i;
    return -1;
}

int ch_items_find_key(const ch_item_key_t *keys, size_t n, unsigned type, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i].id == id && keys[i].type == type)
            return (int)i;
    return -1;
}

ch_err_t ch_items_hydrate(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n, json_t **out,
                          ch_item_facts_t *facts, ch_fault_t *f)
{
    if (n > CH_ITEMS_HYDRATE_MAX)
        return ch_fault(f, CH_EINVAL, NULL, "at most %d items at once", CH_ITEMS_HYDRATE_MAX);
    if (!out && !facts)
        return ch_fault(f, CH_EINVAL, NULL, "nothing to hydrate into");
    for (size_t i = 0; i < n; i++) {
        if (out)
            out[i] = NULL;
        else
            memset(&facts[i], 0, sizeof(facts[i]));
    }
    if (n == 0)
        return CH_OK;
    ch_hydrated_t *h = ch_malloc(sizeof(ch_hydrated_t) * n);
    ch_err_t err = ch_hydrate_items(svc, viewer, keys, n, out ? 0 : CH_HYDRATE_FACTS_ONLY, h, f);
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        if (!out) { /* facts only: author_id 0 = not shown */
            facts[i] = h[i].facts;
            continue;
        }
        if (!h[i].json)
            continue;
        out[i] = json_loadb(h[i].json, h[i].len, 0, NULL);
        if (!out[i]) { /* a corrupt cached body: this item is left out, and forgotten for the next read */
            ch_log_error("items: hydrated item %u:%llu is not JSON: left out, its cached record forgotten",
                         (unsigned)keys[i].type, (unsigned long long)keys[i].id);
            ch_hydrate_forget_item(svc, keys[i].type, keys[i].id);
            continue;
        }
        if (facts)
            facts[i] = h[i].facts;
    }
    if (err != CH_OK && out)
        for (size_t i = 0; i < n; i++) {
            json_decref(out[i]);
            out[i] = NULL;
        }
    ch_hydrated_free(h, n);
    free(h);
    return err;
}
