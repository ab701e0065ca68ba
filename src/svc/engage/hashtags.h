/* Hashtag pages and trending hashtags. Tags are matched case-insensitively: every tag is
 * stored case-folded and NFC-normalised (svc/engage/textrefs.h) and a tag in a path is
 * normalised the same way.
 * The items of a tag are listed by svc/content (ch_content_tagged), which renders them. */
#ifndef CH_SVC_ENGAGE_HASHTAGS_H
#define CH_SVC_ENGAGE_HASHTAGS_H

#include <jansson.h>

#include "svc/common/sql.h"
#include "svc/engage/textrefs.h"

/* Trending: at most this many tags, each used at least CH_TRENDING_MIN_USES times in the
 * last hour; the baseline is the average hourly use over CH_TRENDING_BASELINE_HOURS hours
 * before that. score = (uses_last_hour + 1) / (baseline_per_hour + 1) (see hashtags.c). */
#define CH_TRENDING_MAX 20
#define CH_TRENDING_MIN_USES 2
#define CH_TRENDING_BASELINE_HOURS 168
/* items_count counts the public items among at most this many of the tag's newest rows
 * (exact below that; a lower bound above it), so a hashtag page costs bounded time. */
#define CH_HASHTAG_COUNT_SCAN_MAX 10000

/** Normalises a tag from a path ("Café", "#café" -> "café") into out. CH_ENOTFOUND when it
 * cannot be a hashtag (no page can exist for it). */
ch_err_t ch_hashtag_parse_path(const char *raw, char out[CH_HASHTAG_MAX_BYTES + 1], ch_fault_t *f);
/** {tag, items_count}: the number of live public posts and reels of accounts that are not
 * private carrying tag (the same for every viewer; 0 for a tag nobody used), counted among
 * the tag's newest CH_HASHTAG_COUNT_SCAN_MAX rows. raw as in ch_hashtag_parse_path. */
ch_err_t ch_hashtag_get(ch_svc_t *svc, const char *raw, json_t **out, ch_fault_t *f);
/** {items: [{tag, uses_last_hour, baseline_per_hour, score}]}: the tags whose public use
 * in the last hour is highest relative to their own baseline, best first. Shared by every
 * caller of the process and recomputed at most once per CHORUS_TRENDING_REFRESH_MS, by one
 * caller at a time (hashtags.c). Thread-safe; *out is the caller's. */
ch_err_t ch_hashtags_trending(ch_svc_t *svc, json_t **out, ch_fault_t *f);

#endif
