/* SPDX-License-Identifier: Apache-2.0 */
/* Checksums: cpn_hash64/cpn_hash128 give XXH3's published answers, and the
 * object digest is XXH3-128 of its documented little-endian encoding, on
 * both its short (one-shot) and long (streaming) paths, and changes when a
 * chunk hash is swapped, removed or repeated; a hash taken in pieces
 * equals the hash of the whole; and every hash returns with the AVX state
 * clean (x86-64). */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/checksum.h"

/*
 * Test vectors: xxHash's own sanity check, the seed-0 rows of
 * XSUM_XXH3_testdata and XSUM_XXH128_testdata in cli/xsum_sanity_check.c of
 *   https://github.com/Cyan4973/xxHash
 *   at commit 08ae0257300ddde62ccca5b0765d66bc7a2fc1b4
 * (later releases keep the same rows in tests/sanity_test_vectors.h). The
 * input is the first len bytes of xxHash's test buffer, as its
 * XSUM_fillTestBuffer() makes it: start from PRIME32, take the top byte,
 * multiply by PRIME64, repeat. Rows with a non-zero seed are left out: cpn
 * always hashes with seed 0. The 128-bit rows are { low64, high64 }, in
 * XXH128_hash_t's field order.
 */
#define XSUM_PRIME32     2654435761U
#define XSUM_PRIME64     11400714785074694797ULL
#define XSUM_BUFFER_SIZE 2367

static const struct {
    size_t len;
    uint64_t hash;
} xxh3_64_vectors[] = {
    {0, 0x2D06800538D394C2ULL},    {1, 0xC44BDFF4074EECDBULL},
    {6, 0x27B56A84CD2D7325ULL},    {12, 0xA713DAF0DFBB77E7ULL},
    {24, 0xA3FE70BF9D3510EBULL},   {48, 0x397DA259ECBA1F11ULL},
    {80, 0xBCDEFBBB2C47C90AULL},   {195, 0xCD94217EE362EC3AULL},
    {403, 0xCDEB804D65C6DEA4ULL},  {512, 0x617E49599013CB6BULL},
    {2048, 0xDD59E2C3A5F038E0ULL}, {2240, 0x6E73A90539CF2948ULL},
    {2367, 0xCB37AEB9E5D361EDULL},
};

static const struct {
    size_t len;
    uint64_t low64, high64;
} xxh3_128_vectors[] = {
    {0, 0x6001C324468D497FULL, 0x99AA06D3014798D8ULL},
    {1, 0xC44BDFF4074EECDBULL, 0xA6CD5E9392000F6AULL},
    {6, 0x3E7039BDDA43CFC6ULL, 0x082AFE0B8162D12AULL},
    {12, 0x061A192713F69AD9ULL, 0x6E3EFD8FC7802B18ULL},
    {24, 0x1E7044D28B1B901DULL, 0x0CE966E4678D3761ULL},
    {48, 0xF942219AED80F67BULL, 0xA002AC4E5478227EULL},
    {81, 0x5E8BAFB9F95FB803ULL, 0x4952F58181AB0042ULL},
    {222, 0xF1AEBD597CEC6B3AULL, 0x337E09641B948717ULL},
    {403, 0xCDEB804D65C6DEA4ULL, 0x1B6DE21E332DD73DULL},
    {512, 0x617E49599013CB6BULL, 0x18D2D110DCC9BCA1ULL},
    {2048, 0xDD59E2C3A5F038E0ULL, 0xF736557FD47073A5ULL},
    {2240, 0x6E73A90539CF2948ULL, 0xCCB134FBFA7CE49DULL},
    {2367, 0xCB37AEB9E5D361EDULL, 0xE89C0F6FF369B427ULL},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* xxHash's test buffer generator, as described above. */
static void fill_test_buffer(uint8_t *buf, size_t len)
{
    uint64_t gen = XSUM_PRIME32;
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t)(gen >> 56);
        gen *= XSUM_PRIME64;
    }
}

