/* SPDX-License-Identifier: Apache-2.0 */
/* The wire format: every message type round-trips with representative and
 * edge values; the byte layout is pinned by a golden frame; every truncated
 * prefix, every wrong header and every over-limit field is refused with a
 * status; and seeded random corruptions of each type never crash a decoder
 * (frames live in heap blocks of their exact size, so a sanitizer build
 * catches any read past the end) and either decode to something that
 * re-encodes to the very same bytes, or are refused. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/compiler.h"
#include "runtime/wire.h"

/* Hot loops test with this rather than cr_assert, which reports every
 * passing assertion to the runner. */
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            cr_assert_fail(__VA_ARGS__);                                      \
        }                                                                     \
    } while (0)

/* ---- helpers ---- */

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rng_below(size_t n)
{
    return n ? (size_t)(rng() % n) : 0;
}

static cpn_wire_str_t str_n(const char *p, size_t len)
{
    cpn_wire_str_t s = { .ptr = p, .len = len };
    return s;
}

static int str_is(cpn_wire_str_t s, const char *want)
{
    size_t n = strlen(want);
    return s.len == n && (n == 0 || memcmp(s.ptr, want, n) == 0);
}

/* A heap block of @p n bytes filled with @p c (never NULL). */
static char *filled(size_t n, char c)
{
    char *p = malloc(n ? n : 1);

    cr_assert_not_null(p);
    memset(p, c, n);
    return p;
}

/* A copy of @p len bytes in a heap block of exactly that size. */
static uint8_t *exact_copy(const void *src, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);

    cr_assert_not_null(p);
    if (len > 0) {
        memcpy(p, src, len);
    }
    return p;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* A raw message built field by field, to hand-craft what the encoders
 * refuse to make. */
typedef struct raw {
    uint8_t *data;
    size_t len, cap;
} raw_t;

static void raw_bytes(raw_t *r, const void *p, size_t n)
{
    if (r->len + n > r->cap) {
        r->cap  = (r->len + n) * 2 + 64;
        r->data = realloc(r->data, r->cap);
        cr_assert_not_null(r->data);
    }
    if (n > 0) {
        memcpy(r->data + r->len, p, n);
    }
    r->len += n;
}

