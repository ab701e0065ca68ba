#include "http/framing.h"

#include <string.h>
#include <strings.h>

/* Header values are compared after trimming spaces and tabs (as picohttpparser does). */
static void ch__trim(const char **v, size_t *len)
{
    while (*len && (**v == ' ' || **v == '\t'))
        (*v)++, (*len)--;
    while (*len && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\t' || (*v)[*len - 1] == '\r'))
        (*len)--;
}

static int ch__all_digits(const char *v, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

const char *ch_framing_check_head(const char *head, size_t len)
{
    const char *p = head, *end = head + len;
    const char *cl = NULL;
    size_t cl_len = 0;
    int te_count = 0, te_chunked = 0;

    while (p < end && (*p == '\r' || *p == '\n')) /* empty lines before the request line */
        p++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return NULL; /* h2o parsed it; nothing more to see */
    p = nl + 1;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        size_t line_len = (size_t)(line_end - p);
        if (line_len && p[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0)
            break; /* the blank line: end of the header block */
        const char *colon = memchr(p, ':', line_len);
        if (colon && p[0] != ' ' && p[0] != '\t') {
            size_t name_len = (size_t)(colon - p);
            const char *v = colon + 1;
            size_t vlen = line_len - name_len - 1;
            ch__trim(&v, &vlen);
            if (name_len == 14 && strncasecmp(p, "content-length", 14) == 0) {
                if (!ch__all_digits(v, vlen))
                    return "Content-Length must be a decimal number";
                if (cl) {
                    /* equal numbers (leading zeros aside) are one length; anything else is two */
                    const char *a = cl, *b = v;
                    size_t al = cl_len, bl = vlen;
                    while (al > 1 && *a == '0')
                        a++, al--;
                    while (bl > 1 && *b == '0')
                        b++, bl--;
                    if (al != bl || memcmp(a, b, al) != 0)
                        return "conflicting Content-Length headers";
                }
                cl = v;
                cl_len = vlen;
            } else if (name_len == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
                te_count++;
                te_chunked = vlen == 7 && strncasecmp(v, "chunked", 7) == 0;
                if (te_count > 1 || !te_chunked)
                    return "Transfer-Encoding must be a single 'chunked'";
            }
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (cl && te_count)
        return "a request must not carry both Content-Length and Transfer-Encoding";
    return NULL;
}

const char *ch_framing_check(h2o_req_t *req)
{
    if (req->version >= 0x200 || !req->conn->callbacks->get_socket)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (!sock || !sock->input || sock->input->size == 0)
        return NULL;
    size_t len = sock->input->size < H2O_MAX_REQLEN ? sock->input->size : H2O_MAX_REQLEN;
    return ch_framing_check_head(sock->input->bytes, len);
}
