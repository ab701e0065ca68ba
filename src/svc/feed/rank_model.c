/* The feed's scoring model: built-in weights, weights file, JSON model file, and the
 * process's current model swapped on reload (rank_model.h). */
#include "svc/feed/rank_model.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ch__feature_names[CH_FEED_F_COUNT] = {
#define XX(id, name, w) name,
    CH_FEED_FEATURE_MAP(XX)
#undef XX
};

static const double ch__feature_weights[CH_FEED_F_COUNT] = {
#define XX(id, name, w) w,
    CH_FEED_FEATURE_MAP(XX)
#undef XX
};

const char *ch_feed_feature_name(ch_feed_feature_t f)
{
    return (unsigned)f < CH_FEED_F_COUNT ? ch__feature_names[f] : "unknown";
}

int ch_feed_feature_from_name(const char *name)
{
    for (int i = 0; i < CH_FEED_F_COUNT; i++)
        if (strcmp(ch__feature_names[i], name) == 0)
            return i;
    return -1;
}

void ch_feed_model_defaults(ch_feed_model_t *m)
{
    memset(m, 0, sizeof(*m));
    m->kind = CH_FEED_MODEL_WEIGHTED;
    memcpy(m->w, ch__feature_weights, sizeof(m->w));
    snprintf(m->source, sizeof(m->source), "built-in");
}

