/* Ranked feed snapshots: text encoding, cursors, slots in the kv store (snapshot.h).
 *
 * Text: a header "F2:<gen>:<at_ms>:<has_features>:<n>:<net_top>:<vgen>\n" ("F1:" without the
 * last two, as written before them, still reads), then one line per entry
 *     <type>,<id>,<author>,<reason>,<score>,<via0>,<via1>,<via2>[,<f0>;<f1>;...],<tag>\n
 * the tag last (tags hold no newline; a comma in one is kept: it is the rest of the line).
 * A head is "H1:<total>\n" and the text of a snapshot of the first entries. */
#include "svc/feed/snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/id.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/kv_local.h"
#include "svc/feed/facts.h"

#define CH__SNAP_LINE_MAX (160 + CH_FEED_TAG_MAX + CH_FEED_F_COUNT * 26)

void ch_feed_snap_clear(ch_feed_snap_t *s)
{
    free(s->entries);
    free(s->text);
    s->entries = NULL;
    s->text = NULL;
    s->rest = NULL;
    s->cap = 0;
    s->n = 0;
    s->total = 0;
}

char *ch_feed_snap_encode(const ch_feed_snap_t *s, size_t *len_out)
{
    size_t cap = 96 + s->n * CH__SNAP_LINE_MAX, len;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    len = (size_t)snprintf(buf, cap, "F2:%" PRIu64 ":%" PRId64 ":%d:%zu:%" PRIu64 ":%" PRIu64 "\n", s->gen, s->at_ms,
                           s->has_features ? 1 : 0, s->n, s->net_top, s->vgen);
    for (size_t i = 0; i < s->n; i++) {
        const ch_feed_snap_entry_t *e = &s->entries[i];
        const ch_feed_cand_t *c = &e->cand;
        len += (size_t)snprintf(buf + len, cap - len, "%u,%" PRIu64 ",%" PRIu64 ",%d,%.9g,%" PRIu64 ",%" PRIu64
                                ",%" PRIu64 ",",
                                (unsigned)c->key.type, c->key.id, c->author_id, (int)c->reason, e->score, c->via[0],
                                c->via[1], c->via[2]);
        if (s->has_features) {
            for (int f = 0; f < CH_FEED_F_COUNT; f++)
                len += (size_t)snprintf(buf + len, cap - len, "%s%.6g", f ? ";" : "", e->features[f]);
            buf[len++] = ',';
        }
        size_t tl = strnlen(c->tag, CH_FEED_TAG_MAX - 1);
        for (size_t k = 0; k < tl; k++)
            buf[len++] = c->tag[k] == '\n' ? ' ' : c->tag[k];
        buf[len++] = '\n';
        buf[len] = '\0';
    }
    if (len_out)
        *len_out = len;
    return buf;
}

/* Parses an unsigned decimal at *p; -1 when there is none or it overflows. Up to 19 digits
 * cannot overflow and are read without a check per digit (a head's 60 lines hold about 400
 * numbers, read on every warm home page). */
static int ch__u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (int k = 0; k < 19 && *s >= '0' && *s <= '9'; k++, s++)
        v = v * 10 + (uint64_t)(*s - '0');
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return 0;
}

/* Parses a double at *p up to the next stop character; -1 when none. */
static int ch__dbl(const char **p, double *out)
{
    char *end;
    double v = strtod(*p, &end);
    if (end == *p)
        return -1;
    *p = end;
    *out = v;
    return 0;
}

/* Steps *p over a non-empty field up to the next ',' (a score, or the features), which
 * is left unread. */
static int ch__skip(const char **p)
{
    const char *s = *p;
    while (*s && *s != ',' && *s != '\n')
        s++;
    if (s == *p)
        return -1;
    *p = s;
    return 0;
}

/* One entry line at *p (up to and past its newline) into e (every member written, the tag's
 * bytes past its NUL aside: entries are not zeroed first, a head's 60 were 16 kB of memset);
 * numbers 0: the score and the features are skipped (left 0), for a page served without
 * explain (strtod was a sixth of a reused home page's instructions). */
