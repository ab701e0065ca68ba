#include "svc/content/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/common/fields.h"

static const char *const ch__visibilities[] = {"public", "followers", NULL};
static const char *const ch__media_kinds[] = {"image", "video", NULL};

/* Field names of media members, as static strings: a fault keeps a pointer to its field
 * until the answer is rendered. One row per index below CH_POST_MEDIA_MAX. */
#define CH__MEDIA_ROW(i) {"media[" #i "]", "media[" #i "].url", "media[" #i "].kind", \
                          "media[" #i "].width", "media[" #i "].height"}
enum { CH__M_SELF, CH__M_URL, CH__M_KIND, CH__M_WIDTH, CH__M_HEIGHT };
static const char *const ch__media_fields[][5] = {
    CH__MEDIA_ROW(0), CH__MEDIA_ROW(1), CH__MEDIA_ROW(2), CH__MEDIA_ROW(3), CH__MEDIA_ROW(4),
    CH__MEDIA_ROW(5), CH__MEDIA_ROW(6), CH__MEDIA_ROW(7), CH__MEDIA_ROW(8), CH__MEDIA_ROW(9),
};
_Static_assert(sizeof(ch__media_fields) / sizeof(ch__media_fields[0]) == CH_POST_MEDIA_MAX,
               "one row of media field names per allowed media item");

/* Re-points a fault made for member `key` of a media object at its full path, so that the
 * answer names "media[2].url" both in field and in detail. Returns err. */
static ch_err_t ch__media_fault(ch_err_t err, ch_fault_t *f, const char *key, const char *path)
{
    if (!f)
        return err;
    char detail[sizeof(f->detail)];
    size_t klen = strlen(key);
    const char *rest = strncmp(f->detail, key, klen) == 0 ? f->detail + klen : "";
    snprintf(detail, sizeof(detail), "%s%s", path, rest[0] ? rest : " is invalid");
    memcpy(f->detail, detail, sizeof(detail));
    f->field = path;
    return err;
}

/* Validates one media object and appends its normalised form to list. */
static ch_err_t ch__media_item(json_t *m, size_t i, json_t *list, ch_fault_t *f)
{
    const char *const *names = ch__media_fields[i];
    if (!json_is_object(m))
        return ch_fault(f, CH_EINVAL, names[CH__M_SELF], "%s must be an object {url, kind, width?, height?}",
                        names[CH__M_SELF]);
    const char *url, *kind;
    long long w = 0, h = 0;
    int has_w = 0, has_h = 0;
    ch_err_t err;
    if ((err = ch_field_https_url(m, "url", CH_FIELD_REQUIRED, CH_MEDIA_URL_MAX, &url, f)) != CH_OK)
        return ch__media_fault(err, f, "url", names[CH__M_URL]);
    if ((err = ch_field_enum(m, "kind", CH_FIELD_REQUIRED, ch__media_kinds, &kind, f)) != CH_OK)
        return ch__media_fault(err, f, "kind", names[CH__M_KIND]);
    if ((err = ch_field_int(m, "width", 0, 1, CH_MEDIA_DIMENSION_MAX, &w, &has_w, f)) != CH_OK)
        return ch__media_fault(err, f, "width", names[CH__M_WIDTH]);
    if ((err = ch_field_int(m, "height", 0, 1, CH_MEDIA_DIMENSION_MAX, &h, &has_h, f)) != CH_OK)
        return ch__media_fault(err, f, "height", names[CH__M_HEIGHT]);
    json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:o}", "url", url, "kind", kind, "width",
                                          has_w ? json_integer(w) : json_null(), "height",
                                          has_h ? json_integer(h) : json_null()));
    return CH_OK;
}

/* Validates the media array of a post into normalised JSON text (*out, caller frees; NULL
 * when absent). *count_out receives the number of media. */
static ch_err_t ch__media(json_t *body, char **out, size_t *count_out, ch_fault_t *f)
{
    json_t *v = json_object_get(body, "media");
    *out = NULL;
    *count_out = 0;
    if (!v || json_is_null(v))
        return CH_OK;
    if (!json_is_array(v))
        return ch_fault(f, CH_EINVAL, "media", "media must be an array of at most %d items", CH_POST_MEDIA_MAX);
    if (json_array_size(v) > CH_POST_MEDIA_MAX)
        return ch_fault(f, CH_EINVAL, "media", "media must have at most %d items", CH_POST_MEDIA_MAX);
    json_t *list = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m)
    {
        ch_err_t err = ch__media_item(m, i, list, f);
        if (err) {
            json_decref(list);
            return err;
        }
    }
    *count_out = json_array_size(list);
    *out = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    return CH_OK;
}

