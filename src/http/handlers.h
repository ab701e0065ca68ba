/* REST handlers: parse and validate the call, call a service, set the answer. One file
 * per area (h_service.c, h_auth.c, h_me.c, h_users.c); the table is in routes.c. */
#ifndef CH_HTTP_HANDLERS_H
#define CH_HTTP_HANDLERS_H

#include "http/call.h"

/* service endpoints */
ch_err_t ch_h_healthz(ch_call_t *call);
ch_err_t ch_h_readyz(ch_call_t *call);
ch_err_t ch_h_metrics(ch_call_t *call);
/* auth */
ch_err_t ch_h_register(ch_call_t *call);
ch_err_t ch_h_login(ch_call_t *call);
ch_err_t ch_h_refresh(ch_call_t *call);
ch_err_t ch_h_logout(ch_call_t *call);
/* the caller's account */
ch_err_t ch_h_me_get(ch_call_t *call);
ch_err_t ch_h_me_patch(ch_call_t *call);
ch_err_t ch_h_sessions_list(ch_call_t *call);
ch_err_t ch_h_session_delete(ch_call_t *call);
/* profiles */
ch_err_t ch_h_user_get(ch_call_t *call);
ch_err_t ch_h_user_by_handle(ch_call_t *call);

#endif
