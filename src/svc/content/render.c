#include "svc/content/render.h"

#include <string.h>

#include "core/clock.h"
#include "svc/engage/counters.h"

static const char *const ch__type_names[] = {[CH_ITEM_POST] = "post", [CH_ITEM_REEL] = "reel",
                                             [CH_ITEM_STORY] = "story"};

const char *ch_item_type_name(ch_item_type_t type)
{
    return (unsigned)type < sizeof(ch__type_names) / sizeof(ch__type_names[0]) ? ch__type_names[type] : "post";
}

ch_item_type_t ch_item_row_type(const ch_db_rows_t *rows, size_t r)
{
    const char *t = ch_db_rows_text(rows, r, CH_ITEM_COL_TYPE);
    return strcmp(t, "reel") == 0 ? CH_ITEM_REEL : strcmp(t, "story") == 0 ? CH_ITEM_STORY : CH_ITEM_POST;
}

/* A text cell as a JSON string, or null for SQL NULL. */
static json_t *ch__text_or_null(const ch_db_rows_t *rows, size_t r, size_t col)
{
    return ch_db_rows_isnull(rows, r, col) ? json_null() : json_string(ch_db_rows_text(rows, r, col));
}

static json_t *ch__int_or_null(const ch_db_rows_t *rows, size_t r, size_t col)
{
    return ch_db_rows_isnull(rows, r, col) ? json_null() : json_integer(ch_db_rows_int(rows, r, col));
}

static json_t *ch__time_or_null(const ch_db_rows_t *rows, size_t r, size_t col)
{
    char buf[CH_RFC3339_LEN];
    if (ch_db_rows_isnull(rows, r, col))
        return json_null();
    ch_format_rfc3339(ch_db_rows_int(rows, r, col), buf);
    return json_string(buf);
}

json_t *ch_item_render_body(const ch_db_rows_t *rows, size_t r)
{
    ch_item_type_t type = ch_item_row_type(rows, r);
    json_t *item = json_pack("{s:s, s:s, s:o, s:o}", "id", ch_db_rows_text(rows, r, CH_ITEM_COL_ID), "type",
                             ch_item_type_name(type), "created_at", ch__time_or_null(rows, r, CH_ITEM_COL_CREATED),
                             "edited_at", ch__time_or_null(rows, r, CH_ITEM_COL_EDITED));
    switch (type) {
    case CH_ITEM_POST: {
        json_t *media = json_loads(ch_db_rows_text(rows, r, CH_ITEM_COL_MEDIA), 0, NULL);
        if (!json_is_array(media)) {
            json_decref(media);
            media = json_array();
        }
        json_object_set_new(item, "text", ch__text_or_null(rows, r, CH_ITEM_COL_TEXT));
        json_object_set_new(item, "media", media);
        break;
    }
    case CH_ITEM_REEL:
        json_object_set_new(item, "caption", ch__text_or_null(rows, r, CH_ITEM_COL_TEXT));
        json_object_set_new(item, "video_url", ch__text_or_null(rows, r, CH_ITEM_COL_VIDEO_URL));
        json_object_set_new(item, "cover_url", ch__text_or_null(rows, r, CH_ITEM_COL_COVER_URL));
        json_object_set_new(item, "duration_ms", ch__int_or_null(rows, r, CH_ITEM_COL_DURATION));
        break;
    case CH_ITEM_STORY:
        json_object_set_new(item, "media_url", ch__text_or_null(rows, r, CH_ITEM_COL_MEDIA_URL));
        json_object_set_new(item, "kind", ch__text_or_null(rows, r, CH_ITEM_COL_KIND));
        json_object_set_new(item, "duration_ms", ch__int_or_null(rows, r, CH_ITEM_COL_DURATION));
        json_object_set_new(item, "expires_at", ch__time_or_null(rows, r, CH_ITEM_COL_EXPIRES));
        break;
    }
    json_object_set_new(item, "visibility", json_string(ch_db_rows_text(rows, r, CH_ITEM_COL_VISIBILITY)));
    /* Engagement counts, joined from the engagement tables. */
    ch_counters_t counts = {.comments = ch_db_rows_int(rows, r, CH_ITEM_COL_COMMENTS),
                            .views = ch_db_rows_int(rows, r, CH_ITEM_COL_VIEWS)};
    for (int k = 0; k < CH_REACTION_KIND_COUNT; k++)
        counts.reactions[k] = ch_db_rows_int(rows, r, CH_ITEM_COL_REACTIONS + (size_t)k);
    json_object_set_new(item, "counts", ch_counters_json(&counts));
    json_object_set_new(item, "mentions", ch_rows_json_array(rows, r, CH_ITEM_COL_MENTIONS));
    json_object_set_new(item, "hashtags", ch_rows_json_array(rows, r, CH_ITEM_COL_HASHTAGS));
    return item;
}

json_t *ch_item_render(const ch_db_rows_t *rows, size_t r)
{
    json_t *item = ch_item_render_body(rows, r);
    json_object_set_new(item, "author", ch_user_summary_render(rows, r, CH_ITEM_COL_AUTHOR, CH_ITEM_COL_HANDLE));
    if (ch_item_row_type(rows, r) == CH_ITEM_STORY)
        json_object_set_new(item, "seen", json_boolean(ch_db_rows_int(rows, r, CH_ITEM_COL_SEEN)));
    json_object_set_new(item, "my_reaction", ch__text_or_null(rows, r, CH_ITEM_COL_MY_REACTION));
    return item;
}

json_t *ch_item_page(ch_db_rows_t *rows, int limit)
{
    json_t *items = json_array();
    size_t n = ch_db_rows_count(rows);
    for (size_t r = 0; r < n && r < (size_t)limit; r++)
        json_array_append_new(items, ch_item_render(rows, r));
    json_t *next = n > (size_t)limit ? json_string(ch_db_rows_text(rows, (size_t)limit - 1, CH_ITEM_COL_ID))
                                     : json_null();
    ch_db_rows_free(rows);
    return json_pack("{s:o, s:o}", "items", items, "next_cursor", next);
}
