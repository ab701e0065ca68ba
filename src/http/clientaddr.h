/* The client address of a request, for rate limits and logs: the socket's peer, or, when
 * that peer is a trusted proxy (CHORUS_TRUSTED_PROXIES), the rightmost X-Forwarded-For
 * address that is not itself a trusted proxy. Without trusted proxies the header is
 * ignored, so a client cannot pick the address its limits are counted against. */
#ifndef CH_HTTP_CLIENTADDR_H
#define CH_HTTP_CLIENTADDR_H

#include <stddef.h>

#include <h2o.h>

#include "core/config.h"
#include "core/netaddr.h"

/** Picks the client address from the peer (borrowed) and the X-Forwarded-For values
 * (xff[0..nxff), in header order, borrowed) under the trusted list of cfg. Returns 0, or
 * -1 when the peer address is unknown (out untouched). */
int ch_client_addr_pick(const ch_config_t *cfg, const ch_netaddr_t *peer, const h2o_iovec_t *xff, size_t nxff,
                        ch_netaddr_t *out);

/** Writes the client address of req as text into out (len >= CH_NETADDR_STRLEN;
 * "unknown" when the socket has no IP peer). cfg is borrowed. */
void ch_client_addr(h2o_req_t *req, const ch_config_t *cfg, char *out, size_t len);

#endif
