/* REST handlers: notify (engagement): the caller's notifications, and the internal
 * operator views of the ranking signals. */
#ifndef CH_HTTP_H_NOTIFY_H
#define CH_HTTP_H_NOTIFY_H

#include "http/call.h"

/** GET /v1/notifications: a page, newest first. */
ch_err_t ch_h_notifications_list(ch_call_t *call);
/** POST /v1/notifications/read {up_to_id?}: 204. */
ch_err_t ch_h_notifications_read(ch_call_t *call);
/** GET /v1/notifications/unread_count: {count}. */
ch_err_t ch_h_notifications_unread_count(ch_call_t *call);
/** GET /v1/internal/signals/affinity?viewer=&author=[&at=]: the caller's own affinity. */
ch_err_t ch_h_signals_affinity(ch_call_t *call);
/** GET /v1/internal/signals/velocity?type=&id=[&at=]: a visible item's velocity. */
ch_err_t ch_h_signals_velocity(ch_call_t *call);

#endif
