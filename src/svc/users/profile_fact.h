/* A user's rendered profile as a hydration-cache fact (docs/design.md, "### l1 on the loop"),
 * in both modes (embedded: the in-process driver). "p:<user>" holds the viewer-independent
 * profile text (GET /v1/users/{id}) followed by the owner's extra members (interests, region:
 * GET /v1/me), so that a warm profile needs no statement, and in cluster mode is served on
 * the event loop from the L1. "h:<handle>" holds
 * the id of a handle (handles never change). Both are put under their lookup's lease; "p:" is
 * forgotten after the commit of every write that changes what it renders
 * (ch_users_profile_forget). Nothing per viewer is in them: the relationship and the block
 * check come from the layer's relation facts (svc/common/hydrate.h). */
#ifndef CH_SVC_USERS_PROFILE_FACT_H
#define CH_SVC_USERS_PROFILE_FACT_H

#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

/** A decoded "p:" fact: text[0..public_len) is the public profile (a JSON object);
 * text[0..public_len - 1) + text[public_len..len) + "}" is the owner's view. */
typedef struct {
    char *text; /* owned (ch_profile_fact_clear); NUL-terminated at len */
    size_t public_len;
    size_t len;
} ch_profile_fact_t;

/** Reads user id's profile fact into *out (caller clears it): from the hydration cache, or on
 * a miss one statement, put back under the lookup's lease (nothing is put inside an ambient
 * transaction or when the cache cannot answer). CH_ENOTFOUND for no such user (not cached);
 * a database error as the statement's (under the loop guard: refused, the call moves). */
ch_err_t ch_profile_fact_read(ch_svc_t *svc, uint64_t id, ch_profile_fact_t *out, ch_fault_t *f);
/** Frees p's text and zeroes it. */
void ch_profile_fact_clear(ch_profile_fact_t *p);
/** The owner's view of p as a new NUL-terminated text (caller frees). */
char *ch_profile_fact_self(const ch_profile_fact_t *p);

/** The id of a handle (already validated and lower-cased) in *id_out: from the "h:" fact, or
 * one statement put back under the lease. CH_ENOTFOUND for an unknown handle (not cached). */
ch_err_t ch_profile_fact_handle(ch_svc_t *svc, const char *handle, uint64_t *id_out, ch_fault_t *f);

/** Encodes a fact from the public text (plen bytes) and the owner's full text (slen bytes,
 * the public members then more); *len gets its size. NULL (nothing to cache) when self does
 * not start with the public text's members. Caller frees. */
char *ch_profile_fact_encode(const char *pub, size_t plen, const char *self, size_t slen, size_t *len);
/** Decodes v[0..len) into *out (caller clears it): 1 when it is a fact exactly, else 0. */
int ch_profile_fact_decode(const char *v, size_t len, ch_profile_fact_t *out);

/** Forgets user's rendered profile after the commit of a write that changed what it shows
 * (counts, any profile field): the "p:" fact (in cluster mode in every node's L1 too, through
 * the hydration cache's forget path). At once without an ambient transaction, else after its
 * commit. */
void ch_users_profile_forget(ch_svc_t *svc, uint64_t user);

#endif
