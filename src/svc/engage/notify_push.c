/* notification.new events after commit (notify_push.h). */
#include "svc/engage/notify_push.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/bus.h"

typedef struct {
    uint64_t recipient, id, target_id, actor;
    char kind[32], target_type[16];
} ch__push_note_t;

static _Thread_local ch__push_note_t *ch__notes;
static _Thread_local size_t ch__nnotes;

void ch_notify_push_note(uint64_t recipient, uint64_t id, const char *kind, const char *target_type,
                         uint64_t target_id, uint64_t actor)
{
    if (ch__nnotes >= CH_NOTIFY_PUSH_MAX)
        return;
    if (!ch__notes && !(ch__notes = malloc(CH_NOTIFY_PUSH_MAX * sizeof(*ch__notes))))
        return;
    ch__push_note_t *n = &ch__notes[ch__nnotes++];
    n->recipient = recipient;
    n->id = id;
    n->target_id = target_id;
    n->actor = actor;
    snprintf(n->kind, sizeof(n->kind), "%s", kind);
    snprintf(n->target_type, sizeof(n->target_type), "%s", target_type ? target_type : "");
}

void ch_notify_push_flush(ch_svc_t *svc, int committed)
{
    for (size_t i = 0; committed && svc->bus && i < ch__nnotes; i++) {
        ch__push_note_t *n = &ch__notes[i];
        char id[24], actor[24], tid[24];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)n->id);
        snprintf(actor, sizeof(actor), "%llu", (unsigned long long)n->actor);
        snprintf(tid, sizeof(tid), "%llu", (unsigned long long)n->target_id);
        json_t *d = json_pack("{s:s, s:s, s:s}", "id", id, "kind", n->kind, "actor_id", actor);
        if (n->target_type[0])
            json_object_set_new(d, "target", json_pack("{s:s, s:s}", "type", n->target_type, "id", tid));
        json_t *f = json_pack("{s:s, s:o}", "op", "notification.new", "d", d);
        char *text = json_dumps(f, JSON_COMPACT);
        json_decref(f);
        if (text && ch_bus_publish(svc->bus, n->recipient, text, strlen(text)) != CH_OK)
            ch_log_warn("notification %s not pushed to user %llu (bus unavailable); it is in their list", id,
                        (unsigned long long)n->recipient);
        free(text);
    }
    ch__nnotes = 0;
    free(ch__notes);
    ch__notes = NULL;
}
