/* Engageable targets: the six content types addressed as (type, id). Reactions, comments,
 * mentions, hashtags, views, notifications and events all point at a target. The types
 * (CH_TARGET_MAP) and ch_target_t are those of the item-type registry, svc/common/items.h:
 * a new type's domain plugs in by registering its ops there. */
#ifndef CH_SVC_ENGAGE_TARGET_H
#define CH_SVC_ENGAGE_TARGET_H

#include <stdint.h>

#include "svc/common/items.h"
#include "svc/context.h"

/** The type name ("post"); static storage. */
const char *ch_target_type_name(ch_target_type_t type);
/** Parses a path segment ("posts") into a type; -1 when unknown. */
int ch_target_from_segment(const char *segment);
/** Parses a type name ("post") into a type; -1 when unknown. */
int ch_target_from_name(const char *name);
/** Resolves (type, id) for viewer through the item-type registry (the resolve of the
 * type's domain): the item exists, is live (not deleted or expired) and viewer may see it
 * (blocks, private accounts, followers-only); else CH_ENOTFOUND ("<type> not found", also
 * for a type no domain registered). conn may be NULL (one is borrowed) or the caller's,
 * inside its transaction. */
ch_err_t ch_target_resolve(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_target_type_t type, uint64_t id,
                           ch_target_t *out, ch_fault_t *f);
/** ch_target_resolve for a read outside any transaction, from the hydration layer's facts
 * (svc/common/hydrate.h: the item record, its author and the viewer's relation, cached) for
 * the types it renders (posts, reels, stories, comments); the others through the registry.
 * A warm read needs no statement (and, in cluster mode, runs on the event loop). */
ch_err_t ch_target_resolve_read(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, ch_target_t *out,
                                ch_fault_t *f);

#endif
