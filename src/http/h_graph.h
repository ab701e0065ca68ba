/* REST handlers of the social graph: follow, follow requests, followers/following lists,
 * block, mute. */
#ifndef CH_HTTP_H_GRAPH_H
#define CH_HTTP_H_GRAPH_H

#include "http/call.h"

#endif
