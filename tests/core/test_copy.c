/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming copies (core/copy.h): every destination alignment and every
 * length around the 64-byte lines they stream whole lands the exact bytes,
 * and nothing before or after the destination is touched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/copy.h"

#define PAD 192 /* guard bytes each side of the destination */

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    uint32_t x = 2654435761u * (seed + 1);

    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
}

/* Copy @p len bytes to a destination @p dalign bytes past a line boundary
 * from a source @p salign bytes past one, and check both the bytes and the
 * guards. */
static void check(size_t len, size_t dalign, size_t salign)
{
    uint8_t *src = aligned_alloc(64, (len + salign + 127) / 64 * 64);
    uint8_t *buf = aligned_alloc(64, (len + dalign + 2 * PAD + 63) / 64 * 64);
    uint8_t *dst = buf + PAD + dalign;

    cr_assert(src != NULL && buf != NULL);
    fill(src + salign, len, (unsigned)(len * 131 + dalign * 7 + salign));
    memset(buf, 0xEE, len + dalign + 2 * PAD);
    cpn_copy_stream(dst, src + salign, len);
    cpn_copy_publish();
    cr_assert(memcmp(dst, src + salign, len) == 0,
              "%zu bytes to +%zu from +%zu: data differ", len, dalign,
              salign);
    for (size_t i = 0; i < PAD + dalign; i++) {
        cr_assert_eq(buf[i], 0xEE, "%zu bytes to +%zu: byte %zu before it "
                     "written", len, dalign, PAD + dalign - i);
    }
    for (size_t i = PAD + dalign + len; i < len + dalign + 2 * PAD; i++) {
        cr_assert_eq(buf[i], 0xEE, "%zu bytes to +%zu: byte %zu after it "
                     "written", len, dalign, i - (PAD + dalign + len));
    }
    free(src);
    free(buf);
}

Test(copy, every_alignment_and_length_around_a_line)
{
    static const size_t lens[] = {0,   1,   15,  16,  63,   64,   65,   127,
                                  128, 129, 191, 256, 1344, 1364, 4133, 8832};

    for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
        for (size_t d = 0; d < 64; d++) {
            check(lens[l], d, (d * 5) % 64);
        }
    }
}

Test(copy, large_copy_from_unaligned_source)
{
    check((size_t)3 << 20, 0, 1);
    check(((size_t)3 << 20) + 17, 33, 62);
}
