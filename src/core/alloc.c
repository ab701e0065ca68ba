#include "core/alloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

/* Writes the reason straight to stderr (no allocation, no lock) and aborts. */
static _Noreturn void ch__oom(size_t size)
{
    char line[128];
    int n = snprintf(line, sizeof(line),
                     "{\"level\":\"fatal\",\"msg\":\"out of memory allocating %zu bytes\"}\n", size);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nothing left to report to */
    }
    abort();
}

void *ch_malloc(size_t size)
{
    void *p = malloc(size);
    if (!p && size)
        ch__oom(size);
    return p;
}

void *ch_calloc(size_t count, size_t size)
{
    void *p = calloc(count, size);
    if (!p && count && size)
        ch__oom(count * size);
    return p;
}

void *ch_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size);
    if (!p && size)
        ch__oom(size);
    return p;
}

char *ch_strdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        ch__oom(strlen(s) + 1);
    return p;
}

char *ch_strndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        ch__oom(n + 1);
    return p;
}

void ch_alloc_install(void)
{
    json_set_alloc_funcs(ch_malloc, free);
    uv_replace_allocator(ch_malloc, ch_realloc, ch_calloc, free);
}
