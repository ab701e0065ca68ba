/* Push-notification jobs of the chat service (push_jobs.c). */
#ifndef CH_SVC_CHAT_PUSH_JOBS_H
#define CH_SVC_CHAT_PUSH_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/sql.h"

/* Members per multi-row upsert of push jobs (bound parameters: 4 + this). */
#define CH__CHAT_PUSH_JOBS_CHUNK 200

/** Copies into out (room for n) the ids among the n member ids, sender left out, that
 * ch_presence_connected_many says have no live connection (or cannot tell); returns how many.
 * Asked before the message's transaction, so that no lock waits on the presence store. */
size_t ch__chat_offline(ch_svc_t *svc, uint64_t sender, const uint64_t *ids, size_t n, uint64_t *out);
/** Inside the message's write transaction on conn: records a push job of message msg/seq
 * for each of the n ids (borrowed), coalesced per (member, conversation), with one
 * multi-row upsert per CH__CHAT_PUSH_JOBS_CHUNK ids. */
ch_err_t ch__chat_push_jobs(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, const uint64_t *ids, size_t n,
                            uint64_t msg, int64_t seq);

#endif