static void raw_uint(raw_t *r, uint64_t v, unsigned n)
{
    uint8_t b[8];
    unsigned i;

    for (i = 0; i < n; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    raw_bytes(r, b, n);
}

static void raw_hdr(raw_t *r, unsigned type, uint64_t task_id)
{
    r->len = 0;
    raw_uint(r, CPN_WIRE_MAGIC, 2);
    raw_uint(r, CPN_WIRE_VERSION, 1);
    raw_uint(r, type, 1);
    raw_uint(r, 0, 4); /* length: raw_end */
    raw_uint(r, task_id, 8);
}

static void raw_str16(raw_t *r, const char *s, size_t n)
{
    raw_uint(r, n, 2);
    raw_bytes(r, s, n);
}

/* Patch the header's length to the bytes written. */
static void raw_end(raw_t *r)
{
    put32(r->data + 4, (uint32_t)r->len);
}

/* ---- decode, then re-encode and compare: the property every good frame
 * has, because each byte of a valid message follows from its fields ---- */

static void expect_same(const cpn_wire_buf_t *re, const uint8_t *buf,
                        size_t len, unsigned type)
{
    CHECK(re->len == len && memcmp(re->data, buf, len) == 0,
          "%s: re-encoding gives %zu bytes, not the same %zu",
          cpn_wire_type_str(type), re->len, len);
}

/* Decode @p buf as @p type; on success re-encode and check the bytes are
 * the same. @return the decoder's status. */
static cpn_status_t decode_check(unsigned type, const uint8_t *buf, size_t len)
{
    cpn_wire_hdr_t hdr, hdr2;
    cpn_wire_buf_t re;
    cpn_status_t st = CPN_ERR_INVALID, st2 = CPN_OK;

    cpn_wire_buf_init(&re);
    switch (type) {
    case CPN_MSG_HELLO: {
        cpn_wire_hello_t m;
        st = cpn_wire_decode_hello(buf, len, &hdr, &m);
        if (st == CPN_OK) {
            st2 = cpn_wire_encode_hello(&re, &m);
        }
        break;
    }
    case CPN_MSG_HELLO_ACK: {
        cpn_wire_hello_ack_t m;
        st = cpn_wire_decode_hello_ack(buf, len, &hdr, &m);
        if (st == CPN_OK) {
            st2 = cpn_wire_encode_hello_ack(&re, &m);
        }
        break;
    }
    case CPN_MSG_OFFER: {
        cpn_wire_offer_t m;
        cpn_wire_iter_t it;
        cpn_wire_object_t obj;
        uint64_t sum = 0;
        uint32_t n   = 0;

        st = cpn_wire_decode_offer(buf, len, &hdr, &m);
        if (st != CPN_OK) {
            break;
        }
        st2 = cpn_wire_offer_begin(&re, hdr.task_id, m.job, m.spec,
                                   m.chunk_size);
        cpn_wire_offer_iter_init(&m, &it);
        while (st2 == CPN_OK && cpn_wire_offer_next(&it, &obj) == CPN_OK) {
            const uint8_t *d = obj.data;
            CHECK(((obj.flags & CPN_WIRE_OBJ_INLINE) != 0) == (d != NULL),
                  "inline data present iff INLINE");
            CHECK(d == NULL || (d >= buf && d + obj.size <= buf + len),
                  "inline data inside the frame");
            sum += obj.size;
            n++;
            st2 = cpn_wire_offer_add(&re, &obj);
        }
        CHECK(n == m.nobjects, "iterated %u objects of %u", n, m.nobjects);
        CHECK(sum == m.total_bytes, "sum of sizes != total_bytes");
        if (st2 == CPN_OK) {
            st2 = cpn_wire_offer_end(&re);
        }
        break;
    }
    case CPN_MSG_ACCEPT: {
        cpn_wire_accept_t m;
        cpn_wire_iter_t sit;
        uint32_t *slots;
        cpn_wire_sink_t *sinks;
        uint32_t i;

        st = cpn_wire_decode_accept(buf, len, &hdr, &m);
        if (st != CPN_OK) {
            break;
        }
        slots = malloc(((size_t)m.nslots + 1) * sizeof(*slots));
        sinks = malloc(((size_t)m.nsinks + 1) * sizeof(*sinks));
        cr_assert(slots != NULL && sinks != NULL);
        for (i = 0; i < m.nslots; i++) {
            slots[i] = cpn_wire_u32_at(m.slots_, i);
        }
        cpn_wire_sink_iter_init(&m, &sit);
        for (i = 0; i < m.nsinks; i++) {
            CHECK(cpn_wire_sink_next(&sit, &sinks[i]) == CPN_OK, "sink %u", i);
        }
        CHECK(cpn_wire_sink_next(&sit, &sinks[m.nsinks]) == CPN_ERR_NOT_FOUND,
              "sink past the end");
        st2 = cpn_wire_encode_accept(&re, hdr.task_id, m.status, m.error,
                                     slots, m.nslots, sinks, m.nsinks);
        free(slots);
        free(sinks);
        break;
    }
    case CPN_MSG_GRANT: {
        cpn_wire_grant_t m;
        uint32_t *slots;
        uint32_t i;

        st = cpn_wire_decode_grant(buf, len, &hdr, &m);
        if (st != CPN_OK) {
            break;
        }
        slots = malloc(((size_t)m.nslots + 1) * sizeof(*slots));
        cr_assert_not_null(slots);
        for (i = 0; i < m.nslots; i++) {
            slots[i] = cpn_wire_u32_at(m.slots_, i);
        }
        st2 = cpn_wire_encode_grant(&re, hdr.task_id, slots, m.nslots);
        free(slots);
        break;
    }
    case CPN_MSG_HAVE: {
        cpn_wire_have_t m;
        cpn_wire_have_entry_t *e;
        uint32_t i;

        st = cpn_wire_decode_have(buf, len, &hdr, &m);
        if (st != CPN_OK) {
            break;
        }
        e = malloc(((size_t)m.n + 1) * sizeof(*e));
        cr_assert_not_null(e);
        for (i = 0; i < m.n; i++) {
            e[i] = cpn_wire_have_at(&m, i);
        }
        st2 = cpn_wire_encode_have(&re, hdr.task_id, e, m.n);
        free(e);
        break;
    }
    case CPN_MSG_CHUNK: {
        cpn_wire_chunk_t m;
        uint8_t out[CPN_WIRE_CHUNK_LEN];

        st = cpn_wire_decode_chunk(buf, len, &hdr, &m);
        if (st == CPN_OK) {
            cpn_wire_encode_chunk(out, hdr.task_id, &m);
            CHECK(len == sizeof(out) && memcmp(out, buf, len) == 0,
                  "CHUNK re-encodes differently");
            cpn_wire_buf_free(&re);
            return st;
        }
        break;
    }
    case CPN_MSG_NACK: {
        cpn_wire_nack_t m;
        st = cpn_wire_decode_nack(buf, len, &hdr, &m);
        if (st == CPN_OK) {
            st2 = cpn_wire_encode_nack(&re, hdr.task_id, &m);
        }
        break;
    }
    case CPN_MSG_COMMIT: {
        cpn_wire_commit_t m;
        cpn_digest_t *d;
        uint32_t i;

        st = cpn_wire_decode_commit(buf, len, &hdr, &m);
        if (st != CPN_OK) {
            break;
        }
        d = malloc(((size_t)m.nobjects + 1) * sizeof(*d));
        cr_assert_not_null(d);
        for (i = 0; i < m.nobjects; i++) {
            d[i] = cpn_wire_commit_digest(&m, i);
        }
        st2 = cpn_wire_encode_commit(&re, hdr.task_id, d, m.nobjects);
        free(d);
        break;
    }
    case CPN_MSG_RECEIPT: {
        cpn_wire_receipt_t m;
        st = cpn_wire_decode_receipt(buf, len, &hdr, &m);
        if (st == CPN_OK) {
            st2 = cpn_wire_encode_receipt(&re, hdr.task_id, &m);
        }
        break;
    }
    case CPN_MSG_CANCEL: {
        cpn_wire_cancel_t m;
        st = cpn_wire_decode_cancel(buf, len, &hdr, &m);
        if (st == CPN_OK) {
            st2 = cpn_wire_encode_cancel(&re, hdr.task_id, &m);
        }
        break;
    }
    case CPN_MSG_PING: {
        uint64_t t;
        st = cpn_wire_decode_ping(buf, len, &hdr, &t);
        if (st == CPN_OK) {
            st2 = cpn_wire_encode_ping(&re, t);
        }
        break;
    }
    case CPN_MSG_AUTH: {
        cpn_wire_auth_t m;
        st = cpn_wire_decode_auth(buf, len, &hdr, &m);
        if (st == CPN_OK) {
            st2 = cpn_wire_encode_auth(&re, &m);
        }
        break;
    }
    default:
        cr_assert_fail("no decoder for type %u", type);
    }
    if (st == CPN_OK) {
        CHECK(st2 == CPN_OK, "%s: re-encoding a decoded frame: %s",
              cpn_wire_type_str(type), cpn_status_name(st2));
        expect_same(&re, buf, len, type);
        CHECK(cpn_wire_decode_hdr(buf, len, &hdr2) == CPN_OK &&
                  hdr2.type == type && hdr2.length == len &&
                  hdr2.task_id == hdr.task_id,
              "header decodes alike");
    }
    cpn_wire_buf_free(&re);
    return st;
}

/* ---- sample frames of every type ---- */

typedef struct frame {
    unsigned type;
    uint8_t *data;
    size_t len;
} frame_t;

#define MAX_FRAMES 64

typedef struct frames {
    frame_t f[MAX_FRAMES];
    size_t n;
} frames_t;

/* Move the one message in @p b into @p fs, in a block of its exact size. */
static void take(frames_t *fs, cpn_wire_buf_t *b, unsigned type)
{
    cr_assert_lt(fs->n, MAX_FRAMES);
    cr_assert_gt(b->len, 0);
    fs->f[fs->n].type = type;
    fs->f[fs->n].data = exact_copy(b->data, b->len);
    fs->f[fs->n].len  = b->len;
    fs->n++;
    cpn_wire_buf_reset(b);
}

static const uint8_t inline_a[] = "hello inline world";
static const uint8_t inline_b[] = { 0, 1, 2, 0xff, 0xfe };

static void sample_frames(frames_t *fs)
{
    cpn_wire_buf_t b;
    cpn_wire_hello_t hello;
    cpn_wire_hello_ack_t ack;
    cpn_wire_object_t obj;
    uint32_t slots[40];
    cpn_wire_sink_t sinks[3];
    cpn_wire_chunk_t chunk;
    cpn_wire_nack_t nack;
    cpn_digest_t dig[5];
    cpn_wire_receipt_t rc;
    cpn_wire_cancel_t cancel;
    uint32_t i;

    memset(fs, 0, sizeof(*fs));
    cpn_wire_buf_init(&b);

    /* HELLO: typical, and all empty */
    hello = (cpn_wire_hello_t){ .proto_min = 1, .proto_max = 3, .site = cpn_wire_str("site-a"), .transport = cpn_wire_str("ucx") };
    cr_assert_eq(cpn_wire_encode_hello(&b, &hello), CPN_OK);
    take(fs, &b, CPN_MSG_HELLO);
    hello = (cpn_wire_hello_t){ .proto_min = 0, .proto_max = 0, .site = cpn_wire_str(NULL), .transport = cpn_wire_str("") };
    cr_assert_eq(cpn_wire_encode_hello(&b, &hello), CPN_OK);
    take(fs, &b, CPN_MSG_HELLO);

    /* HELLO with the protocol 2 authentication block, with and without key */
    hello = (cpn_wire_hello_t){ .proto_min = 2, .proto_max = 2, .site = cpn_wire_str("site-k"),
                                .transport = cpn_wire_str("ucx"), .has_auth = 1, .has_key = 1 };
    memset(hello.nonce, 0x5a, sizeof(hello.nonce));
    memset(hello.pubkey, 0xa5, sizeof(hello.pubkey));
    cr_assert_eq(cpn_wire_encode_hello(&b, &hello), CPN_OK);
    take(fs, &b, CPN_MSG_HELLO);
    hello.has_key = 0;
    cr_assert_eq(cpn_wire_encode_hello(&b, &hello), CPN_OK);
    take(fs, &b, CPN_MSG_HELLO);
    /* AUTH: challenge and answer */
    {
        cpn_wire_auth_t au;

        memset(&au, 0x11, sizeof(au));
        au.step = 1;
        cr_assert_eq(cpn_wire_encode_auth(&b, &au), CPN_OK);
        take(fs, &b, CPN_MSG_AUTH);
        au.step = 2;
        cr_assert_eq(cpn_wire_encode_auth(&b, &au), CPN_OK);
        take(fs, &b, CPN_MSG_AUTH);
        au.step = 3;
        cr_assert_eq(cpn_wire_encode_auth(&b, &au), CPN_ERR_INVALID);
    }
    cr_assert_eq(cpn_wire_encode_ping(&b, 0x0102030405060708ull), CPN_OK);
    take(fs, &b, CPN_MSG_PING);

    /* HELLO_ACK: accepted with a key, refused with words */
    memset(&ack, 0, sizeof(ack));
    ack.status = CPN_OK, ack.proto = 1, ack.site = cpn_wire_str("site-b");
    ack.max_objects = 1000, ack.max_task_bytes = 1ull << 40;
    ack.max_name_len = 4096, ack.inline_max = 65536, ack.slot_size = 4 << 20;
    ack.nslots = 64, ack.pool_addr = 0x7f0012345000ull;
    ack.pool_rkey = str_n("\x01\x02\x00\x03key", 7);
    cr_assert_eq(cpn_wire_encode_hello_ack(&b, &ack), CPN_OK);
    take(fs, &b, CPN_MSG_HELLO_ACK);
    memset(&ack, 0, sizeof(ack));
    ack.status = CPN_ERR_VERSION, ack.error = cpn_wire_str("no common version");
    cr_assert_eq(cpn_wire_encode_hello_ack(&b, &ack), CPN_OK);
    take(fs, &b, CPN_MSG_HELLO_ACK);

    /* OFFER: zero objects; mixed inline and not; one empty inline */
    cr_assert_eq(cpn_wire_offer_begin(&b, 7, cpn_wire_str("job"), str_n(NULL, 0), 1), CPN_OK);
    cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);
    take(fs, &b, CPN_MSG_OFFER);
    cr_assert_eq(cpn_wire_offer_begin(&b, 0x1122334455667788ull, cpn_wire_str("train-42"),
                                      cpn_wire_str("{\"epochs\":3}"), 4 << 20), CPN_OK);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("model/shard-0.bin"), .size = 10ull << 30 };
    cr_assert_eq(cpn_wire_offer_add(&b, &obj), CPN_OK);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("cfg/a.json"), .size = sizeof(inline_a),
                               .flags = CPN_WIRE_OBJ_INLINE, .digest = { 0xa1, 0xb2 },
                               .data = inline_a };
    cr_assert_eq(cpn_wire_offer_add(&b, &obj), CPN_OK);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("empty"), .size = 0,
                               .flags = CPN_WIRE_OBJ_INLINE, .digest = { 1, 2 } };
    cr_assert_eq(cpn_wire_offer_add(&b, &obj), CPN_OK);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("b"), .size = sizeof(inline_b),
                               .flags = CPN_WIRE_OBJ_INLINE,
                               .digest = { UINT64_MAX, 0 }, .data = inline_b };
    cr_assert_eq(cpn_wire_offer_add(&b, &obj), CPN_OK);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("zero"), .size = 0 };
    cr_assert_eq(cpn_wire_offer_add(&b, &obj), CPN_OK);
    cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);
    take(fs, &b, CPN_MSG_OFFER);

    /* ACCEPT: slots and sinks; refused with no slots */
    for (i = 0; i < 40; i++) {
        slots[i] = i * 3 + 1;
    }
    sinks[0] = (cpn_wire_sink_t){ 0, 0x1000, str_n("rk0", 3) };
    sinks[1] = (cpn_wire_sink_t){ 5, UINT64_MAX, str_n(NULL, 0) };
    sinks[2] = (cpn_wire_sink_t){ UINT32_MAX, 42, str_n("\0\0\0\0\0", 5) };
    cr_assert_eq(cpn_wire_encode_accept(&b, 9, CPN_OK, cpn_wire_str(NULL), slots, 5,
                                        sinks, 3), CPN_OK);
    take(fs, &b, CPN_MSG_ACCEPT);
    cr_assert_eq(cpn_wire_encode_accept(&b, 9, CPN_ERR_LIMIT, cpn_wire_str("too big"),
                                        NULL, 0, NULL, 0), CPN_OK);
    take(fs, &b, CPN_MSG_ACCEPT);
    cr_assert_eq(cpn_wire_encode_accept(&b, 1, CPN_OK, cpn_wire_str(""), slots, 40,
                                        NULL, 0), CPN_OK);
    take(fs, &b, CPN_MSG_ACCEPT);

    /* GRANT: one slot, many, none */
    cr_assert_eq(cpn_wire_encode_grant(&b, 3, slots, 1), CPN_OK);
    take(fs, &b, CPN_MSG_GRANT);
    cr_assert_eq(cpn_wire_encode_grant(&b, 3, slots, 40), CPN_OK);
    take(fs, &b, CPN_MSG_GRANT);
    cr_assert_eq(cpn_wire_encode_grant(&b, 3, NULL, 0), CPN_OK);
    take(fs, &b, CPN_MSG_GRANT);

    /* HAVE: some chunks, none */
    {
        cpn_wire_have_entry_t he[3] = { { 0, 0, 0x1234 }, { 2, 7, ~0ull },
                                        { 1, 1ull << 40, 5 } };

        cr_assert_eq(cpn_wire_encode_have(&b, 4, he, 3), CPN_OK);
        take(fs, &b, CPN_MSG_HAVE);
        cr_assert_eq(cpn_wire_encode_have(&b, 4, NULL, 0), CPN_OK);
        take(fs, &b, CPN_MSG_HAVE);
        cr_assert_eq(cpn_wire_encode_have(&b, 4, NULL, 1), CPN_ERR_INVALID);
        cr_assert_eq(cpn_wire_encode_have(&b, 4, he, CPN_WIRE_MAX_HAVE + 1),
                     CPN_ERR_TOO_BIG);
    }

    /* CHUNK: into a slot and into a sink */
    chunk = (cpn_wire_chunk_t){ 2, 1, 8ull << 20, 4 << 20, 0xdeadbeefcafef00dull };
    cr_assert_eq(b.len, 0);
    {
        uint8_t out[CPN_WIRE_CHUNK_LEN];
        cpn_wire_encode_chunk(out, 77, &chunk);
        fs->f[fs->n++] = (frame_t){ CPN_MSG_CHUNK, exact_copy(out, sizeof(out)), sizeof(out) };
        chunk = (cpn_wire_chunk_t){ CPN_WIRE_SLOT_SINK, UINT32_MAX, UINT64_MAX - 1, 1, 0 };
        cpn_wire_encode_chunk(out, UINT64_MAX, &chunk);
        fs->f[fs->n++] = (frame_t){ CPN_MSG_CHUNK, exact_copy(out, sizeof(out)), sizeof(out) };
    }

    /* NACK */
    nack = (cpn_wire_nack_t){ 4, 2, 12345, 999, CPN_ERR_CHECKSUM };
    cr_assert_eq(cpn_wire_encode_nack(&b, 5, &nack), CPN_OK);
    take(fs, &b, CPN_MSG_NACK);

    /* COMMIT: none and five */
    cr_assert_eq(cpn_wire_encode_commit(&b, 5, NULL, 0), CPN_OK);
    take(fs, &b, CPN_MSG_COMMIT);
    for (i = 0; i < 5; i++) {
        dig[i] = (cpn_digest_t){ 0x0101010101010101ull * i, ~(uint64_t)i };
    }
    cr_assert_eq(cpn_wire_encode_commit(&b, 5, dig, 5), CPN_OK);
    take(fs, &b, CPN_MSG_COMMIT);

    /* RECEIPT: success and failure */
    rc = (cpn_wire_receipt_t){ CPN_OK, cpn_wire_str(NULL), cpn_wire_str("/data/in/job"),
                               1ull << 33, 2048, 3, 123456789 };
    cr_assert_eq(cpn_wire_encode_receipt(&b, 5, &rc), CPN_OK);
    take(fs, &b, CPN_MSG_RECEIPT);
    rc = (cpn_wire_receipt_t){ CPN_ERR_NO_SPACE, cpn_wire_str("disk full"),
                               cpn_wire_str(""), 0, 0, 0, 0 };
    cr_assert_eq(cpn_wire_encode_receipt(&b, 5, &rc), CPN_OK);
    take(fs, &b, CPN_MSG_RECEIPT);

    /* CANCEL */
    cancel = (cpn_wire_cancel_t){ CPN_ERR_CANCELED, cpn_wire_str("user asked") };
    cr_assert_eq(cpn_wire_encode_cancel(&b, 5, &cancel), CPN_OK);
    take(fs, &b, CPN_MSG_CANCEL);
    cancel = (cpn_wire_cancel_t){ -1, cpn_wire_str(NULL) };
    cr_assert_eq(cpn_wire_encode_cancel(&b, 0, &cancel), CPN_OK);
    take(fs, &b, CPN_MSG_CANCEL);

    cpn_wire_buf_free(&b);
}

