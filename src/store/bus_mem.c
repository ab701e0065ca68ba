/* The in-process bus (embedded mode): a publish hands the frame to the receiver (the gateway)
 * on the publisher's own thread, once for all its subscribed users. The receiver only queues it on the
 * loops that hold the user's connections (a lock, a copy of the frame per publish, a wakeup of
 * each such loop) and never blocks on a socket, so a publisher does not wait for any
 * connection; the bound on frames waiting for delivery, with its drop-and-resync, is the
 * gateway's per-loop inbox (CH_GW_INBOX_MAX_BYTES). No delivery thread: before, every
 * recipient's frame was copied into a queue item and handed over through a condition variable
 * to a delivery thread, which then woke the loop — a thread hop per recipient on the chat
 * send path (docs/benchmarks.md "Gateway"). Frames of one publishing thread reach a user in
 * the order they were published. */
#include <stdlib.h>

#include "core/alloc.h"
#include "store/bus_driver.h"

typedef struct {
    ch_bus_t base;
} ch__bus_mem_t;

static ch_err_t ch__bus_mem_subscribe(ch_bus_t *bus, uint64_t user_id, int first)
{
    (void)bus;
    (void)user_id;
    (void)first;
    return CH_OK;
}

static void ch__bus_mem_unsubscribe(ch_bus_t *bus, uint64_t user_id, int last)
{
    (void)bus;
    (void)user_id;
    (void)last;
}

static ch_err_t ch__bus_mem_publish_many(ch_bus_t *bus, const uint64_t *user_ids, size_t n, const char *frame,
                                         size_t len)
{
    /* the subscribed ones in one lock of the table and one hand-over: the gateway copies the
     * frame once per loop, not once per member of a group */
    ch__bus_hand_subscribed(bus, user_ids, n, frame, len);
    return CH_OK;
}

static void ch__bus_mem_destroy(ch_bus_t *bus)
{
    ch__bus_clear(bus);
    free(bus);
}

static const ch__bus_driver_t ch__bus_mem_driver = {
    .name = "mem",
    .subscribe = ch__bus_mem_subscribe,
    .unsubscribe = ch__bus_mem_unsubscribe,
    .publish_many = ch__bus_mem_publish_many,
    .destroy = ch__bus_mem_destroy,
};

ch_bus_t *ch_bus_mem_create(void)
{
    ch__bus_mem_t *m = ch_calloc(1, sizeof(*m));
    ch__bus_init(&m->base, &ch__bus_mem_driver);
    return &m->base;
}
