/* The gateway's internals, shared by gateway.c (per-loop state, shutdown), registry.c (who is
 * connected where; bus deliveries) and ws_conn.c (one connection's protocol). */
#ifndef CH_GATEWAY_GW_INTERNAL_H
#define CH_GATEWAY_GW_INTERNAL_H

#include <h2o.h>
#include <h2o/websocket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "gateway/gateway.h"

#define CH_GW_MAX_LOOPS 256      /* CHORUS_THREADS' maximum */
#define CH_GW_LOOP_WORDS (CH_GW_MAX_LOOPS / 64)
#define CH_GW_SHARDS 64          /* the node-wide user table's locks */
#define CH_GW_LOOP_BUCKETS 4096  /* a loop's user table (chained) at first; doubles past 2 users a bucket */
#define CH_GW_INBOX_MAX_BYTES (16u << 20) /* a loop's bus inbox; past it deliveries are dropped */
#define CH_GW_USERS_RECORD_MS 1000 /* how often the users record is written when they changed */
#define CH_GW_USERS_REFRESH_MS (5 * 60 * 1000) /* and at least this often (its TTL: 10 min) */
#define CH_GW_PJOBS_PER_CONN 2   /* presence jobs (one per user) per allowed connection, at most */
#define CH_GW_TRIM_AFTER 1024    /* connections opened on a loop before its ticker gives the heap's
                                    free pages back (malloc_trim), once the ramp paused a tick */

/* Close codes of the gateway's own (api/asyncapi.yaml) */
enum {
    CH_GW_CLOSE_EXPIRED = 4001, /* the access token the connection was opened with expired */
    CH_GW_CLOSE_REVOKED = 4003, /* its session was revoked (logout, DELETE /v1/me/sessions/{id}) */
};

typedef struct ch__gw_loop ch__gw_loop_t;
typedef struct ch__gw_conn ch__gw_conn_t;

/* A connection's place in one intrusive list (a loop's connections, a user's devices, the
 * loop's flush and sleep rounds): pprev is the slot that points at it (the head or the
 * previous one's next; NULL when not listed), so unlinking is O(1) whatever the list's length
 * — a mass disconnect of n connections costs O(n), not O(n^2). */
typedef struct {
    ch__gw_conn_t *next;
    ch__gw_conn_t **pprev;
} ch__gw_link_t;
/* Which of a connection's links a list goes through (ws_conn.c's accessors). */
typedef ch__gw_link_t *(*ch__gw_link_fn)(ch__gw_conn_t *c);

/** Puts c first in the list *head through its link (c must not be listed there). */
static inline void ch__gw_link_push(ch__gw_conn_t **head, ch__gw_conn_t *c, ch__gw_link_fn link)
{
    ch__gw_link_t *k = link(c);
    k->next = *head;
    if (*head)
        link(*head)->pprev = &k->next;
    *head = c;
    k->pprev = head;
}

/** Takes c out of the list it is in through link, in O(1); 1 when it was listed. */
static inline int ch__gw_link_remove(ch__gw_conn_t *c, ch__gw_link_fn link)
{
    ch__gw_link_t *k = link(c);
    if (!k->pprev)
        return 0;
    *k->pprev = k->next;
    if (k->next)
        link(k->next)->pprev = k->pprev;
    k->next = NULL;
    k->pprev = NULL;
    return 1;
}

/* A frame shared by the connections it goes to (one copy per delivery, not per device). */
typedef struct {
    atomic_int refs;
    size_t len;
    char data[];
} ch__gw_frame_t;

/* A user on this node (node-wide table, under its shard's lock). */
typedef struct ch__gw_user {
    uint64_t user_id;
    unsigned nconn, nidle;
    uint64_t loops[CH_GW_LOOP_WORDS]; /* which loops hold a device of the user */
    struct ch__gw_user *next;
} ch__gw_user_t;

/* A user whose presence job is queued or running (node-wide, under its shard's lock): one
 * job per user at a time; a change meanwhile sets dirty and the job runs once more. */