static void frames_free(frames_t *fs)
{
    size_t i;

    for (i = 0; i < fs->n; i++) {
        free(fs->f[i].data);
    }
    fs->n = 0;
}

/* ---- names and the header ---- */

Test(wire, type_names)
{
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_HELLO), "HELLO");
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_HELLO_ACK), "HELLO_ACK");
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_OFFER), "OFFER");
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_ACCEPT), "ACCEPT");
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_GRANT), "GRANT");
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_CHUNK), "CHUNK");
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_NACK), "NACK");
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_COMMIT), "COMMIT");
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_RECEIPT), "RECEIPT");
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_CANCEL), "CANCEL");
    cr_expect_str_eq(cpn_wire_type_str(0), "?");
    cr_expect_str_eq(cpn_wire_type_str(CPN_MSG_TYPE_MAX), "?");
    cr_expect_str_eq(cpn_wire_type_str(~0u), "?");
}

Test(wire, str_helper)
{
    cpn_wire_str_t s = cpn_wire_str(NULL);

    cr_expect_eq(s.len, 0);
    s = cpn_wire_str("abc");
    cr_expect_eq(s.len, 3);
    cr_expect(str_is(s, "abc"));
}

/* The layout, byte for byte: little-endian everywhere, "CP" first. */
Test(wire, golden_hello)
{
    static const uint8_t want[] = {
        'C', 'P', 1, CPN_MSG_HELLO, 30, 0, 0, 0,  /* magic, versions, length */
        0, 0, 0, 0, 0, 0, 0, 0,                   /* task id */
        0x01, 0x00, 0x01, 0x00,                   /* proto 1 .. 1: no auth block */
        3, 0, 's', 'i', 't',                      /* site */
        3, 0, 'u', 'c', 'x',                      /* transport */
    };
    cpn_wire_hello_t m = { .proto_min = 1, .proto_max = 1, .site = cpn_wire_str("sit"), .transport = cpn_wire_str("ucx") };
    cpn_wire_buf_t b;

    cpn_wire_buf_init(&b);
    cr_assert_eq(cpn_wire_encode_hello(&b, &m), CPN_OK);
    cr_assert_eq(b.len, sizeof(want));
    cr_expect_arr_eq(b.data, want, sizeof(want));
    /* from proto_max 2 on, the authentication block follows: has_key, nonce, key */
    cpn_wire_buf_reset(&b);
    m.proto_max = 2;
    m.has_key = 1;
    memset(m.nonce, 0xab, sizeof(m.nonce));
    memset(m.pubkey, 0xcd, sizeof(m.pubkey));
    cr_assert_eq(cpn_wire_encode_hello(&b, &m), CPN_OK);
    cr_assert_eq(b.len, sizeof(want) + 1 + 32 + 32);
    cr_expect_eq(b.data[4], sizeof(want) + 65);
    cr_expect_eq(b.data[sizeof(want)], 1);
    cr_expect_eq(b.data[sizeof(want) + 1], 0xab);
    cr_expect_eq(b.data[sizeof(want) + 33], 0xcd);
    cr_expect_eq(b.data[sizeof(want) + 64], 0xcd);
    cpn_wire_buf_free(&b);
}

Test(wire, golden_chunk)
{
    static const uint8_t want[CPN_WIRE_CHUNK_LEN] = {
        'C', 'P', 1, CPN_MSG_CHUNK, 48, 0, 0, 0,
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  /* task id */
        0xff, 0xff, 0xff, 0xff,                          /* slot: sink */
        0x02, 0x00, 0x00, 0x00,                          /* object */
        0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,  /* offset 4 MiB */
        0x00, 0x00, 0x40, 0x00,                          /* len 4 MiB */
        0x00, 0x00, 0x00, 0x00,                          /* reserved */
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  /* hash */
    };
    cpn_wire_chunk_t m = { CPN_WIRE_SLOT_SINK, 2, 4 << 20, 4 << 20,
                           0x8877665544332211ull };
    uint8_t out[CPN_WIRE_CHUNK_LEN + 16];

    memset(out, 0xaa, sizeof(out));
    cpn_wire_encode_chunk(out, 0x0102030405060708ull, &m);
    cr_expect_arr_eq(out, want, sizeof(want));
    for (size_t i = CPN_WIRE_CHUNK_LEN; i < sizeof(out); i++) {
        cr_expect_eq(out[i], 0xaa, "byte %zu past the chunk was written", i);
    }
}

Test(wire, header_checks)
{
    cpn_wire_hdr_t hdr = { 0 };
    cpn_wire_hello_t hello;
    cpn_wire_grant_t grant;
    uint8_t *m, *big;
    frames_t fs;
    size_t len;

    sample_frames(&fs);
    len = fs.f[0].len; /* a HELLO */
    m   = fs.f[0].data;

    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_OK);
    cr_expect_eq(hdr.version, CPN_WIRE_VERSION);
    cr_expect_eq(hdr.type, CPN_MSG_HELLO);
    cr_expect_eq(hdr.length, len);
    cr_expect_eq(hdr.task_id, 0);
    cr_expect_eq(cpn_wire_decode_hdr(m, len, NULL), CPN_OK);
    cr_expect_eq(cpn_wire_decode_hdr(NULL, 0, &hdr), CPN_ERR_TRUNCATED);
    cr_expect_eq(cpn_wire_decode_hdr(m, CPN_WIRE_HDR_LEN - 1, &hdr), CPN_ERR_TRUNCATED);

    /* magic */
    m[0] ^= 0x20;
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_ERR_CORRUPT);
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_CORRUPT);
    m[0] ^= 0x20;
    m[1] = 0;
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_CORRUPT);
    m[1] = 'P';

    /* header version */
    m[2] = 0;
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_VERSION);
    m[2] = CPN_WIRE_VERSION + 1;
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_ERR_VERSION);
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_VERSION);
    m[2] = 0xff;
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_VERSION);
    m[2] = CPN_WIRE_VERSION;

    /* type: unknown, and known but not the decoder's */
    m[3] = 0;
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_ERR_CORRUPT);
    m[3] = CPN_MSG_TYPE_MAX;
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_ERR_CORRUPT);
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_CORRUPT);
    m[3] = 0xff;
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_ERR_CORRUPT);
    m[3] = CPN_MSG_GRANT;
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_OK);
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_PROTO);
    m[3] = CPN_MSG_HELLO;
    cr_expect_eq(cpn_wire_decode_grant(m, len, &hdr, &grant), CPN_ERR_PROTO);

    /* length: over the buffer, under it, under a header, over the limit */
    put32(m + 4, (uint32_t)len + 1);
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_ERR_TRUNCATED);
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_TRUNCATED);
    put32(m + 4, UINT32_MAX);
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_TOO_BIG);
    put32(m + 4, CPN_WIRE_MAX_MSG + 1);
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_ERR_TOO_BIG);
    put32(m + 4, (uint32_t)len - 1);
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_ERR_CORRUPT);
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_CORRUPT);
    put32(m + 4, CPN_WIRE_HDR_LEN - 1);
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_ERR_CORRUPT);
    put32(m + 4, 0);
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_ERR_CORRUPT);
    put32(m + 4, (uint32_t)len);

    /* HELLO belongs to no task */
    m[8] = 1;
    cr_expect_eq(cpn_wire_decode_hdr(m, len, &hdr), CPN_OK);
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_ERR_CORRUPT);
    m[8] = 0;
    cr_expect_eq(cpn_wire_decode_hello(m, len, &hdr, &hello), CPN_OK);

    /* a header that claims more than the limit: refused before reading on */
    big = exact_copy(m, CPN_WIRE_HDR_LEN);
    put32(big + 4, CPN_WIRE_MAX_MSG + 1);
    cr_expect_eq(cpn_wire_decode_hdr(big, CPN_WIRE_HDR_LEN, &hdr), CPN_ERR_TOO_BIG);
    put32(big + 4, CPN_WIRE_MAX_MSG);
    cr_expect_eq(cpn_wire_decode_hdr(big, CPN_WIRE_HDR_LEN, &hdr), CPN_ERR_TRUNCATED);
    free(big);
    frames_free(&fs);
}

/* Outputs are written only on success. */
Test(wire, outputs_untouched_on_error)
{
    frames_t fs;
    cpn_wire_hdr_t hdr;
    cpn_wire_receipt_t m;

    sample_frames(&fs);
    for (size_t i = 0; i < fs.n; i++) {
        if (fs.f[i].type != CPN_MSG_RECEIPT) {
            continue;
        }
        memset(&hdr, 0x5a, sizeof(hdr));
        memset(&m, 0x5a, sizeof(m));
        cr_assert_neq(cpn_wire_decode_receipt(fs.f[i].data, fs.f[i].len - 1, &hdr, &m),
                      CPN_OK);
        for (size_t k = 0; k < sizeof(hdr); k++) {
            cr_assert_eq(((uint8_t *)&hdr)[k], 0x5a);
        }
        for (size_t k = 0; k < sizeof(m); k++) {
            cr_assert_eq(((uint8_t *)&m)[k], 0x5a);
        }
    }
    frames_free(&fs);
}

/* ---- round trips, field by field ---- */

