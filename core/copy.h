/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming copies: for bytes this CPU writes and does not read again soon
 * (a chunk copied into a peer's mapped memory, a packet's payload landing
 * in a registered region). Streaming (non-temporal) stores skip reading
 * each destination line into the cache before it is overwritten, a third
 * of the memory traffic of a plain copy into cold memory, but only for
 * whole 64-byte lines: a line written in part by them is slower than a
 * plain copy. Streaming stores are weakly ordered; cpn_copy_publish()
 * makes them visible to other CPUs before a completion is signalled. On
 * other architectures these are memcpy and a fence. */
#ifndef CPN_CORE_COPY_H
#define CPN_CORE_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <emmintrin.h>

/** Copy @p n bytes, @p n a multiple of 64, to @p d, 16-byte aligned, with
 *  streaming stores. */
static inline void cpn_copy_stream_lines(uint8_t *d, const uint8_t *s,
                                         size_t n)
{
    size_t i;

    for (i = 0; i < n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i b =
            _mm_loadu_si128((const __m128i *)(const void *)(s + i + 16));
        __m128i c =
            _mm_loadu_si128((const __m128i *)(const void *)(s + i + 32));
        __m128i e =
            _mm_loadu_si128((const __m128i *)(const void *)(s + i + 48));

        _mm_stream_si128((__m128i *)(void *)(d + i), a);
        _mm_stream_si128((__m128i *)(void *)(d + i + 16), b);
        _mm_stream_si128((__m128i *)(void *)(d + i + 32), c);
        _mm_stream_si128((__m128i *)(void *)(d + i + 48), e);
    }
}

/** Make every streaming store this CPU issued visible before the stores
 *  and loads that follow (an sfence). */
static inline void cpn_copy_publish(void)
{
    _mm_sfence();
}
#else
static inline void cpn_copy_stream_lines(uint8_t *d, const uint8_t *s,
                                         size_t n)
{
    memcpy(d, s, n);
}

static inline void cpn_copy_publish(void)
{
    __atomic_thread_fence(__ATOMIC_RELEASE);
}
#endif

/**
 * Copy @p n bytes from @p src to @p dst (not overlapping): the whole
 * 64-byte lines of @p dst with streaming stores, the partial ones at
 * either end with memcpy. Follow with cpn_copy_publish() before another
 * CPU is told the bytes are there.
 */
static inline void cpn_copy_stream(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    size_t head = (size_t)(-(uintptr_t)d & 63u), body;

    if (head > n) {
        head = n;
    }
    if (head > 0) {
        memcpy(d, s, head);
        d += head;
        s += head;
        n -= head;
    }
    body = n & ~(size_t)63;
    cpn_copy_stream_lines(d, s, body);
    if (n > body) {
        memcpy(d + body, s + body, n - body);
    }
}

#endif /* CPN_CORE_COPY_H */