typedef struct ch__gw_pjob_ent {
    uint64_t user_id;
    int dirty;
    struct ch__gw_pjob_ent *next;
} ch__gw_pjob_ent_t;

typedef struct {
    pthread_mutex_t mu;
    ch__gw_user_t *buckets[256];
    ch__gw_pjob_ent_t *pjobs[16];
} ch__gw_shard_t;

/* A user's devices on one loop (loop thread only). */
typedef struct ch__gw_local {
    uint64_t user_id;
    ch__gw_conn_t *conns; /* list through ch__gw_conn_user_link */
    struct ch__gw_local *next;
} ch__gw_local_t;

/* A bus delivery on its way to a loop: one frame for the loop's devices of n users (a
 * group's members on that loop: one item and one reference to the frame, not one each). */
typedef struct ch__gw_msg {
    struct ch__gw_msg *next;
    ch__gw_frame_t *frame;
    size_t n;
    uint64_t user_ids[];
} ch__gw_msg_t;

struct ch__gw_loop {
    ch_gateway_t *gw;
    unsigned index;
    h2o_context_t *ctx;
    uv_async_t wake;    /* bus deliveries arrived */
    uv_timer_t ticker;  /* heartbeats and close deadlines */
    uv_check_t sleep;   /* after each round of I/O: idle connections' wslay contexts go (ws_dormant.c) */
    int handles;        /* uv handles still to close before the state is freed */
    int jobs;           /* worker jobs whose done callback refers to this state (loop thread) */
    int ended;          /* ch_gateway_loop_end ran: freed once handles and jobs are 0 */
    /* under gw->loops_mu: */
    ch__gw_msg_t *inbox, *inbox_tail;
    struct ch__ws_job *resumed, *resumed_tail; /* deferred ops answered by another thread */
    size_t inbox_bytes;  /* frames' bytes (one count per loop) and headers, bounded by CH_GW_INBOX_MAX_BYTES */
    int inbox_overflow;  /* a delivery was dropped: every connection of the loop gets a resync */
    /* loop thread only: */
    ch__gw_conn_t *conns; /* every connection of the loop, list through ch__gw_conn_loop_link */
    size_t nconns;
    unsigned opened, opened_at_tick; /* connections registered since the last heap trim; at the last tick */
    int draining;
    ch__gw_local_t **users; /* the loop's users with a device, chained; nbuckets a power of 2 */
    size_t nbuckets, nusers;
};

struct ch_gateway {
    ch_svc_t *svc;
    uint64_t instance;
    atomic_uint total; /* connections on this node (admitted, not yet closed) */
    atomic_uint pjobs; /* users with a presence job queued or running */
    atomic_uint users_version; /* moves when a user's first device comes or last one goes */
    ch__gw_shard_t shards[CH_GW_SHARDS];
    pthread_mutex_t loops_mu;
    ch__gw_loop_t *loops[CH_GW_MAX_LOOPS];
    atomic_uint nloops;
    /* the presence heartbeat (ch_presence_node_alive every CH_PRESENCE_HEARTBEAT_MS) */
    pthread_t hb_thread;
    int hb_started, hb_stop;
    pthread_mutex_t hb_mu;
    pthread_cond_t hb_cv; /* broadcast at stop: the heartbeat and the sweep thread wait on it */
    /* the dead-instance sweep (ch_presence_sweep_dead every CH_PRESENCE_HEARTBEAT_MS, gw_sweep.c):
     * a thread of its own, so that a long sweep never delays a heartbeat */
    pthread_t sweep_thread;
    int sweep_started;
};

/* ---- ws_dormant.c ---- */
/* What a connection's wslay reader took in, to know when no frame is half read. */
typedef struct {
    uint64_t fed;       /* bytes h2o handed to wslay */
    uint64_t framed;    /* bytes of the frames wslay finished */
    uint64_t frame_bytes; /* the frame being read: header and payload (0 between frames) */
    int frag_open;      /* a fragmented message is open (its final frame not read) */
    size_t max_msg;     /* wslay's message limit, set again on every fresh context */
} ch__ws_rx_t;
/** Sets up a new ws (ws_upgrade.c) dormant, without a wslay context: its callbacks (reads
 * counted, messages to ws->cb, output gathered by ws_out.c); ws->data is the connection. */
