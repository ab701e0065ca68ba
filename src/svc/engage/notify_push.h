/* In-app notifications pushed to the recipient's connected devices (`notification.new` over
 * the bus, brd/chat.md; issue 13): ch_notify_add notes each new actor of a group on the
 * worker thread; the consumer publishes the notes once its batch committed, or drops them
 * when it rolled back (the batch runs again and notes them again). */
#ifndef CH_SVC_ENGAGE_NOTIFY_PUSH_H
#define CH_SVC_ENGAGE_NOTIFY_PUSH_H

#include <stdint.h>

#include "svc/context.h"

#define CH_NOTIFY_PUSH_MAX 1024 /* notes one batch keeps; more are not pushed (the list has them) */

/** Notes that recipient's notification (id, kind, target) has a new actor (calling thread). */
void ch_notify_push_note(uint64_t recipient, uint64_t id, const char *kind, const char *target_type,
                         uint64_t target_id, uint64_t actor);
/** After the batch: publishes the thread's notes when committed, else drops them. */
void ch_notify_push_flush(ch_svc_t *svc, int committed);

#endif
