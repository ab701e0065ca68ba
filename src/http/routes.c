/* The route table: every endpoint, its handler and how it runs (see call.h flags). Each
 * domain keeps its rows in http/routes_<domain>.def, included here in order. */
#include "http/h_chat.h"
#include "http/h_comments.h"
#include "http/h_content.h"
#include "http/h_engage.h"
#include "http/h_feed.h"
#include "http/h_graph.h"
#include "http/h_market.h"
#include "http/h_notify.h"
#include "http/h_orders.h"
#include "http/h_presence.h"
#include "http/handlers.h"
#include "http/router.h"

#define AUTH CH_ROUTE_AUTH
#define INLINE CH_ROUTE_INLINE
#define JSON CH_ROUTE_JSON_BODY
#define IDEM CH_ROUTE_IDEMPOTENT
#define POINT CH_ROUTE_POINT_READ
#define L1 CH_ROUTE_L1_READ
#define JSONOPT CH_ROUTE_JSON_OPTIONAL

ch_route_t ch_routes[] = {
    {"GET", "/healthz", ch_h_healthz, INLINE, 0},
    {"GET", "/readyz", ch_h_readyz, INLINE, 0}, /* reads background checks (svc/health) */
    {"GET", "/metrics", ch_h_metrics, INLINE, 0},

    {"POST", "/v1/auth/register", ch_h_register, JSON | IDEM | CH_ROUTE_IDEM_CREDENTIALS | CH_ROUTE_PWHASH, 0},
    {"POST", "/v1/auth/login", ch_h_login, JSON | CH_ROUTE_PWHASH, 0},
    {"POST", "/v1/auth/refresh", ch_h_refresh, JSON, 0},
    {"POST", "/v1/auth/logout", ch_h_logout, AUTH, 0},

    {"GET", "/v1/me", ch_h_me_get, AUTH | POINT | L1, 0},
    {"PATCH", "/v1/me", ch_h_me_patch, AUTH | JSON, 0},
    {"GET", "/v1/me/sessions", ch_h_sessions_list, AUTH, 0},
    {"DELETE", "/v1/me/sessions/{id}", ch_h_session_delete, AUTH, 0},

    {"GET", "/v1/users/by-handle/{handle}", ch_h_user_by_handle, AUTH | POINT | L1, 0},
    {"GET", "/v1/users/{id}", ch_h_user_get, AUTH | POINT | L1, 0},

#include "http/routes_graph.def"
#include "http/routes_content.def"
#include "http/routes_engage.def"
#include "http/routes_comments.def"
#include "http/routes_notify.def"
#include "http/routes_feed.def"
#include "http/routes_presence.def"
#include "http/routes_chat.def"
#include "http/routes_market.def"
#include "http/routes_orders.def"
};

const size_t ch_routes_count = sizeof(ch_routes) / sizeof(ch_routes[0]);
