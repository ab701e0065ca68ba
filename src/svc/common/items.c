/* The item-type registry: a table of per-type ops filled by the domains at start-up, and
 * batch hydration that groups keys by the function that renders them. */
#include "svc/common/items.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
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

/* The hydrating function of a key's type, or NULL (nothing to render). */
static ch_err_t (*ch__hydrator(const ch_item_key_t *k))(ch_svc_t *, uint64_t, const ch_item_key_t *, size_t,
                                                         json_t **, ch_item_facts_t *, ch_fault_t *)
{
    const ch_item_type_ops_t *ops = ch_items_ops(k->type);
    return ops && k->id != 0 && k->id <= INT64_MAX ? ops->hydrate_many : NULL;
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
        if (!out)
            memset(&facts[i], 0, sizeof(facts[i]));
    }
    if (n == 0)
        return CH_OK;
    /* first[i]: the index of the first key equal to keys[i] (itself when it is the first);
     * only first keys are sent to a domain, duplicates are copied afterwards. */
    size_t *first = ch_malloc(sizeof(size_t) * n), *idx = ch_malloc(sizeof(size_t) * CH_ITEMS_IN_MAX);
    unsigned char *done = ch_calloc(n, 1);
    ch_item_key_t chunk[CH_ITEMS_IN_MAX];
    json_t *cout[CH_ITEMS_IN_MAX];
    ch_item_facts_t cfacts[CH_ITEMS_IN_MAX];
    ch_err_t err = CH_OK;
    for (size_t i = 0; i < n; i++) {
        first[i] = i;
        for (size_t j = 0; j < i; j++)
            if (first[j] == j && keys[j].type == keys[i].type && keys[j].id == keys[i].id) {
                first[i] = j;
                break;
            }
        if (first[i] != i || !ch__hydrator(&keys[i]))
            done[i] = 1;
    }
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        if (done[i])
            continue;
        /* One group: the keys not yet sent whose type renders with the same function, at
         * most CH_ITEMS_IN_MAX of them; the rest form the next chunk. */
        ch_err_t (*fn)(ch_svc_t *, uint64_t, const ch_item_key_t *, size_t, json_t **, ch_item_facts_t *,
                       ch_fault_t *) = ch__hydrator(&keys[i]);
        size_t m = 0;
        for (size_t j = i; j < n && m < CH_ITEMS_IN_MAX; j++)
            if (!done[j] && ch__hydrator(&keys[j]) == fn) {
                done[j] = 1;
                idx[m] = j;
                chunk[m++] = keys[j];
            }
        memset(cout, 0, sizeof(cout));
        memset(cfacts, 0, sizeof(cfacts));
        err = fn(svc, viewer, chunk, m, out ? cout : NULL, cfacts, f);
        for (size_t k = 0; k < m; k++) {
            if (!out) { /* facts only: present when the domain filled them */
                if (err == CH_OK && cfacts[k].author_id)
                    facts[idx[k]] = cfacts[k];
            } else if (err == CH_OK) {
                out[idx[k]] = cout[k];
                if (facts && cout[k])
                    facts[idx[k]] = cfacts[k];
            } else {
                json_decref(cout[k]);
            }
        }
    }
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        if (first[i] == i)
            continue;
        if (out && out[first[i]])
            out[i] = json_deep_copy(out[first[i]]);
        if (facts && (out ? out[first[i]] != NULL : facts[first[i]].author_id != 0))
            facts[i] = facts[first[i]];
    }
    if (err != CH_OK)
        for (size_t i = 0; i < n; i++) {
            if (out) {
                json_decref(out[i]);
                out[i] = NULL;
            } else {
                memset(&facts[i], 0, sizeof(facts[i]));
            }
        }
    free(first);
    free(idx);
    free(done);
    return err;
}
