#include "svc/market/order_state.h"

#include <string.h>

static const char *const ch__names[] = {
#define XX(name, str) str,
    CH_ORDER_STATE_MAP(XX)
#undef XX
};

const char *ch_order_state_name(ch_order_state_t s)
{
    return (unsigned)s < CH__ORDER_STATE_COUNT ? ch__names[s] : "";
}

int ch_order_state_parse(const char *name)
{
    for (int i = 0; name && i < CH__ORDER_STATE_COUNT; i++)
        if (strcmp(ch__names[i], name) == 0)
            return i;
    return -1;
}

int ch_order_holds_listing(ch_order_state_t s)
{
    return s == CH_ORDER_PAID || s == CH_ORDER_SHIPPED || s == CH_ORDER_TRANSFERRING || s == CH_ORDER_COMPLETED ||
           s == CH_ORDER_DISPUTED;
}

/* The states a dispute may interrupt (the order has a charge), and a won dispute returns to. */
static int ch__disputable(ch_order_state_t s)
{
    return s == CH_ORDER_PAID || s == CH_ORDER_SHIPPED || s == CH_ORDER_TRANSFERRING || s == CH_ORDER_COMPLETED ||
           s == CH_ORDER_REFUNDING || s == CH_ORDER_REFUNDED;
}

int ch_order_transfer_unwanted(ch_order_state_t s)
{
    return s == CH_ORDER_REFUNDING || s == CH_ORDER_REFUNDED || s == CH_ORDER_CANCELED || s == CH_ORDER_PAYMENT_FAILED ||
           s == CH_ORDER_DISPUTE_LOST;
}

#define MOVE(to) (*next = (to), CH_ORDER_MOVE)

ch_order_verdict_t ch_order_next(ch_order_state_t s, ch_order_event_t ev, ch_order_state_t prev,
                                 ch_order_state_t *next)
{
    switch (ev) {
    case CH_ORDER_EV_PAID:
        if (s == CH_ORDER_PENDING_PAYMENT || s == CH_ORDER_PAYMENT_FAILED)
            return MOVE(CH_ORDER_PAID);
        if (s == CH_ORDER_CANCELED)
            return MOVE(CH_ORDER_REFUNDING);
        return CH_ORDER_SAME;
    case CH_ORDER_EV_PAY_FAILED:
        return s == CH_ORDER_PENDING_PAYMENT ? MOVE(CH_ORDER_PAYMENT_FAILED) : CH_ORDER_SAME;
    case CH_ORDER_EV_SHIP:
        if (s == CH_ORDER_PAID)
            return MOVE(CH_ORDER_SHIPPED);
        return s == CH_ORDER_SHIPPED ? CH_ORDER_SAME : CH_ORDER_REFUSE;
    case CH_ORDER_EV_CONFIRM:
        if (s == CH_ORDER_SHIPPED)
            return MOVE(CH_ORDER_TRANSFERRING);
        return s == CH_ORDER_TRANSFERRING || s == CH_ORDER_COMPLETED ? CH_ORDER_SAME : CH_ORDER_REFUSE;
    case CH_ORDER_EV_TRANSFERRED:
        return s == CH_ORDER_TRANSFERRING ? MOVE(CH_ORDER_COMPLETED) : CH_ORDER_SAME;
    case CH_ORDER_EV_CANCEL:
        if (s == CH_ORDER_PENDING_PAYMENT || s == CH_ORDER_PAYMENT_FAILED)
            return MOVE(CH_ORDER_CANCELED);
        if (s == CH_ORDER_PAID)
            return MOVE(CH_ORDER_REFUNDING);
        return s == CH_ORDER_CANCELED || s == CH_ORDER_REFUNDING || s == CH_ORDER_REFUNDED ? CH_ORDER_SAME
                                                                                            : CH_ORDER_REFUSE;
    case CH_ORDER_EV_REFUND:
        /* transferring: a transfer that lands after it is reversed (the late-transfer rule) */
        if (s == CH_ORDER_PAID || s == CH_ORDER_SHIPPED || s == CH_ORDER_TRANSFERRING || s == CH_ORDER_COMPLETED)
            return MOVE(CH_ORDER_REFUNDING);
        return s == CH_ORDER_REFUNDING || s == CH_ORDER_REFUNDED ? CH_ORDER_SAME : CH_ORDER_REFUSE;
    case CH_ORDER_EV_REFUNDED:
        return s == CH_ORDER_REFUNDING ? MOVE(CH_ORDER_REFUNDED) : CH_ORDER_SAME;
    case CH_ORDER_EV_DISPUTE_OPENED:
        /* Any state with a charge: Stripe withdraws the money whatever the order's state. */
        if (ch__disputable(s))
            return MOVE(CH_ORDER_DISPUTED);
        return CH_ORDER_SAME;
    case CH_ORDER_EV_DISPUTE_WON:
        if (s != CH_ORDER_DISPUTED)
            return CH_ORDER_SAME;
        return MOVE(ch__disputable(prev) ? prev : CH_ORDER_PAID);
    case CH_ORDER_EV_DISPUTE_LOST:
        return s == CH_ORDER_DISPUTED ? MOVE(CH_ORDER_DISPUTE_LOST) : CH_ORDER_SAME;
    }
    return CH_ORDER_REFUSE;
}
