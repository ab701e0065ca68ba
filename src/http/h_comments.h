/* REST handlers: comments (engagement). */
#ifndef CH_HTTP_H_COMMENTS_H
#define CH_HTTP_H_COMMENTS_H

#include "http/call.h"

#endif