static int ch__entry(const char **p, int has_features, int numbers, ch_feed_snap_entry_t *e)
{
    const char *s = *p;
    uint64_t type, reason;
    ch_feed_cand_t *c = &e->cand;
    e->score = 0;
    if (!(has_features && numbers))
        memset(e->features, 0, sizeof(e->features));
    if (ch__u64(&s, &type) || type > 255 || *s++ != ',' || ch__u64(&s, &c->key.id) || *s++ != ',' ||
        ch__u64(&s, &c->author_id) || *s++ != ',' || ch__u64(&s, &reason) || reason > CH_FEED_REASON_SUGGESTED ||
        *s++ != ',' || (numbers ? ch__dbl(&s, &e->score) : ch__skip(&s)) || *s++ != ',')
        return -1;
    for (int v = 0; v < CH_FEED_VIA_MAX; v++)
        if (ch__u64(&s, &c->via[v]) || *s++ != ',')
            return -1;
    if (has_features && !numbers && (ch__skip(&s) || *s++ != ','))
        return -1;
    for (int f = 0; has_features && numbers && f < CH_FEED_F_COUNT; f++)
        if (ch__dbl(&s, &e->features[f]) || *s++ != (f + 1 < CH_FEED_F_COUNT ? ';' : ','))
            return -1;
    const char *eol = strchr(s, '\n');
    if (!eol || (size_t)(eol - s) >= CH_FEED_TAG_MAX)
        return -1;
    memcpy(c->tag, s, (size_t)(eol - s));
    c->tag[eol - s] = '\0';
    c->key.type = (uint8_t)type;
    c->reason = (ch_feed_reason_t)reason;
    *p = eol + 1;
    return 0;
}

/* Parses the header line of text into s (entries none yet; s zeroed first); *p_out where the
 * entries start, *hf_out whether they carry features. -1 when it is not a snapshot. */
static int ch__header(const char *text, ch_feed_snap_t *s, const char **p_out, int *hf_out)
{
    memset(s, 0, sizeof(*s));
    const char *p = text;
    uint64_t gen, at, hf, n, net_top = 0, vgen = 0;
    int v2 = strncmp(p, "F2:", 3) == 0;
    if (!v2 && strncmp(p, "F1:", 3) != 0)
        return -1;
    p += 3;
    if (ch__u64(&p, &gen) || *p++ != ':' || ch__u64(&p, &at) || *p++ != ':' || ch__u64(&p, &hf) || hf > 1 ||
        *p++ != ':' || ch__u64(&p, &n))
        return -1;
    if (v2 && (*p++ != ':' || ch__u64(&p, &net_top) || *p++ != ':' || ch__u64(&p, &vgen)))
        return -1;
    if (!v2)
        vgen = UINT64_MAX; /* unknown: such a snapshot is never reused */
    if (*p++ != '\n' || n > CH_FEED_SNAP_MAX || at > INT64_MAX)
        return -1;
    s->total = (size_t)n;
    s->gen = gen;
    s->at_ms = (int64_t)at;
    s->has_features = (int)hf;
    s->net_top = net_top;
    s->vgen = vgen;
    *p_out = p;
    *hf_out = (int)hf;
    return 0;
}

/* Decodes text into s; numbers: see ch__entry; every entry (s->n == s->total). */
static int ch__decode(const char *text, int numbers, ch_feed_snap_t *s)
{
    const char *p;
    int hf;
    if (ch__header(text, s, &p, &hf) != 0)
        return -1;
    s->entries = malloc(sizeof(*s->entries) * (s->total ? s->total : 1));
    if (!s->entries)
        return -1;
    for (size_t i = 0; i < s->total; i++) {
        if (ch__entry(&p, hf, numbers, &s->entries[i]) != 0) {
            ch_feed_snap_clear(s);
            return -1;
        }
    }
    if (*p) {
        ch_feed_snap_clear(s);
        return -1;
    }
    s->n = s->total;
    s->cap = s->total;
    return 0;
}

size_t ch_feed_snap_more(ch_feed_snap_t *s, size_t k)
{
    size_t got = 0;
    while (s->rest && got < k && s->n < s->cap) {
        if (ch__entry(&s->rest, s->has_features, 0, &s->entries[s->n]) != 0) {
            s->rest = NULL; /* not parsed past it: the caller loads the whole snapshot */
            break;
        }
        s->n++;
        got++;
    }
    if (s->n == s->cap)
        s->rest = NULL;
    return got;
}

