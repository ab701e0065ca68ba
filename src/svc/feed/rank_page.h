/* Serving one page of a ranked snapshot as JSON text (svc/feed/rank_page.c), for rank.c. */
#ifndef CH_SVC_FEED_RANK_PAGE_H
#define CH_SVC_FEED_RANK_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "svc/feed/candidates.h"
#include "svc/feed/snapshot.h"

/** Renders the page of s from offset: the first `limit` entries the viewer may still see
 * (at most CH_FEED_PAGE_SCAN_MAX looked at), hydrated now, so what was deleted, blocked,
 * made private or expired since the ranking is skipped where it was; items by authors the
 * viewer mutes are skipped too. fb: the viewer's feedback, whose hidden items are skipped;
 * NULL when the ranking was made under the viewer's current generation (nothing hidden or
 * muted since: svc/common/viewer_gen.h), which spares the mute and feedback reads. The
 * page, {"items":[...],"next_cursor":...[,"model":...]}, goes to *out as NUL-terminated
 * text (malloc'd, caller frees); served items join the seen set (quick: through the feed's
 * thread, svc/feed/touch_queue.h, best effort). When s is a head
 * (s->n < s->total) that ends before the page is full, nothing is served and *need_all is
 * set: serve the whole snapshot instead. A head's entries are parsed here as the page
 * needs them (ch_feed_snap_more: s->n grows). quick: the call runs on the event loop, every store
 * in-process: entries are hydrated exactly as many as the page still needs per step (no
 * slack against a round trip). */
ch_err_t ch_feed_page_serve(ch_svc_t *svc, uint64_t viewer, ch_feed_snap_t *s, size_t offset, int limit,
                            int explain, int quick, const ch_feed_feedback_t *fb, char **out, int *need_all,
                            ch_fault_t *f);

#endif
