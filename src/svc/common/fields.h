/* Validation of fields in JSON request bodies, shared by every domain so that every text
 * a user sends is checked the same way: type, valid UTF-8 (bytes that were not UTF-8
 * arrive as U+0000, see http/dispatch.c), length in characters, control characters. */
#ifndef CH_SVC_COMMON_FIELDS_H
#define CH_SVC_COMMON_FIELDS_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

enum {
    CH_FIELD_REQUIRED = 1u << 0, /* missing (or null) is an error */
    CH_FIELD_MULTILINE = 1u << 1, /* newlines and tabs allowed */
    CH_FIELD_NONEMPTY = 1u << 2,  /* at least one character */
};

/** Checks that every member of obj is named in the NULL-terminated list allowed (a request
 * schema with additionalProperties: false). CH_EINVAL naming the first other member; the
 * field name in f is borrowed from obj (it lives as long as the request body); an empty
 * member name is named "" (two quote characters). */
ch_err_t ch_field_only(json_t *obj, const char *const *allowed, ch_fault_t *f);
/** Reads text field `name` of obj. *out is NULL when absent/null (and not required), else
 * borrowed from obj. CH_EINVAL naming the field when it is not a string, holds bytes that
 * were not UTF-8, has control characters, or more than max_chars characters. */
ch_err_t ch_field_text(json_t *obj, const char *name, unsigned flags, size_t max_chars, const char **out,
                       ch_fault_t *f);
/** Reads an https URL field (at most max_bytes); same absent/required rules. */
ch_err_t ch_field_https_url(json_t *obj, const char *name, unsigned flags, size_t max_bytes, const char **out,
                            ch_fault_t *f);
/** Reads an integer field in [min, max]; *present_out (may be NULL) tells whether it was there. */
ch_err_t ch_field_int(json_t *obj, const char *name, unsigned flags, long long min, long long max, long long *out,
                      int *present_out, ch_fault_t *f);
/** Reads a string field that must be one of the NULL-terminated choices; *out is the
 * matching entry of choices (static) or NULL when absent. */
ch_err_t ch_field_enum(json_t *obj, const char *name, unsigned flags, const char *const *choices, const char **out,
                       ch_fault_t *f);

#endif
