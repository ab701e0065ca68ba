/* The one h2o handler: matches the route, checks the request (size, media type, JSON,
 * token, Idempotency-Key), runs the route's handler inline or on a worker thread, and
 * renders the answer (JSON or problem+json) with request id, metrics and access log. */
#ifndef CH_HTTP_DISPATCH_H
#define CH_HTTP_DISPATCH_H

#include <h2o.h>

#include "svc/context.h"

/** Registers the dispatcher on a host config for every path; svc is borrowed for the
 * life of the server. Also registers every route's metrics labels. */
void ch_dispatch_register(h2o_hostconf_t *host, ch_svc_t *svc);

#endif
