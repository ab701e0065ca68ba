/* The bus's drivers behind ch_bus_t (store/bus.h): a vtable of const slots, as kv's. Internal
 * to store/bus*.c. */
#ifndef CH_STORE_BUS_DRIVER_H
#define CH_STORE_BUS_DRIVER_H

#include <pthread.h>

#include "store/bus.h"

typedef struct {
    const char *name;
    ch_err_t (*subscribe)(ch_bus_t *bus, uint64_t user_id, int first);
    void (*unsubscribe)(ch_bus_t *bus, uint64_t user_id, int last);
    ch_err_t (*publish_many)(ch_bus_t *bus, const uint64_t *user_ids, size_t n, const char *frame, size_t len);
    void (*destroy)(ch_bus_t *bus);
    int confirms; /* 1: the driver reports each subscription confirmed (ch__bus_confirm);
                     0: a subscription holds at once */
} ch__bus_driver_t;

/* One counted subscription (store/bus.c's table). */
typedef struct ch__bus_sub {
    uint64_t user_id;
    unsigned count;
    int confirmed; /* the server confirmed it (ch_bus_wait_subscribed) */
    int lost;      /* confirmed before the connection broke: a resync is due when confirmed again */
    struct ch__bus_sub *next;
} ch__bus_sub_t;

#define CH__BUS_BUCKETS 4096 /* the subscription table's buckets (chained) */

/* What every driver's bus starts with. */
struct ch_bus {
    const ch__bus_driver_t *drv;
    ch_bus_receive_fn receive;
    ch_bus_receive_many_fn receive_many; /* NULL: receive once per user */
    void *receive_ctx;
    pthread_mutex_t mu; /* guards subs */
    pthread_cond_t confirmed_cv; /* a subscription was confirmed */
    ch__bus_sub_t *subs[CH__BUS_BUCKETS];
    size_t nsubs;
};

/** Sets up the common part (drv is static). */
void ch__bus_init(ch_bus_t *bus, const ch__bus_driver_t *drv);
/** Frees the subscription table; the driver frees the rest. */
void ch__bus_clear(ch_bus_t *bus);
/** Whether user_id is subscribed now (takes bus->mu). */
int ch__bus_subscribed(ch_bus_t *bus, uint64_t user_id);
/** For drivers: the server confirmed user_id's subscription; wakes ch_bus_wait_subscribed.
 * 1 when it had been confirmed before the connection broke (a resync is due), else 0. */
int ch__bus_confirm(ch_bus_t *bus, uint64_t user_id);
/** For drivers: the connection broke; every subscription waits for its confirmation again. */
void ch__bus_unconfirm_all(ch_bus_t *bus);
/** For drivers: a frame of user_id was dropped (its subscription is marked lost). */
void ch__bus_mark_lost(ch_bus_t *bus, uint64_t user_id);
/** For drivers: the users marked lost (a new array, caller frees; marks cleared). */
uint64_t *ch__bus_take_lost(ch_bus_t *bus, size_t *n);
/** For drivers: hands frame to the receiver for every one of user_ids[0..n) subscribed here,
 * in one call when it takes many (one lock of the table for all; bus->mu not held). */
void ch__bus_hand_subscribed(ch_bus_t *bus, const uint64_t *user_ids, size_t n, const char *frame, size_t len);
/** For drivers: hands frame to the receiver (bus->mu not held). */
void ch__bus_hand(ch_bus_t *bus, uint64_t user_id, const char *frame, size_t len);
/** Copies every subscribed user id into a new array (caller frees) and its size into *n. */
uint64_t *ch__bus_subscribed_all(ch_bus_t *bus, size_t *n);

#endif
