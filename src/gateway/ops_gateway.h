/* The gateway's own client ops (rows in ws_ops_gateway.def). */
#ifndef CH_GATEWAY_OPS_GATEWAY_H
#define CH_GATEWAY_OPS_GATEWAY_H

#include "gateway/ws_op.h"

/** ping {echo?: string}: ack {t: server unix ms, echo?}. Clients measure latency with it. */
ch_err_t ch_ws_op_ping(ch_ws_call_t *call);
/** presence.set {status: "online"|"idle"}: this device's status (inline). */
ch_err_t ch_ws_op_presence_set(ch_ws_call_t *call);

#endif