static ch_err_t ch__parse_post(json_t *body, ch_content_input_t *in, ch_fault_t *f)
{
    size_t nmedia;
    ch_err_t err = ch_field_text(body, "text", CH_FIELD_MULTILINE, CH_POST_TEXT_MAX, &in->text, f);
    if (err == CH_OK)
        err = ch__media(body, &in->media, &nmedia, f);
    if (err == CH_OK)
        err = ch_field_enum(body, "visibility", 0, ch__visibilities, &in->visibility, f);
    if (err)
        return err;
    if (in->text && !in->text[0])
        in->text = NULL;
    if (!in->visibility)
        in->visibility = "public";
    if (!in->text && nmedia == 0)
        return ch_fault(f, CH_EINVAL, "text", "a post needs text or media");
    return CH_OK;
}

static ch_err_t ch__parse_reel(json_t *body, ch_content_input_t *in, ch_fault_t *f)
{
    ch_err_t err;
    if ((err = ch_field_https_url(body, "video_url", CH_FIELD_REQUIRED, CH_MEDIA_URL_MAX, &in->video_url, f)) ||
        (err = ch_field_int(body, "duration_ms", CH_FIELD_REQUIRED, CH_REEL_DURATION_MIN_MS, CH_REEL_DURATION_MAX_MS,
                            &in->duration_ms, NULL, f)) ||
        (err = ch_field_text(body, "caption", CH_FIELD_MULTILINE, CH_REEL_CAPTION_MAX, &in->text, f)) ||
        (err = ch_field_https_url(body, "cover_url", 0, CH_MEDIA_URL_MAX, &in->cover_url, f)))
        return err;
    if (in->text && !in->text[0])
        in->text = NULL;
    in->visibility = "public";
    return CH_OK;
}

static ch_err_t ch__parse_story(json_t *body, ch_content_input_t *in, ch_fault_t *f)
{
    ch_err_t err;
    if ((err = ch_field_https_url(body, "media_url", CH_FIELD_REQUIRED, CH_MEDIA_URL_MAX, &in->media_url, f)) ||
        (err = ch_field_enum(body, "kind", CH_FIELD_REQUIRED, ch__media_kinds, &in->kind, f)) ||
        (err = ch_field_int(body, "duration_ms", 0, CH_STORY_DURATION_MIN_MS, CH_STORY_DURATION_MAX_MS,
                            &in->duration_ms, NULL, f)))
        return err;
    in->visibility = "public";
    return CH_OK;
}

ch_err_t ch_content_parse_create(ch_item_type_t type, json_t *body, ch_content_input_t *in, ch_fault_t *f)
{
    memset(in, 0, sizeof(*in));
    ch_err_t err = type == CH_ITEM_POST   ? ch__parse_post(body, in, f)
                   : type == CH_ITEM_REEL ? ch__parse_reel(body, in, f)
                                          : ch__parse_story(body, in, f);
    if (err)
        ch_content_input_clear(in);
    return err;
}

void ch_content_input_clear(ch_content_input_t *in)
{
    free(in->media);
    in->media = NULL;
}

ch_err_t ch_content_parse_edit(ch_item_type_t type, json_t *body, int has_media, const char **text_out,
                               ch_fault_t *f)
{
    const char *name = type == CH_ITEM_POST ? "text" : "caption";
    size_t max = type == CH_ITEM_POST ? CH_POST_TEXT_MAX : CH_REEL_CAPTION_MAX;
    *text_out = NULL;
    if (type == CH_ITEM_STORY)
        return ch_fault(f, CH_EINVAL, NULL, "stories cannot be edited");
    if (!json_object_get(body, name))
        return ch_fault(f, CH_EINVAL, name, "%s is required", name);
    ch_err_t err = ch_field_text(body, name, CH_FIELD_MULTILINE, max, text_out, f);
    if (err)
        return err;
    if (*text_out && !(*text_out)[0])
        *text_out = NULL;
    if (type == CH_ITEM_POST && !*text_out && !has_media)
        return ch_fault(f, CH_EINVAL, "text", "a post without media needs text");
    return CH_OK;
}