Test(checksum, xxh3_64_published_vectors)
{
    uint8_t *buf = malloc(XSUM_BUFFER_SIZE);
    size_t i;

    cr_assert_not_null(buf);
    fill_test_buffer(buf, XSUM_BUFFER_SIZE);
    for (i = 0; i < NELEM(xxh3_64_vectors); i++) {
        size_t len = xxh3_64_vectors[i].len;

        cr_expect_eq(cpn_hash64(len != 0 ? buf : NULL, len),
                     xxh3_64_vectors[i].hash, "len %zu", len);
    }
    free(buf);
}

Test(checksum, xxh3_128_published_vectors)
{
    uint8_t *buf = malloc(XSUM_BUFFER_SIZE);
    size_t i;

    cr_assert_not_null(buf);
    fill_test_buffer(buf, XSUM_BUFFER_SIZE);
    for (i = 0; i < NELEM(xxh3_128_vectors); i++) {
        size_t len = xxh3_128_vectors[i].len;
        cpn_digest_t d = cpn_hash128(len != 0 ? buf : NULL, len);

        cr_expect_eq(d.lo, xxh3_128_vectors[i].low64, "lo, len %zu", len);
        cr_expect_eq(d.hi, xxh3_128_vectors[i].high64, "hi, len %zu", len);
    }
    free(buf);
}

/* The documented encoding, built independently of the library. */
static cpn_digest_t reference_digest(uint64_t size, uint64_t chunk,
                                     const uint64_t *hash, size_t n)
{
    size_t len = 16 + 8 * n, i;
    uint8_t *buf = malloc(len);
    cpn_digest_t d;
    int b;

    cr_assert_not_null(buf);
    for (b = 0; b < 8; b++) {
        buf[b] = (uint8_t)(size >> (8 * b));
        buf[8 + b] = (uint8_t)(chunk >> (8 * b));
    }
    for (i = 0; i < n; i++) {
        for (b = 0; b < 8; b++) {
            buf[16 + 8 * i + (size_t)b] = (uint8_t)(hash[i] >> (8 * b));
        }
    }
    d = cpn_hash128(buf, len);
    free(buf);
    return d;
}

Test(checksum, digest_encoding_is_little_endian)
{
    static const uint8_t bytes[24] = {
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* size */
        0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, /* chunk: 4 MiB */
        0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, /* hash[0] */
    };
    const uint64_t hash[1] = {0x0123456789abcdefULL};
    cpn_digest_t got =
        cpn_object_digest(0x0102030405060708ULL, 4u << 20, hash, 1);

    cr_expect(cpn_digest_eq(got, cpn_hash128(bytes, sizeof(bytes))));
}

Test(checksum, digest_of_no_chunks)
{
    cpn_digest_t got = cpn_object_digest(0, 1 << 20, NULL, 0);

    cr_expect(cpn_digest_eq(got, reference_digest(0, 1 << 20, NULL, 0)));
    cr_expect_not(cpn_digest_eq(got, cpn_object_digest(0, 2 << 20, NULL, 0)));
}

Test(checksum, digest_short_and_long_paths_match_reference)
{
    /* around the implementation's batch of 64 hashes, and well past it */
    static const size_t counts[] = {1, 2, 63, 64, 65, 127, 128, 129, 1000};
    uint64_t *hash = malloc(1000 * sizeof(*hash));
    size_t i;

    cr_assert_not_null(hash);
    for (i = 0; i < 1000; i++) {
        hash[i] = cpn_hash64(&i, sizeof(i));
    }
    for (i = 0; i < NELEM(counts); i++) {
        size_t n = counts[i];
        uint64_t size = (uint64_t)n * 4096 - 17;

        cr_expect(cpn_digest_eq(cpn_object_digest(size, 4096, hash, n),
                                reference_digest(size, 4096, hash, n)),
                  "n = %zu", n);
    }
    free(hash);
}