int ch_feed_snap_decode(const char *text, ch_feed_snap_t *s)
{
    return ch__decode(text, 1, s);
}

int ch_feed_cursor_parse(const char *cursor, uint64_t *gen, size_t *offset)
{
    const char *p = cursor;
    uint64_t g, off;
    if (!p || ch__u64(&p, &g) || *p++ != '.' || ch__u64(&p, &off) || *p || g == 0 || g > INT64_MAX ||
        off > CH_FEED_SNAP_MAX)
        return -1;
    *gen = g;
    *offset = (size_t)off;
    return 0;
}

void ch_feed_cursor_format(uint64_t gen, size_t offset, char *buf, size_t buflen)
{
    char t[48], *q = ch_u64_put(t, gen); /* 20 + 1 + 20 digits at most; no printf on every page */
    *q++ = '.';
    q = ch_u64_put(q, offset);
    size_t len = (size_t)(q - t);
    if (!buflen)
        return;
    if (len >= buflen)
        len = buflen - 1;
    memcpy(buf, t, len);
    buf[len] = '\0';
}

/* ---- slots in the kv store ----------------------------------------------------------------- */

static void ch__slot_key(const char *feed, uint64_t viewer, uint64_t gen, char *key, size_t len)
{
    snprintf(key, len, "feed:snap:%s:%" PRIu64 ":%" PRIu64, feed, viewer, gen % CH_FEED_SNAP_SLOTS);
}

/* The head's cached copy in the hydration cache (svc/feed/facts.h): "R:<0 home, 1 reels>:<viewer>". */
static const char *ch__head_hkey(ch_hkey_t buf, const char *feed, uint64_t viewer)
{
    return ch_hkey_feed_head(buf, strcmp(feed, "reels") == 0, viewer);
}

/* Forgets the head's cached copy, after a write of the head (every node's L1 drops it). */
static void ch__head_forget(ch_svc_t *svc, const char *feed, uint64_t viewer)
{
    ch_hkey_t hk;
    ch_feed_fact_forget(svc, ch__head_hkey(hk, feed, viewer));
}

ch_err_t ch_feed_snap_save(ch_svc_t *svc, const char *feed, uint64_t viewer, ch_feed_snap_t *s)
{
    char key[96];
    int64_t n = 0;
    snprintf(key, sizeof(key), "feed:snap:%s:%" PRIu64 ":n", feed, viewer);
    ch_err_t err = ch_kvl_incr(svc, key, CH_FEED_SNAP_TTL_MS, &n, NULL);
    if (err)
        return err;
    /* A fresh id whose low bits name the slot (round robin by the counter, as comments_top.c). */
    s->gen = (ch_id_next() & ~(uint64_t)(CH_FEED_SNAP_SLOTS - 1)) | ((uint64_t)n % CH_FEED_SNAP_SLOTS);
    if (s->gen == 0)
        s->gen = CH_FEED_SNAP_SLOTS;
    size_t len = 0;
    char *val = ch_feed_snap_encode(s, &len);
    if (!val) {
        s->gen = 0;
        return CH_EINTERNAL;
    }
    ch__slot_key(feed, viewer, s->gen, key, sizeof(key));
    err = ch_kvl_set(svc, key, val, len, CH_FEED_SNAP_TTL_MS);
    free(val);
    if (err) {
        s->gen = 0;
        return err;
    }
    /* the head, written after its slot: a head always names a generation that was stored */
    ch_feed_snap_t head = *s;
    head.n = s->n < CH_FEED_SNAP_HEAD ? s->n : CH_FEED_SNAP_HEAD;
    char *body = ch_feed_snap_encode(&head, &len), prefix[32];
    if (!body)
        return CH_EINTERNAL;
    int pl = snprintf(prefix, sizeof(prefix), "H1:%zu\n", s->n);
    char *text = malloc((size_t)pl + len + 1);
    if (!text) {
        free(body);
        return CH_EINTERNAL;
    }
    memcpy(text, prefix, (size_t)pl);
    memcpy(text + pl, body, len + 1);
    free(body);
    snprintf(key, sizeof(key), "feed:snap:%s:%" PRIu64 ":head", feed, viewer);
    err = ch_kvl_set(svc, key, text, (size_t)pl + len, CH_FEED_SNAP_TTL_MS);
    free(text);
    ch__head_forget(svc, feed, viewer);
    return err;
}

