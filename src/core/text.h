/* Validation of user text: UTF-8 well-formedness, length in characters, control chars. */
#ifndef CH_CORE_TEXT_H
#define CH_CORE_TEXT_H

#include <stddef.h>

/** Number of Unicode code points in s[0..len) if it is valid UTF-8 (no overlongs, no
 * surrogates, <= U+10FFFF); -1 otherwise. */
long ch_utf8_count(const char *s, size_t len);
/** Whether s[0..len) contains a C0/C1 control character or DEL (newline and tab allowed
 * when allow_newlines). s must be valid UTF-8. */
int ch_text_has_control(const char *s, size_t len, int allow_newlines);
/** Whether s is an https URL with a host, no spaces or control chars, and <= max_len bytes. */
int ch_text_is_https_url(const char *s, size_t max_len);

#endif
