/* REST handlers: engage (engagement) — reactions and views. One handler serves every
 * target type: the type is the first segment after /v1/ of the matched route template
 * ("/v1/posts/{id}/reaction" -> posts), so the route table stays literal per type. */
#ifndef CH_HTTP_H_ENGAGE_H
#define CH_HTTP_H_ENGAGE_H

#include "http/call.h"

/** PUT /v1/{type}/{id}/reaction {kind} -> 200 {kind, counts}. */
ch_err_t ch_h_reaction_put(ch_call_t *call);
/** DELETE /v1/{type}/{id}/reaction -> 204 (also when there was none). */
ch_err_t ch_h_reaction_delete(ch_call_t *call);
/** GET /v1/{type}/{id}/reactions?kind&limit&cursor -> 200 {items: [{user, kind, reacted_at}], next_cursor}. */
ch_err_t ch_h_reactions_list(ch_call_t *call);
/** POST /v1/{reels|stories|livestreams}/{id}/view {watch_ms?} -> 204. */
ch_err_t ch_h_view(ch_call_t *call);

#endif
