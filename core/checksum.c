/* SPDX-License-Identifier: Apache-2.0 */
/* Chunk hashes and object digests on libxxhash's XXH3 (seed 0). The object
 * digest hashes a little-endian encoding written out byte by byte, so it is
 * the same on every host whatever its byte order. It never touches the
 * heap: a short hash list is encoded into a stack buffer and hashed in one
 * call; a long one is fed through an XXH3 streaming state, also on the
 * stack, one buffer at a time. Both give the same digest, as XXH3's
 * streaming and one-shot forms agree by design. */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t, to keep it on the stack */
#include "core/checksum.h"

#include "core/compiler.h"
#include "core/copy.h"

#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
/* libxxhash's run-time dispatch: XXH3 on AVX2/AVX-512 where the CPU has it,
 * about three times the SSE2 baseline the library is compiled for. */
#include <xxh_x86dispatch.h>
#include <cpuid.h>

/* libxxhash's AVX2 code returns with the upper halves of the YMM registers
 * dirty (Debian's build has no vzeroupper on its way out). The SSE code
 * that runs next here is legacy-encoded: DPDK's rte_memcpy and PMD copies,
 * cpn's own streaming copy, all built for the x86-64 baseline. Each switch
 * from dirty AVX state to such code stalls: a 1440-byte hash then a
 * 1440-byte SSE copy took 233-251 ns here against 58 + 57 ns apart, and
 * 114 ns with a vzeroupper between them. So every call into the
 * dispatched functions is followed by one, where the CPU has AVX (the
 * instruction faults without it; probed once when the library loads). */
static int cpn_avx; /* the CPU and the OS have AVX: set once, at load */

/* CPUID says AVX, and the OS saves YMM state (XCR0 bits 1 and 2). */
__attribute__((constructor)) static void cpn_avx_probe(void)
{
    unsigned a, b, c, d, lo, hi;

    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) ||
        !(c & bit_AVX)) {
        return;
    }
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    cpn_avx = (lo & 6u) == 6u;
}

static inline void cpn_avx_clean(void)
{
    if (cpn_avx) {
        __asm__ volatile("vzeroupper");
    }
}
#else
static inline void cpn_avx_clean(void)
{
}
#endif

/* Hashes encoded per buffer: 64 * 8 bytes, plus the 16-byte header. */
#define CPN_DIGEST_BATCH 64

static inline void cpn_put_le64(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

uint64_t cpn_hash64(const void *data, size_t len)
{
    uint64_t h = XXH3_64bits(data, len);

    cpn_avx_clean();
    return h;
}

/* Block of cpn_hash64_copy: well inside L1d, so the copy reads what the
 * hash just brought in, and small enough that the hash's arithmetic and the
 * copy's memory traffic overlap (4 KiB beat 16 and 64 KiB here: 9-10 GB/s
 * against 7-8, with streaming stores reaching 12 alone). */
#define CPN_HASH_COPY_BLOCK (4u * 1024u)

uint64_t cpn_hash64_copy(void *dst, const void *src, size_t len)
{
    const uint8_t *s = src;
    uint8_t *d = dst;
    XXH3_state_t state;
    size_t off = 0, n;

    if (len <= CPN_HASH_COPY_BLOCK) {
        if (len > 0) {
            memcpy(d, s, len);
        }
        return cpn_hash64(s, len); /* in cache now */
    }
    XXH3_INITSTATE(&state);
    XXH3_64bits_reset(&state);
    for (; off < len; off += n) {
        size_t next = off + CPN_HASH_COPY_BLOCK, end, i;

        n = CPN_MIN(len - off, (size_t)CPN_HASH_COPY_BLOCK);
        /* Ask for the next block now, so its reads overlap this block's
         * stores instead of following them. */
        end = CPN_MIN(len, next + CPN_HASH_COPY_BLOCK);
        for (i = next; i < end; i += 64) {
            __builtin_prefetch(s + i, 0, 3);
        }
        XXH3_64bits_update(&state, s + off, n);
        cpn_avx_clean();
        cpn_copy_stream(d + off, s + off, n);
    }
    cpn_copy_publish(); /* streaming stores are weakly ordered */
    return XXH3_64bits_digest(&state);
}

struct cpn_hash_state {
    XXH3_state_t xxh;
};

cpn_hash_state_t *cpn_hash64_state_new(void)
{
    /* XXH3_createState aligns the state as XXH3's vector code needs */
    cpn_hash_state_t *st = (cpn_hash_state_t *)(void *)XXH3_createState();

    if (st != NULL) {
        cpn_hash64_reset(st);
    }
    return st;
}

void cpn_hash64_state_free(cpn_hash_state_t *st)
{
    if (st != NULL) {
        XXH3_freeState(&st->xxh);
    }
}

void cpn_hash64_reset(cpn_hash_state_t *st)
{
    XXH3_64bits_reset(&st->xxh);
}

void cpn_hash64_update(cpn_hash_state_t *st, const void *data, size_t len)
{
    XXH3_64bits_update(&st->xxh, data, len);
    cpn_avx_clean();
}

uint64_t cpn_hash64_digest(const cpn_hash_state_t *st)
{
    uint64_t h = XXH3_64bits_digest(&st->xxh);

    cpn_avx_clean();
    return h;
}

static cpn_digest_t cpn_digest_from_xxh(XXH128_hash_t h)
{
    cpn_digest_t d = {.hi = h.high64, .lo = h.low64};

    return d;
}

cpn_digest_t cpn_hash128(const void *data, size_t len)
{
    cpn_digest_t d = cpn_digest_from_xxh(XXH3_128bits(data, len));

    cpn_avx_clean();
    return d;
}

cpn_digest_t cpn_object_digest(uint64_t size, uint64_t chunk_size,
                               const uint64_t *hash, size_t n)
{
    unsigned char buf[16 + 8 * CPN_DIGEST_BATCH];
    XXH3_state_t state;
    size_t i, used;

    cpn_put_le64(buf, size);
    cpn_put_le64(buf + 8, chunk_size);
    used = 16;

    if (n <= CPN_DIGEST_BATCH) {
        for (i = 0; i < n; i++) {
            cpn_put_le64(buf + 16 + 8 * i, hash[i]);
        }
        return cpn_hash128(buf, 16 + 8 * n);
    }

    XXH3_INITSTATE(&state);
    XXH3_128bits_reset(&state);
    for (i = 0; i < n; i++) {
        if (used + 8 > sizeof(buf)) {
            XXH3_128bits_update(&state, buf, used);
            used = 0;
        }
        cpn_put_le64(buf + used, hash[i]);
        used += 8;
    }
    XXH3_128bits_update(&state, buf, used);
    cpn_avx_clean();
    return cpn_digest_from_xxh(XXH3_128bits_digest(&state));
}
