#include "core/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t ch__v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int ch_netaddr_from_sockaddr(const struct sockaddr *sa, ch_netaddr_t *out)
{
    if (sa->sa_family == AF_INET) {
        memcpy(out->b, ch__v4_prefix, 12);
        memcpy(out->b + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

int ch_netaddr_parse(const char *s, size_t len, ch_netaddr_t *out)
{
    char buf[CH_NETADDR_STRLEN];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct in_addr v4;
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        memcpy(out->b, ch__v4_prefix, 12);
        memcpy(out->b + 12, &v4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, buf, out->b) == 1 ? 0 : -1;
}

void ch_netaddr_format(const ch_netaddr_t *a, char *out, size_t len)
{
    if (memcmp(a->b, ch__v4_prefix, 12) == 0)
        inet_ntop(AF_INET, a->b + 12, out, (socklen_t)len);
    else
        inet_ntop(AF_INET6, a->b, out, (socklen_t)len);
}

int ch_cidr_parse(const char *s, size_t len, ch_cidr_t *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (ch_netaddr_parse(s, alen, &out->addr) != 0)
        return -1;
    int v4 = memcmp(out->addr.b, ch__v4_prefix, 12) == 0;
    unsigned max = v4 ? 32 : 128, bits = max;
    if (slash) {
        const char *d = slash + 1, *end = s + len;
        if (d == end || end - d > 3)
            return -1;
        bits = 0;
        for (; d < end; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            bits = bits * 10 + (unsigned)(*d - '0');
        }
        if (bits > max)
            return -1;
    }
    out->bits = v4 ? bits + 96 : bits;
    for (unsigned i = out->bits; i < 128; i++)
        out->addr.b[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
    return 0;
}

int ch_cidr_parse_list(const char *s, ch_cidr_t *out, size_t cap)
{
    size_t n = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *item = p;
        size_t ilen = len;
        while (ilen && (*item == ' ' || *item == '\t'))
            item++, ilen--;
        while (ilen && (item[ilen - 1] == ' ' || item[ilen - 1] == '\t'))
            ilen--;
        if (ilen == 0 || n == cap || ch_cidr_parse(item, ilen, &out[n]) != 0)
            return -1;
        n++;
        p += len;
        if (*p == ',' && *++p == '\0')
            return -1; /* a trailing comma */
    }
    return (int)n;
}

int ch_cidr_list_contains(const ch_cidr_t *list, size_t n, const ch_netaddr_t *a)
{
    for (size_t i = 0; i < n; i++) {
        unsigned bits = list[i].bits, whole = bits / 8, rest = bits % 8;
        if (memcmp(list[i].addr.b, a->b, whole) != 0)
            continue;
        if (rest && ((list[i].addr.b[whole] ^ a->b[whole]) & (uint8_t)(0xffu << (8 - rest))))
            continue;
        return 1;
    }
    return 0;
}