void ch__ws_dormant_init(h2o_websocket_conn_t *ws);
/** The upgrade is written (ws->sock set): reads start, dormant unless ws was woken meanwhile
 * or the client already sent bytes (then they go to wslay; ws may end: ws->cb NULL). */
void ch__ws_dormant_start(h2o_websocket_conn_t *ws);
/** Frees ws's wslay context when nothing is in flight (loop thread, outside h2o's callbacks
 * of ws); 1 when it did (ws->ws_ctx is NULL: ch__ws_wake before any wslay call). */
int ch__ws_sleep(h2o_websocket_conn_t *ws);
/** Gives a dormant ws a fresh wslay context (no-op when it has one); 0, or -1 out of memory. */
int ch__ws_wake(h2o_websocket_conn_t *ws, size_t max_msg);
/** Writes a heartbeat ping (a constant frame) to a dormant ws without waking it; 1 when it
 * did, 0 when ws is awake or writing (the caller queues the ping in wslay). */
int ch__ws_dormant_ping(h2o_websocket_conn_t *ws);
/** Writes the text frame data (borrowed, copied) to a dormant ws without waking it, or holds
 * it until the upgrade's write ended (ws->sock NULL); 1 when it did, 0 when ws is awake, has
 * output queued or being written, or the frame does not fit bound (the output bound, bytes):
 * the caller queues it in wslay, and order holds. It counts in the output until written. */
int ch__ws_dormant_send(h2o_websocket_conn_t *ws, const char *data, size_t len, size_t bound);
/** Writes the header of an unmasked final frame of opcode and len payload bytes at h (room
 * for 10 bytes); returns its length. */
size_t ch__ws_frame_header(uint8_t *h, unsigned opcode, size_t len);
/** Uncounts a dormant ws that is being closed (h2o_websocket_close accepts its NULL context). */
void ch__ws_dormant_forget(h2o_websocket_conn_t *ws);
/** The connection's reader accounting (ws_conn.c). */
ch__ws_rx_t *ch__gw_conn_rx(ch__gw_conn_t *c);
/** A frame came from c's client while it was dormant (a pong): it is alive (ws_conn.c). */
void ch__gw_conn_heard(ch__gw_conn_t *c);

/* ---- ws_upgrade.c ---- */
/** Answers req's WebSocket handshake (101) and writes the text frame hello right behind it in
 * the same socket write, without a wslay context (ws starts dormant). Returns the connection
 * (h2o_websocket_conn_t, freed by h2o_websocket_close; data and cb as for
 * h2o_upgrade_to_websocket: cb gets a NULL message at the end, also when the write fails). */
h2o_websocket_conn_t *ch__ws_upgrade(h2o_req_t *req, const char *client_key, void *data, h2o_websocket_msg_callback cb,
                                     const char *hello, size_t hello_len);

/* ---- ws_out.c ---- */
#define CH_WS_WRITE_BATCH_BYTES (64u * 1024) /* frames gathered for one socket write, at most */
/* A connection's output: the frames wslay hands over are gathered here and written in one
 * socket write per round instead of one write (and one loop round trip) per frame part. */
typedef struct {
    char *buf;      /* gathered, not written yet (malloc'd; NULL when empty) */
    size_t len, cap;
    char *inflight; /* being written (freed when the write ends, or with the connection) */
    size_t inflight_len;
    int in_frame;   /* the pieces so far are a frame's start (more to come) */
    int closing;    /* the frame being gathered is a close frame */
} ch__ws_out_t;
/** Installs the gathering send callback on ws's wslay context right after
 * ch__ws_dormant_setup (ws->data is the connection, whose ch__ws_out_t it fills). */
void ch__ws_out_setup(h2o_websocket_conn_t *ws);
/** Writes what ws gathered when no write is in flight (loop thread, ws upgraded); 1 when a
 * write was started. */
