/* The worker side of Idempotency-Key (svc/common/idempotency.h): a stored answer is
 * replayed at once; otherwise the route's handler runs inside an ambient transaction
 * (store/db.h) and its answer is recorded in that same transaction, so the record commits
 * exactly when the effect does. */
#ifndef CH_HTTP_IDEM_CALL_H
#define CH_HTTP_IDEM_CALL_H

#include "http/call.h"

/** Runs a CH_ROUTE_IDEMPOTENT call that carries an Idempotency-Key, on a worker thread,
 * and leaves its answer rendered (status, raw_out, content_type; replayed when it is a
 * stored one). render turns call->err / call->out into that answer (dispatch.c); it is
 * called once for the handler's answer and again when that answer is replaced (a commit
 * that failed, a record that another request committed first). Handlers of these routes
 * must not defer (ch_call_defer aborts inside an ambient transaction). */
void ch_idem_call_run(ch_call_t *call, void (*render)(ch_call_t *call));

#endif
