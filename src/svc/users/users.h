/* Users and profiles: validation of account fields, profile reads (by id, by handle) and
 * the owner's profile edits. Profiles are rendered as Jansson objects (caller owns them). */
#ifndef CH_SVC_USERS_H
#define CH_SVC_USERS_H

#include <jansson.h>
#include <stdint.h>

#include "svc/common/sql.h"

#define CH_HANDLE_MIN 3
#define CH_HANDLE_MAX 30
#define CH_DISPLAY_NAME_MAX 64
#define CH_BIO_MAX 500
#define CH_AVATAR_URL_MAX 2048
#define CH_INTERESTS_MAX 20
#define CH_INTEREST_MAX 50

/** Columns to SELECT for ch_users_render, in its order. */
#define CH_USER_COLUMNS                                                                             \
    "id, handle, display_name, bio, avatar_url, is_private, followers_count, following_count, "  \
    "posts_count, created_at, interests, region"

/** Validates a handle (3-30 of [a-z0-9_], upper case accepted) and writes it lower-cased
 * into out. CH_EINVAL with field "handle" when bad. */
ch_err_t ch_users_check_handle(const char *handle, char out[CH_HANDLE_MAX + 1], ch_fault_t *f);
/** Validates a display name: 1-64 characters of valid UTF-8, at least one of them visible,
 * none a control, format (bidi, zero-width space), separator or unassigned one
 * (ch_uni_check_name). CH_EINVAL naming display_name when bad. */
ch_err_t ch_users_check_display_name(const char *name, ch_fault_t *f);
/** Renders row `row` of a CH_USER_COLUMNS result; self (the owner's view) adds interests and region. */
json_t *ch_users_render(const ch_db_rows_t *rows, size_t row, int self);
/** The user's own profile (GET /v1/me). *out is owned by the caller. */
ch_err_t ch_users_get_me(ch_svc_t *svc, uint64_t user_id, json_t **out, ch_fault_t *f);
/** The user's own profile (GET /v1/me) as JSON text in *json_out (caller frees), from the
 * profile fact (svc/users/profile_fact.h), so that in cluster mode it is answered on the loop
 * when warm. */
ch_err_t ch_users_get_me_text(ch_svc_t *svc, uint64_t user_id, char **json_out, ch_fault_t *f);
/** A user's public profile as `viewer` sees it, by id or (when id is 0) by handle, as JSON
 * text in *json_out (caller frees); `relationship` (read from the graph) is added unless
 * viewer is that user. Unknown users, and users blocking or blocked by the viewer, are
 * CH_ENOTFOUND. Every part comes from the hydration cache's facts: "p:" (the text), "h:" (a
 * handle's id), the viewer's "u:"/"r:" (relationship, block check). */
ch_err_t ch_users_get_profile(ch_svc_t *svc, uint64_t viewer, uint64_t id, const char *handle, char **json_out,
                              ch_fault_t *f);
/** Applies a PATCH /v1/me body: every field is validated before anything is written, so a
 * bad field changes nothing. *out gets the updated profile (caller owns it). */
ch_err_t ch_users_update_me(ch_svc_t *svc, uint64_t user_id, json_t *patch, json_t **out, ch_fault_t *f);

#endif
