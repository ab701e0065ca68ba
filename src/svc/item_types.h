/* Wiring of the item-type registry (svc/common/items.h): the one place that knows every
 * domain that registers item types. */
#ifndef CH_SVC_ITEM_TYPES_H
#define CH_SVC_ITEM_TYPES_H

/** Registers the item types of every domain (content: posts, reels, stories; engage:
 * comments). Call once at start-up before serving (main.c) and in tests that resolve or
 * hydrate items; calling it again is harmless. */
void ch_svc_register_item_types(void);

#endif
