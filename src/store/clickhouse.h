/* A small client for ClickHouse's HTTP interface (libcurl): statements go as the POST
 * body, or, for INSERT ... FORMAT, in the `query` parameter with the rows as the body.
 * Works with ClickHouse 18.16 (Debian 12) and later. One client is used by one thread at a
 * time; it keeps its connection alive between calls. */
#ifndef CH_STORE_CLICKHOUSE_H
#define CH_STORE_CLICKHOUSE_H

#include <stddef.h>

#include "core/err.h"

typedef struct ch_clickhouse ch_clickhouse_t;

#define CH_CLICKHOUSE_TIMEOUT_MS 10000

/** Initialises libcurl once for the process (call from the main thread before the first
 * client; later calls do nothing). */
void ch_clickhouse_global_init(void);
/** Checks a CHORUS_CLICKHOUSE value: "http://host:port[/database]" (https too); the
 * database defaults to "default". 0 when good; else -1 with a message in err. */
int ch_clickhouse_parse_url(const char *url, char *err, size_t errlen);
/** Makes a client for url (checked with ch_clickhouse_parse_url); NULL when out of memory.
 * Caller frees with ch_clickhouse_destroy. */
ch_clickhouse_t *ch_clickhouse_create(const char *url);
/** Frees a client. NULL is fine. */
void ch_clickhouse_destroy(ch_clickhouse_t *ch);
/** Makes every later call on ch give up at once (CH_EUNAVAILABLE) while *flag is non-zero,
 * even in the middle of a transfer: a stopping worker does not wait for a timeout. flag is
 * borrowed and must outlive ch. */
void ch_clickhouse_set_abort(ch_clickhouse_t *ch, const _Atomic int *flag);
/** The database the URL names ("default" when none); borrowed. */
const char *ch_clickhouse_database(const ch_clickhouse_t *ch);
/** Runs one statement. With insert_query set, sends it as the query and body[len] as its
 * data; otherwise body is the statement. use_database 0 runs outside the URL's database
 * (to create it). *out (may be NULL) receives the answer text (caller frees).
 * CH_EUNAVAILABLE when the server cannot be reached or answers 5xx; CH_EINTERNAL for any
 * other refusal (the message is logged). */
ch_err_t ch_clickhouse_exec(ch_clickhouse_t *ch, const char *insert_query, const char *body, size_t len,
                            int use_database, char **out);
/** Whether the server at url answers GET /ping within timeout_ms (a fresh connection;
 * thread-safe). */
ch_err_t ch_clickhouse_ping(const char *url, long timeout_ms);

#endif
