/* The port file (CHORUS_PORT_FILE): how a process that started chorusd with
 * CHORUS_LISTEN=host:0 learns the port the kernel picked, without a race. */
#ifndef CH_HTTP_PORT_FILE_H
#define CH_HTTP_PORT_FILE_H

#include <stddef.h>
#include <stdint.h>

/** Writes port (decimal, newline) to path atomically: a temporary file beside it renamed
 * over it, so a reader sees no file or the whole line. path is borrowed. Returns 0, or -1
 * with a message in err. */
int ch_port_file_write(const char *path, uint16_t port, char *err, size_t errlen);

#endif
