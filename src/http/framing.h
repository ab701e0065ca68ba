/* Message framing of HTTP/1 requests (RFC 9112 §6.1, §6.3). h2o 2.2.5 lets a
 * Transfer-Encoding header win over a Content-Length one and takes the first of several
 * Content-Length headers; a proxy in front that frames the other way would see different
 * requests than we do (request smuggling). The framing headers never reach req->headers in
 * h2o 2.2.5, so this reads the raw header block, which h2o keeps in the connection's input
 * buffer until the answer has been sent. */
#ifndef CH_HTTP_FRAMING_H
#define CH_HTTP_FRAMING_H

#include <stddef.h>

#include <h2o.h>

/** Checks the framing headers of the raw header block `head` (len bytes from the start of
 * the request line; anything after the blank line is ignored). Returns NULL when the
 * framing is unambiguous, or a static text saying what is wrong: both Content-Length and
 * Transfer-Encoding, Content-Length headers that disagree or are not digits, a
 * Transfer-Encoding other than one final `chunked`. */
const char *ch_framing_check_head(const char *head, size_t len);

/** ch_framing_check_head on an HTTP/1 request being handled (borrowed; only HTTP/1.x
 * requests are checked, HTTP/2 frames its own messages). NULL when sound. */
const char *ch_framing_check(h2o_req_t *req);

#endif
