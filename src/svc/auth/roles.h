/* Authorization roles of users (issue 15 brings the first: admin). A role is a row
 * (user_id, role) in user_roles; the users listed in CHORUS_ADMIN_USERS hold the admin role
 * too (the bootstrap: the first admin can then grant it). More roles are new enum values
 * and names, nothing else. */
#ifndef CH_SVC_AUTH_ROLES_H
#define CH_SVC_AUTH_ROLES_H

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

#endif