Test(wire, every_sample_round_trips)
{
    frames_t fs;
    unsigned seen = 0;

    sample_frames(&fs);
    for (size_t i = 0; i < fs.n; i++) {
        cr_expect_eq(decode_check(fs.f[i].type, fs.f[i].data, fs.f[i].len), CPN_OK,
                     "sample %zu (%s)", i, cpn_wire_type_str(fs.f[i].type));
        seen |= 1u << fs.f[i].type;
        /* and no other decoder takes it */
        for (unsigned t = CPN_MSG_HELLO; t < CPN_MSG_TYPE_MAX; t++) {
            if (t != fs.f[i].type) {
                cr_expect_eq(decode_check(t, fs.f[i].data, fs.f[i].len), CPN_ERR_PROTO);
            }
        }
    }
    for (unsigned t = CPN_MSG_HELLO; t < CPN_MSG_TYPE_MAX; t++) {
        cr_expect(seen & (1u << t), "no sample of %s", cpn_wire_type_str(t));
    }
    frames_free(&fs);
}

Test(wire, hello_fields)
{
    cpn_wire_buf_t b;
    cpn_wire_hdr_t hdr;
    cpn_wire_hello_t in = { .proto_min = 1, .proto_max = 7, .site = cpn_wire_str("site-a"), .transport = cpn_wire_str("ucx") }, out;

    cpn_wire_buf_init(&b);
    cr_assert_eq(cpn_wire_encode_hello(&b, &in), CPN_OK);
    cr_assert_eq(cpn_wire_decode_hello(b.data, b.len, &hdr, &out), CPN_OK);
    cr_expect_eq(hdr.type, CPN_MSG_HELLO);
    cr_expect_eq(hdr.length, b.len);
    cr_expect_eq(out.proto_min, 1);
    cr_expect_eq(out.proto_max, 7);
    cr_expect(str_is(out.site, "site-a"));
    cr_expect(str_is(out.transport, "ucx"));
    /* strings point into the buffer */
    cr_expect((const uint8_t *)out.site.ptr > b.data &&
              (const uint8_t *)out.site.ptr < b.data + b.len);
    /* and the decoder wants no header back */
    cr_expect_eq(cpn_wire_decode_hello(b.data, b.len, NULL, &out), CPN_OK);
    cpn_wire_buf_free(&b);
}

Test(wire, hello_ack_fields)
{
    cpn_wire_buf_t b;
    cpn_wire_hello_ack_t in, out;

    memset(&in, 0, sizeof(in));
    in.status = CPN_ERR_REFUSED, in.proto = 0xbeef, in.site = cpn_wire_str("s");
    in.error = cpn_wire_str("no"), in.max_objects = UINT32_MAX;
    in.max_task_bytes = UINT64_MAX, in.max_name_len = 1, in.inline_max = 2;
    in.slot_size = 3, in.nslots = 4, in.pool_addr = 0x8000000000000001ull;
    in.pool_rkey = str_n("\0\xff", 2);
    cpn_wire_buf_init(&b);
    cr_assert_eq(cpn_wire_encode_hello_ack(&b, &in), CPN_OK);
    cr_assert_eq(cpn_wire_decode_hello_ack(b.data, b.len, NULL, &out), CPN_OK);
    cr_expect_eq(out.status, CPN_ERR_REFUSED);
    cr_expect_eq(out.proto, 0xbeef);
    cr_expect(str_is(out.site, "s"));
    cr_expect(str_is(out.error, "no"));
    cr_expect_eq(out.max_objects, UINT32_MAX);
    cr_expect_eq(out.max_task_bytes, UINT64_MAX);
    cr_expect_eq(out.max_name_len, 1);
    cr_expect_eq(out.inline_max, 2);
    cr_expect_eq(out.slot_size, 3);
    cr_expect_eq(out.nslots, 4);
    cr_expect_eq(out.pool_addr, 0x8000000000000001ull);
    cr_expect_eq(out.pool_rkey.len, 2);
    cr_expect_arr_eq(out.pool_rkey.ptr, "\0\xff", 2);
    cpn_wire_buf_free(&b);
}

Test(wire, offer_fields)
{
    cpn_wire_buf_t b;
    cpn_wire_hdr_t hdr;
    cpn_wire_offer_t m;
    cpn_wire_iter_t it;
    cpn_wire_object_t o;
    static const char data[] = "0123456789";
    cpn_wire_object_t in[3] = {
        { .name = { "a/b/c", 5 }, .size = 1ull << 40 },
        { .name = { "x", 1 }, .size = 10, .flags = CPN_WIRE_OBJ_INLINE,
          .digest = { 0x1111, 0x2222 }, .data = data },
        { .name = { "", 0 }, .size = 0 },
    };

    cpn_wire_buf_init(&b);
    cr_assert_eq(cpn_wire_offer_begin(&b, 99, cpn_wire_str("job-1"), cpn_wire_str("spec"),
                                      1 << 20), CPN_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cpn_wire_offer_add(&b, &in[i]), CPN_OK);
    }
    cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);
    cr_assert_eq(cpn_wire_decode_offer(b.data, b.len, &hdr, &m), CPN_OK);
    cr_expect_eq(hdr.task_id, 99);
    cr_expect(str_is(m.job, "job-1"));
    cr_expect(str_is(m.spec, "spec"));
    cr_expect_eq(m.total_bytes, (1ull << 40) + 10);
    cr_expect_eq(m.chunk_size, 1 << 20);
    cr_expect_eq(m.nobjects, 3);
    cpn_wire_offer_iter_init(&m, &it);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cpn_wire_offer_next(&it, &o), CPN_OK);
        cr_expect_eq(o.name.len, in[i].name.len);
        cr_expect_arr_eq(o.name.ptr, in[i].name.ptr, o.name.len);
        cr_expect_eq(o.size, in[i].size);
        cr_expect_eq(o.flags, in[i].flags);
        cr_expect_eq(o.digest.hi, in[i].digest.hi);
        cr_expect_eq(o.digest.lo, in[i].digest.lo);
        cr_expect_eq(o.data == NULL, in[i].data == NULL);
        if (o.data != NULL) {
            cr_expect_arr_eq(o.data, data, 10);
        }
    }
    cr_expect_eq(cpn_wire_offer_next(&it, &o), CPN_ERR_NOT_FOUND);
    cr_expect_eq(cpn_wire_offer_next(&it, &o), CPN_ERR_NOT_FOUND);
    cpn_wire_buf_free(&b);
}

Test(wire, accept_grant_fields)
{
    cpn_wire_buf_t b;
    cpn_wire_accept_t a;
    cpn_wire_iter_t sit;
    cpn_wire_grant_t g;
    cpn_wire_sink_t s;
    uint32_t slots[] = { 0, 1, UINT32_MAX, 7 };
    cpn_wire_sink_t sinks[] = { { 3, 0x1000, { "key", 3 } }, { 4, 0, { NULL, 0 } } };

    cpn_wire_buf_init(&b);
    cr_assert_eq(cpn_wire_encode_accept(&b, 1, CPN_OK, cpn_wire_str("fine"), slots, 4,
                                        sinks, 2), CPN_OK);
    cr_assert_eq(cpn_wire_decode_accept(b.data, b.len, NULL, &a), CPN_OK);
    cr_expect_eq(a.status, CPN_OK);
    cr_expect(str_is(a.error, "fine"));
    cr_assert_eq(a.nslots, 4);
    for (uint32_t i = 0; i < 4; i++) {
        cr_expect_eq(cpn_wire_u32_at(a.slots_, i), slots[i]);
    }
    cr_assert_eq(a.nsinks, 2);
    cpn_wire_sink_iter_init(&a, &sit);
    cr_assert_eq(cpn_wire_sink_next(&sit, &s), CPN_OK);
    cr_expect_eq(s.object, 3);
    cr_expect_eq(s.addr, 0x1000);
    cr_expect(str_is(s.rkey, "key"));
    cr_assert_eq(cpn_wire_sink_next(&sit, &s), CPN_OK);
    cr_expect_eq(s.object, 4);
    cr_expect_eq(s.addr, 0);
    cr_expect_eq(s.rkey.len, 0);
    cr_expect_eq(cpn_wire_sink_next(&sit, &s), CPN_ERR_NOT_FOUND);
    cr_expect_eq(cpn_wire_sink_next(&sit, &s), CPN_ERR_NOT_FOUND);

    cpn_wire_buf_reset(&b);
    cr_assert_eq(cpn_wire_encode_grant(&b, 2, slots, 4), CPN_OK);
    cr_assert_eq(cpn_wire_decode_grant(b.data, b.len, NULL, &g), CPN_OK);
    cr_assert_eq(g.nslots, 4);
    for (uint32_t i = 0; i < 4; i++) {
        cr_expect_eq(cpn_wire_u32_at(g.slots_, i), slots[i]);
    }
    cpn_wire_buf_free(&b);
}

Test(wire, small_fixed_fields)
{
    cpn_wire_buf_t b;
    cpn_wire_hdr_t hdr;
    uint8_t out[CPN_WIRE_CHUNK_LEN];
    cpn_wire_chunk_t c = { 1, 2, 3, 4, 5 }, c2;
    cpn_wire_nack_t n = { UINT32_MAX, 6, UINT64_MAX, 0, INT32_MIN }, n2;
    cpn_digest_t d[2] = { { 1, 2 }, { UINT64_MAX, 0 } };
    cpn_wire_commit_t cm;
    cpn_wire_receipt_t r = { CPN_OK, { "", 0 }, { "/landed", 7 }, 10, 20, 30, 40 }, r2;
    cpn_wire_cancel_t k = { CPN_ERR_TIMEOUT, { "slow", 4 } }, k2;

    cpn_wire_encode_chunk(out, 123, &c);
    cr_assert_eq(cpn_wire_decode_chunk(out, sizeof(out), &hdr, &c2), CPN_OK);
    cr_expect_eq(hdr.task_id, 123);
    cr_expect(c2.slot == 1 && c2.object == 2 && c2.offset == 3 && c2.len == 4 &&
              c2.hash == 5);

    cpn_wire_buf_init(&b);
    cr_assert_eq(cpn_wire_encode_nack(&b, 8, &n), CPN_OK);
    cr_assert_eq(cpn_wire_decode_nack(b.data, b.len, &hdr, &n2), CPN_OK);
    cr_expect_eq(hdr.task_id, 8);
    cr_expect(n2.slot == UINT32_MAX && n2.object == 6 && n2.offset == UINT64_MAX &&
              n2.len == 0 && n2.status == INT32_MIN);

    cpn_wire_buf_reset(&b);
    cr_assert_eq(cpn_wire_encode_commit(&b, 8, d, 2), CPN_OK);
    cr_assert_eq(cpn_wire_decode_commit(b.data, b.len, NULL, &cm), CPN_OK);
    cr_assert_eq(cm.nobjects, 2);
    for (uint32_t i = 0; i < 2; i++) {
        cr_expect(cpn_digest_eq(cpn_wire_commit_digest(&cm, i), d[i]));
    }

    cpn_wire_buf_reset(&b);
    cr_assert_eq(cpn_wire_encode_receipt(&b, 8, &r), CPN_OK);
    cr_assert_eq(cpn_wire_decode_receipt(b.data, b.len, NULL, &r2), CPN_OK);
    cr_expect(r2.status == CPN_OK && r2.error.len == 0 && str_is(r2.landed_at, "/landed"));
    cr_expect(r2.bytes == 10 && r2.chunks == 20 && r2.retries == 30 && r2.elapsed_ns == 40);

    cpn_wire_buf_reset(&b);
    cr_assert_eq(cpn_wire_encode_cancel(&b, 8, &k), CPN_OK);
    cr_assert_eq(cpn_wire_decode_cancel(b.data, b.len, NULL, &k2), CPN_OK);
    cr_expect(k2.status == CPN_ERR_TIMEOUT && str_is(k2.reason, "slow"));
    cpn_wire_buf_free(&b);
}

