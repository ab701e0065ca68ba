/* The hydration cache's value encodings (svc/common/hydrate_codec.h).
 *
 *   record  'R' 1 found=0                                              (3 bytes: not found)
 *           'R' 1 found=1 placeholder followers_only parent.type       (6 bytes)
 *           author created expires parent.id reactions comments views  (7 x 8 bytes, LE)
 *           body_len (4 bytes, LE) body                                 (66 + body_len bytes)
 *   user    'U' 1 found=0 | 'U' 1 found=1 is_private summary            (3 + summary_len)
 *   rel     'L' 1 bits                                                  (3 bytes)
 *   viewer  'V' 1 seen kind_len kind                                    (4 + kind_len)
 * The second byte is the encoding's version: a value of another version is a miss. */
#include "svc/common/hydrate_codec.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/u64_bytes.h"

#define CH__VERSION 1
#define CH__REC_HEAD (6 + 7 * 8 + 4)

void ch_huser_clear(ch_huser_t *u)
{
    free(u->summary);
    memset(u, 0, sizeof(*u));
}

static int ch__is_flag(unsigned char c)
{
    return c == 0 || c == 1;
}

char *ch_hcodec_record_encode(const ch_item_record_t *rec, size_t *len)
{
    size_t body = rec->found && rec->body ? rec->body_len : 0;
    *len = rec->found ? CH__REC_HEAD + body : 3;
    unsigned char *p = ch_malloc(*len);
    p[0] = 'R';
    p[1] = CH__VERSION;
    p[2] = rec->found ? 1 : 0;
    if (!rec->found)
        return (char *)p;
    p[3] = rec->placeholder ? 1 : 0;
    p[4] = rec->followers_only ? 1 : 0;
    p[5] = rec->parent.type;
    const uint64_t nums[7] = {rec->author_id,          (uint64_t)rec->created_at_ms, (uint64_t)rec->expires_at_ms,
                              rec->parent.id,          (uint64_t)rec->reactions,     (uint64_t)rec->comments,
                              (uint64_t)rec->views};
    for (int i = 0; i < 7; i++)
        ch_le64_put((char *)p + 6 + 8 * i, nums[i]);
    for (int i = 0; i < 4; i++)
        p[6 + 56 + i] = (unsigned char)(body >> (8 * i));
    if (body)
        memcpy(p + CH__REC_HEAD, rec->body, body);
    return (char *)p;
}

int ch_hcodec_record_decode(const char *buf, size_t len, ch_item_record_t *rec)
{
    const unsigned char *p = (const unsigned char *)buf;
    memset(rec, 0, sizeof(*rec));
    rec->parent.type = CH_ITEM_NO_PARENT;
    if (!p || len < 3 || p[0] != 'R' || p[1] != CH__VERSION || !ch__is_flag(p[2]))
        return -1;
    if (!p[2])
        return len == 3 ? 0 : -1;
    if (len < CH__REC_HEAD || !ch__is_flag(p[3]) || !ch__is_flag(p[4]))
        return -1;
    size_t body = 0;
    for (int i = 0; i < 4; i++)
        body |= (size_t)p[6 + 56 + i] << (8 * i);
    if (len != CH__REC_HEAD + body)
        return -1;
    uint64_t nums[7];
    for (int i = 0; i < 7; i++)
        nums[i] = ch_le64_get(p + 6 + 8 * i);
    if (nums[0] == 0 || (p[5] != CH_ITEM_NO_PARENT && nums[3] == 0))
        return -1;
    rec->found = 1;
    rec->placeholder = p[3];
    rec->followers_only = p[4];
    rec->parent = (ch_item_key_t){p[5], p[5] == CH_ITEM_NO_PARENT ? 0 : nums[3]};
    rec->author_id = nums[0];
    rec->created_at_ms = (int64_t)nums[1];
    rec->expires_at_ms = (int64_t)nums[2];
    rec->reactions = (int64_t)nums[4];
    rec->comments = (int64_t)nums[5];
    rec->views = (int64_t)nums[6];
    rec->body = ch_malloc(body + 1);
    memcpy(rec->body, p + CH__REC_HEAD, body);
    rec->body[body] = '\0';
    rec->body_len = body;
    return 0;
}