ch_err_t ch_feed_snap_head(ch_svc_t *svc, const char *feed, uint64_t viewer, size_t max, ch_feed_snap_t *s,
                           int *found)
{
    char key[96], *val = NULL;
    memset(s, 0, sizeof(*s));
    *found = 0;
    snprintf(key, sizeof(key), "feed:snap:%s:%" PRIu64 ":head", feed, viewer);
    ch_hkey_t hk;
    const char *hkey = ch__head_hkey(hk, feed, viewer), *kvkey = key;
    ch_err_t err = ch_feed_facts_kv_get(svc, &hkey, &kvkey, 1, &val); /* from the L1 when cached */
    if (err || !val)
        return err;
    const char *p = val, *entries = NULL;
    uint64_t total = 0;
    int hf = 0;
    if (strncmp(p, "H1:", 3) == 0 && (p += 3, ch__u64(&p, &total) == 0) && *p++ == '\n' && total <= CH_FEED_SNAP_MAX &&
        ch__header(p, s, &entries, &hf) == 0 && s->total <= total && s->gen) {
        /* the head's own entries (s->total of them), parsed by ch_feed_snap_more as a page needs them */
        s->cap = s->total < max ? s->total : max;
        s->entries = malloc(sizeof(*s->entries) * (s->cap ? s->cap : 1));
        s->text = val;
        s->rest = s->cap ? entries : NULL;
        s->total = (size_t)total;
        *found = s->entries != NULL;
        val = NULL;
    }
    if (!*found)
        ch_feed_snap_clear(s);
    free(val);
    return CH_OK;
}

ch_err_t ch_feed_snap_load(ch_svc_t *svc, const char *feed, uint64_t viewer, uint64_t gen, ch_feed_snap_t *s,
                           int *found)
{
    char key[96], *val = NULL;
    memset(s, 0, sizeof(*s));
    *found = 0;
    ch__slot_key(feed, viewer, gen, key, sizeof(key));
    ch_err_t err = ch_kvl_get(svc, key, &val, NULL);
    if (err || !val)
        return err;
    if (ch_feed_snap_decode(val, s) == 0 && s->gen == gen)
        *found = 1;
    else
        ch_feed_snap_clear(s);
    free(val);
    return CH_OK;
}

ch_err_t ch_feed_snap_latest(ch_svc_t *svc, const char *feed, uint64_t viewer, ch_feed_snap_t *s, int *found)
{
    char key[96], *val = NULL;
    memset(s, 0, sizeof(*s));
    *found = 0;
    snprintf(key, sizeof(key), "feed:snap:%s:%" PRIu64 ":n", feed, viewer);
    ch_err_t err = ch_kvl_get(svc, key, &val, NULL);
    if (err || !val)
        return err;
    uint64_t n = strtoull(val, NULL, 10);
    free(val);
    val = NULL;
    /* the latest save took the slot of its counter value (ch_feed_snap_save); a save under
     * way may leave that slot's older generation there: still a ranking as it was made */
    ch__slot_key(feed, viewer, n, key, sizeof(key));
    if ((err = ch_kvl_get(svc, key, &val, NULL)) != CH_OK || !val)
        return err;
    if (ch_feed_snap_decode(val, s) == 0 && s->gen % CH_FEED_SNAP_SLOTS == n % CH_FEED_SNAP_SLOTS)
        *found = 1;
    else
        ch_feed_snap_clear(s);
    free(val);
    return CH_OK;
}

ch_err_t ch_feed_snap_drop_head(ch_svc_t *svc, const char *feed, uint64_t viewer)
{
    char key[96];
    snprintf(key, sizeof(key), "feed:snap:%s:%" PRIu64 ":head", feed, viewer);
    ch_err_t err = ch_kvl_del(svc, key);
    ch__head_forget(svc, feed, viewer);
    return err;
}
