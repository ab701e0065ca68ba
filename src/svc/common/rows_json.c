#include "svc/common/rows_json.h"

json_t *ch_rows_json_array(const ch_db_rows_t *rows, size_t r, size_t col)
{
    json_t *v = ch_db_rows_isnull(rows, r, col) ? NULL : json_loads(ch_db_rows_text(rows, r, col), 0, NULL);
    if (!json_is_array(v)) {
        json_decref(v);
        v = json_array();
    }
    return v;
}

json_t *ch_user_summary_render(const ch_db_rows_t *rows, size_t r, size_t id_col, size_t name_col)
{
    size_t avatar = name_col + 2;
    return json_pack("{s:s, s:s, s:s, s:o}", "id", ch_db_rows_text(rows, r, id_col), "handle",
                     ch_db_rows_text(rows, r, name_col), "display_name", ch_db_rows_text(rows, r, name_col + 1),
                     "avatar_url",
                     ch_db_rows_isnull(rows, r, avatar) ? json_null() : json_string(ch_db_rows_text(rows, r, avatar)));
}
