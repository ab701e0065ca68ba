/* The gateway's op table: every client op, its handler and how it runs (ws_op.h). Each
 * domain keeps its rows in gateway/ws_ops_<domain>.def, included here. */
#include <string.h>

#include "gateway/op_chat.h"
#include "gateway/ops_gateway.h"
#include "gateway/ws_op.h"

#define INLINE CH_WS_OP_INLINE

const ch_ws_op_t ch_ws_ops[] = {
#include "gateway/ws_ops_gateway.def"
#include "gateway/ws_ops_chat.def"
    {NULL, NULL, 0}, /* the end: not counted */
};

const size_t ch_ws_ops_count = sizeof(ch_ws_ops) / sizeof(ch_ws_ops[0]) - 1;

const ch_ws_op_t *ch_ws_op_find(const char *op)
{
    for (size_t i = 0; op && i < ch_ws_ops_count; i++)
        if (strcmp(ch_ws_ops[i].op, op) == 0)
            return &ch_ws_ops[i];
    return NULL;
}
