/* The words of the demo community: first names, hashtags, bios, and the templates of post
 * captions, comments and replies. Templates are printf formats; the comment ones take the
 * one argument their kind says (a tag, a handle or a noun). */
#ifndef CH_SVC_SEED_VOCAB_H
#define CH_SVC_SEED_VOCAB_H

#include <stddef.h>

#define CH_SEED_N(a) (sizeof(a) / sizeof((a)[0]))

/** A list of static strings and its length. */
typedef struct {
    const char *const *s;
    size_t n;
} ch_seed_words_t;

extern const ch_seed_words_t ch_seed_names;    /* handles are <name>_<number> */
extern const ch_seed_words_t ch_seed_tags;     /* the hashtag vocabulary, lower-case */
extern const ch_seed_words_t ch_seed_regions;
extern const ch_seed_words_t ch_seed_bios;
extern const ch_seed_words_t ch_seed_nouns;
/* Post captions: "%s" noun, then a tag or (when the template has '@') a handle, then tags. */
extern const ch_seed_words_t ch_seed_post_templates;
extern const ch_seed_words_t ch_seed_comment_plain;   /* no argument */
extern const ch_seed_words_t ch_seed_comment_tagged;  /* one tag: "... #%s" */
extern const ch_seed_words_t ch_seed_comment_mention; /* one handle: "@%s ..." (tagging a friend) */
extern const ch_seed_words_t ch_seed_reply_plain;     /* no argument */
extern const ch_seed_words_t ch_seed_reply_mention;   /* one handle: the author replied to */
extern const ch_seed_words_t ch_seed_reply_tagged;    /* one tag */

#endif
