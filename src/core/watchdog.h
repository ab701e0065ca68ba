/* The last resort of a graceful stop: a thread that ends the process if the stop has not
 * finished within its grace (CHORUS_SHUTDOWN_GRACE), whatever a backend does. It logs the
 * stage the stop was in and the caller's report of what was still running, then calls
 * _exit(CH_WATCHDOG_EXIT_STATUS): no destructor, flush or join can hang it. What that may
 * abandon is never acknowledged work (see docs/design.md, "Process and threads"). */
#ifndef CH_CORE_WATCHDOG_H
#define CH_CORE_WATCHDOG_H

#include <stdint.h>

#define CH_WATCHDOG_EXIT_STATUS 70 /* EX_SOFTWARE: the stop was forced */

typedef struct ch_watchdog ch_watchdog_t;

/** Starts the watchdog: after ms, unless cancelled, it logs the current stage and calls
 * report(arg) (which should log what is still running, quickly and without locks that a
 * stuck thread may hold), then _exit()s. arg is borrowed until ch_watchdog_cancel. NULL when
 * the thread cannot start (logged; the stop then has no last resort). */
ch_watchdog_t *ch_watchdog_start(int64_t ms, void (*report)(void *arg), void *arg);
/** Names the stage the stop is in now (a string literal, kept), for the watchdog's log. */
void ch_watchdog_stage(ch_watchdog_t *w, const char *stage);
/** Stops and frees the watchdog (the stop finished in time). NULL is fine. */
void ch_watchdog_cancel(ch_watchdog_t *w);

#endif
