/* The two notification consumers (run by the worker, see svc/worker/consumer.h).
 *
 * Outbox topics (payloads as svc/graph/graph.c writes them):
 *   follow.created    {follower_id, followee_id} -> followee's "follow" group gains follower
 *   follow.requested  {follower_id, followee_id} -> followee's "follow_request" group gains follower
 *   follow.approved / follow.rejected / follow.cancelled -> follower leaves that request group
 *   block.created     {blocker_id, blocked_id}   -> each leaves every group of the other
 *   mute.created      {muter_id, muted_id}       -> muted leaves every group of muter
 *   post.deleted {post_id}, reel.deleted {reel_id}, story.deleted {story_id},
 *   comment.deleted {comment_id, ...}              -> every group about it is dropped
 *
 * Engagement events (svc/engage/events.h; author_id is whom the engagement is addressed
 * to): reaction, comment, reply, mention -> author's group (kind, target) gains user_id;
 * unreaction -> user_id leaves author's reaction group of that target (so a reaction taken
 * back, before or after the worker saw it, leaves no notification behind). Reactions,
 * comments and mentions are taken from the event log rather than from their outbox topics
 * because the event carries the recipient; their outbox topics are left to other consumers. */
#include "svc/engage/notify.h"

#include <stdio.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "svc/common/sql.h"

/* ---- outbox ------------------------------------------------------------------------------- */

static uint64_t ch__payload_id(json_t *payload, const char *field)
{
    json_t *v = json_object_get(payload, field);
    uint64_t id = json_is_string(v) ? ch_id_parse(json_string_value(v)) : 0;
    return id <= INT64_MAX ? id : 0;
}

/* Columns: 0 id, 1 topic, 2 payload. */
static ch_err_t ch__apply_outbox(ch_svc_t *svc, ch_db_conn_t *conn, const ch_db_rows_t *rows, size_t row)
{
    const char *topic = ch_db_rows_text(rows, row, 1);
    json_t *payload = json_loads(ch_db_rows_text(rows, row, 2), 0, NULL);
    ch_err_t err = CH_OK;
    if (strncmp(topic, "follow.", 7) == 0) {
        uint64_t follower = ch__payload_id(payload, "follower_id"), followee = ch__payload_id(payload, "followee_id");
        ch_notify_group_t follow = {followee, "follow", "", 0}, request = {followee, "follow_request", "", 0};
        if (!follower || !followee)
            ch_log_warn("notify: outbox %s %s without follower_id/followee_id: skipped", ch_db_rows_text(rows, row, 0),
                        topic);
        else if (strcmp(topic, "follow.created") == 0)
            err = ch_notify_add(svc, conn, &follow, follower);
        else if (strcmp(topic, "follow.requested") == 0)
            err = ch_notify_add(svc, conn, &request, follower);
        else
            err = ch_notify_remove(svc, conn, &request, follower);
    } else if (strcmp(topic, "block.created") == 0) {
        uint64_t blocker = ch__payload_id(payload, "blocker_id"), blocked = ch__payload_id(payload, "blocked_id");
        if (blocker && blocked) {
            err = ch_notify_forget_actor(svc, conn, blocker, blocked);
            if (err == CH_OK)
                err = ch_notify_forget_actor(svc, conn, blocked, blocker);
        }
    } else if (strcmp(topic, "post.deleted") == 0 || strcmp(topic, "reel.deleted") == 0 ||
               strcmp(topic, "story.deleted") == 0 || strcmp(topic, "comment.deleted") == 0 ||
               strcmp(topic, "listing.removed") == 0) {
        char type[16], field[24];
        snprintf(type, sizeof(type), "%.*s", (int)(strchr(topic, '.') - topic), topic);
        snprintf(field, sizeof(field), "%s_id", type);
        uint64_t id = ch__payload_id(payload, field);
        if (id)
            err = ch_notify_forget_target(svc, conn, type, id);
    } else if (strcmp(topic, "mute.created") == 0) {
        uint64_t muter = ch__payload_id(payload, "muter_id"), muted = ch__payload_id(payload, "muted_id");
        if (muter && muted)
            err = ch_notify_forget_actor(svc, conn, muter, muted);
    }
    json_decref(payload);
    return err;
}

const ch_consumer_t ch_notify_outbox_consumer = {
    "notify.outbox",
    "SELECT o.id, o.topic, o.payload FROM outbox o WHERE o.id > $1"
    " AND o.topic IN ('follow.created', 'follow.requested', 'follow.approved', 'follow.rejected',"
    " 'follow.cancelled', 'block.created', 'mute.created', 'post.deleted', 'reel.deleted', 'story.deleted',"
    " 'comment.deleted', 'listing.removed')"
    " AND NOT EXISTS (SELECT 1 FROM consumer_seen s WHERE s.name = $2 AND s.event_id = o.id)"
    " ORDER BY o.id LIMIT $3",
    ch__apply_outbox,
};

/* ---- engagement events ---------------------------------------------------------------- */

/* Columns: 0 id, 1 user_id, 2 kind, 3 target_type, 4 target_id, 5 author_id. */
static ch_err_t ch__apply_event(ch_svc_t *svc, ch_db_conn_t *conn, const ch_db_rows_t *rows, size_t row)
{
    uint64_t actor = (uint64_t)ch_db_rows_int(rows, row, 1);
    const char *kind = ch_db_rows_text(rows, row, 2);
    ch_notify_group_t g = {(uint64_t)ch_db_rows_int(rows, row, 5), kind, ch_db_rows_text(rows, row, 3),
                           (uint64_t)ch_db_rows_int(rows, row, 4)};
    if (strcmp(kind, "unreaction") == 0) {
        g.kind = "reaction";
        return ch_notify_remove(svc, conn, &g, actor);
    }
    /* Folded after its target was deleted (the outbox consumer may have dropped the
     * target's groups already): no group about it again. */
    int gone = 0;
    ch_err_t err = ch_notify_target_gone(svc, conn, g.target_type, g.target_id, &gone);
    return err || gone ? err : ch_notify_add(svc, conn, &g, actor);
}

const ch_consumer_t ch_notify_events_consumer = {
    "notify.events",
    "SELECT e.id, e.user_id, e.kind, e.target_type, e.target_id, e.author_id FROM engagement_events e"
    " WHERE e.id > $1 AND e.kind IN ('reaction', 'unreaction', 'comment', 'reply', 'mention')"
    " AND NOT EXISTS (SELECT 1 FROM consumer_seen s WHERE s.name = $2 AND s.event_id = e.id)"
    " ORDER BY e.id LIMIT $3",
    ch__apply_event,
};