/* A finite number filling all of s (surrounding blanks allowed); -1 otherwise. */
static int ch__number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    if (*end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int ch_feed_model_parse_weights(const char *text, ch_feed_model_t *m, char *err, size_t errlen)
{
    ch_feed_model_defaults(m);
    int line = 0;
    const char *p = text;
    while (*p) {
        line++;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char buf[256];
        if (len >= sizeof(buf)) {
            snprintf(err, errlen, "line %d: too long", line);
            return -1;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        p += len + (eol ? 1 : 0);
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *s = buf;
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            continue;
        char *name = s;
        while (*s && (isalnum((unsigned char)*s) || *s == '_'))
            s++;
        char *name_end = s;
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '=' || *s == ':')
            s++;
        *name_end = '\0';
        double v;
        if (!*name || ch__number(s, &v) != 0) {
            snprintf(err, errlen, "line %d: expected 'feature = number'", line);
            return -1;
        }
        if (strcmp(name, "bias") == 0) {
            m->bias = v;
            continue;
        }
        int f = ch_feed_feature_from_name(name);
        if (f < 0) {
            snprintf(err, errlen, "line %d: unknown feature '%s'", line, name);
            return -1;
        }
        m->w[f] = v;
    }
    return 0;
}

int ch_feed_model_parse_json(const char *text, ch_feed_model_t *m, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    memset(m, 0, sizeof(*m));
    if (!root) {
        snprintf(err, errlen, "line %d: %s", jerr.line, jerr.text);
        return -1;
    }
    int rc = -1;
    const char *type = json_string_value(json_object_get(root, "type"));
    json_t *bias = json_object_get(root, "bias"), *weights = json_object_get(root, "weights");
    const char *key;
    json_t *val;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "expected a JSON object");
        goto out;
    }
    if (!type || (strcmp(type, "linear") != 0 && strcmp(type, "logistic") != 0)) {
        snprintf(err, errlen, "\"type\" must be \"linear\" or \"logistic\"");
        goto out;
    }
    m->kind = strcmp(type, "linear") == 0 ? CH_FEED_MODEL_LINEAR : CH_FEED_MODEL_LOGISTIC;
    if (bias && (!json_is_number(bias) || !isfinite(json_number_value(bias)))) {
        snprintf(err, errlen, "\"bias\" must be a number");
        goto out;
    }
    m->bias = bias ? json_number_value(bias) : 0;
    if (!json_is_object(weights)) {
        snprintf(err, errlen, "\"weights\" must be an object of feature: number");
        goto out;
    }
    json_object_foreach(weights, key, val) {
        int f = ch_feed_feature_from_name(key);
        if (f < 0) {
            snprintf(err, errlen, "unknown feature \"%s\"", key);
            goto out;
        }
        if (!json_is_number(val) || !isfinite(json_number_value(val))) {
            snprintf(err, errlen, "weight of \"%s\" must be a number", key);
            goto out;
        }
        m->w[f] = json_number_value(val);
    }
    json_object_foreach(root, key, val) {
        if (strcmp(key, "type") != 0 && strcmp(key, "bias") != 0 && strcmp(key, "weights") != 0) {
            snprintf(err, errlen, "unknown member \"%s\"", key);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Reads a whole (small) file into a NUL-terminated string the caller frees; NULL with err. */
static char *ch__read_file(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CH_FEED_MODEL_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, CH_FEED_MODEL_FILE_MAX + 1, fp) : 0;
    int bad = !buf || ferror(fp) || n > CH_FEED_MODEL_FILE_MAX || memchr(buf, '\0', n);
    fclose(fp);
    if (bad) {
        snprintf(err, errlen, "%s: unreadable, larger than %d bytes, or not text", path, CH_FEED_MODEL_FILE_MAX);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int ch_feed_model_build(const ch_config_t *cfg, ch_feed_model_t *m, char *err, size_t errlen)
{
    const char *path = cfg->feed_model_path[0] ? cfg->feed_model_path : cfg->feed_weights_path;
    int json = cfg->feed_model_path[0] != '\0';
    if (!path[0]) {
        ch_feed_model_defaults(m);
        return 0;
    }
    char why[256];
    char *text = ch__read_file(path, err, errlen);
    if (!text)
        return -1;
    int rc = json ? ch_feed_model_parse_json(text, m, why, sizeof(why))
                  : ch_feed_model_parse_weights(text, m, why, sizeof(why));
    free(text);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    /* cut to the field (the precision bounds what a long path prints) */
    snprintf(m->source, sizeof(m->source), "%s:%.100s", json ? "model" : "weights", path);
    return 0;
}

double ch_feed_model_score(const ch_feed_model_t *m, const double *x)
{
    double s = m->bias;
    for (int i = 0; i < CH_FEED_F_COUNT; i++)
        s += m->w[i] * x[i];
    if (m->kind == CH_FEED_MODEL_LOGISTIC)
        s = 1.0 / (1.0 + exp(-s));
    return s;
}

/* ---- the current model ------------------------------------------------------------------- */

static pthread_mutex_t ch__model_lock = PTHREAD_MUTEX_INITIALIZER;
static ch_feed_model_t *ch__current;
static ch_feed_model_t ch__builtin; /* served until a model was loaded; never freed */
static pthread_once_t ch__builtin_once = PTHREAD_ONCE_INIT;

static void ch__builtin_init(void)
{
    ch_feed_model_defaults(&ch__builtin);
}

/* Drops one reference; frees the model at zero (under the lock). */
static void ch__unref_locked(ch_feed_model_t *m)
{
    if (m && m != &ch__builtin && --m->refs == 0)
        free(m);
}

int ch_feed_model_load_current(const ch_config_t *cfg, char *err, size_t errlen)
{
    ch_feed_model_t *m = malloc(sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ch_feed_model_build(cfg, m, err, errlen) != 0) {
        free(m);
        return -1;
    }
    m->refs = 1; /* the holder's */
    pthread_mutex_lock(&ch__model_lock);
    ch_feed_model_t *old = ch__current;
    ch__current = m;
    ch__unref_locked(old);
    pthread_mutex_unlock(&ch__model_lock);
    return 0;
}

const ch_feed_model_t *ch_feed_model_acquire(void)
{
    pthread_once(&ch__builtin_once, ch__builtin_init);
    pthread_mutex_lock(&ch__model_lock);
    ch_feed_model_t *m = ch__current ? ch__current : &ch__builtin;
    if (m != &ch__builtin)
        m->refs++;
    pthread_mutex_unlock(&ch__model_lock);
    return m;
}

void ch_feed_model_release(const ch_feed_model_t *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&ch__model_lock);
    ch__unref_locked((ch_feed_model_t *)m);
    pthread_mutex_unlock(&ch__model_lock);
}

void ch_feed_model_shutdown(void)
{
    pthread_mutex_lock(&ch__model_lock);
    ch_feed_model_t *old = ch__current;
    ch__current = NULL;
    ch__unref_locked(old);
    pthread_mutex_unlock(&ch__model_lock);
}
