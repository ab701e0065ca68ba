/* Placeholder until the comments service exists (the comments engineer replaces this
 * file): no comment can be engaged with yet. */
#include "svc/engage/target.h"

ch_err_t ch_comment_resolve(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t comment_id, ch_target_t *out,
                            ch_fault_t *f)
{
    (void)svc, (void)conn, (void)viewer, (void)comment_id, (void)out;
    return ch_fault(f, CH_ENOTFOUND, NULL, "comment not found");
}
