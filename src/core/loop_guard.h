/* The loop guard (docs/design.md, "### l1", "Cluster lists on the loop"): in cluster mode a
 * point read runs first on its event-loop thread with the guard on, where it may only read
 * what this process holds in memory (the hydration cache's L1). Every call that would wait
 * for the network there — a database statement, a kv (Redis) command, a hydration-cache
 * lookup the L1 cannot answer — is refused instead, with a thread-local note; the dispatcher,
 * seeing the note, drops what the run left and runs the whole call again on a worker thread,
 * where the guard is off. Thread-local state only: no locks, nothing shared. */
#ifndef CH_CORE_LOOP_GUARD_H
#define CH_CORE_LOOP_GUARD_H

/** Turns the calling thread's guard on (non-zero) or off (0); off clears nothing else. */
void ch_loop_guard_set(int on);
/** Whether the calling thread's guard is on: a blocking backend call must be refused. */
int ch_loop_guard_on(void);
/** Notes on the calling thread that a call was refused under the guard (the read must move). */
void ch_loop_guard_note(void);
/** Whether a refusal was noted on the calling thread since the last take; clears the note. */
int ch_loop_guard_take(void);
/** ch_loop_guard_on, and if so notes a refusal: 1 when the caller must refuse its call. */
int ch_loop_guard_refuse(void);

#endif
