/* Has the client of a request gone away? Work queued for a request (a password hash) is
 * skipped when nobody waits for its answer. Two signs, read from any thread:
 * - a flag the event loop sets when h2o disposes of the request (HTTP/2 RST_STREAM, a
 *   closed HTTP/2 connection, or any request freed before its answer);
 * - for HTTP/1, the connection's socket: h2o 2.2.5 reads nothing from an HTTP/1
 *   connection while one of its requests is handled, so a client that hung up is only
 *   noticed when the answer is written. A peek (MSG_PEEK, nothing consumed) sees the end of
 *   stream or the reset the kernel already holds.
 * And a deadline: past the request's deadline nobody waits for the answer either. */
#ifndef CH_CORE_CLIENT_WATCH_H
#define CH_CORE_CLIENT_WATCH_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    const atomic_int *gone; /* set by the loop when the request was disposed; may be NULL */
    int fd;                 /* HTTP/1 connection socket, borrowed while the request lives; -1: none */
    int64_t deadline_ms;    /* ch_mono_ms() time past which the answer is not awaited; 0: none */
} ch_client_watch_t;

/** 1 when the watched client is gone: its deadline has passed, its flag is set, or its HTTP/1 socket reads as ended
 * or failed (data waiting, e.g. a pipelined request, counts as alive). The flag is read
 * first: once the request is disposed its fd may be closed and reused, and then any answer
 * of the peek is harmless. NULL is never gone. Thread-safe. */
int ch_client_watch_gone(const ch_client_watch_t *w);

#endif