/* Encoders append: several messages in one buffer decode one by one. */
Test(wire, messages_append)
{
    cpn_wire_buf_t b;
    cpn_wire_cancel_t k = { -5, { "a", 1 } };
    uint32_t s = 9;
    size_t off = 0, n = 0;
    cpn_wire_hdr_t hdr;

    cpn_wire_buf_init(&b);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(i % 2 ? cpn_wire_encode_cancel(&b, (uint64_t)i, &k)
                           : cpn_wire_encode_grant(&b, (uint64_t)i, &s, 1), CPN_OK);
    }
    while (off < b.len) {
        /* the length tells where each message ends */
        cr_assert_geq(b.len - off, CPN_WIRE_HDR_LEN);
        uint32_t len = get32(b.data + off + 4);
        cr_assert_eq(decode_check(n % 2 ? CPN_MSG_CANCEL : CPN_MSG_GRANT, b.data + off, len),
                     CPN_OK);
        cr_assert_eq(cpn_wire_decode_hdr(b.data + off, len, &hdr), CPN_OK);
        cr_expect_eq(hdr.task_id, n);
        off += len;
        n++;
    }
    cr_expect_eq(n, 100);
    cpn_wire_buf_free(&b);
}

/* ---- limits: the largest good values pass, one more is refused by the
 * encoder (appending nothing) and, hand-made, by the decoder ---- */

/* Encoding returns @p want and leaves the buffer's bytes as they were. */
#define EXPECT_REFUSED(b, call, want)                                         \
    do {                                                                      \
        size_t len_before_ = (b)->len;                                        \
        cr_expect_eq((call), (want), "%s", #call);                            \
        cr_expect_eq((b)->len, len_before_, "%s appended", #call);            \
    } while (0)

Test(wire, string_limits)
{
    char *max    = filled(CPN_WIRE_MAX_STR + 1, 'n');
    char *spec   = filled(CPN_WIRE_MAX_SPEC + 1, '{');
    cpn_wire_str_t ok = str_n(max, CPN_WIRE_MAX_STR), over = str_n(max, CPN_WIRE_MAX_STR + 1);
    cpn_wire_buf_t b;
    cpn_wire_hello_t h = { .proto_min = 1, .proto_max = 1, .site = ok, .transport = ok };
    cpn_wire_hello_ack_t a;
    cpn_wire_receipt_t r = { 0, ok, ok, 0, 0, 0, 0 };
    cpn_wire_cancel_t c = { 0, ok };
    cpn_wire_sink_t sink = { 0, 0, { NULL, 0 } };
    cpn_wire_object_t o = { .name = ok };
    cpn_wire_offer_t m;
    raw_t raw = { 0 };

    memset(&a, 0, sizeof(a));
    a.site = ok, a.error = ok;
    cpn_wire_buf_init(&b);
    cr_assert_eq(cpn_wire_encode_grant(&b, 1, NULL, 0), CPN_OK); /* something before */

    /* at the limit: fine, and they round-trip */
    cr_assert_eq(cpn_wire_encode_hello(&b, &h), CPN_OK);
    cr_assert_eq(cpn_wire_encode_hello_ack(&b, &a), CPN_OK);
    cr_assert_eq(cpn_wire_encode_receipt(&b, 1, &r), CPN_OK);
    cr_assert_eq(cpn_wire_encode_cancel(&b, 1, &c), CPN_OK);
    cr_assert_eq(cpn_wire_encode_accept(&b, 1, 0, ok, NULL, 0, NULL, 0), CPN_OK);
    cr_assert_eq(cpn_wire_offer_begin(&b, 1, ok, str_n(spec, CPN_WIRE_MAX_SPEC), 1), CPN_OK);
    cr_assert_eq(cpn_wire_offer_add(&b, &o), CPN_OK);
    cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);
    {
        static const unsigned types[] = { CPN_MSG_GRANT, CPN_MSG_HELLO, CPN_MSG_HELLO_ACK,
                                          CPN_MSG_RECEIPT, CPN_MSG_CANCEL, CPN_MSG_ACCEPT,
                                          CPN_MSG_OFFER };
        size_t off = 0;
        for (size_t i = 0; i < CPN_ARRAY_SIZE(types); i++) {
            uint32_t len = get32(b.data + off + 4);
            cr_expect_eq(decode_check(types[i], b.data + off, len), CPN_OK, "%s",
                         cpn_wire_type_str(types[i]));
            off += len;
        }
        cr_expect_eq(off, b.len);
    }

    /* one byte over: refused, nothing appended */
    h.site = over;
    EXPECT_REFUSED(&b, cpn_wire_encode_hello(&b, &h), CPN_ERR_TOO_BIG);
    h.site = ok, h.transport = over;
    EXPECT_REFUSED(&b, cpn_wire_encode_hello(&b, &h), CPN_ERR_TOO_BIG);
    a.error = over;
    EXPECT_REFUSED(&b, cpn_wire_encode_hello_ack(&b, &a), CPN_ERR_TOO_BIG);
    r.landed_at = over;
    EXPECT_REFUSED(&b, cpn_wire_encode_receipt(&b, 1, &r), CPN_ERR_TOO_BIG);
    r.landed_at = ok, r.error = over;
    EXPECT_REFUSED(&b, cpn_wire_encode_receipt(&b, 1, &r), CPN_ERR_TOO_BIG);
    c.reason = over;
    EXPECT_REFUSED(&b, cpn_wire_encode_cancel(&b, 1, &c), CPN_ERR_TOO_BIG);
    EXPECT_REFUSED(&b, cpn_wire_encode_accept(&b, 1, 0, over, NULL, 0, &sink, 1),
                   CPN_ERR_TOO_BIG);
    EXPECT_REFUSED(&b, cpn_wire_offer_begin(&b, 1, over, ok, 1), CPN_ERR_TOO_BIG);
    EXPECT_REFUSED(&b, cpn_wire_offer_begin(&b, 1, ok, str_n(spec, CPN_WIRE_MAX_SPEC + 1), 1),
                   CPN_ERR_TOO_BIG);
    cr_assert_eq(cpn_wire_offer_begin(&b, 1, ok, ok, 1), CPN_OK);
    o.name = over;
    EXPECT_REFUSED(&b, cpn_wire_offer_add(&b, &o), CPN_ERR_TOO_BIG);
    cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);

    /* and hand-made, the decoders refuse them */
    raw_hdr(&raw, CPN_MSG_HELLO, 0);
    raw_uint(&raw, 1, 2), raw_uint(&raw, 1, 2);
    raw_str16(&raw, max, CPN_WIRE_MAX_STR + 1);
    raw_str16(&raw, "ucx", 3);
    raw_end(&raw);
    cr_expect_eq(decode_check(CPN_MSG_HELLO, raw.data, raw.len), CPN_ERR_TOO_BIG);

    raw_hdr(&raw, CPN_MSG_CANCEL, 1);
    raw_uint(&raw, 0, 4);
    raw_str16(&raw, max, CPN_WIRE_MAX_STR + 1);
    raw_end(&raw);
    cr_expect_eq(decode_check(CPN_MSG_CANCEL, raw.data, raw.len), CPN_ERR_TOO_BIG);

    raw_hdr(&raw, CPN_MSG_OFFER, 1);
    raw_str16(&raw, "j", 1);
    raw_uint(&raw, CPN_WIRE_MAX_SPEC + 1, 4);
    raw_bytes(&raw, spec, CPN_WIRE_MAX_SPEC + 1);
    raw_uint(&raw, 0, 8), raw_uint(&raw, 1, 4), raw_uint(&raw, 0, 4);
    raw_end(&raw);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, raw.data, raw.len), CPN_ERR_TOO_BIG);
    /* the same with the spec at the limit is good */
    raw_hdr(&raw, CPN_MSG_OFFER, 1);
    raw_str16(&raw, "j", 1);
    raw_uint(&raw, CPN_WIRE_MAX_SPEC, 4);
    raw_bytes(&raw, spec, CPN_WIRE_MAX_SPEC);
    raw_uint(&raw, 0, 8), raw_uint(&raw, 1, 4), raw_uint(&raw, 0, 4);
    raw_end(&raw);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, raw.data, raw.len), CPN_OK);
    cr_expect_eq(cpn_wire_decode_offer(raw.data, raw.len, NULL, &m), CPN_OK);
    cr_expect_eq(m.spec.len, CPN_WIRE_MAX_SPEC);

    free(raw.data);
    free(max);
    free(spec);
    cpn_wire_buf_free(&b);
}

