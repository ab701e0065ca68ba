#include "http/clientaddr.h"

#include <stdio.h>
#include <string.h>

#define CH_XFF_MAX_HEADERS 16 /* X-Forwarded-For headers looked at; more is not a real proxy chain */

/* Parses one X-Forwarded-For element: an address, "[v6]" or "[v6]:port", "v4:port". */
static int ch__parse_hop(const char *s, size_t len, ch_netaddr_t *out)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len && *s == '[') {
        const char *close = memchr(s, ']', len);
        return close ? ch_netaddr_parse(s + 1, (size_t)(close - s - 1), out) : -1;
    }
    if (ch_netaddr_parse(s, len, out) == 0)
        return 0;
    const char *colon = memchr(s, ':', len); /* "192.0.2.1:4711" (exactly one colon) */
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1))
        return ch_netaddr_parse(s, (size_t)(colon - s), out);
    return -1;
}

int ch_client_addr_pick(const ch_config_t *cfg, const ch_netaddr_t *peer, const h2o_iovec_t *xff, size_t nxff,
                        ch_netaddr_t *out)
{
    ch_netaddr_t cur = *peer;
    /* Walk the chain from the right while the hop we are at is trusted to have told the
     * truth about the one before it. */
    for (size_t h = nxff; h-- > 0;) {
        const char *base = xff[h].base;
        size_t end = xff[h].len;
        for (;;) {
            size_t start = end;
            while (start > 0 && base[start - 1] != ',')
                start--;
            size_t blank = start;
            while (blank < end && (base[blank] == ' ' || base[blank] == '\t'))
                blank++;
            if (blank < end) { /* an empty element ("a,,b") says nothing */
                ch_netaddr_t hop;
                if (!ch_cidr_list_contains(cfg->trusted_proxies, cfg->ntrusted_proxies, &cur) ||
                    ch__parse_hop(base + start, end - start, &hop) != 0)
                    goto done; /* an untrusted hop, or garbage: believe nothing further left */
                cur = hop;
            }
            if (start == 0)
                break;
            end = start - 1;
        }
    }
done:
    *out = cur;
    return 0;
}

void ch_client_addr(h2o_req_t *req, const ch_config_t *cfg, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    ch_netaddr_t peer, client;
    if (!sl || ch_netaddr_from_sockaddr((struct sockaddr *)&ss, &peer) != 0) {
        snprintf(out, len, "unknown");
        return;
    }
    h2o_iovec_t xff[CH_XFF_MAX_HEADERS];
    size_t n = 0;
    if (cfg->ntrusted_proxies && ch_cidr_list_contains(cfg->trusted_proxies, cfg->ntrusted_proxies, &peer))
        for (ssize_t i = -1; (i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-for"), i)) >= 0;) {
            if (n == CH_XFF_MAX_HEADERS) { /* keep the rightmost ones: those our proxies added */
                memmove(xff, xff + 1, sizeof(xff[0]) * (n - 1));
                n--;
            }
            xff[n++] = req->headers.entries[i].value;
        }
    ch_client_addr_pick(cfg, &peer, xff, n, &client);
    ch_netaddr_format(&client, out, len);
}
