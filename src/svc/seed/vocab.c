#include "svc/seed/vocab.h"

#define CH__WORDS(name, ...)                                     \
    static const char *const name##_s[] = {__VA_ARGS__};         \
    const ch_seed_words_t name = {name##_s, CH_SEED_N(name##_s)}

CH__WORDS(ch_seed_names, "maya", "liam", "noor", "kenji", "sofia", "omar", "lena", "ravi", "chloe", "mateo", "aiko",
          "felix", "zara", "hugo", "ines", "tariq", "elin", "jonas", "priya", "marco", "yara", "theo", "amara", "luca",
          "hana", "diego", "freya", "kofi", "mila", "arjun", "nina", "oscar", "leila", "ezra", "sana", "jasper");
CH__WORDS(ch_seed_tags, "travel", "food", "music", "photography", "coffee", "running", "books", "design", "cats",
          "dogs", "sunset", "coding", "art", "football", "hiking", "cooking", "film", "gardening", "yoga", "science");
CH__WORDS(ch_seed_regions, "DE", "FR", "US", "JP", "BR", "IN", "NG", "SE", "ES", "KR", "GB", "MX");
CH__WORDS(ch_seed_bios, "Coffee first, then everything else.", "Chasing light with a camera.",
          "Runner, reader, occasional cook.", "Building things on the internet.", "Plants, cats and long walks.",
          "Here for the music.", "");
CH__WORDS(ch_seed_nouns, "coffee", "trail", "album", "recipe", "sunrise", "novel", "sketch", "match", "garden", "city",
          "beach", "project");
CH__WORDS(ch_seed_post_templates, "Great morning for some %s. #%s", "Can't stop thinking about this %s. #%s #%s",
          "Weekend plans: %s and nothing else. #%s", "Who else is into %s lately? @%s #%s",
          "Tried a new %s spot today, thanks @%s for the tip! #%s", "A small %s moment. #%s");
CH__WORDS(ch_seed_comment_plain, "Love this!", "This is amazing", "Where was this taken?", "So jealous right now",
          "Needed this today.", "Haha, classic.", "Wow.", "Saving this one.", "Beautiful.", "Tell me more!",
          "This made my day", "Okay, now I want to go too.");
CH__WORDS(ch_seed_comment_tagged, "Adding this to my list #%s", "Best kind of day #%s", "More of this please! #%s",
          "Same here, all about #%s lately", "Proof that #%s is the best");
CH__WORDS(ch_seed_comment_mention, "@%s you have to see this", "@%s this is the place I told you about",
          "We should do this, @%s!", "Reminds me of you @%s");
CH__WORDS(ch_seed_reply_plain, "Thank you!", "Agreed!", "Right?!", "Totally.", "Haha yes", "Next time, for sure.",
          "Glad you like it!");
CH__WORDS(ch_seed_reply_mention, "@%s thank you!", "@%s haha, yes!", "Let's go together next time, @%s",
          "@%s I know, right?");
CH__WORDS(ch_seed_reply_tagged, "Always #%s", "Nothing beats #%s", "#%s forever");