Test(checksum, digest_sees_swapped_removed_repeated_chunks)
{
    enum { N = 100 }; /* long enough for the streaming path */
    uint64_t hash[N + 1], alt[N + 1];
    const uint64_t size = N * 65536;
    cpn_digest_t base;
    size_t i;

    for (i = 0; i < N; i++) {
        hash[i] = cpn_hash64(&i, sizeof(i));
    }
    base = cpn_object_digest(size, 65536, hash, N);
    cr_expect(cpn_digest_eq(base, cpn_object_digest(size, 65536, hash, N)));

    /* swapped: chunk 3 and 70 trade places */
    memcpy(alt, hash, sizeof(hash));
    alt[3] = hash[70];
    alt[70] = hash[3];
    cr_expect_not(cpn_digest_eq(base, cpn_object_digest(size, 65536, alt, N)));

    /* swapped in the short path too */
    cr_expect_not(cpn_digest_eq(cpn_object_digest(size, 65536, hash, 4),
                                cpn_object_digest(size, 65536, alt, 4)));

    /* removed: chunk 50 missing, the rest shifted down */
    memcpy(alt, hash, 50 * sizeof(hash[0]));
    memcpy(alt + 50, hash + 51, (N - 51) * sizeof(hash[0]));
    cr_expect_not(
        cpn_digest_eq(base, cpn_object_digest(size, 65536, alt, N - 1)));

    /* removed: the last chunk */
    cr_expect_not(
        cpn_digest_eq(base, cpn_object_digest(size, 65536, hash, N - 1)));

    /* repeated: chunk 10 twice, in place of chunk 11 and as an extra */
    memcpy(alt, hash, sizeof(hash));
    alt[11] = hash[10];
    cr_expect_not(cpn_digest_eq(base, cpn_object_digest(size, 65536, alt, N)));
    memcpy(alt, hash, 11 * sizeof(hash[0]));
    alt[11] = hash[10];
    memcpy(alt + 12, hash + 11, (N - 11) * sizeof(hash[0]));
    cr_expect_not(
        cpn_digest_eq(base, cpn_object_digest(size, 65536, alt, N + 1)));

    /* the object size and chunk size are covered too */
    cr_expect_not(
        cpn_digest_eq(base, cpn_object_digest(size - 1, 65536, hash, N)));
    cr_expect_not(cpn_digest_eq(base, cpn_object_digest(size, 32768, hash, N)));
}

/* cpn_hash64_copy copies exactly the bytes asked for and hashes them as
 * cpn_hash64 does: every size class (empty, one block, streamed blocks with
 * a tail not a multiple of 64) and aligned and misaligned ends. */
Test(checksum, hash_copy_copies_and_hashes_like_hash64)
{
    static const size_t sizes[] = {
        0,     1,     63,    4095,  4096,        4097,           64,
        16383, 16384, 16385, 65536, 65536 + 100, (1u << 20) + 7, 3u << 20};
    static const size_t shifts[] = {0, 1, 8, 16, 63};
    size_t max = (3u << 20) + 128;
    uint8_t *src = malloc(max), *dst = malloc(max + 128);
    size_t i, k, j;

    cr_assert(src != NULL && dst != NULL);
    for (j = 0; j < max; j++) {
        src[j] = (uint8_t)(j * 2654435761u >> 13);
    }
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (k = 0; k < sizeof(shifts) / sizeof(shifts[0]); k++) {
            size_t len = sizes[i], sh = shifts[k];
            uint64_t h;

            memset(dst, 0xEE, max + 128);
            h = cpn_hash64_copy(dst + sh, src + (sh ^ 1), len);
            cr_expect_eq(h, cpn_hash64(src + (sh ^ 1), len),
                         "hash differs: %zu bytes, shift %zu", len, sh);
            cr_expect(memcmp(dst + sh, src + (sh ^ 1), len) == 0,
                      "copy differs: %zu bytes, shift %zu", len, sh);
            for (j = 0; j < sh; j++) {
                cr_expect_eq(dst[j], 0xEE, "wrote before the destination");
            }
            for (j = sh + len; j < sh + len + 64; j++) {
                cr_expect_eq(dst[j], 0xEE, "wrote past the destination");
            }
        }
    }
    free(src);
    free(dst);
}

