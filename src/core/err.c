#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    int status;
    const char *code;
    const char *title;
} ch__err_table[] = {
#define XX(name, status, code, title) {status, code, title},
    CH_ERRNO_MAP(XX)
#undef XX
};

static int ch__err_valid(ch_err_t err)
{
    return (int)err >= 0 && err < CH__ERR_COUNT;
}

int ch_err_status(ch_err_t err)
{
    return ch__err_valid(err) ? ch__err_table[err].status : 500;
}

const char *ch_err_code(ch_err_t err)
{
    return ch__err_valid(err) ? ch__err_table[err].code : "internal";
}

const char *ch_err_title(ch_err_t err)
{
    return ch__err_valid(err) ? ch__err_table[err].title : "Internal error";
}

ch_err_t ch_fault(ch_fault_t *f, ch_err_t err, const char *field, const char *fmt, ...)
{
    if (!f)
        return err;
    f->field = field;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
    va_end(ap);
    return err;
}
