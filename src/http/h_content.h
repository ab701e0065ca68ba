/* REST handlers of authored content: posts, reels, stories, timelines, story tray. */
#ifndef CH_HTTP_H_CONTENT_H
#define CH_HTTP_H_CONTENT_H

#include "http/call.h"

#endif