char *ch_hcodec_user_encode(const ch_huser_t *u, size_t *len)
{
    size_t s = u->found && u->summary ? u->summary_len : 0;
    *len = u->found ? 4 + s : 3;
    unsigned char *p = ch_malloc(*len);
    p[0] = 'U';
    p[1] = CH__VERSION;
    p[2] = u->found ? 1 : 0;
    if (u->found) {
        p[3] = u->is_private ? 1 : 0;
        if (s)
            memcpy(p + 4, u->summary, s);
    }
    return (char *)p;
}

int ch_hcodec_user_decode(const char *buf, size_t len, ch_huser_t *u)
{
    const unsigned char *p = (const unsigned char *)buf;
    memset(u, 0, sizeof(*u));
    if (!p || len < 3 || p[0] != 'U' || p[1] != CH__VERSION || !ch__is_flag(p[2]))
        return -1;
    if (!p[2])
        return len == 3 ? 0 : -1;
    /* a summary is a JSON object: at least "{}", and no NUL inside */
    if (len < 6 || !ch__is_flag(p[3]) || p[4] != '{' || p[len - 1] != '}' || memchr(p + 4, '\0', len - 4))
        return -1;
    u->found = 1;
    u->is_private = p[3];
    u->summary_len = len - 4;
    u->summary = ch_malloc(u->summary_len + 1);
    memcpy(u->summary, p + 4, u->summary_len);
    u->summary[u->summary_len] = '\0';
    return 0;
}

char *ch_hcodec_rel_encode(unsigned bits, size_t *len)
{
    unsigned char *p = ch_malloc(3);
    p[0] = 'L';
    p[1] = CH__VERSION;
    p[2] = (unsigned char)(bits & CH_HREL_ALL);
    *len = 3;
    return (char *)p;
}

int ch_hcodec_rel_decode(const char *buf, size_t len, unsigned *bits)
{
    const unsigned char *p = (const unsigned char *)buf;
    *bits = 0;
    if (!p || len != 3 || p[0] != 'L' || p[1] != CH__VERSION || (p[2] & ~CH_HREL_ALL))
        return -1;
    *bits = p[2];
    return 0;
}

char *ch_hcodec_viewer_encode(const ch_hviewer_t *v, size_t *len)
{
    size_t k = strnlen(v->kind, CH_HVIEWER_KIND_MAX);
    unsigned char *p = ch_malloc(4 + k);
    p[0] = 'V';
    p[1] = CH__VERSION;
    p[2] = v->seen ? 1 : 0;
    p[3] = (unsigned char)k;
    memcpy(p + 4, v->kind, k);
    *len = 4 + k;
    return (char *)p;
}

int ch_hcodec_viewer_decode(const char *buf, size_t len, ch_hviewer_t *v)
{
    const unsigned char *p = (const unsigned char *)buf;
    memset(v, 0, sizeof(*v));
    if (!p || len < 4 || p[0] != 'V' || p[1] != CH__VERSION || !ch__is_flag(p[2]) || p[3] > CH_HVIEWER_KIND_MAX ||
        len != 4 + (size_t)p[3])
        return -1;
    for (size_t i = 4; i < len; i++)
        if (p[i] < 'a' || p[i] > 'z') /* a kind name is spliced into JSON as is: nothing to escape */
            return -1;
    v->seen = p[2];
    memcpy(v->kind, p + 4, len - 4);
    v->kind[len - 4] = '\0';
    return 0;
}

char *ch_hcodec_members(json_t *obj, size_t *len)
{
    char *text = json_is_object(obj) ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    *len = 0;
    if (!text)
        return NULL;
    size_t n = strlen(text);
    if (n < 2) {
        free(text);
        return NULL;
    }
    memmove(text, text + 1, n - 2);
    text[n - 2] = '\0';
    *len = n - 2;
    return text;
}
