#include "svc/context.h"

#include <string.h>

#include "core/clock.h"
#include "svc/common/sql.h"

/* Reads (creating on first start) a named 256-bit secret kept in server_keys, so that
 * every replica of a cluster signs with the same key without configuration. */
static ch_err_t ch__stored_secret(ch_svc_t *svc, const char *name, uint8_t out[CH_TOKEN_KEY_LEN])
{
    uint8_t raw[CH_TOKEN_KEY_LEN];
    char hex[2 * CH_TOKEN_KEY_LEN + 1];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
    ch_db_param_t ins[] = {CH_DB_P_TEXT(name), CH_DB_P_TEXT(hex), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_run(svc,
                              "INSERT INTO server_keys(name, secret, created_at) VALUES($1, $2, $3) "
                              "ON CONFLICT (name) DO NOTHING",
                              ins, 3, NULL, NULL);
    if (err)
        return err;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t sel[] = {CH_DB_P_TEXT(name)};
    if ((err = ch_sql_run(svc, "SELECT secret FROM server_keys WHERE name = $1", sel, 1, &rows, NULL)) != CH_OK)
        return err;
    size_t bin_len = 0;
    const char *stored = ch_db_rows_count(rows) ? ch_db_rows_text(rows, 0, 0) : "";
    if (sodium_hex2bin(out, CH_TOKEN_KEY_LEN, stored, strlen(stored), NULL, &bin_len, NULL) != 0 ||
        bin_len != CH_TOKEN_KEY_LEN)
        err = CH_EINTERNAL;
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_svc_load_keys(ch_svc_t *svc)
{
    ch_err_t err;
    if (svc->cfg->jwt_secret[0])
        ch_token_key_from_secret(svc->cfg->jwt_secret, svc->token_key);
    else if ((err = ch__stored_secret(svc, "access_token", svc->token_key)) != CH_OK)
        return err;
    return CH_OK;
}
