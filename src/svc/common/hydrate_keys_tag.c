/* The hydration cache's key of a hashtag page: see hydrate_keys.h. */
#include "svc/common/hydrate_keys.h"

#include <sodium.h>
#include <string.h>

const char *ch_hkey_tag(ch_hkey_t buf, const char *tag)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char h[16];
    crypto_generichash(h, sizeof(h), (const unsigned char *)tag, strlen(tag), NULL, 0);
    buf[0] = 'T';
    buf[1] = ':';
    for (size_t i = 0; i < sizeof(h); i++) {
        buf[2 + 2 * i] = hex[h[i] >> 4];
        buf[3 + 2 * i] = hex[h[i] & 15];
    }
    buf[CH_HKEY_TAG_LEN] = '\0';
    return buf;
}
