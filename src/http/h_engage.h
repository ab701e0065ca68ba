/* REST handlers: engage (engagement). */
#ifndef CH_HTTP_H_ENGAGE_H
#define CH_HTTP_H_ENGAGE_H

#include "http/call.h"

#endif
