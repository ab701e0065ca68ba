/* The HTTP server: N event-loop threads, each with its own libuv loop, h2o context and
 * SO_REUSEPORT listening socket; blocking handlers run on libuv's worker pool. */
#ifndef CH_HTTP_SERVER_H
#define CH_HTTP_SERVER_H

#include <stdint.h>

#include "core/config.h"
#include "svc/context.h"

typedef struct ch_server ch_server_t;

/** Binds the listening sockets (one per thread) and prepares the loops; nothing is served
 * yet. Returns NULL and writes a message to err on failure (address in use...). svc is
 * borrowed and must outlive the server. */
ch_server_t *ch_server_create(const ch_config_t *cfg, ch_svc_t *svc, char *err, size_t errlen);
/** The port the server listens on: CHORUS_LISTEN's, or the one the kernel picked when
 * that was port 0. */
uint16_t ch_server_port(const ch_server_t *srv);
/** Starts the loop threads. Returns 0 on success. */
int ch_server_start(ch_server_t *srv);
/** Graceful stop: stops accepting, lets in-flight requests finish (at most drain_ms),
 * closes connections, joins the threads. */
void ch_server_stop(ch_server_t *srv, int drain_ms);
/** ch_server_stop, and connections still open at close_by_ms (a ch_mono_ms() time; 0:
 * none) are left to the operating system instead of waiting for their idle timeout. The
 * loop threads are joined after the work they queued has finished: bounded by the request
 * deadline (CHORUS_REQUEST_TIMEOUT) that every database wait honours. */
void ch_server_stop_by(ch_server_t *srv, int drain_ms, int64_t close_by_ms);
/** Frees a stopped (or never started) server. */
void ch_server_destroy(ch_server_t *srv);

#endif
