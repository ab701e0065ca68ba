/* The gateway's own frame writer (gateway/ws_dormant.c, used while a connection is dormant
 * and for the hello written with the 101): RFC 6455 5.2 header of an unmasked final frame at
 * the length boundaries (7-bit, 16-bit and 64-bit lengths), checked byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_internal.h"

static void test_seven_bit_lengths(void **state)
{
    (void)state;
    uint8_t h[10];
    assert_int_equal(ch__ws_frame_header(h, WSLAY_TEXT_FRAME, 0), 2);
    assert_int_equal(h[0], 0x81); /* FIN, text */
    assert_int_equal(h[1], 0);    /* unmasked, length 0 */
    assert_int_equal(ch__ws_frame_header(h, WSLAY_PING, 0), 2);
    assert_int_equal(h[0], 0x89);
    assert_int_equal(ch__ws_frame_header(h, WSLAY_TEXT_FRAME, 125), 2);
    assert_int_equal(h[1], 125);
}

static void test_sixteen_bit_lengths(void **state)
{
    (void)state;
    uint8_t h[10];
    assert_int_equal(ch__ws_frame_header(h, WSLAY_TEXT_FRAME, 126), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2], 0);
    assert_int_equal(h[3], 126);
    assert_int_equal(ch__ws_frame_header(h, WSLAY_TEXT_FRAME, 65535), 4);
    assert_int_equal(h[2], 0xff);
    assert_int_equal(h[3], 0xff);
}

static void test_sixty_four_bit_lengths(void **state)
{
    (void)state;
    uint8_t h[10];
    assert_int_equal(ch__ws_frame_header(h, WSLAY_TEXT_FRAME, 65536), 10);
    assert_int_equal(h[1], 127);
    static const uint8_t want[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    assert_memory_equal(h + 2, want, 8);
    assert_int_equal(ch__ws_frame_header(h, WSLAY_TEXT_FRAME, 0x0102030405ull), 10);
    static const uint8_t big[8] = {0, 0, 0, 1, 2, 3, 4, 5};
    assert_memory_equal(h + 2, big, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seven_bit_lengths),
        cmocka_unit_test(test_sixteen_bit_lengths),
        cmocka_unit_test(test_sixty_four_bit_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
