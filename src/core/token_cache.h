/* Verified access tokens, remembered per thread (core/crypto.c, ch_token_verify): a signed
 * token's claims are a pure function of its bytes and the key, so a token this thread has
 * verified is not verified again (HMAC, two base64 decodings and a JSON parse were about a
 * tenth of a warm feed read's instructions); its expiry is checked on every use. Only exact
 * byte-for-byte matches (compared in constant time) are hits; only successful verifications
 * are kept. Bounded: CH_TOKEN_CACHE_SLOTS per thread, direct-mapped by a hash of the token.
 * Metric: chorus_token_cache_total{result="hit"|"miss"}. Internal to core/crypto.c. */
#ifndef CH_CORE_TOKEN_CACHE_H
#define CH_CORE_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"

/* Slots per thread (each about 330 bytes of thread-local storage: about 84 KB in every thread
 * of the process, loop, worker and library threads alike: static TLS, set up at thread start). */
#define CH_TOKEN_CACHE_SLOTS 256
/* Longest token kept (chorus's own tokens are about 190 bytes). */
#define CH_TOKEN_CACHE_TOKEN_MAX 256

/** The claims of token (len bytes) verified under key by this thread before, into *claims: 1,
 * or 0 when not kept. Expiry is the caller's to check. Counts a hit or a miss. */
int ch_token_cache_get(const uint8_t key[CH_TOKEN_KEY_LEN], const char *token, size_t len, ch_token_claims_t *claims);
/** Remembers that token verified under key with claims (this thread only). */
void ch_token_cache_put(const uint8_t key[CH_TOKEN_KEY_LEN], const char *token, size_t len,
                        const ch_token_claims_t *claims);

#endif
