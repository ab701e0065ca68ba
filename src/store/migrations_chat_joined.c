/* Migration 15 "chat_joined": the seq a member joined at (brd/chat.md: a member added later
 * sees the history from their join on, as large chat apps do). conversation_members.joined_seq
 * is the conversation's last_seq when the member was added; history, the last message of the
 * listing and message.updated / message.deleted of older messages leave out seq <= joined_seq.
 * Members from before this migration keep 0: the whole history, as they saw it. */
#include "store/db.h"

extern const char ch_migration_chat_joined[];
const char ch_migration_chat_joined[] =
    "ALTER TABLE conversation_members ADD COLUMN joined_seq BIGINT NOT NULL DEFAULT 0;\n";
