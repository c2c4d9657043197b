/* SPDX-License-Identifier: Apache-2.0 */
/* Checksums on libxxhash's XXH3: a 64-bit hash per chunk, and a 128-bit
 * digest per object. The object digest is XXH3-128 over the object's chunk
 * size and its chunk hashes in order (a one-level hash list), so receivers
 * verify whole objects without a second pass over the data, and a missing,
 * repeated or reordered chunk changes it. */
#ifndef CPN_CORE_CHECKSUM_H
#define CPN_CORE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

typedef struct cpn_digest {
    uint64_t hi;
    uint64_t lo;
} cpn_digest_t;

/** XXH3-64 of @p len bytes, seed 0. @p data may be NULL if @p len is 0.
 *  Thread-safe. */
uint64_t cpn_hash64(const void *data, size_t len);

/**
 * Copy @p len bytes from @p src to @p dst and return XXH3-64 of them (seed
 * 0), equal to cpn_hash64(@p src, @p len), in one pass over @p src: each
 * block is hashed, then copied while it is still in the first-level cache.
 * For a destination the CPU writes itself (shared memory of a peer), this
 * costs about what the copy alone does. The ranges must not overlap.
 * Thread-safe.
 */
uint64_t cpn_hash64_copy(void *dst, const void *src, size_t len);

/** An XXH3-64 hash taken in pieces (seed 0): after cpn_hash64_reset(), the
 *  digest of updates with the pieces of some bytes in order equals
 *  cpn_hash64() of them. Opaque; one thread at a time. */
typedef struct cpn_hash_state cpn_hash_state_t;

/** A new state (aligned as XXH3 wants), reset; NULL when out of memory. */
cpn_hash_state_t *cpn_hash64_state_new(void);

/** Free @p st (NULL is fine). */
void cpn_hash64_state_free(cpn_hash_state_t *st);

/** Start over: nothing hashed. */
void cpn_hash64_reset(cpn_hash_state_t *st);

/** Add the next @p len bytes at @p data (NULL if @p len is 0). */
void cpn_hash64_update(cpn_hash_state_t *st, const void *data, size_t len);

/** The hash of everything added since the reset; @p st may go on. */
uint64_t cpn_hash64_digest(const cpn_hash_state_t *st);

/** XXH3-128 of @p len bytes, seed 0 (hi = its high64, lo = its low64).
 *  Thread-safe. */
cpn_digest_t cpn_hash128(const void *data, size_t len);

/**
 * An object's digest: XXH3-128 over the little-endian encoding of
 * (object size, chunk size, hash[0], ..., hash[n-1]), each 8 bytes.
 * Does not allocate; thread-safe. @p hash may be NULL if @p n is 0.
 */
cpn_digest_t cpn_object_digest(uint64_t size, uint64_t chunk_size,
                               const uint64_t *hash, size_t n);

/** Equality of two digests. */
static inline int cpn_digest_eq(cpn_digest_t a, cpn_digest_t b)
{
    return a.hi == b.hi && a.lo == b.lo;
}

#endif /* CPN_CORE_CHECKSUM_H */