Test(wire, count_limits, .timeout = 60)
{
    uint32_t *slots = calloc(CPN_WIRE_MAX_SLOTS + 1, sizeof(*slots));
    cpn_digest_t *dig = calloc((size_t)CPN_WIRE_MAX_OBJECTS + 1, sizeof(*dig));
    cpn_wire_sink_t *sinks = calloc((size_t)CPN_WIRE_MAX_OBJECTS + 1, sizeof(*sinks));
    cpn_wire_object_t o = { .name = { "o", 1 }, .size = 3 };
    cpn_wire_buf_t b;
    cpn_wire_offer_t m;
    cpn_wire_grant_t g;
    cpn_wire_commit_t c;
    raw_t raw = { 0 };
    uint32_t i;

    cr_assert(slots != NULL && dig != NULL && sinks != NULL);
    for (i = 0; i <= CPN_WIRE_MAX_SLOTS; i++) {
        slots[i] = i ^ 0x5a5a5a5a;
    }
    for (i = 0; i <= CPN_WIRE_MAX_OBJECTS; i++) {
        dig[i] = (cpn_digest_t){ i, ~(uint64_t)i };
    }
    cpn_wire_buf_init(&b);

    /* GRANT and ACCEPT: MAX_SLOTS slots pass, one more does not */
    cr_assert_eq(cpn_wire_encode_grant(&b, 1, slots, CPN_WIRE_MAX_SLOTS), CPN_OK);
    cr_assert_eq(decode_check(CPN_MSG_GRANT, b.data, b.len), CPN_OK);
    cr_assert_eq(cpn_wire_decode_grant(b.data, b.len, NULL, &g), CPN_OK);
    cr_expect_eq(g.nslots, CPN_WIRE_MAX_SLOTS);
    cr_expect_eq(cpn_wire_u32_at(g.slots_, CPN_WIRE_MAX_SLOTS - 1),
                 slots[CPN_WIRE_MAX_SLOTS - 1]);
    cpn_wire_buf_reset(&b);
    EXPECT_REFUSED(&b, cpn_wire_encode_grant(&b, 1, slots, CPN_WIRE_MAX_SLOTS + 1),
                   CPN_ERR_TOO_BIG);
    cr_assert_eq(cpn_wire_encode_accept(&b, 1, 0, cpn_wire_str(NULL), slots,
                                        CPN_WIRE_MAX_SLOTS, sinks, 100), CPN_OK);
    cr_assert_eq(decode_check(CPN_MSG_ACCEPT, b.data, b.len), CPN_OK);
    cpn_wire_buf_reset(&b);
    EXPECT_REFUSED(&b, cpn_wire_encode_accept(&b, 1, 0, cpn_wire_str(NULL), slots,
                                              CPN_WIRE_MAX_SLOTS + 1, NULL, 0),
                   CPN_ERR_TOO_BIG);
    EXPECT_REFUSED(&b, cpn_wire_encode_accept(&b, 1, 0, cpn_wire_str(NULL), NULL, 0,
                                              sinks, CPN_WIRE_MAX_OBJECTS + 1),
                   CPN_ERR_TOO_BIG);

    /* COMMIT: MAX_OBJECTS digests */
    cr_assert_eq(cpn_wire_encode_commit(&b, 1, dig, CPN_WIRE_MAX_OBJECTS), CPN_OK);
    cr_assert_eq(cpn_wire_decode_commit(b.data, b.len, NULL, &c), CPN_OK);
    cr_expect_eq(c.nobjects, CPN_WIRE_MAX_OBJECTS);
    cr_expect(cpn_digest_eq(cpn_wire_commit_digest(&c, CPN_WIRE_MAX_OBJECTS - 1),
                            dig[CPN_WIRE_MAX_OBJECTS - 1]));
    cpn_wire_buf_reset(&b);
    EXPECT_REFUSED(&b, cpn_wire_encode_commit(&b, 1, dig, CPN_WIRE_MAX_OBJECTS + 1),
                   CPN_ERR_TOO_BIG);

    /* OFFER: MAX_OBJECTS objects, then one more is refused */
    cr_assert_eq(cpn_wire_offer_begin(&b, 1, cpn_wire_str("j"), cpn_wire_str(""), 1), CPN_OK);
    for (i = 0; i < CPN_WIRE_MAX_OBJECTS; i++) {
        CHECK(cpn_wire_offer_add(&b, &o) == CPN_OK, "object %u", i);
    }
    EXPECT_REFUSED(&b, cpn_wire_offer_add(&b, &o), CPN_ERR_TOO_BIG);
    cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);
    cr_assert_eq(cpn_wire_decode_offer(b.data, b.len, NULL, &m), CPN_OK);
    cr_expect_eq(m.nobjects, CPN_WIRE_MAX_OBJECTS);
    cr_expect_eq(m.total_bytes, 3ull * CPN_WIRE_MAX_OBJECTS);

    /* hand-made counts over the limit, with every byte present */
    raw_hdr(&raw, CPN_MSG_GRANT, 1);
    raw_uint(&raw, CPN_WIRE_MAX_SLOTS + 1, 4);
    raw_bytes(&raw, slots, (CPN_WIRE_MAX_SLOTS + 1) * 4u);
    raw_end(&raw);
    cr_expect_eq(decode_check(CPN_MSG_GRANT, raw.data, raw.len), CPN_ERR_TOO_BIG);

    raw_hdr(&raw, CPN_MSG_ACCEPT, 1);
    raw_uint(&raw, 0, 4), raw_str16(&raw, "", 0);
    raw_uint(&raw, CPN_WIRE_MAX_SLOTS + 1, 4);
    raw_bytes(&raw, slots, (CPN_WIRE_MAX_SLOTS + 1) * 4u);
    raw_uint(&raw, 0, 4);
    raw_end(&raw);
    cr_expect_eq(decode_check(CPN_MSG_ACCEPT, raw.data, raw.len), CPN_ERR_TOO_BIG);

    raw_hdr(&raw, CPN_MSG_COMMIT, 1);
    raw_uint(&raw, CPN_WIRE_MAX_OBJECTS + 1, 4);
    raw_bytes(&raw, dig, ((size_t)CPN_WIRE_MAX_OBJECTS + 1) * 16);
    raw_end(&raw);
    cr_expect_eq(decode_check(CPN_MSG_COMMIT, raw.data, raw.len), CPN_ERR_TOO_BIG);

    /* the offer above with its count patched one over */
    {
        uint8_t *p = exact_copy(b.data, b.len);
        size_t at = CPN_WIRE_HDR_LEN + 3 + 4 + 8 + 4; /* job "j", spec "", total, chunk */
        cr_assert_eq(get32(p + at), CPN_WIRE_MAX_OBJECTS);
        put32(p + at, CPN_WIRE_MAX_OBJECTS + 1);
        cr_expect_eq(decode_check(CPN_MSG_OFFER, p, b.len), CPN_ERR_TOO_BIG);
        free(p);
    }

    free(raw.data);
    free(slots);
    free(dig);
    free(sinks);
    cpn_wire_buf_free(&b);
}

Test(wire, message_size_limit, .timeout = 60)
{
    const size_t big = 16u << 20;
    char *data = filled(CPN_WIRE_MAX_MSG + 1, 'd');
    cpn_wire_buf_t b;
    cpn_wire_hello_ack_t a;
    cpn_wire_sink_t sink = { 1, 2, { data, CPN_WIRE_MAX_MSG } };
    cpn_wire_object_t o = { .name = { "big", 3 }, .size = big,
                            .flags = CPN_WIRE_OBJ_INLINE, .data = data };
    cpn_wire_offer_t m;
    size_t at_end;
    int n;

    cpn_wire_buf_init(&b);
    memset(&a, 0, sizeof(a));
    a.pool_rkey = str_n(data, CPN_WIRE_MAX_MSG);
    EXPECT_REFUSED(&b, cpn_wire_encode_hello_ack(&b, &a), CPN_ERR_TOO_BIG);
    a.pool_rkey = str_n(data, CPN_WIRE_MAX_MSG + 1);
    EXPECT_REFUSED(&b, cpn_wire_encode_hello_ack(&b, &a), CPN_ERR_TOO_BIG);
    EXPECT_REFUSED(&b, cpn_wire_encode_accept(&b, 1, 0, cpn_wire_str(NULL), NULL, 0, &sink, 1),
                   CPN_ERR_TOO_BIG);

    /* inline objects fill an offer up to the limit, not past it */
    cr_assert_eq(cpn_wire_offer_begin(&b, 1, cpn_wire_str("j"), cpn_wire_str(""), 1), CPN_OK);
    for (n = 0; n < 10; n++) {
        cpn_status_t st = cpn_wire_offer_add(&b, &o);
        if (st != CPN_OK) {
            cr_expect_eq(st, CPN_ERR_TOO_BIG);
            break;
        }
    }
    cr_expect_eq(n, 3, "three 16 MiB objects fit in 64 MiB, not four");
    /* exactly to the limit: fill what is left with one more inline object */
    at_end = b.len;
    o.size = CPN_WIRE_MAX_MSG - at_end - (2 + 3 + 8 + 1 + 16);
    cr_assert_eq(cpn_wire_offer_add(&b, &o), CPN_OK);
    cr_assert_eq(b.len, CPN_WIRE_MAX_MSG);
    o.size = 0;
    o.flags = 0;
    o.name = str_n(NULL, 0);
    EXPECT_REFUSED(&b, cpn_wire_offer_add(&b, &o), CPN_ERR_TOO_BIG);
    cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);
    cr_assert_eq(cpn_wire_decode_offer(b.data, b.len, NULL, &m), CPN_OK);
    cr_expect_eq(m.nobjects, 4);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, b.data, b.len), CPN_OK);

    /* an inline object over the limit by itself */
    cpn_wire_buf_reset(&b);
    cr_assert_eq(cpn_wire_offer_begin(&b, 1, cpn_wire_str("j"), cpn_wire_str(""), 1), CPN_OK);
    o = (cpn_wire_object_t){ .name = { "x", 1 }, .size = (uint64_t)CPN_WIRE_MAX_MSG + 1,
                             .flags = CPN_WIRE_OBJ_INLINE, .data = data };
    EXPECT_REFUSED(&b, cpn_wire_offer_add(&b, &o), CPN_ERR_TOO_BIG);
    o.size = UINT64_MAX;
    EXPECT_REFUSED(&b, cpn_wire_offer_add(&b, &o), CPN_ERR_TOO_BIG);
    cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, b.data, b.len), CPN_OK);

    free(data);
    cpn_wire_buf_free(&b);
}

/* ---- OFFER rules, and misuse of begin/add/end ---- */

Test(wire, offer_rules)
{
    cpn_wire_buf_t b;
    cpn_wire_object_t o = { .name = { "a", 1 }, .size = UINT64_MAX };
    cpn_wire_offer_t m;
    uint32_t s = 1;

    cpn_wire_buf_init(&b);
    EXPECT_REFUSED(&b, cpn_wire_offer_add(&b, &o), CPN_ERR_INVALID);
    EXPECT_REFUSED(&b, cpn_wire_offer_end(&b), CPN_ERR_INVALID);
    EXPECT_REFUSED(&b, cpn_wire_offer_begin(&b, 1, cpn_wire_str("j"), cpn_wire_str(""), 0),
                   CPN_ERR_INVALID);

    cr_assert_eq(cpn_wire_offer_begin(&b, 1, cpn_wire_str("j"), cpn_wire_str(""), 512), CPN_OK);
    /* no other message, nor a second OFFER, inside an open one */
    EXPECT_REFUSED(&b, cpn_wire_offer_begin(&b, 2, cpn_wire_str("j"), cpn_wire_str(""), 1),
                   CPN_ERR_INVALID);
    EXPECT_REFUSED(&b, cpn_wire_encode_grant(&b, 1, &s, 1), CPN_ERR_INVALID);
    /* sizes sum to at most UINT64_MAX */
    cr_assert_eq(cpn_wire_offer_add(&b, &o), CPN_OK);
    o.size = 1;
    EXPECT_REFUSED(&b, cpn_wire_offer_add(&b, &o), CPN_ERR_TOO_BIG);
    o.size = 0;
    cr_assert_eq(cpn_wire_offer_add(&b, &o), CPN_OK);
    /* flags: only INLINE, and INLINE with data */
    o.flags = 0x02;
    EXPECT_REFUSED(&b, cpn_wire_offer_add(&b, &o), CPN_ERR_INVALID);
    o.flags = CPN_WIRE_OBJ_INLINE, o.size = 4, o.data = NULL;
    EXPECT_REFUSED(&b, cpn_wire_offer_add(&b, &o), CPN_ERR_INVALID);
    o.name = str_n(NULL, 3);
    o.flags = 0;
    EXPECT_REFUSED(&b, cpn_wire_offer_add(&b, &o), CPN_ERR_INVALID);
    cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);
    cr_assert_eq(cpn_wire_decode_offer(b.data, b.len, NULL, &m), CPN_OK);
    cr_expect_eq(m.total_bytes, UINT64_MAX);
    cr_expect_eq(m.nobjects, 2);
    cr_expect_eq(m.chunk_size, 512);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, b.data, b.len), CPN_OK);
    /* closed: the next message may follow */
    cr_expect_eq(cpn_wire_encode_grant(&b, 1, &s, 1), CPN_OK);
    cpn_wire_buf_free(&b);
}

