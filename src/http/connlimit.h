/* Connection admission: a cap on open connections per client address (IPv4 address, or
 * IPv6 /64) and one on open
 * connections in all (kept below the fd limit, so accept() never meets EMFILE). Shared by
 * every loop thread; per-address counts live in a sharded hash table whose entries are
 * freed when their count drops to 0, so it never holds more entries than open
 * connections. */
#ifndef CH_HTTP_CONNLIMIT_H
#define CH_HTTP_CONNLIMIT_H

#include "core/netaddr.h"

#define CH_CONNLIMIT_SHARDS 64 /* one lock each; addresses spread by hash */

typedef struct ch_connlimit ch_connlimit_t;

typedef enum {
    CH_CONN_ADMITTED,
    CH_CONN_REFUSED_PER_ADDR, /* the address already has per_addr connections */
    CH_CONN_REFUSED_GLOBAL,   /* total connections are at the cap */
} ch_conn_admit_t;

/** Creates the counters: per_addr connections per address (0: no per-address cap),
 * total connections in all (>= 1). Caller destroys. */
ch_connlimit_t *ch_connlimit_create(unsigned per_addr, unsigned total);
/** Frees the counters (every admitted connection should have been released). */
void ch_connlimit_destroy(ch_connlimit_t *cl);
/** Counts a new connection from a (borrowed); exempt: not held to the per-address cap
 * (a trusted proxy), still counted in the total. Thread-safe. When admitted, the caller
 * must call ch_connlimit_release with the same a and exempt once the connection closes. */
ch_conn_admit_t ch_connlimit_acquire(ch_connlimit_t *cl, const ch_netaddr_t *a, int exempt);
/** Uncounts a connection admitted by ch_connlimit_acquire. Thread-safe. */
void ch_connlimit_release(ch_connlimit_t *cl, const ch_netaddr_t *a, int exempt);
/** Open connections counted now (all addresses). */
unsigned ch_connlimit_total(ch_connlimit_t *cl);
/** Addresses with at least one open connection (entries in the table). */
size_t ch_connlimit_addresses(ch_connlimit_t *cl);

#endif
