/* Error codes shared by every layer: one X-macro maps each to its HTTP status and the
 * stable lower_snake `code` string that the API puts in problem+json bodies. */
#ifndef CH_CORE_ERR_H
#define CH_CORE_ERR_H

/*  name                     status  code                       title */
#define CH_ERRNO_MAP(XX)                                                                    \
    XX(OK,                    200, "ok",                    "OK")                          \
    XX(EINVAL,                422, "invalid_field",         "Invalid field")               \
    XX(EMALFORMED,            400, "malformed_json",        "Malformed JSON")              \
    XX(EBADREQ,               400, "bad_request",           "Bad request")                 \
    XX(EUNAUTH,               401, "unauthorized",          "Unauthorized")                \
    XX(ECREDENTIALS,          401, "invalid_credentials",   "Invalid credentials")         \
    XX(ETOKEN,                401, "invalid_token",         "Invalid or expired token")    \
    XX(EFORBIDDEN,            403, "forbidden",             "Forbidden")                   \
    XX(ENOTFOUND,             404, "not_found",             "Not found")                   \
    XX(EMETHOD,               405, "method_not_allowed",    "Method not allowed")          \
    XX(ECONFLICT,             409, "conflict",              "Conflict")                    \
    XX(EHANDLETAKEN,          409, "handle_taken",          "Handle taken")                \
    XX(EIDEMPOTENCYBUSY,      409, "idempotency_in_progress", "Request in progress")       \
    XX(ETOOLARGE,             413, "payload_too_large",     "Payload too large")           \
    XX(EMEDIATYPE,            415, "unsupported_media_type", "Unsupported media type")     \
    XX(EIDEMPOTENCYMISMATCH,  422, "idempotency_mismatch",  "Idempotency key reused")      \
    XX(ERATELIMIT,            429, "rate_limited",          "Too many requests")           \
    XX(EINTERNAL,             500, "internal",              "Internal error")              \
    XX(ENOTSERVED,            503, "role_not_served",       "Not served by this process")  \
    XX(EUNAVAILABLE,          503, "unavailable",           "Service unavailable")         \
    XX(EOVERLOADED,           503, "overloaded",            "Overloaded")                  \
    XX(EUNKNOWNOP,            400, "unknown_op",            "Unknown op")                  \
    XX(EBADSIGNATURE,         400, "invalid_signature",     "Invalid signature")           \
    XX(ESELLERNOTENABLED,     403, "seller_not_enabled",    "Seller cannot list yet")   \
    XX(ECURRENCY,             422, "currency_not_accepted", "Currency not accepted")

/** The error enum: CH_OK is 0, every other value is an error. */
typedef enum {
#define XX(name, status, code, title) CH_##name,
    CH_ERRNO_MAP(XX)
#undef XX
    CH__ERR_COUNT
} ch_err_t;

/** HTTP status for an error (500 for an out-of-range value). */
int ch_err_status(ch_err_t err);
/** Stable API code string ("not_found"); static storage, never NULL. */
const char *ch_err_code(ch_err_t err);
/** Human title for problem+json; static storage, never NULL. */
const char *ch_err_title(ch_err_t err);

/** What went wrong beyond the code: the offending field, a human detail, and for 429 the
 * seconds to wait. Filled by services, rendered into problem+json by the HTTP layer. */
typedef struct {
    const char *field; /* static string or NULL */
    char detail[256];
    long long retry_after_s;
} ch_fault_t;

/** Records field and a printf-formatted detail in f (which may be NULL); returns err so
 * that callers can write `return ch_fault(f, CH_EINVAL, "bio", "at most %d characters", n);`. */
ch_err_t ch_fault(ch_fault_t *f, ch_err_t err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