/* Hand-made OFFERs that break one rule each. */
Test(wire, offer_decoder_rules)
{
    raw_t r = { 0 };
    static const char data[4] = "abcd";

#define OFFER_START(total, chunk, nobj)                                       \
    raw_hdr(&r, CPN_MSG_OFFER, 1);                                            \
    raw_str16(&r, "job", 3);                                                  \
    raw_uint(&r, 0, 4);                                                       \
    raw_uint(&r, (total), 8);                                                 \
    raw_uint(&r, (chunk), 4);                                                 \
    raw_uint(&r, (nobj), 4)
#define OBJ(name, size, flags)                                                \
    raw_str16(&r, name, strlen(name));                                        \
    raw_uint(&r, (size), 8);                                                  \
    raw_uint(&r, (flags), 1)

    /* the good one */
    OFFER_START(4, 1, 1);
    OBJ("a", 4, CPN_WIRE_OBJ_INLINE);
    raw_uint(&r, 1, 8), raw_uint(&r, 2, 8), raw_bytes(&r, data, 4);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_OK);

    /* inline data one byte short / long of the size */
    OFFER_START(4, 1, 1);
    OBJ("a", 4, CPN_WIRE_OBJ_INLINE);
    raw_uint(&r, 1, 8), raw_uint(&r, 2, 8), raw_bytes(&r, data, 3);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_TRUNCATED);
    OFFER_START(4, 1, 1);
    OBJ("a", 4, CPN_WIRE_OBJ_INLINE);
    raw_uint(&r, 1, 8), raw_uint(&r, 2, 8), raw_bytes(&r, data, 4), raw_uint(&r, 0, 1);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_CORRUPT);

    /* data without the INLINE flag */
    OFFER_START(4, 1, 1);
    OBJ("a", 4, 0);
    raw_uint(&r, 1, 8), raw_uint(&r, 2, 8), raw_bytes(&r, data, 4);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_CORRUPT);

    /* unknown flag bits */
    for (unsigned bit = 1; bit < 8; bit++) {
        OFFER_START(4, 1, 1);
        OBJ("a", 4, 1u << bit);
        raw_end(&r);
        cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_CORRUPT, "%u", bit);
    }

    /* total_bytes wrong, and sizes whose sum wraps */
    OFFER_START(5, 1, 1);
    OBJ("a", 4, 0);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_CORRUPT);
    OFFER_START(1, 1, 2);
    OBJ("a", UINT64_MAX, 0);
    OBJ("b", 2, 0);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_CORRUPT);
    OFFER_START(UINT64_MAX, 1, 2);
    OBJ("a", UINT64_MAX - 2, 0);
    OBJ("b", 2, 0);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_OK);

    /* chunk size 0 */
    OFFER_START(0, 0, 0);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_CORRUPT);

    /* more objects counted than present, fewer counted than present */
    OFFER_START(0, 1, 2);
    OBJ("a", 0, 0);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_TRUNCATED);
    OFFER_START(0, 1, 1);
    OBJ("a", 0, 0);
    OBJ("b", 0, 0);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_CORRUPT);
    /* a count that the bytes left cannot hold */
    OFFER_START(0, 1, 0xffffff);
    OBJ("a", 0, 0);
    raw_end(&r);
    cr_expect_neq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_OK);

    /* an inline size far beyond the message */
    OFFER_START(UINT64_MAX, 1, 1);
    OBJ("a", UINT64_MAX, CPN_WIRE_OBJ_INLINE);
    raw_uint(&r, 1, 8), raw_uint(&r, 2, 8), raw_bytes(&r, data, 4);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_TRUNCATED);

    /* a spec length beyond the message (under the spec limit) */
    raw_hdr(&r, CPN_MSG_OFFER, 1);
    raw_str16(&r, "job", 3);
    raw_uint(&r, 1000, 4);
    raw_uint(&r, 0, 8), raw_uint(&r, 1, 4), raw_uint(&r, 0, 4);
    raw_end(&r);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, r.data, r.len), CPN_ERR_TRUNCATED);
#undef OFFER_START
#undef OBJ
    free(r.data);
}

Test(wire, chunk_decoder_rules)
{
    cpn_wire_chunk_t c = { 1, 2, 3, 4, 5 };
    uint8_t out[CPN_WIRE_CHUNK_LEN], *p;
    cpn_wire_chunk_t d;

    cpn_wire_encode_chunk(out, 1, &c);
    p = exact_copy(out, sizeof(out));
    /* len 0 */
    put32(p + 32, 0);
    cr_expect_eq(cpn_wire_decode_chunk(p, sizeof(out), NULL, &d), CPN_ERR_CORRUPT);
    put32(p + 32, 4);
    /* reserved bytes set */
    for (int i = 36; i < 40; i++) {
        p[i] = 1;
        cr_expect_eq(cpn_wire_decode_chunk(p, sizeof(out), NULL, &d), CPN_ERR_CORRUPT);
        p[i] = 0;
    }
    /* offset + len wraps */
    memset(p + 24, 0xff, 8);
    cr_expect_eq(cpn_wire_decode_chunk(p, sizeof(out), NULL, &d), CPN_ERR_CORRUPT);
    p[24] = 0xfc; /* UINT64_MAX - 3: + 4 wraps to 0 */
    cr_expect_eq(cpn_wire_decode_chunk(p, sizeof(out), NULL, &d), CPN_ERR_CORRUPT);
    p[24] = 0xfb; /* UINT64_MAX - 4: ends at UINT64_MAX */
    cr_expect_eq(cpn_wire_decode_chunk(p, sizeof(out), NULL, &d), CPN_OK);
    free(p);
}

/* A message of every type with one byte too many (length patched) is
 * refused: nothing may be left over. */
Test(wire, leftover_bytes)
{
    frames_t fs;

    sample_frames(&fs);
    for (size_t i = 0; i < fs.n; i++) {
        frame_t *f = &fs.f[i];
        for (size_t extra = 1; extra <= 17; extra += 8) {
            uint8_t *p = malloc(f->len + extra);
            cr_assert_not_null(p);
            memcpy(p, f->data, f->len);
            memset(p + f->len, 0, extra);
            put32(p + 4, (uint32_t)(f->len + extra));
            cr_expect_eq(decode_check(f->type, p, f->len + extra), CPN_ERR_CORRUPT,
                         "sample %zu (%s) + %zu", i, cpn_wire_type_str(f->type), extra);
            free(p);
        }
    }
    frames_free(&fs);
}

/* Every proper prefix of every sample is refused: as it is (the length says
 * more), and with the length patched to the prefix (a field runs out, or a
 * count is not met). */
Test(wire, truncated_prefixes)
{
    frames_t fs;
    size_t tried = 0;

    sample_frames(&fs);
    for (size_t i = 0; i < fs.n; i++) {
        frame_t *f = &fs.f[i];
        for (size_t k = 0; k < f->len; k++) {
            uint8_t *p = exact_copy(f->data, k);
            cpn_status_t st = decode_check(f->type, p, k);

            CHECK(st == CPN_ERR_TRUNCATED, "sample %zu (%s) cut to %zu: %s", i,
                  cpn_wire_type_str(f->type), k, cpn_status_name(st));
            if (k >= 8) {
                put32(p + 4, (uint32_t)k);
                st = decode_check(f->type, p, k);
                CHECK(st != CPN_OK, "sample %zu (%s) cut to %zu, length patched, decodes",
                      i, cpn_wire_type_str(f->type), k);
                CHECK(st == CPN_ERR_TRUNCATED || st == CPN_ERR_CORRUPT,
                      "sample %zu (%s) cut to %zu, length patched: %s", i,
                      cpn_wire_type_str(f->type), k, cpn_status_name(st));
            }
            free(p);
            tried++;
        }
    }
    cr_expect_gt(tried, 1000);
    frames_free(&fs);
}

/* ---- random corruption ---- */

static const uint32_t interesting[] = {
    0, 1, 2, 3, 4, 7, 8, 15, 16, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0x1001,
    0x7fff, 0x8000, 0xffff, 0x10000, 0x10001, 0xfffff, 0x100000, 0x100001,
    0x3ffffff, 0x4000000, 0x4000001, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
};

/* Damage @p p (len bytes) in one of a few ways. */
static void mutate(uint8_t *p, size_t len)
{
    unsigned n = 1 + (unsigned)rng_below(4), i;

    switch (rng_below(3)) {
    case 0: /* flip bits of a few bytes */
        for (i = 0; i < n; i++) {
            p[rng_below(len)] ^= (uint8_t)(1 + rng_below(255));
        }
        break;
    case 1: /* write an interesting 1, 2, 4 or 8-byte value */
        for (i = 0; i < n; i++) {
            unsigned w = 1u << rng_below(4);
            uint64_t v = interesting[rng_below(CPN_ARRAY_SIZE(interesting))];
            size_t at;
            if (rng_below(2)) {
                v = ~v;
            }
            if (w > len) {
                continue;
            }
            at = rng_below(len - w + 1);
            for (unsigned k = 0; k < w; k++) {
                p[at + k] = (uint8_t)(v >> (8 * k));
            }
        }
        break;
    default: /* random bytes */
        for (i = 0; i < n; i++) {
            p[rng_below(len)] = (uint8_t)rng();
        }
        break;
    }
}

#define FUZZ_ROUNDS 4000

Test(wire, random_corruption, .timeout = 120)
{
    frames_t fs;
    size_t decoded = 0, refused = 0;

    rng_seed(0x5eed0001);
    sample_frames(&fs);
    for (size_t i = 0; i < fs.n; i++) {
        frame_t *f = &fs.f[i];
        for (int round = 0; round < FUZZ_ROUNDS; round++) {
            /* sometimes also cut or grow the frame, patching the length so
             * the body is what gets parsed */
            size_t len = f->len, mode = rng_below(4);
            uint8_t *p;

            if (mode == 1) {
                len = CPN_WIRE_HDR_LEN + rng_below(f->len - CPN_WIRE_HDR_LEN + 1);
            } else if (mode == 2) {
                len = f->len + 1 + rng_below(40);
            }
            p = malloc(len);
            cr_assert_not_null(p);
            memcpy(p, f->data, CPN_MIN(len, f->len));
            for (size_t k = f->len; k < len; k++) {
                p[k] = (uint8_t)rng();
            }
            mutate(p, len);
            if (mode == 1 || mode == 2 || (mode == 3 && rng_below(2))) {
                put32(p + 4, (uint32_t)len);
            }
            if (decode_check(f->type, p, len) == CPN_OK) {
                decoded++;
            } else {
                refused++;
            }
            /* every other decoder survives it too */
            for (unsigned t = CPN_MSG_HELLO; t < CPN_MSG_TYPE_MAX; t++) {
                if (t != f->type) {
                    (void)decode_check(t, p, len);
                }
            }
            free(p);
        }
    }
    /* both outcomes happen, or the test exercises too little */
    cr_expect_gt(decoded, 1000);
    cr_expect_gt(refused, 1000);
    frames_free(&fs);
}

