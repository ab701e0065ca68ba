/* The loop guard's thread-local state (core/loop_guard.h). */
#include "core/loop_guard.h"

static _Thread_local int ch__guard_on;
static _Thread_local int ch__guard_noted;

void ch_loop_guard_set(int on)
{
    ch__guard_on = on != 0;
}

int ch_loop_guard_on(void)
{
    return ch__guard_on;
}

void ch_loop_guard_note(void)
{
    ch__guard_noted = 1;
}

int ch_loop_guard_take(void)
{
    int noted = ch__guard_noted;
    ch__guard_noted = 0;
    return noted;
}

int ch_loop_guard_refuse(void)
{
    if (!ch__guard_on)
        return 0;
    ch__guard_noted = 1;
    return 1;
}
