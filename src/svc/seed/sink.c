/* The rows that texts and engagement add, written through batches that stay open from the
 * first item to the last reaction: engagement events, mentions, hashtags, reactions,
 * comments and target counters. Texts are indexed here with the write path's parser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/engage/refs.h"
#include "svc/seed/world.h"

void ch_seed_sink_open(ch_seed_world_t *w)
{
    ch_seed_sink_t *k = &w->sink;
    ch_batch_init(&k->events, w->svc, w->conn,
                  "engagement_events(id, ts, user_id, kind, target_type, target_id, author_id, value)", 8, "");
    ch_batch_init(&k->mentions, w->svc, w->conn, "mentions(target_type, target_id, user_id, author_id, created_at)", 5,
                  "");
    ch_batch_init(&k->hashtags, w->svc, w->conn, "hashtags(tag, target_type, target_id, author_id, created_at)", 5, "");
    ch_batch_init(&k->reactions, w->svc, w->conn, "reactions(target_type, target_id, user_id, kind, id, created_at)", 6,
                  "");
    ch_batch_init(&k->comments, w->svc, w->conn,
                  "comments(id, target_type, target_id, parent_id, author_id, text, mentions, hashtags, "
                  "replies_count, created_at)",
                  10, "");
    ch_batch_init(&k->counters, w->svc, w->conn,
                  "target_counters(target_type, target_id, r_like, r_love, r_haha, r_wow, r_sad, r_angry, comments)",
                  9, "");
    k->open = 1;
}

ch_err_t ch_seed_sink_close(ch_seed_world_t *w, ch_err_t failed)
{
    ch_batch_t *all[] = {&w->sink.events,   &w->sink.mentions, &w->sink.hashtags,
                         &w->sink.reactions, &w->sink.comments, &w->sink.counters};
    ch_err_t first = CH_OK;
    if (!w->sink.open)
        return CH_OK;
    w->sink.open = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (failed && !all[i]->err)
            all[i]->err = failed; /* no more statements: only free */
        ch_err_t err = ch_batch_finish(all[i]);
        first = first ? first : err;
    }
    return first;
}

void ch_seed_event(ch_seed_world_t *w, uint64_t id, int64_t ts, uint32_t user, const char *kind,
                   ch_target_type_t type, uint64_t target, uint64_t author_id, double value)
{
    /* The id is of the event's moment, like the write path's (ch_events_emit takes
     * ch_id_next when it happens): consumers read the log in id order. */
    if (!id)
        id = ch_seed_ids_take(&w->eids, &ts);
    ch_seed_sink_t *k = &w->sink;
    size_t i = 0;
    while (i < k->nvalues && k->value[i] != value)
        i++;
    if (i == k->nvalues && i < sizeof(k->value) / sizeof(k->value[0])) {
        k->value[k->nvalues++] = value;
        snprintf(k->value_text[i], sizeof(k->value_text[i]), "%.6f", value); /* as ch_events_emit binds it */
    }
    const char *v = i < k->nvalues ? k->value_text[i] : NULL;
    if (!v) {
        char *own = ch_batch_own(&k->events, ch_malloc(32));
        if (own)
            snprintf(own, 32, "%.6f", value);
        v = own;
    }
    ch_db_param_t row[] = {CH_DB_P_INT(id),
                           CH_DB_P_INT(ts),
                           CH_DB_P_INT(w->ids[user]),
                           CH_DB_P_TEXT(kind),
                           CH_DB_P_TEXT(ch_target_type_name(type)),
                           CH_DB_P_INT(target),
                           CH_DB_P_INT(author_id),
                           CH_DB_P_TEXT(v)};
    ch_batch_add(&w->sink.events, row);
    w->stats->events++;
}

_Static_assert(CH_REACTION_KIND_COUNT == 6, "one r_<kind> column per kind, in kind order");

void ch_seed_counters(ch_seed_world_t *w, ch_target_type_t type, uint64_t id,
                      const int64_t reactions[CH_REACTION_KIND_COUNT], int64_t comments)
{
    int64_t any = comments;
    for (int k = 0; k < CH_REACTION_KIND_COUNT; k++)
        any |= reactions[k];
    if (!any)
        return;
    ch_db_param_t row[] = {CH_DB_P_TEXT(ch_target_type_name(type)), CH_DB_P_INT(id), CH_DB_P_INT(reactions[0]),
                           CH_DB_P_INT(reactions[1]), CH_DB_P_INT(reactions[2]), CH_DB_P_INT(reactions[3]),
                           CH_DB_P_INT(reactions[4]), CH_DB_P_INT(reactions[5]), CH_DB_P_INT(comments)};
    ch_batch_add(&w->sink.counters, row);
}

ch_err_t ch_seed_text(ch_seed_world_t *w, ch_target_type_t type, uint64_t id, uint32_t writer,
                      const ch_seed_item_t *item, int64_t at, long quiet, const char *text, char **mentions_json,
                      char **hashtags_json)
{
    ch_fault_t f = {0};
    ch_textrefs_t *refs = w->refs;
    *mentions_json = *hashtags_json = NULL;
    ch_err_t err = ch_refs_parse(text, "text", refs, &f);
    if (err) {
        ch_log_error("seed: a seeded text breaks the rules (%s): %s", f.detail, text);
        return CH_EINTERNAL;
    }
    if (refs->nmentions == 0 && refs->nhashtags == 0)
        return CH_OK;
    const char *tname = ch_target_type_name(type);
    json_t *mentions = json_array(), *tags = json_array();
    char idbuf[CH_ID_STR_LEN];
    for (size_t i = 0; i < refs->nmentions; i++) {
        long u = ch_seed_user_by_handle(w, refs->mentions[i]);
        if (u < 0)
            continue; /* no such user: not resolved, as in the write path */
        ch_db_param_t row[] = {CH_DB_P_TEXT(tname), CH_DB_P_INT(id), CH_DB_P_INT(w->ids[u]),
                               CH_DB_P_INT(w->ids[writer]), CH_DB_P_INT(at)};
        ch_batch_add(&w->sink.mentions, row);
        w->stats->mentions++;
        json_array_append_new(mentions, json_pack("{s:s, s:s}", "id", ch_id_format(w->ids[u], idbuf), "handle",
                                                  w->handles[u]));
        if ((uint32_t)u != writer && u != quiet && ch_seed_may_see(w, (uint32_t)u, item))
            ch_seed_event(w, 0, at, writer, "mention", type, id, w->ids[u], 1.0);
    }
    for (size_t i = 0; i < refs->nhashtags; i++) {
        char *tag = ch_batch_own(&w->sink.hashtags, ch_strdup(refs->hashtags[i]));
        ch_db_param_t row[] = {CH_DB_P_TEXT(tag), CH_DB_P_TEXT(tname), CH_DB_P_INT(id), CH_DB_P_INT(w->ids[writer]),
                               CH_DB_P_INT(at)};
        ch_batch_add(&w->sink.hashtags, row);
        w->stats->hashtags++;
        json_array_append_new(tags, json_string(refs->hashtags[i]));
    }
    *mentions_json = json_dumps(mentions, JSON_COMPACT);
    *hashtags_json = json_dumps(tags, JSON_COMPACT);
    json_decref(mentions);
    json_decref(tags);
    return *mentions_json && *hashtags_json ? CH_OK : CH_EINTERNAL;
}
