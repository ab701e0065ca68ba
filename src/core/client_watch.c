#include "core/client_watch.h"

#include <errno.h>
#include <sys/socket.h>

#include "core/clock.h"

int ch_client_watch_gone(const ch_client_watch_t *w)
{
    if (!w)
        return 0;
    if (w->deadline_ms && ch_mono_ms() >= w->deadline_ms)
        return 1;
    if (w->gone && atomic_load(w->gone))
        return 1;
    if (w->fd < 0)
        return 0;
    char byte;
    ssize_t n = recv(w->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return 0; /* bytes wait to be read: the client is there */
    if (n == 0)
        return 1; /* end of stream: the client closed its side */
    return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}
