/* The hydration cache's value encodings (svc/common/hydrate.h): a fixed little-endian header
 * with a kind byte, then the variable part. A decoder checks the kind byte, every length and
 * every flag, and answers -1 for anything it did not write itself (truncated, garbage, another
 * kind): the caller treats that as a miss and reads the database, never trusting the bytes.
 * Internal to svc/common/hydrate*.c and its tests. */
#ifndef CH_SVC_COMMON_HYDRATE_CODEC_H
#define CH_SVC_COMMON_HYDRATE_CODEC_H

#include <jansson.h>
#include <stddef.h>

#include "svc/common/hydrate_facts.h"
#include "svc/common/items.h"

/** Encodes rec (found or not; a not-found record is three bytes) into a malloc'd buffer (caller
 * frees) of *len bytes. */
char *ch_hcodec_record_encode(const ch_item_record_t *rec, size_t *len);
/** Decodes buf[0..len) into *rec (zeroed first; rec->body malloc'd and NUL-terminated, the
 * caller frees it). 0 on success, -1 when buf is not a record value. */
int ch_hcodec_record_decode(const char *buf, size_t len, ch_item_record_t *rec);

/** Encodes u (caller frees the result). */
char *ch_hcodec_user_encode(const ch_huser_t *u, size_t *len);
/** Decodes into *u (zeroed first; u->summary malloc'd: ch_huser_clear). 0, or -1 when not a
 * user value. */
int ch_hcodec_user_decode(const char *buf, size_t len, ch_huser_t *u);

/** Encodes relation bits (CH_HREL_*) (caller frees the result). */
char *ch_hcodec_rel_encode(unsigned bits, size_t *len);
/** Decodes relation bits. 0, or -1 when not a relation value. */
int ch_hcodec_rel_decode(const char *buf, size_t len, unsigned *bits);

/** Encodes a viewer's state (caller frees the result). */
char *ch_hcodec_viewer_encode(const ch_hviewer_t *v, size_t *len);
/** Decodes a viewer's state into *v. 0, or -1 when not a viewer-state value. */
int ch_hcodec_viewer_decode(const char *buf, size_t len, ch_hviewer_t *v);

/** A record body (ch_item_record_t.body) from an object: its members as compact JSON text
 * without the braces (malloc'd, NUL-terminated, caller frees), *len bytes. Takes ownership of
 * obj (released). NULL on out-of-memory or when obj is not an object. */
char *ch_hcodec_members(json_t *obj, size_t *len);

#endif
