#include "svc/common/fields.h"

#include <stdio.h>
#include <string.h>

#include "core/text.h"

/* Fetches a member, applying the absent/null/required rule. 1 = present, 0 = absent. */
static int ch__member(json_t *obj, const char *name, unsigned flags, json_t **v, ch_err_t *err, ch_fault_t *f)
{
    *v = json_object_get(obj, name);
    *err = CH_OK;
    if (*v && !json_is_null(*v))
        return 1;
    if (flags & CH_FIELD_REQUIRED)
        *err = ch_fault(f, CH_EINVAL, name, "%s is required", name);
    return 0;
}

ch_err_t ch_field_only(json_t *obj, const char *const *allowed, ch_fault_t *f)
{
    const char *key;
    json_t *member;
    json_object_foreach(obj, key, member)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i])
            continue;
        char names[160] = "";
        for (size_t k = 0, used = 0; allowed[k] && used < sizeof(names); k++)
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", k ? ", " : "", allowed[k]);
        /* A field is named by at least one character: the empty member name is shown as "". */
        const char *field = *key ? key : "\"\"";
        return ch_fault(f, CH_EINVAL, field, "unknown field \"%s\": this request takes only %s", key, names);
    }
    return CH_OK;
}

ch_err_t ch_field_text(json_t *obj, const char *name, unsigned flags, size_t max_chars, const char **out,
                       ch_fault_t *f)
{
    json_t *v;
    ch_err_t err;
    *out = NULL;
    if (!ch__member(obj, name, flags, &v, &err, f))
        return err;
    if (!json_is_string(v))
        return ch_fault(f, CH_EINVAL, name, "%s must be a string", name);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len)
        return ch_fault(f, CH_EINVAL, name, "%s is not valid UTF-8 text", name);
    long chars = ch_utf8_count(s, len);
    if (chars < 0)
        return ch_fault(f, CH_EINVAL, name, "%s is not valid UTF-8 text", name);
    if ((flags & CH_FIELD_NONEMPTY) && chars == 0)
        return ch_fault(f, CH_EINVAL, name, "%s must not be empty", name);
    if ((size_t)chars > max_chars)
        return ch_fault(f, CH_EINVAL, name, "%s must be at most %zu characters", name, max_chars);
    if (ch_text_has_control(s, len, (flags & CH_FIELD_MULTILINE) != 0))
        return ch_fault(f, CH_EINVAL, name, "%s must not contain control characters", name);
    *out = s;
    return CH_OK;
}

ch_err_t ch_field_https_url(json_t *obj, const char *name, unsigned flags, size_t max_bytes, const char **out,
                            ch_fault_t *f)
{
    json_t *v;
    ch_err_t err;
    *out = NULL;
    if (!ch__member(obj, name, flags, &v, &err, f))
        return err;
    const char *s = json_string_value(v);
    if (!s || strlen(s) != json_string_length(v) || !ch_text_is_https_url(s, max_bytes))
        return ch_fault(f, CH_EINVAL, name, "%s must be an https URL of at most %zu bytes", name, max_bytes);
    *out = s;
    return CH_OK;
}

ch_err_t ch_field_int(json_t *obj, const char *name, unsigned flags, long long min, long long max, long long *out,
                      int *present_out, ch_fault_t *f)
{
    json_t *v;
    ch_err_t err;
    int present = ch__member(obj, name, flags, &v, &err, f);
    if (present_out)
        *present_out = present;
    if (!present)
        return err;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return ch_fault(f, CH_EINVAL, name, "%s must be an integer from %lld to %lld", name, min, max);
    *out = json_integer_value(v);
    return CH_OK;
}

ch_err_t ch_field_enum(json_t *obj, const char *name, unsigned flags, const char *const *choices, const char **out,
                       ch_fault_t *f)
{
    json_t *v;
    ch_err_t err;
    *out = NULL;
    if (!ch__member(obj, name, flags, &v, &err, f))
        return err;
    const char *s = json_string_value(v);
    for (size_t i = 0; s && choices[i]; i++)
        if (strcmp(s, choices[i]) == 0 && strlen(s) == json_string_length(v)) {
            *out = choices[i];
            return CH_OK;
        }
    return ch_fault(f, CH_EINVAL, name, "%s has an unknown value", name);
}