/* A hash taken in pieces (frame payloads of 1344 and 8832 bytes, odd
 * ones, one byte at a time) equals the one-shot hash of the whole, on
 * XXH3's short, medium and long paths; a reset starts over. */
Test(checksum, hash_in_pieces_equals_hash_of_the_whole)
{
    static const size_t lens[] = {0, 1, 17, 129, 240, 241, 1344, 4096,
                                  8832 * 3 + 5, 256 * 1024};
    static const size_t pieces[] = {1, 7, 64, 1344, 8832, 100000};
    cpn_hash_state_t *st = cpn_hash64_state_new();
    uint8_t *buf = malloc(256 * 1024);

    cr_assert(st != NULL && buf != NULL);
    for (size_t i = 0; i < 256 * 1024; i++) {
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    }
    for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
        for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
            if (lens[l] > 20000 && pieces[p] < 64) {
                continue; /* slow, and nothing the others miss */
            }
            cpn_hash64_reset(st);
            for (size_t off = 0; off < lens[l]; off += pieces[p]) {
                size_t n = lens[l] - off < pieces[p] ? lens[l] - off
                                                     : pieces[p];

                cpn_hash64_update(st, buf + off, n);
            }
            cr_assert_eq(cpn_hash64_digest(st), cpn_hash64(buf, lens[l]),
                         "%zu bytes in pieces of %zu", lens[l], pieces[p]);
        }
    }
    cpn_hash64_state_free(st);
    cpn_hash64_state_free(NULL);
    free(buf);
}

#if defined(__x86_64__)
#include <cpuid.h>

/* XINUSE (XGETBV with ECX = 1), or 0 with *ok = 0 where the CPU cannot
 * say. Its bit 2 is set while the upper halves of the YMM registers are
 * dirty. */
static uint64_t xinuse(int *ok)
{
    unsigned a, b, c, d, lo, hi;

    *ok = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) ||
        !(c & bit_AVX) || __get_cpuid_max(0, NULL) < 0xd) {
        return 0;
    }
    __cpuid_count(0xd, 1, a, b, c, d);
    if (!(a & (1u << 2))) {
        return 0;
    }
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
    *ok = 1;
    return ((uint64_t)hi << 32) | lo;
}

/* The hashes return with the YMM uppers clean: libxxhash's AVX2 code does
 * not clear them, and the legacy-SSE copies that follow (DPDK's) would
 * stall on every frame. */
Test(checksum, hashes_leave_no_dirty_avx_state)
{
    static uint8_t src[64 * 1024], dst[64 * 1024];
    uint64_t hashes[100];
    int ok;
    size_t i;

    memset(src, 0x5c, sizeof(src));
    for (i = 0; i < 100; i++) {
        hashes[i] = i * 0x9E3779B97F4A7C15ull;
    }
    (void)xinuse(&ok);
    if (!ok) {
        cr_skip_test("this CPU cannot report its AVX state (XGETBV 1)");
    }
    (void)cpn_hash64(src, sizeof(src));
    cr_assert_eq(xinuse(&ok) & 4, 0, "YMM dirty after cpn_hash64");
    (void)cpn_hash64_copy(dst, src, sizeof(src));
    cr_assert_eq(xinuse(&ok) & 4, 0, "YMM dirty after cpn_hash64_copy");
    (void)cpn_hash128(src, sizeof(src));
    cr_assert_eq(xinuse(&ok) & 4, 0, "YMM dirty after cpn_hash128");
    (void)cpn_object_digest(100ull << 20, 1u << 20, hashes, 100);
    cr_assert_eq(xinuse(&ok) & 4, 0, "YMM dirty after cpn_object_digest");
    {
        cpn_hash_state_t *st = cpn_hash64_state_new();

        cr_assert_not_null(st);
        cpn_hash64_update(st, src, sizeof(src));
        cr_assert_eq(xinuse(&ok) & 4, 0, "YMM dirty after cpn_hash64_update");
        (void)cpn_hash64_digest(st);
        cr_assert_eq(xinuse(&ok) & 4, 0, "YMM dirty after cpn_hash64_digest");
        cpn_hash64_state_free(st);
    }
}
#endif
