/* REST handlers: notify (engagement). */
#ifndef CH_HTTP_H_NOTIFY_H
#define CH_HTTP_H_NOTIFY_H

#include "http/call.h"

#endif
