#include "http/port_file.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ch_port_file_write(const char *path, uint16_t port, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp)) {
        snprintf(err, errlen, "CHORUS_PORT_FILE: path too long");
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "CHORUS_PORT_FILE: cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    int bad = fprintf(f, "%u\n", (unsigned)port) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, errlen, "CHORUS_PORT_FILE: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
