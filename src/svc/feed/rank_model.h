/* The feed's scoring model (docs/design.md, "Feed", "### rank"): a score per (viewer, item)
 * from a fixed vector of features. Two kinds:
 *   - weighted: score = bias + sum(w_f * x_f), weights built in, or read from the file
 *     CHORUS_FEED_WEIGHTS: one "feature = number" per line ("bias" too), '#' starts a
 *     comment, blank lines are fine; features it does not name keep their built-in weight;
 *   - a model file CHORUS_FEED_MODEL (the ML-score slot, wins over the weights): JSON
 *     {"type": "linear"|"logistic", "bias": b, "weights": {"feature": w, ...}}; features it
 *     does not name weigh 0; logistic answers 1 / (1 + e^-(linear score)).
 * Unknown feature names, bad numbers and bad JSON are errors (the file is refused whole).
 *
 * The process holds one current model (ch_feed_model_acquire): loaded at start
 * (ch_feed_model_load_current) and again on SIGHUP (main.c). A reload swaps the pointer under
 * a lock; readers keep the model they acquired until they release it, so a swap never frees a
 * model in use, and a bad file on reload keeps the old one. */
#ifndef CH_SVC_FEED_RANK_MODEL_H
#define CH_SVC_FEED_RANK_MODEL_H

#include <stddef.h>

#include "core/config.h"

/*  name            built-in weight  meaning (value range) */
#define CH_FEED_FEATURE_MAP(XX)                                                                        \
    XX(RECENCY, "recency", 3.0)         /* 2^(-age / CH_FEED_RECENCY_HALF_LIFE_MS), 1 new .. 0 old */ \
    XX(AFFINITY, "affinity", 1.0)       /* ln(1 + viewer->author affinity) */                         \
    XX(VELOCITY, "velocity", 0.6)       /* ln(1 + weighted engagements per hour of the item) */       \
    XX(TYPE_PREF, "type_pref", 0.8)     /* viewer's share of recent engagement on this type, 0..1 */ \
    XX(QUALITY, "quality", 0.3)         /* ln(1 + author's engagement per item among candidates) */   \
    XX(FEEDBACK, "feedback", 2.0)       /* +1 see_more on the author, -1 see_less_author, else 0 */   \
    XX(SEEN, "seen", -2.0)              /* 1 when served to the viewer before */                      \
    XX(EXPLORE, "explore", 0.5)         /* 1 for a new item with little engagement yet */             \
    XX(IN_NETWORK, "in_network", 1.0)   /* 1 when the viewer follows the author */                    \
    XX(ENGAGEMENT, "engagement", 0.2)   /* ln(1 + reactions + 2 * comments) */

typedef enum {
#define XX(id, name, w) CH_FEED_F_##id,
    CH_FEED_FEATURE_MAP(XX)
#undef XX
    CH_FEED_F_COUNT
} ch_feed_feature_t;

/* Bytes of a model or weights file read at most. */
#define CH_FEED_MODEL_FILE_MAX (64 * 1024)

typedef enum { CH_FEED_MODEL_WEIGHTED, CH_FEED_MODEL_LINEAR, CH_FEED_MODEL_LOGISTIC } ch_feed_model_kind_t;

/** A scoring model; immutable once built (shared by readers). */
typedef struct ch_feed_model {
    ch_feed_model_kind_t kind;
    double bias;
    double w[CH_FEED_F_COUNT];
    char source[128]; /* "built-in", "weights:PATH" or "model:PATH" (cut), for logs and explain */
    int refs;         /* guarded by the holder's lock */
} ch_feed_model_t;

/** The API name of a feature ("recency"); static storage. */
const char *ch_feed_feature_name(ch_feed_feature_t f);
/** The feature named name; -1 when none. */
int ch_feed_feature_from_name(const char *name);

/** Fills m with the built-in weighted model. */
void ch_feed_model_defaults(ch_feed_model_t *m);
/** Parses the text of a weights file (see above) over the built-in weights into m.
 * 0 on success; -1 with a message naming the line in err. */
int ch_feed_model_parse_weights(const char *text, ch_feed_model_t *m, char *err, size_t errlen);
/** Parses the text of a JSON model file into m. 0 on success; -1 with a message in err. */
int ch_feed_model_parse_json(const char *text, ch_feed_model_t *m, char *err, size_t errlen);
/** Builds the model the configuration names (model file, else weights file, else built in)
 * into m, reading the files. 0 on success; -1 with a message naming the file in err. */
int ch_feed_model_build(const ch_config_t *cfg, ch_feed_model_t *m, char *err, size_t errlen);

/** The score of features x[CH_FEED_F_COUNT] under m. */
double ch_feed_model_score(const ch_feed_model_t *m, const double *x);

/** Builds the configured model and makes it the current one (at start and on SIGHUP). On
 * failure the current model stays (none before the first success: the built-in one is
 * served) and -1 is returned with the reason in err. */
int ch_feed_model_load_current(const ch_config_t *cfg, char *err, size_t errlen);
/** The current model with a reference the caller holds until ch_feed_model_release; never
 * NULL (the built-in model when none was loaded). */
const ch_feed_model_t *ch_feed_model_acquire(void);
/** Drops a reference from ch_feed_model_acquire. */
void ch_feed_model_release(const ch_feed_model_t *m);
/** Frees the current model (at exit; no reader may be left). */
void ch_feed_model_shutdown(void);

#endif