int ch__ws_out_flush(h2o_websocket_conn_t *ws);
/** Bytes gathered or being written (counted in the output bound). */
size_t ch__ws_out_pending(const ch__ws_out_t *o);
/** Frees o's buffers (the connection's end; the socket is closed). */
void ch__ws_out_clear(ch__ws_out_t *o);
/** The connection's output (ws_conn.c). */
ch__ws_out_t *ch__gw_conn_out(ch__gw_conn_t *c);

/* ---- ws_order.c ---- */
#define CH_WS_ORDER_CONVS 64                   /* conversations whose last seq a connection keeps */
#define CH_WS_ORDER_HELD_MAX 32                /* frames a connection holds at most, all conversations */
#define CH_WS_ORDER_HELD_BYTES (256u * 1024)   /* and their bytes (frames are shared by the devices) */
typedef struct ch__ws_order ch__ws_order_t;
/** 1 when the bus frame data is a message.new, with its conversation and seq; 0 otherwise. */
int ch__ws_order_key(const char *data, size_t len, uint64_t *conv, int64_t *seq);
/** Delivers f, the message.new of conv at seq, to c in seq order (loop thread): at once when it
 * follows the last seq c got of conv (or c has none), dropped when at or below it, otherwise
 * held (a reference to f) until the seqs before it came or hold_ms passed, then sent with a
 * gap marker. The state is c's (ch__gw_conn_order), made here. */
void ch__ws_order_deliver(ch__gw_conn_t *c, ch__gw_frame_t *f, uint64_t conv, int64_t seq, int64_t now,
                          int64_t hold_ms);
/** Whether the frame data[0..len) is a member.added naming user (the receiver themselves,
 * added to a conversation again); then *conv and *joined (the seq they joined at) are set. */
int ch__ws_order_joined_key(const char *data, size_t len, uint64_t user, uint64_t *conv, int64_t *joined);
/** c's user joined conv at seq joined (their member.added): c's last seq of conv moves up to
 * it, so that the next message goes at once instead of being held for the seqs sent while
 * they were not a member (loop thread). Nothing when c has no entry for conv. */
void ch__ws_order_joined(ch__gw_conn_t *c, uint64_t conv, int64_t joined);
/** The ticker's part (loop thread): sends c's held frames whose time is up, with their gaps. */
void ch__ws_order_tick(ch__gw_conn_t *c, int64_t now);
/** Before a resync event (loop thread): sends what c holds, with its gaps, and forgets c's
 * last seqs (the client reads history after a resync, so nothing is waited for any more). */
void ch__ws_order_resync(ch__gw_conn_t *c);
/** Frees an ordering state and drops the frames it holds (NULL is fine). */
void ch__ws_order_free(ch__ws_order_t *o);
/** The connection's ordering state (ws_conn.c; NULL until its first message.new). */
ch__ws_order_t **ch__gw_conn_order(ch__gw_conn_t *c);

/* ---- gw_sweep.c ---- */
/** The sweep thread's body (arg: the gateway): sweeps dead instances every
 * CH_PRESENCE_HEARTBEAT_MS until gw->hb_stop. */
void *ch__gw_sweep_main(void *arg);

/* ---- registry.c ---- */
/** Admits one more device of user_id on this node (limits of cfg); 0 admitted, else the
 * error for the HTTP answer (CH_ERATELIMIT per user, CH_EOVERLOADED node full). */
ch_err_t ch__gw_admit(ch_gateway_t *gw, uint64_t user_id);
/** The users with a device on this node, for the presence record of the instance's users
 * (*ids malloc'd, caller frees; at most max). */
size_t ch__gw_users_snapshot(ch_gateway_t *gw, uint64_t **ids, size_t max);
/** Undoes ch__gw_admit for a connection that never got registered. */
void ch__gw_unadmit(ch_gateway_t *gw, uint64_t user_id);
/** Registers an admitted connection on its loop (loop thread); the user's first device on
 * the node subscribes the bus. */
