/* Notifications: what others did to you, grouped per (recipient, kind, target) — "ana, bo
 * and 12 others reacted to your post" — with the three newest actors, an exact count of
 * distinct actors, and a read flag.
 *
 * They are written only by the worker (svc/engage/notify_consume.c), from the event log
 * (reaction, comment, reply, mention; an unreaction takes the actor out again) and from the
 * outbox (follow, follow_request; a request approved, rejected or cancelled leaves its
 * group; a block or a mute takes the other user out of every group). Rules, applied when
 * an actor joins a group: never for your own action; never from a user you block, who
 * blocks you, or whom you mute.
 *
 * A group's `id` is its version: a new time-sortable id each time an actor joins (which
 * also makes it unread and moves it to the top). Newest first is therefore "ORDER BY id
 * DESC", and "read up to id X" marks exactly what a client had seen when it saw X. */
#ifndef CH_SVC_ENGAGE_NOTIFY_H
#define CH_SVC_ENGAGE_NOTIFY_H

#include <jansson.h>
#include <stdint.h>

#include "svc/context.h"
#include "svc/worker/consumer.h"

#define CH_NOTIFY_FIRST_ACTORS 3

/** One group. Strings are borrowed. */
typedef struct {
    uint64_t recipient;
    const char *kind;        /* reaction, comment, reply, mention, follow, follow_request */
    const char *target_type; /* "post", ... or "" for kinds without a target */
    uint64_t target_id;      /* 0 for kinds without a target */
} ch_notify_group_t;

/* ---- writing (the worker, inside its batch transaction) ------------------------------ */

/** Adds actor to group g (made when missing), unless a rule forbids it (self, block either
 * way, muted by the recipient, unknown actor). An actor already in the group changes
 * nothing. */
ch_err_t ch_notify_add(ch_svc_t *svc, ch_db_conn_t *conn, const ch_notify_group_t *g, uint64_t actor);
/** Takes actor out of group g (the group goes when it was the last one). Its id, read flag
 * and place in the list stay. */
ch_err_t ch_notify_remove(ch_svc_t *svc, ch_db_conn_t *conn, const ch_notify_group_t *g, uint64_t actor);
/** Takes actor out of every group of recipient (after a block or a mute). */
ch_err_t ch_notify_forget_actor(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t recipient, uint64_t actor);
/** Drops every group, of every recipient, about target (type as in target.h: "post", ...)
 * once it is deleted. */
ch_err_t ch_notify_forget_target(ch_svc_t *svc, ch_db_conn_t *conn, const char *type, uint64_t id);
/** *gone = 1 when target (type, id) was deleted (soft-deleted item or comment): engagement
 * with it, folded late, must not make a group again. */
ch_err_t ch_notify_target_gone(ch_svc_t *svc, ch_db_conn_t *conn, const char *type, uint64_t id, int *gone);

/* ---- reading (API) --------------------------------------------------------------------- */

/** A page of user's notifications, newest first: {items, next_cursor}; before is the
 * cursor (0 = from the newest). The actors are rendered by the hydration layer. *out is
 * JSON text (malloc'd, caller frees). */
ch_err_t ch_notify_list(ch_svc_t *svc, uint64_t user, int limit, uint64_t before, char **out, ch_fault_t *f);
/** Marks user's notifications read: those with id <= up_to, or all when up_to is 0. */
ch_err_t ch_notify_mark_read(ch_svc_t *svc, uint64_t user, uint64_t up_to);
/** Number of user's unread groups. */
ch_err_t ch_notify_unread_count(ch_svc_t *svc, uint64_t user, int64_t *out);

/* ---- consumers (svc/worker) -------------------------------------------------------------- */

/** Follows and follow requests from the outbox; block/mute/request-resolution clean-up. */
extern const ch_consumer_t ch_notify_outbox_consumer;
/** Reactions, comments, replies and mentions from the engagement event log. */
extern const ch_consumer_t ch_notify_events_consumer;

#endif
