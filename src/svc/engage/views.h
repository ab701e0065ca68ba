/* Views of reels, stories and livestreams: counted at most once per viewer per item per
 * 24 h (CH_VIEW_WINDOW_MS), watch time always accumulated. The `views` row of (target,
 * viewer) is the truth; the target's views / watch_ms counters move in the same
 * transaction. A story view also records the story as seen (story_views: the `seen` flag
 * and the author's viewers list) and writes the outbox event story.viewed the first time.
 * The author's own views are not recorded. Every recorded view emits the engagement event
 * "view" with value = watch seconds of this request. */
#ifndef CH_SVC_ENGAGE_VIEWS_H
#define CH_SVC_ENGAGE_VIEWS_H

#include <jansson.h>
#include <stdint.h>

#include "svc/engage/target.h"

#define CH_VIEW_WINDOW_MS (24LL * 3600 * 1000)
#define CH_VIEW_WATCH_MS_MAX 86400000LL

/** Whether views are recorded for this type (reels, stories, livestreams). */
int ch_views_type_ok(ch_target_type_t type);
/** Records viewer's view of (type, id) from body {watch_ms?} (body may be NULL: no watch
 * time). CH_EINVAL naming "watch_ms" when it is not an integer in 0..86,400,000 (nothing
 * recorded); CH_ENOTFOUND when the viewer may not engage with the target or the type has
 * no views. */
ch_err_t ch_views_record(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, json_t *body,
                         ch_fault_t *f);

#endif
