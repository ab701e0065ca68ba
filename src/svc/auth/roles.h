/* Authorization roles of users (issue 15 brings the first: admin). A role is a row
 * (user_id, role) in user_roles; the users listed in CHORUS_ADMIN_USERS hold the admin role
 * too (the bootstrap: the first admin can then grant it). More roles are new enum values
 * and names, nothing else. */
#ifndef CH_SVC_AUTH_ROLES_H
#define CH_SVC_AUTH_ROLES_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

/*  name    stable name */
#define CH_USER_ROLE_MAP(XX) XX(ADMIN, "admin")

typedef enum {
#define XX(name, str) CH_USER_ROLE_##name,
    CH_USER_ROLE_MAP(XX)
#undef XX
    CH__USER_ROLE_COUNT
} ch_user_role_t;

/** Sets *has to whether user holds role. CH_EUNAVAILABLE when the database cannot answer. */
ch_err_t ch_roles_has(ch_svc_t *svc, uint64_t user_id, ch_user_role_t role, int *has);

/** The stable name of role ("admin"); static storage. */
const char *ch_roles_name(ch_user_role_t role);
/** The role named name, or -1 when there is none of that name. */
int ch_roles_parse(const char *name);

/** Grants role to user (an admin's act: the caller checked actor holds admin). CH_OK also
 * when user already holds it; CH_ENOTFOUND "user not found" when there is no such user;
 * CH_EUNAVAILABLE when the database cannot answer. */
ch_err_t ch_roles_grant(ch_svc_t *svc, uint64_t actor, uint64_t user_id, ch_user_role_t role, ch_fault_t *f);
/** Revokes role from user (the row; a user listed in CHORUS_ADMIN_USERS stays admin). CH_OK
 * also when user did not hold it; CH_ENOTFOUND when there is no such user; CH_ECONFLICT
 * (field role) when it is the last admin row and CHORUS_ADMIN_USERS is empty. */
ch_err_t ch_roles_revoke(ch_svc_t *svc, uint64_t user_id, ch_user_role_t role, ch_fault_t *f);
/** The roles user holds, as a JSON array of names in enum order (caller owns *out). */
ch_err_t ch_roles_list(ch_svc_t *svc, uint64_t user_id, json_t **out, ch_fault_t *f);

#endif
