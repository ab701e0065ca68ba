/* The states of an order and what moves them (pure: no I/O; svc/market/orders.c applies the
 * moves with compare-and-set on the stored state). An event that finds the order beyond
 * the state it implies is a no-op (CH_ORDER_SAME), so webhooks may come twice or late;
 * an action a user asks for in the wrong state is refused (CH_ORDER_REFUSE: 409).
 *
 *   pending_payment --paid--> paid --ship--> shipped --confirm--> transferring --transferred--> completed
 *   pending_payment/payment_failed --cancel--> canceled (no money moved)
 *   paid --cancel--> refunding --refunded--> refunded
 *   paid/shipped/transferring/completed --refund (admin)--> refunding (completed: the transfer reversed first)
 *   canceled --paid--> refunding (money that came after a cancel goes back, never resurrects)
 *   paid/shipped/transferring/completed/refunding/refunded --dispute_opened--> disputed --won--> the state before
 *   disputed --lost--> dispute_lost
 * A transfer that lands in a state that no longer wants it (ch_order_transfer_unwanted) is
 * booked and reversed at once (svc/market/order_steps.c). */
#ifndef CH_SVC_MARKET_ORDER_STATE_H
#define CH_SVC_MARKET_ORDER_STATE_H

#define CH_ORDER_STATE_MAP(XX)                                                                  \
    XX(PENDING_PAYMENT, "pending_payment")                                                      \
    XX(PAYMENT_FAILED, "payment_failed")                                                        \
    XX(CANCELED, "canceled")                                                                    \
    XX(PAID, "paid")                                                                            \
    XX(SHIPPED, "shipped")                                                                      \
    XX(TRANSFERRING, "transferring")                                                            \
    XX(COMPLETED, "completed")                                                                  \
    XX(REFUNDING, "refunding")                                                                  \
    XX(REFUNDED, "refunded")                                                                    \
    XX(DISPUTED, "disputed")                                                                    \
    XX(DISPUTE_LOST, "dispute_lost")

typedef enum {
#define XX(name, str) CH_ORDER_##name,
    CH_ORDER_STATE_MAP(XX)
#undef XX
    CH__ORDER_STATE_COUNT
} ch_order_state_t;

typedef enum {
    CH_ORDER_EV_PAID,         /* payment_intent.succeeded */
    CH_ORDER_EV_PAY_FAILED,   /* payment_intent.payment_failed */
    CH_ORDER_EV_SHIP,         /* the seller */
    CH_ORDER_EV_CONFIRM,      /* the buyer, or the auto-confirm job */
    CH_ORDER_EV_TRANSFERRED,  /* the transfer job stored its transfer */
    CH_ORDER_EV_CANCEL,       /* buyer or seller, before shipping */
    CH_ORDER_EV_REFUND,       /* an admin, any time the money is still ours or the seller's */
    CH_ORDER_EV_REFUNDED,     /* the refund job stored its refund */
    CH_ORDER_EV_DISPUTE_OPENED,
    CH_ORDER_EV_DISPUTE_WON,  /* back to the state before (given by the caller) */
    CH_ORDER_EV_DISPUTE_LOST,
} ch_order_event_t;

typedef enum {
    CH_ORDER_MOVE,   /* go to *next */
    CH_ORDER_SAME,   /* already there or beyond: nothing to do */
    CH_ORDER_REFUSE, /* not in this state */
} ch_order_verdict_t;

/** The stable name of a state ("paid"); "" for an out-of-range value. */
const char *ch_order_state_name(ch_order_state_t s);
/** The state of a name; -1 when unknown. */
int ch_order_state_parse(const char *name);
/** What event ev does to an order in state s; *next is set on CH_ORDER_MOVE. prev is the
 * state before a dispute (for CH_ORDER_EV_DISPUTE_WON; ignored otherwise). */
ch_order_verdict_t ch_order_next(ch_order_state_t s, ch_order_event_t ev, ch_order_state_t prev,
                                 ch_order_state_t *next);
/** Whether an order in state s no longer wants its seller paid: a transfer that lands
 * (made, or found by a lookup) in such a state is booked and reversed at once. */
int ch_order_transfer_unwanted(ch_order_state_t s);
/** Whether an order in state s holds its listing (the listing is reserved or sold for it). */
int ch_order_holds_listing(ch_order_state_t s);

#endif
