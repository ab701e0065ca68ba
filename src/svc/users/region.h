/* ISO 3166-1 alpha-2 region codes. */
#ifndef CH_SVC_USERS_REGION_H
#define CH_SVC_USERS_REGION_H

/** Checks a two-letter region code (any case) against ISO 3166-1 alpha-2 and writes it
 * upper-cased into out. Returns 0 when assigned, -1 otherwise. */
int ch_region_normalize(const char *in, char out[3]);

#endif