void ch__gw_register(ch__gw_loop_t *l, ch__gw_conn_t *c);
/** Removes a registered connection (loop thread); the user's last device unsubscribes. */
void ch__gw_unregister(ch__gw_loop_t *l, ch__gw_conn_t *c, int idle);
/** Counts a device's idle flag change in the node-wide table; 1 when the user's status on
 * this node changed. */
int ch__gw_count_idle(ch_gateway_t *gw, uint64_t user_id, int delta);
/** A presence change of user_id: 1 when the caller queues its job (none was queued or
 * running), 0 when the running one was told to run again, -1 when too many users have a job
 * (CH_GW_PJOBS_PER_CONN per allowed connection; the change is dropped and logged). */
int ch__gw_pjob_begin(ch_gateway_t *gw, uint64_t user_id);
/** The end of one run of user_id's job: 1 when a change came meanwhile (run again), 0 when
 * the job is done (its mark removed). */
int ch__gw_pjob_again(ch_gateway_t *gw, uint64_t user_id);
/** The bus's receiver (store/bus.h): posts frame to every loop holding a device of user_id. */
void ch__gw_on_bus(void *ctx, uint64_t user_id, const char *frame, size_t len);
/** The same for n users (ch_bus_receive_many_fn): the frame copied once, one inbox item per
 * loop holding devices of any of them. */
void ch__gw_on_bus_many(void *ctx, const uint64_t *user_ids, size_t n, const char *frame, size_t len);
/** Loop thread: delivers the loop's inbox to its connections. */
void ch__gw_on_wake(uv_async_t *a);
/** Drops a reference to a shared frame. */
void ch__gw_frame_release(ch__gw_frame_t *f);

/* ---- ws_conn.c ---- */
/** Starts a connection after the upgrade was answered (loop thread); the connection is
 * closed with CH_GW_CLOSE_EXPIRED once expires_at_s (the token's exp, unix seconds) passes. */
void ch__gw_conn_start(ch__gw_loop_t *l, h2o_req_t *req, const char *client_key, uint64_t user_id,
                       uint64_t session_id, int64_t expires_at_s);
/** Queues a frame for c (loop thread); closes c with 4008 when its output passes the bound. */
void ch__gw_conn_send(ch__gw_conn_t *c, const char *data, size_t len);
/** The ticker's work for one connection: ping, or close it when it has been silent. */
void ch__gw_conn_tick(ch__gw_conn_t *c, int64_t now);
/** Forced exit (loop thread): unregisters c, closes its socket and marks it dead (no
 * further writes or ops); c is freed by its last reference (an op's done callback). */
void ch__gw_conn_abandon(ch__gw_conn_t *c);
/** Starts a clean close of c with code and reason (loop thread). */
void ch__gw_conn_close(ch__gw_conn_t *c, uint16_t code, const char *reason);
/** Loop thread: answers the deferred ops that were resumed (ch_ws_call_resume) for l. */
void ch__gw_resumed_run(ch__gw_loop_t *l);
/** The connection's user and session; its links in its loop's list and its user's list
 * (borrowed: part of c). */
uint64_t ch__gw_conn_user(const ch__gw_conn_t *c);
uint64_t ch__gw_conn_session(const ch__gw_conn_t *c);
ch__gw_link_t *ch__gw_conn_loop_link(ch__gw_conn_t *c);
ch__gw_link_t *ch__gw_conn_user_link(ch__gw_conn_t *c);

/* ---- gateway.c ---- */
/** The loop state of ctx, made at its first WebSocket request (loop thread). */
ch__gw_loop_t *ch__gw_loop_of(ch_gateway_t *gw, h2o_context_t *ctx);
/** A worker job referring to l was queued / is done (loop thread); done frees l once it
 * ended and nothing refers to it any more. */
void ch__gw_loop_job_add(ch__gw_loop_t *l);
void ch__gw_loop_job_done(ch__gw_loop_t *l);
/** Queues the presence update of user_id (its status on this node changed) on a worker of l's loop. */
void ch__gw_presence_changed(ch__gw_loop_t *l, uint64_t user_id);

#endif