/* Random bodies behind a good header, for every type. */
Test(wire, random_bodies, .timeout = 120)
{
    size_t decoded = 0;

    rng_seed(0x5eed0002);
    for (unsigned t = CPN_MSG_HELLO; t < CPN_MSG_TYPE_MAX; t++) {
        for (int round = 0; round < 3000; round++) {
            size_t body = rng_below(4) == 0 ? 32 : rng_below(120);
            size_t len  = CPN_WIRE_HDR_LEN + body;
            uint8_t *p  = malloc(len);

            cr_assert_not_null(p);
            for (size_t k = 0; k < len; k++) {
                /* mostly zero bytes make small counts and lengths, which
                 * parse; the rest are random */
                p[k] = (uint8_t)(rng_below(4) ? 0 : rng_below(2) ? rng_below(4) : rng());
            }
            p[0] = 'C', p[1] = 'P', p[2] = CPN_WIRE_VERSION, p[3] = (uint8_t)t;
            put32(p + 4, (uint32_t)len);
            if (t == CPN_MSG_HELLO || t == CPN_MSG_HELLO_ACK) {
                memset(p + 8, 0, 8);
            }
            if (decode_check(t, p, len) == CPN_OK) {
                decoded++;
            }
            free(p);
        }
    }
    cr_expect_gt(decoded, 100);
}

/* Random valid messages of every type round-trip. */
Test(wire, random_round_trips, .timeout = 120)
{
    char text[600];
    uint32_t slots[300];
    cpn_wire_sink_t sinks[20];
    cpn_digest_t dig[50];
    cpn_wire_buf_t b;

    rng_seed(0x5eed0003);
    for (size_t k = 0; k < sizeof(text); k++) {
        text[k] = (char)rng();
    }
    for (size_t k = 0; k < CPN_ARRAY_SIZE(slots); k++) {
        slots[k] = (uint32_t)rng();
    }
    for (size_t k = 0; k < CPN_ARRAY_SIZE(dig); k++) {
        dig[k] = (cpn_digest_t){ rng(), rng() };
    }
#define RSTR() str_n(text + rng_below(100), rng_below(300))
    cpn_wire_buf_init(&b);
    for (int round = 0; round < 300; round++) {
        cpn_wire_hello_t h = { .proto_min = (uint16_t)rng(), .proto_max = (uint16_t)rng(), .site = RSTR(), .transport = RSTR() };
        cpn_wire_hello_ack_t a = { (int32_t)rng(), (uint16_t)rng(), RSTR(), RSTR(),
                                   (uint32_t)rng(), rng(), (uint32_t)rng(), (uint32_t)rng(),
                                   (uint32_t)rng(), (uint32_t)rng(), rng(), RSTR() };
        cpn_wire_nack_t n = { (uint32_t)rng(), (uint32_t)rng(), rng(), (uint32_t)rng(),
                              (int32_t)rng() };
        cpn_wire_receipt_t r = { (int32_t)rng(), RSTR(), RSTR(), rng(), rng(), rng(), rng() };
        cpn_wire_cancel_t c = { (int32_t)rng(), RSTR() };
        cpn_wire_chunk_t ch = { (uint32_t)rng(), (uint32_t)rng(), rng() >> 1,
                                (uint32_t)rng() | 1, rng() };
        uint8_t out[CPN_WIRE_CHUNK_LEN];
        uint32_t nsinks = (uint32_t)rng_below(CPN_ARRAY_SIZE(sinks) + 1);
        uint32_t nobj = (uint32_t)rng_below(20);
        unsigned types[10];
        size_t nt = 0, off = 0;

        for (uint32_t k = 0; k < nsinks; k++) {
            sinks[k] = (cpn_wire_sink_t){ (uint32_t)rng(), rng(), RSTR() };
        }
        cpn_wire_buf_reset(&b);
        cr_assert_eq(cpn_wire_encode_hello(&b, &h), CPN_OK);
        types[nt++] = CPN_MSG_HELLO;
        cr_assert_eq(cpn_wire_encode_hello_ack(&b, &a), CPN_OK);
        types[nt++] = CPN_MSG_HELLO_ACK;
        cr_assert_eq(cpn_wire_offer_begin(&b, rng(), RSTR(), RSTR(), (uint32_t)rng() | 1),
                     CPN_OK);
        for (uint32_t k = 0; k < nobj; k++) {
            cpn_wire_object_t o = { .name = RSTR(), .size = rng() >> 8 };
            if (rng_below(2)) {
                o.flags = CPN_WIRE_OBJ_INLINE;
                o.size = rng_below(200);
                o.digest = dig[k];
                o.data = text + rng_below(300);
            }
            cr_assert_eq(cpn_wire_offer_add(&b, &o), CPN_OK);
        }
        cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);
        types[nt++] = CPN_MSG_OFFER;
        cr_assert_eq(cpn_wire_encode_accept(&b, rng(), (int32_t)rng(), RSTR(), slots,
                                            (uint32_t)rng_below(300), sinks, nsinks), CPN_OK);
        types[nt++] = CPN_MSG_ACCEPT;
        cr_assert_eq(cpn_wire_encode_grant(&b, rng(), slots, (uint32_t)rng_below(300)),
                     CPN_OK);
        types[nt++] = CPN_MSG_GRANT;
        cr_assert_eq(cpn_wire_encode_nack(&b, rng(), &n), CPN_OK);
        types[nt++] = CPN_MSG_NACK;
        cr_assert_eq(cpn_wire_encode_commit(&b, rng(), dig, (uint32_t)rng_below(50)), CPN_OK);
        types[nt++] = CPN_MSG_COMMIT;
        cr_assert_eq(cpn_wire_encode_receipt(&b, rng(), &r), CPN_OK);
        types[nt++] = CPN_MSG_RECEIPT;
        cr_assert_eq(cpn_wire_encode_cancel(&b, rng(), &c), CPN_OK);
        types[nt++] = CPN_MSG_CANCEL;
        for (size_t k = 0; k < nt; k++) {
            uint32_t len = get32(b.data + off + 4);
            uint8_t *p = exact_copy(b.data + off, len);
            CHECK(decode_check(types[k], p, len) == CPN_OK, "round %d: %s", round,
                  cpn_wire_type_str(types[k]));
            free(p);
            off += len;
        }
        CHECK(off == b.len, "messages fill the buffer");
        cpn_wire_encode_chunk(out, rng(), &ch);
        CHECK(decode_check(CPN_MSG_CHUNK, out, sizeof(out)) == CPN_OK, "chunk");
    }
#undef RSTR
    cpn_wire_buf_free(&b);
}

/* ---- the buffer ---- */

Test(wire, buffer_failed_is_sticky)
{
    cpn_wire_buf_t b;
    cpn_wire_cancel_t c = { 0, { "x", 1 } };
    uint32_t s = 1;
    uint8_t *data;

    cpn_wire_buf_init(&b);
    cr_expect_null(b.data);
    cr_expect_eq(b.len, 0);
    cr_assert_eq(cpn_wire_encode_cancel(&b, 1, &c), CPN_OK);
    b.failed = 1; /* as if a realloc had failed */
    EXPECT_REFUSED(&b, cpn_wire_encode_cancel(&b, 1, &c), CPN_ERR_NO_MEMORY);
    EXPECT_REFUSED(&b, cpn_wire_encode_grant(&b, 1, &s, 1), CPN_ERR_NO_MEMORY);
    EXPECT_REFUSED(&b, cpn_wire_offer_begin(&b, 1, cpn_wire_str("j"), cpn_wire_str(""), 1),
                   CPN_ERR_NO_MEMORY);
    /* reset keeps the memory and clears the failure */
    data = b.data;
    cpn_wire_buf_reset(&b);
    cr_expect_eq(b.len, 0);
    cr_expect_eq(b.failed, 0);
    cr_expect_eq(b.data, data);
    cr_assert_eq(cpn_wire_encode_cancel(&b, 1, &c), CPN_OK);
    cr_expect_eq(b.data, data);
    /* a failure inside an OFFER closes it at the end */
    cr_assert_eq(cpn_wire_offer_begin(&b, 1, cpn_wire_str("j"), cpn_wire_str(""), 1), CPN_OK);
    b.failed = 1;
    cr_expect_eq(cpn_wire_offer_end(&b), CPN_ERR_NO_MEMORY);
    cpn_wire_buf_reset(&b);
    cr_expect_eq(cpn_wire_encode_cancel(&b, 1, &c), CPN_OK);
    cpn_wire_buf_free(&b);
    cr_expect_null(b.data);
    cpn_wire_buf_free(&b); /* twice is fine */
}

/* A zeroed buffer is a valid empty one, as if from cpn_wire_buf_init. */
Test(wire, zeroed_buffer)
{
    cpn_wire_buf_t b;
    cpn_wire_object_t o = { .name = { "a", 1 }, .size = 1 };
    uint32_t s = 1;

    memset(&b, 0, sizeof(b));
    cr_assert_eq(cpn_wire_encode_grant(&b, 1, &s, 1), CPN_OK);
    cpn_wire_buf_free(&b);
    memset(&b, 0, sizeof(b));
    cr_assert_eq(cpn_wire_offer_begin(&b, 1, cpn_wire_str("j"), cpn_wire_str(""), 1), CPN_OK);
    cr_assert_eq(cpn_wire_offer_add(&b, &o), CPN_OK);
    cr_assert_eq(cpn_wire_offer_end(&b), CPN_OK);
    cr_expect_eq(decode_check(CPN_MSG_OFFER, b.data, b.len), CPN_OK);
    cpn_wire_buf_free(&b);
}

Test(wire, null_pointers_with_length_refused)
{
    cpn_wire_buf_t b;
    cpn_wire_hello_t h = { .proto_min = 1, .proto_max = 1, .site = { NULL, 1 }, .transport = { "", 0 } };

    cpn_wire_buf_init(&b);
    EXPECT_REFUSED(&b, cpn_wire_encode_hello(&b, &h), CPN_ERR_INVALID);
    EXPECT_REFUSED(&b, cpn_wire_encode_grant(&b, 1, NULL, 1), CPN_ERR_INVALID);
    EXPECT_REFUSED(&b, cpn_wire_encode_commit(&b, 1, NULL, 1), CPN_ERR_INVALID);
    EXPECT_REFUSED(&b, cpn_wire_encode_accept(&b, 1, 0, cpn_wire_str(""), NULL, 1, NULL, 0),
                   CPN_ERR_INVALID);
    cpn_wire_buf_free(&b);
}
