/* Presence over HTTP (svc/presence): GET /v1/users/{id}/presence, GET/PATCH /v1/me/presence. */
#ifndef CH_HTTP_H_PRESENCE_H
#define CH_HTTP_H_PRESENCE_H

#include "http/call.h"

/** GET /v1/users/{id}/presence: {user_id, status, last_seen_at}; 404 when not visible. */
ch_err_t ch_h_presence_get(ch_call_t *call);
/** GET /v1/me/presence: {hidden}. */
ch_err_t ch_h_me_presence_get(ch_call_t *call);
/** PATCH /v1/me/presence {hidden: bool}: hides (or shows) the caller's presence. */
ch_err_t ch_h_me_presence_patch(ch_call_t *call);

#endif
