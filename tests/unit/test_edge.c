/* The HTTP edge's pure parts: framing headers (http/framing.h), JSON media types
 * (http/mediatype.h), addresses and CIDRs (core/netaddr.h), the client address behind
 * trusted proxies (http/clientaddr.h), connection caps (http/connlimit.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/netaddr.h"
#include "http/clientaddr.h"
#include "http/connlimit.h"
#include "http/framing.h"
#include "http/mediatype.h"

/* ---- framing ------------------------------------------------------------------------------ */

static const char *framing(const char *headers)
{
    char head[1024];
    snprintf(head, sizeof(head), "POST /x HTTP/1.1\r\nHost: a\r\n%s\r\nBODY", headers);
    return ch_framing_check_head(head, strlen(head));
}

static void test_framing(void **state)
{
    assert_null(framing(""));
    assert_null(framing("Content-Length: 12\r\n"));
    assert_null(framing("Transfer-Encoding: chunked\r\n"));
    assert_null(framing("transfer-encoding:Chunked\r\n"));
    assert_null(framing("Content-Length: 12\r\ncontent-length: 012\r\n")); /* one length */
    assert_non_null(framing("Content-Length: 12\r\nTransfer-Encoding: chunked\r\n"));
    assert_non_null(framing("Transfer-Encoding: chunked\r\nContent-Length: 12\r\n"));
    assert_non_null(framing("Content-Length: 0\r\nContent-Length: 12\r\n"));
    assert_non_null(framing("Content-Length: 1a\r\n"));
    assert_non_null(framing("Content-Length: -1\r\n"));
    assert_non_null(framing("Content-Length: \r\n"));
    assert_non_null(framing("Transfer-Encoding: gzip, chunked\r\n"));
    assert_non_null(framing("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"));
    assert_non_null(framing("Transfer-Encoding: identity\r\n"));
    /* bare LF line ends (picohttpparser accepts them) */
    const char *lf = "POST /x HTTP/1.1\nContent-Length: 3\nTransfer-Encoding: chunked\n\n";
    assert_non_null(ch_framing_check_head(lf, strlen(lf)));
    /* what follows the blank line is body, not headers */
    const char *body = "POST /x HTTP/1.1\r\nContent-Length: 40\r\n\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_null(ch_framing_check_head(body, strlen(body)));
}

/* ---- media types ---------------------------------------------------------------------------- */

static ch_media_check_t media(const char *ct)
{
    return ch_media_check_json(ct, strlen(ct));
}

static void test_media_type(void **state)
{
    assert_int_equal(media("application/json"), CH_MEDIA_JSON);
    assert_int_equal(media("Application/JSON"), CH_MEDIA_JSON);
    assert_int_equal(media("application/json;charset=utf-8"), CH_MEDIA_JSON);
    assert_int_equal(media("application/json ; CHARSET=\"UTF8\""), CH_MEDIA_JSON);
    assert_int_equal(media("application/json; foo=bar; charset=utf-8"), CH_MEDIA_JSON);
    assert_int_equal(media("application/json; charset=latin1"), CH_MEDIA_BAD_CHARSET);
    assert_int_equal(media("application/json; charset=\"utf-16\""), CH_MEDIA_BAD_CHARSET);
    assert_int_equal(media("application/json; charset=utf-8; charset=koi8-r"), CH_MEDIA_BAD_CHARSET);
    assert_int_equal(media("application/json; charset=utf-8-but-longer-than-any-charset-name"), CH_MEDIA_BAD_CHARSET);
    assert_int_equal(media("application/jsonp"), CH_MEDIA_OTHER);
    assert_int_equal(media("text/plain"), CH_MEDIA_OTHER);
    assert_int_equal(media("application/json; charset"), CH_MEDIA_OTHER);
    assert_int_equal(media("application/json; charset=\"utf-8"), CH_MEDIA_OTHER);
    assert_int_equal(ch_media_check_json(NULL, 0), CH_MEDIA_OTHER);
}

/* ---- addresses ---------------------------------------------------------------------------------- */

static ch_netaddr_t addr(const char *s)
{
    ch_netaddr_t a;
    if (ch_netaddr_parse(s, strlen(s), &a) != 0)
        fail_msg("'%s' did not parse", s);
    return a;
}

