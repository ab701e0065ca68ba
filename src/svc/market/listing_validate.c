/* Validation of listing bodies (brd/market.md "Listings"): every bad member is 422 naming
 * it, and nothing is stored. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "svc/common/fields.h"
#include "svc/market/currency.h"
#include "svc/market/listing_int.h"

static const char *const ch__fields[] = {"title", "description", "price", "category", "condition", "photos",
                                         "location", NULL};
static const char *const ch__categories[] = {CH_LISTING_CATEGORIES, NULL};
static const char *const ch__conditions[] = {"new", "used", NULL};
/* Field names of photos, static: a fault keeps a pointer to its field. */
static const char *const ch__photo_fields[] = {"photos[0]", "photos[1]", "photos[2]", "photos[3]", "photos[4]",
                                               "photos[5]", "photos[6]", "photos[7]", "photos[8]", "photos[9]"};
_Static_assert(sizeof(ch__photo_fields) / sizeof(ch__photo_fields[0]) == CH_LISTING_PHOTOS_MAX,
               "one field name per allowed photo");

static ch_err_t ch__price(json_t *body, int partial, const char *currencies, ch__listing_input_t *in, ch_fault_t *f)
{
    json_t *p = json_object_get(body, "price");
    if (!p || json_is_null(p)) {
        if (partial && !p)
            return CH_OK;
        return ch_fault(f, CH_EINVAL, "price", "price {amount, currency} is required");
    }
    if (!json_is_object(p))
        return ch_fault(f, CH_EINVAL, "price", "price must be an object {amount, currency}");
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v)
    {
        if (strcmp(k, "amount") != 0 && strcmp(k, "currency") != 0)
            return ch_fault(f, CH_EINVAL, "price", "price has only amount and currency");
    }
    json_t *a = json_object_get(p, "amount");
    if (!json_is_integer(a) || json_integer_value(a) < 1 || json_integer_value(a) > CH_LISTING_PRICE_MAX)
        return ch_fault(f, CH_EINVAL, "price.amount",
                        "price.amount must be an integer from 1 to %lld, in the currency's minor unit "
                        "(whole units for zero-decimal currencies such as JPY)",
                        CH_LISTING_PRICE_MAX);
    const char *cur = json_string_value(json_object_get(p, "currency"));
    if (!cur || !ch_currency_lookup(cur, NULL, in->currency))
        return ch_fault(f, CH_EINVAL, "price.currency", "price.currency must be a supported ISO 4217 code (EUR, USD, JPY, ...)");
    if (!ch_currency_accepted(currencies, in->currency))
        return ch_fault(f, CH_ECURRENCY, "price.currency", "the marketplace takes payments in %s only", currencies);
    long long lo = 0, hi = 0, step = 1;
    if (!ch_currency_amount_ok(in->currency, (long long)json_integer_value(a), &lo, &hi, &step))
        return ch_fault(f, CH_EINVAL, "price.amount",
                        "Stripe takes %s amounts from %lld to %lld%s (in the currency's minor unit)", cur, lo, hi,
                        step == 10 ? " in multiples of 10" : "");
    in->has_price = 1;
    in->price_amount = json_integer_value(a);
    return CH_OK;
}

/* Degrees as a JSON number within [-limit, limit], times 10^7 rounded. */
static int ch__degrees(json_t *v, double limit, int64_t *out)
{
    if (!json_is_number(v))
        return 0;
    double d = json_number_value(v);
    if (!isfinite(d) || d < -limit || d > limit)
        return 0;
    *out = llround(d * 1e7);
    return 1;
}

static ch_err_t ch__location(json_t *body, int partial, ch__listing_input_t *in, ch_fault_t *f)
{
    json_t *l = json_object_get(body, "location");
    if (!l || json_is_null(l)) {
        if (partial && !l)
            return CH_OK;
        return ch_fault(f, CH_EINVAL, "location", "location {lat, lon} is required");
    }
    if (!json_is_object(l) || json_object_size(l) != 2)
        return ch_fault(f, CH_EINVAL, "location", "location must be an object {lat, lon}");
    if (!ch__degrees(json_object_get(l, "lat"), 90, &in->lat_e7))
        return ch_fault(f, CH_EINVAL, "location.lat", "location.lat must be a number from -90 to 90");
    if (!ch__degrees(json_object_get(l, "lon"), 180, &in->lon_e7))
        return ch_fault(f, CH_EINVAL, "location.lon", "location.lon must be a number from -180 to 180");
    in->has_location = 1;
    return CH_OK;
}

static ch_err_t ch__photos(json_t *body, int partial, ch__listing_input_t *in, ch_fault_t *f)
{
    json_t *ph = json_object_get(body, "photos");
    if (!ph && partial)
        return CH_OK;
    if (!json_is_array(ph) || json_array_size(ph) < CH_LISTING_PHOTOS_MIN ||
        json_array_size(ph) > CH_LISTING_PHOTOS_MAX)
        return ch_fault(f, CH_EINVAL, "photos", "photos must be an array of %d to %d https URLs",
                        CH_LISTING_PHOTOS_MIN, CH_LISTING_PHOTOS_MAX);
    size_t i;
    json_t *u;
    json_array_foreach(ph, i, u)
    {
        const char *s = json_string_value(u);
        if (!s || strlen(s) != json_string_length(u) || !ch_text_is_https_url(s, CH_LISTING_PHOTO_URL_MAX))
            return ch_fault(f, CH_EINVAL, ch__photo_fields[i], "%s must be an https URL of at most %d bytes",
                            ch__photo_fields[i], CH_LISTING_PHOTO_URL_MAX);
    }
    in->photos = json_dumps(ph, JSON_COMPACT);
    return in->photos ? CH_OK : ch_fault(f, CH_EINTERNAL, NULL, "out of memory");
}

ch_err_t ch__listing_parse(json_t *body, int partial, const char *currencies, ch__listing_input_t *in, ch_fault_t *f)
{
    memset(in, 0, sizeof(*in));
    unsigned req = partial ? 0 : CH_FIELD_REQUIRED;
    ch_err_t err;
    if (!json_is_object(body))
        return ch_fault(f, CH_EINVAL, "title", "a JSON object is required");
    if ((err = ch_field_only(body, ch__fields, f)) != CH_OK)
        return err;
    if (partial && json_object_size(body) == 0)
        return ch_fault(f, CH_EINVAL, "title", "nothing to change: give at least one of the listing's fields (title, ...)");
    for (size_t i = 0; partial && ch__fields[i]; i++) /* an edit replaces values, never removes one */
        if (json_is_null(json_object_get(body, ch__fields[i])))
            return ch_fault(f, CH_EINVAL, ch__fields[i], "%s cannot be null", ch__fields[i]);
    if ((err = ch_field_text(body, "title", req | CH_FIELD_NONEMPTY, CH_LISTING_TITLE_MAX, &in->title, f)) ||
        (err = ch_field_text(body, "description", CH_FIELD_MULTILINE, CH_LISTING_DESCRIPTION_MAX, &in->description,
                             f)) ||
        (err = ch__price(body, partial, currencies, in, f)) ||
        (err = ch_field_enum(body, "category", req, ch__categories, &in->category, f)) ||
        (err = ch_field_enum(body, "condition", req, ch__conditions, &in->condition, f)) ||
        (err = ch__photos(body, partial, in, f)) || (err = ch__location(body, partial, in, f))) {
        ch__listing_input_clear(in);
        return err;
    }
    return CH_OK;
}

void ch__listing_input_clear(ch__listing_input_t *in)
{
    free(in->photos);
    in->photos = NULL;
}
