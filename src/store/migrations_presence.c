/* Migration 13 "presence_settings": whether a user hides their presence (brd/chat.md "Typing
 * and presence": visible ... unless the user hides it). A row only for users who set it. */
#include "store/db.h"

extern const char ch_migration_presence_settings[];
const char ch_migration_presence_settings[] =
    "CREATE TABLE presence_settings ("
    " user_id BIGINT PRIMARY KEY REFERENCES users(id),"
    " hidden INTEGER NOT NULL DEFAULT 0,"
    " updated_at BIGINT NOT NULL"
    ");\n";