static void test_cidr(void **state)
{
    ch_cidr_t list[4];
    assert_int_equal(ch_cidr_parse_list("", list, 4), 0);
    assert_int_equal(ch_cidr_parse_list("10.0.0.0/8, 192.0.2.7 ,2001:db8::/32", list, 4), 3);
    ch_netaddr_t a = addr("10.200.3.4");
    assert_true(ch_cidr_list_contains(list, 3, &a));
    a = addr("11.0.0.1");
    assert_false(ch_cidr_list_contains(list, 3, &a));
    a = addr("192.0.2.7");
    assert_true(ch_cidr_list_contains(list, 3, &a));
    a = addr("192.0.2.8");
    assert_false(ch_cidr_list_contains(list, 3, &a));
    a = addr("2001:db8:ffff::1");
    assert_true(ch_cidr_list_contains(list, 3, &a));
    a = addr("2001:db9::1");
    assert_false(ch_cidr_list_contains(list, 3, &a));
    assert_int_equal(ch_cidr_parse_list("0.0.0.0/0", list, 4), 1);
    a = addr("203.0.113.1");
    assert_true(ch_cidr_list_contains(list, 1, &a));
    a = addr("::1"); /* an IPv4 /0 does not cover IPv6 */
    assert_false(ch_cidr_list_contains(list, 1, &a));
    assert_int_equal(ch_cidr_parse_list("10.0.0.0/12", list, 4), 1); /* host bits are cleared */
    a = addr("10.15.255.255");
    assert_true(ch_cidr_list_contains(list, 1, &a));
    a = addr("10.16.0.0");
    assert_false(ch_cidr_list_contains(list, 1, &a));
    const char *bad[] = {"10.0.0.0/33", "::/129", "10.0.0.1,", ",", "example.com", "10.0.0.0/", "10.0.0.0/x",
                         "1.2.3.4/1000", "a, b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ch_cidr_parse_list(bad[i], list, 4) != -1)
            fail_msg("'%s' parsed", bad[i]);
    assert_int_equal(ch_cidr_parse_list("1.1.1.1,2.2.2.2,3.3.3.3", list, 2), -1); /* over cap */
    char text[CH_NETADDR_STRLEN];
    a = addr("192.0.2.1");
    ch_netaddr_format(&a, text, sizeof(text));
    assert_string_equal(text, "192.0.2.1");
    a = addr("2001:DB8::1");
    ch_netaddr_format(&a, text, sizeof(text));
    assert_string_equal(text, "2001:db8::1");
}

static void pick(const ch_config_t *cfg, const char *peer, const char *xff1, const char *xff2, const char *want)
{
    ch_netaddr_t p = addr(peer), out;
    h2o_iovec_t xff[2];
    size_t n = 0;
    if (xff1)
        xff[n++] = h2o_iovec_init(xff1, strlen(xff1));
    if (xff2)
        xff[n++] = h2o_iovec_init(xff2, strlen(xff2));
    assert_int_equal(ch_client_addr_pick(cfg, &p, xff, n, &out), 0);
    char text[CH_NETADDR_STRLEN];
    ch_netaddr_format(&out, text, sizeof(text));
    if (strcmp(text, want) != 0)
        fail_msg("peer %s, XFF '%s' '%s': got %s, want %s", peer, xff1 ? xff1 : "", xff2 ? xff2 : "", text, want);
}

static void test_client_addr(void **state)
{
    static ch_config_t cfg; /* large; zeroed */
    pick(&cfg, "192.0.2.1", "203.0.113.9", NULL, "192.0.2.1"); /* nothing trusted: the peer */
    cfg.ntrusted_proxies = (size_t)ch_cidr_parse_list("10.0.0.0/8", cfg.trusted_proxies, CH_MAX_TRUSTED_PROXIES);
    pick(&cfg, "192.0.2.1", "203.0.113.9", NULL, "192.0.2.1"); /* untrusted peer */
    pick(&cfg, "10.0.0.1", "203.0.113.9", NULL, "203.0.113.9");
    pick(&cfg, "10.0.0.1", NULL, NULL, "10.0.0.1");
    pick(&cfg, "10.0.0.1", "1.1.1.1, 203.0.113.9, 10.1.1.1", NULL, "203.0.113.9"); /* rightmost untrusted */
    pick(&cfg, "10.0.0.1", "1.1.1.1", "203.0.113.9, 10.1.1.1", "203.0.113.9"); /* across headers */
    pick(&cfg, "10.0.0.1", "10.2.2.2, 10.1.1.1", NULL, "10.2.2.2"); /* all trusted: the leftmost */
    pick(&cfg, "10.0.0.1", "1.1.1.1, garbage", NULL, "10.0.0.1"); /* garbage stops the walk */
    pick(&cfg, "10.0.0.1", "1.1.1.1, garbage, 10.3.3.3", NULL, "10.3.3.3");
    pick(&cfg, "10.0.0.1", "203.0.113.9,,  ", NULL, "203.0.113.9"); /* empty elements say nothing */
    pick(&cfg, "10.0.0.1", "[2001:db8::5]:443", NULL, "2001:db8::5");
    pick(&cfg, "10.0.0.1", "203.0.113.9:5555", NULL, "203.0.113.9");
    pick(&cfg, "10.0.0.1", "2001:db8::7", NULL, "2001:db8::7");
}

/* ---- connection caps -------------------------------------------------------------------------- */

static void test_connlimit(void **state)
{
    ch_connlimit_t *cl = ch_connlimit_create(2, 5);
    ch_netaddr_t a = addr("192.0.2.1"), b = addr("192.0.2.2"), p = addr("10.0.0.1");
    assert_int_equal(ch_connlimit_acquire(cl, &a, 0), CH_CONN_ADMITTED);
    assert_int_equal(ch_connlimit_acquire(cl, &a, 0), CH_CONN_ADMITTED);
    assert_int_equal(ch_connlimit_acquire(cl, &a, 0), CH_CONN_REFUSED_PER_ADDR);
    assert_int_equal(ch_connlimit_acquire(cl, &b, 0), CH_CONN_ADMITTED);
    assert_int_equal(ch_connlimit_total(cl), 3);
    assert_int_equal(ch_connlimit_addresses(cl), 2);
    assert_int_equal(ch_connlimit_acquire(cl, &p, 1), CH_CONN_ADMITTED); /* exempt: per-address cap */
    assert_int_equal(ch_connlimit_acquire(cl, &p, 1), CH_CONN_ADMITTED);
    assert_int_equal(ch_connlimit_acquire(cl, &p, 1), CH_CONN_REFUSED_GLOBAL); /* but not the total */
    assert_int_equal(ch_connlimit_acquire(cl, &b, 0), CH_CONN_REFUSED_GLOBAL);
    ch_connlimit_release(cl, &a, 0);
    assert_int_equal(ch_connlimit_acquire(cl, &b, 0), CH_CONN_ADMITTED);
    ch_connlimit_release(cl, &a, 0);
    assert_int_equal(ch_connlimit_addresses(cl), 1); /* a's entry is gone at 0 */
    ch_connlimit_release(cl, &b, 0);
    ch_connlimit_release(cl, &b, 0);
    ch_connlimit_release(cl, &p, 1);
    ch_connlimit_release(cl, &p, 1);
    assert_int_equal(ch_connlimit_total(cl), 0);
    assert_int_equal(ch_connlimit_addresses(cl), 0);
    ch_connlimit_destroy(cl);

    /* IPv6 is counted by /64 */
    cl = ch_connlimit_create(2, 100);
    ch_netaddr_t v6a = addr("2001:db8:1:2::1"), v6b = addr("2001:db8:1:2:ffff::9"), v6c = addr("2001:db8:1:3::1");
    assert_int_equal(ch_connlimit_acquire(cl, &v6a, 0), CH_CONN_ADMITTED);
    assert_int_equal(ch_connlimit_acquire(cl, &v6b, 0), CH_CONN_ADMITTED);
    assert_int_equal(ch_connlimit_acquire(cl, &v6a, 0), CH_CONN_REFUSED_PER_ADDR);
    assert_int_equal(ch_connlimit_acquire(cl, &v6c, 0), CH_CONN_ADMITTED);
    ch_connlimit_release(cl, &v6a, 0);
    ch_connlimit_release(cl, &v6b, 0);
    ch_connlimit_release(cl, &v6c, 0);
    assert_int_equal(ch_connlimit_addresses(cl), 0);
    ch_connlimit_destroy(cl);

    /* many addresses: the table grows and empties again */
    cl = ch_connlimit_create(1, 100000);
    for (unsigned i = 0; i < 5000; i++) {
        ch_netaddr_t x = addr("2001:db8::");
        x.b[6] = (uint8_t)(i >> 8);
        x.b[7] = (uint8_t)i;
        assert_int_equal(ch_connlimit_acquire(cl, &x, 0), CH_CONN_ADMITTED);
        assert_int_equal(ch_connlimit_acquire(cl, &x, 0), CH_CONN_REFUSED_PER_ADDR);
    }
    assert_int_equal(ch_connlimit_addresses(cl), 5000);
    for (unsigned i = 0; i < 5000; i++) {
        ch_netaddr_t x = addr("2001:db8::");
        x.b[6] = (uint8_t)(i >> 8);
        x.b[7] = (uint8_t)i;
        ch_connlimit_release(cl, &x, 0);
    }
    assert_int_equal(ch_connlimit_addresses(cl), 0);
    assert_int_equal(ch_connlimit_total(cl), 0);
    ch_connlimit_destroy(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),   cmocka_unit_test(test_media_type), cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_client_addr), cmocka_unit_test(test_connlimit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
