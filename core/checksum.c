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

#include <xxhash.h>

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
    return XXH3_64bits(data, len);
}

static cpn_digest_t cpn_digest_from_xxh(XXH128_hash_t h)
{
    cpn_digest_t d = {.hi = h.high64, .lo = h.low64};

    return d;
}

cpn_digest_t cpn_hash128(const void *data, size_t len)
{
    return cpn_digest_from_xxh(XXH3_128bits(data, len));
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
    return cpn_digest_from_xxh(XXH3_128bits_digest(&state));
}
