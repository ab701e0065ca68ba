/* POST /v1/admin/users/{id}/roles {role} and DELETE /v1/admin/users/{id}/roles/{role}: an
 * admin grants or revokes a role (svc/auth/roles.h). Anyone else gets 403. */
#include <stdio.h>

#include "http/h_market.h"
#include "svc/auth/roles.h"
#include "svc/common/fields.h"

/* CH_OK when the caller holds admin; 403 otherwise. */
static ch_err_t ch__require_admin(ch_call_t *call)
{
    int admin = 0;
    ch_err_t err = ch_roles_has(call->svc, call->user_id, CH_USER_ROLE_ADMIN, &admin);
    if (err)
        return ch_fault(&call->fault, err, NULL, "cannot read roles");
    return admin ? CH_OK : ch_fault(&call->fault, CH_EFORBIDDEN, NULL, "only admins may change roles");
}

/* The answer of both: {user_id, roles}. */
static ch_err_t ch__reply_roles(ch_call_t *call, uint64_t user_id)
{
    json_t *roles = NULL;
    ch_err_t err = ch_roles_list(call->svc, user_id, &roles, &call->fault);
    if (err)
        return err;
    char id[24];
    snprintf(id, sizeof(id), "%llu", (unsigned long long)user_id);
    return ch_call_reply(call, 200, json_pack("{s:s, s:o}", "user_id", id, "roles", roles));
}

static const char *const ch__grant_fields[] = {"role", NULL};

ch_err_t ch_h_admin_role_grant(ch_call_t *call)
{
    ch_err_t err = ch__require_admin(call);
    if (err)
        return err;
    static const char *const names[] = {
#define XX(name, str) str,
        CH_USER_ROLE_MAP(XX)
#undef XX
        NULL};
    const char *role = NULL;
    if ((err = ch_field_only(call->json, ch__grant_fields, &call->fault)) != CH_OK ||
        (err = ch_field_enum(call->json, "role", CH_FIELD_REQUIRED, names, &role, &call->fault)) != CH_OK)
        return err;
    uint64_t user = ch_call_id_param(call, 0);
    err = ch_roles_grant(call->svc, call->user_id, user, (ch_user_role_t)ch_roles_parse(role), &call->fault);
    return err ? err : ch__reply_roles(call, user);
}

ch_err_t ch_h_admin_role_revoke(ch_call_t *call)
{
    ch_err_t err = ch__require_admin(call);
    if (err)
        return err;
    int role = ch_roles_parse(call->params[1]);
    if (role < 0)
        return ch_fault(&call->fault, CH_ENOTFOUND, NULL, "no such role");
    uint64_t user = ch_call_id_param(call, 0);
    err = ch_roles_revoke(call->svc, user, (ch_user_role_t)role, &call->fault);
    return err ? err : ch__reply_roles(call, user);
}
