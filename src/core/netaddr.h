/* IP addresses and CIDR ranges, IPv4 kept as IPv4-mapped IPv6 so one 16-byte form serves
 * both families (trusted proxies, per-address connection counts, rate-limit keys). */
#ifndef CH_CORE_NETADDR_H
#define CH_CORE_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text form of an address (INET6_ADDRSTRLEN). */
#define CH_NETADDR_STRLEN 46

typedef struct {
    uint8_t b[16];
} ch_netaddr_t;

typedef struct {
    ch_netaddr_t addr; /* host bits cleared */
    unsigned bits;     /* prefix length in the 128-bit form */
} ch_cidr_t;

/** Reads an AF_INET or AF_INET6 socket address (borrowed). 0, or -1 for another family. */
int ch_netaddr_from_sockaddr(const struct sockaddr *sa, ch_netaddr_t *out);
/** Parses a textual IPv4 or IPv6 address of len bytes (no port, no brackets). 0 or -1. */
int ch_netaddr_parse(const char *s, size_t len, ch_netaddr_t *out);
/** Writes the text form into out (at least CH_NETADDR_STRLEN bytes): dotted quad for IPv4. */
void ch_netaddr_format(const ch_netaddr_t *a, char *out, size_t len);
/** Parses "addr/bits" or a bare address (a host range) into out. 0 or -1. */
int ch_cidr_parse(const char *s, size_t len, ch_cidr_t *out);
/** Parses a comma-separated list of CIDRs (spaces around items allowed; "" is an empty
 * list) into at most cap entries. Returns the number parsed, or -1 if an item is bad or
 * there are more than cap. */
int ch_cidr_parse_list(const char *s, ch_cidr_t *out, size_t cap);
/** Whether a is inside one of the n ranges (borrowed). */
int ch_cidr_list_contains(const ch_cidr_t *list, size_t n, const ch_netaddr_t *a);

#endif
