#include "svc/item_types.h"

#include "svc/content/content.h"
#include "svc/engage/comments.h"
#include "svc/market/listings.h"

void ch_svc_register_item_types(void)
{
    ch_content_register_types();
    ch_comments_register_types();
    ch_listings_register_types();
}
