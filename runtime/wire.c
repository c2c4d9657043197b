/* SPDX-License-Identifier: Apache-2.0 */
/* Encoders and decoders of the delivery protocol's messages (see wire.h).
 * Everything that reads bytes from the network goes through one bounds-
 * checked reader with a sticky error, so a decoder cannot read outside the
 * message whatever the input; the encoders compute a message's exact size
 * and check every limit before they append a byte, so they never emit a
 * message the decoders would refuse.
 *
 * Byte layout. Integers are little-endian; str16 = u16 length + bytes
 * (length <= CPN_WIRE_MAX_STR); bytes32 = u32 length + bytes. Every message
 * is the 16-byte header of wire.h followed by its body:
 *
 *   HELLO      (task id 0)
 *              u16 proto_min, u16 proto_max, str16 site, str16 transport,
 *              and when proto_max >= 2 (so that a version 1 HELLO still
 *              decodes and gets a clear version refusal):
 *              u8 has_key (0 or 1), u8[32] nonce, u8[32] pubkey (zero
 *              when has_key is 0)
 *   HELLO_ACK  (task id 0)
 *              i32 status, u16 proto, str16 site, str16 error,
 *              u32 max_objects, u64 max_task_bytes, u32 max_name_len,
 *              u32 inline_max, u32 slot_size, u32 nslots, u64 pool_addr,
 *              bytes32 pool_rkey
 *   OFFER      str16 job, bytes32 spec (<= CPN_WIRE_MAX_SPEC),
 *              u64 total_bytes (= sum of the object sizes),
 *              u32 chunk_size (> 0), u32 nobjects (<= CPN_WIRE_MAX_OBJECTS),
 *              nobjects x object:
 *                str16 name, u64 size, u8 flags (only CPN_WIRE_OBJ_INLINE),
 *                and if INLINE: u64 digest.hi, u64 digest.lo, size bytes data
 *   ACCEPT     i32 status, str16 error,
 *              u32 nslots (<= CPN_WIRE_MAX_SLOTS), nslots x u32 slot,
 *              u32 nsinks (<= CPN_WIRE_MAX_OBJECTS),
 *              nsinks x sink: u32 object, u64 addr, bytes32 rkey
 *   GRANT      u32 nslots (<= CPN_WIRE_MAX_SLOTS), nslots x u32 slot
 *   CHUNK      u32 slot, u32 object, u64 offset, u32 len (> 0),
 *              u32 reserved (0), u64 hash          (32 bytes; offset + len
 *              must not wrap; the pad keeps offset and hash 8-aligned)
 *   NACK       u32 slot, u32 object, u64 offset, u32 len, i32 status
 *   COMMIT     u32 nobjects (<= CPN_WIRE_MAX_OBJECTS),
 *              nobjects x (u64 digest.hi, u64 digest.lo)
 *   RECEIPT    i32 status, str16 error, str16 landed_at, u64 bytes,
 *              u64 chunks, u64 retries, u64 elapsed_ns
 *   CANCEL     i32 status, str16 reason
 *   AUTH       (task id 0) u32 step (1 or 2), u8[32] nonce, u8[32] pubkey,
 *              u8[64] signature
 *   PING       (task id 0) u64 sender's clock (ns)
 *   HAVE       u32 n (<= CPN_WIRE_MAX_HAVE), n x (u32 object, u64 chunk
 *              index, u64 hash)
 *
 * Decoders return CPN_ERR_TRUNCATED when a field runs past the end of the
 * message, CPN_ERR_TOO_BIG when a count or length is over its limit, and
 * CPN_ERR_CORRUPT for invalid values and bytes left over. */
#include "runtime/wire.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* offer_start is 1 + the offset of the open OFFER, 0 when none, so a
 * zeroed cpn_wire_buf_t is a valid empty one */
#define WIRE_OFFER_NONE     0
#define WIRE_OBJ_MIN        (2u + 8u + 1u)
#define WIRE_OBJ_INLINE_HDR 16u
#define WIRE_SINK_MIN       (4u + 8u + 4u)
#define WIRE_DIGEST_LEN     16u
#define WIRE_NACK_BODY      24u
#define WIRE_HDR_LENGTH_OFF 4u        /* where the header keeps the length */

static const char *const wire_type_names[CPN_MSG_TYPE_MAX] = {
    [CPN_MSG_HELLO]     = "HELLO",
    [CPN_MSG_HELLO_ACK] = "HELLO_ACK",
    [CPN_MSG_OFFER]     = "OFFER",
    [CPN_MSG_ACCEPT]    = "ACCEPT",
    [CPN_MSG_GRANT]     = "GRANT",
    [CPN_MSG_CHUNK]     = "CHUNK",
    [CPN_MSG_NACK]      = "NACK",
    [CPN_MSG_COMMIT]    = "COMMIT",
    [CPN_MSG_RECEIPT]   = "RECEIPT",
    [CPN_MSG_CANCEL]    = "CANCEL",
    [CPN_MSG_AUTH]      = "AUTH",
    [CPN_MSG_PING]      = "PING",
    [CPN_MSG_HAVE]      = "HAVE",
};

const char *cpn_wire_type_str(unsigned type)
{
    if (type >= CPN_MSG_TYPE_MAX || wire_type_names[type] == NULL) {
        return "?";
    }
    return wire_type_names[type];
}

cpn_wire_str_t cpn_wire_str(const char *s)
{
    cpn_wire_str_t str = { .ptr = s, .len = s != NULL ? strlen(s) : 0 };
    return str;
}

/* ---- little-endian loads and stores (no alignment assumed) ---- */

static inline uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint64_t ld64(const uint8_t *p)
{
    return (uint64_t)ld32(p) | ((uint64_t)ld32(p + 4) << 32);
}

static inline uint8_t *st8(uint8_t *p, uint8_t v)
{
    p[0] = v;
    return p + 1;
}

static inline uint8_t *st16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static inline uint8_t *st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static inline uint8_t *st64(uint8_t *p, uint64_t v)
{
    st32(p, (uint32_t)v);
    return st32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t *st_bytes(uint8_t *p, const void *src, size_t len)
{
    if (len > 0) {
        memcpy(p, src, len);
    }
    return p + len;
}

static uint8_t *st_str16(uint8_t *p, cpn_wire_str_t s)
{
    p = st16(p, (uint16_t)s.len);
    return st_bytes(p, s.ptr, s.len);
}

static uint8_t *st_bytes32(uint8_t *p, cpn_wire_str_t s)
{
    p = st32(p, (uint32_t)s.len);
    return st_bytes(p, s.ptr, s.len);
}

/* ---- the reader: every load checks the bytes left; the first error
 * sticks and turns every later load into a no-op returning zero ---- */

typedef struct wire_rd {
    const uint8_t *pos, *end;
    cpn_status_t status;
} wire_rd_t;

static void rd_fail(wire_rd_t *r, cpn_status_t status)
{
    if (r->status == CPN_OK) {
        r->status = status;
    }
    r->pos = r->end;
}

/* Consume @p n bytes; NULL (and TRUNCATED) when fewer are left. */
static const uint8_t *rd_take(wire_rd_t *r, size_t n)
{
    const uint8_t *p = r->pos;

    if (r->status != CPN_OK) {
        return NULL;
    }
    if ((size_t)(r->end - r->pos) < n) {
        rd_fail(r, CPN_ERR_TRUNCATED);
        return NULL;
    }
    r->pos += n;
    return p;
}

static size_t rd_left(const wire_rd_t *r)
{
    return (size_t)(r->end - r->pos);
}

static uint8_t rd_u8(wire_rd_t *r)
{
    const uint8_t *p = rd_take(r, 1);
    return p != NULL ? p[0] : 0;
}

static uint16_t rd_u16(wire_rd_t *r)
{
    const uint8_t *p = rd_take(r, 2);
    return p != NULL ? ld16(p) : 0;
}

static uint32_t rd_u32(wire_rd_t *r)
{
    const uint8_t *p = rd_take(r, 4);
    return p != NULL ? ld32(p) : 0;
}

static int32_t rd_i32(wire_rd_t *r)
{
    return (int32_t)rd_u32(r);
}

static uint64_t rd_u64(wire_rd_t *r)
{
    const uint8_t *p = rd_take(r, 8);
    return p != NULL ? ld64(p) : 0;
}

static cpn_digest_t rd_digest(wire_rd_t *r)
{
    cpn_digest_t d;

    d.hi = rd_u64(r);
    d.lo = rd_u64(r);
    return d;
}

static cpn_wire_str_t rd_field(wire_rd_t *r, size_t len, size_t max)
{
    cpn_wire_str_t s = { .ptr = NULL, .len = 0 };
    const uint8_t *p;

    if (r->status != CPN_OK) {
        return s;
    }
    if (len > max) {
        rd_fail(r, CPN_ERR_TOO_BIG);
        return s;
    }
    p = rd_take(r, len);
    if (p != NULL) {
        s.ptr = (const char *)p;
        s.len = len;
    }
    return s;
}

static cpn_wire_str_t rd_str16(wire_rd_t *r)
{
    size_t len = rd_u16(r);
    return rd_field(r, len, CPN_WIRE_MAX_STR);
}

static cpn_wire_str_t rd_bytes32(wire_rd_t *r, size_t max)
{
    size_t len = rd_u32(r);
    return rd_field(r, len, max);
}

/* A count of elements of at least @p min_size bytes each, at most @p max:
 * refuses counts the bytes left cannot hold before anything walks them. */
static uint32_t rd_count(wire_rd_t *r, uint32_t max, size_t min_size)
{
    uint32_t n = rd_u32(r);

    if (r->status != CPN_OK) {
        return 0;
    }
    if (n > max) {
        rd_fail(r, CPN_ERR_TOO_BIG);
        return 0;
    }
    if ((uint64_t)n * min_size > rd_left(r)) {
        rd_fail(r, CPN_ERR_TRUNCATED);
        return 0;
    }
    return n;
}

/* The status of a finished body: its first error, or CORRUPT for bytes
 * left over. */
static cpn_status_t rd_done(const wire_rd_t *r)
{
    if (r->status != CPN_OK) {
        return r->status;
    }
    return r->pos == r->end ? CPN_OK : CPN_ERR_CORRUPT;
}

/* ---- decoding ---- */

cpn_status_t cpn_wire_decode_hdr(const void *buf, size_t len,
                                 cpn_wire_hdr_t *hdr)
{
    const uint8_t *p = buf;
    uint32_t length;

    if (len < CPN_WIRE_HDR_LEN) {
        return CPN_ERR_TRUNCATED;
    }
    if (p == NULL) {
        return CPN_ERR_INVALID;
    }
    if (ld16(p) != CPN_WIRE_MAGIC) {
        return CPN_ERR_CORRUPT;
    }
    if (p[2] != CPN_WIRE_VERSION) {
        return CPN_ERR_VERSION;
    }
    if (p[3] == 0 || p[3] >= CPN_MSG_TYPE_MAX) {
        return CPN_ERR_CORRUPT;
    }
    length = ld32(p + WIRE_HDR_LENGTH_OFF);
    if (length < CPN_WIRE_HDR_LEN) {
        return CPN_ERR_CORRUPT;
    }
    if (length > CPN_WIRE_MAX_MSG) {
        return CPN_ERR_TOO_BIG;
    }
    if (len < length) {
        return CPN_ERR_TRUNCATED;
    }
    if (len > length) {
        return CPN_ERR_CORRUPT;
    }
    if (hdr != NULL) {
        hdr->version = p[2];
        hdr->type    = p[3];
        hdr->length  = length;
        hdr->task_id = ld64(p + 8);
    }
    return CPN_OK;
}

/* Check the header of a message expected to be of @p type and set @p r
 * over its body. */
static cpn_status_t wire_open(const void *buf, size_t len, unsigned type,
                              cpn_wire_hdr_t *hdr, wire_rd_t *r)
{
    cpn_status_t status = cpn_wire_decode_hdr(buf, len, hdr);

    if (status != CPN_OK) {
        return status;
    }
    if (hdr->type != type) {
        return CPN_ERR_PROTO;
    }
    r->pos    = (const uint8_t *)buf + CPN_WIRE_HDR_LEN;
    r->end    = (const uint8_t *)buf + len;
    r->status = CPN_OK;
    return CPN_OK;
}

/* Finish a body: its status, and the header out when it is good. The
 * decoders fill locals and write @p hdr_p and their message only on
 * success. */
static cpn_status_t wire_close(const wire_rd_t *r, const cpn_wire_hdr_t *hdr,
                               cpn_wire_hdr_t *hdr_p)
{
    cpn_status_t status = rd_done(r);

    if (status == CPN_OK && hdr_p != NULL) {
        *hdr_p = *hdr;
    }
    return status;
}

cpn_status_t cpn_wire_decode_hello(const void *buf, size_t len,
                                   cpn_wire_hdr_t *hdr_p, cpn_wire_hello_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_hello_t v;
    wire_rd_t r;
    cpn_status_t status;

    status = wire_open(buf, len, CPN_MSG_HELLO, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    if (hdr.task_id != 0) {
        return CPN_ERR_CORRUPT;
    }
    v.proto_min = rd_u16(&r);
    v.proto_max = rd_u16(&r);
    v.site      = rd_str16(&r);
    v.transport = rd_str16(&r);
    memset(v.nonce, 0, sizeof(v.nonce));
    memset(v.pubkey, 0, sizeof(v.pubkey));
    v.has_auth = v.proto_max >= 2;
    v.has_key = 0;
    if (v.has_auth) {
        const uint8_t *p;
        static const uint8_t zero[CPN_WIRE_PUBKEY_LEN];

        v.has_key = rd_u8(&r);
        p = rd_take(&r, CPN_WIRE_NONCE_LEN);
        if (p != NULL) {
            memcpy(v.nonce, p, CPN_WIRE_NONCE_LEN);
        }
        p = rd_take(&r, CPN_WIRE_PUBKEY_LEN);
        if (p != NULL) {
            memcpy(v.pubkey, p, CPN_WIRE_PUBKEY_LEN);
            if (v.has_key > 1 ||
                (!v.has_key && memcmp(p, zero, sizeof(zero)) != 0)) {
                rd_fail(&r, CPN_ERR_CORRUPT);
            }
        }
    }
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

cpn_status_t cpn_wire_decode_hello_ack(const void *buf, size_t len,
                                       cpn_wire_hdr_t *hdr_p,
                                       cpn_wire_hello_ack_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_hello_ack_t v;
    wire_rd_t r;
    cpn_status_t status;

    status = wire_open(buf, len, CPN_MSG_HELLO_ACK, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    if (hdr.task_id != 0) {
        return CPN_ERR_CORRUPT;
    }
    v.status         = rd_i32(&r);
    v.proto          = rd_u16(&r);
    v.site           = rd_str16(&r);
    v.error          = rd_str16(&r);
    v.max_objects    = rd_u32(&r);
    v.max_task_bytes = rd_u64(&r);
    v.max_name_len   = rd_u32(&r);
    v.inline_max     = rd_u32(&r);
    v.slot_size      = rd_u32(&r);
    v.nslots         = rd_u32(&r);
    v.pool_addr      = rd_u64(&r);
    v.pool_rkey      = rd_bytes32(&r, CPN_WIRE_MAX_MSG);
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

/* Read one object of an offer. Errors stick in @p r. */
static void rd_object(wire_rd_t *r, cpn_wire_object_t *obj)
{
    obj->name      = rd_str16(r);
    obj->size      = rd_u64(r);
    obj->flags     = rd_u8(r);
    obj->digest.hi = 0;
    obj->digest.lo = 0;
    obj->data      = NULL;
    if (r->status != CPN_OK) {
        return;
    }
    if (obj->flags & ~CPN_WIRE_OBJ_INLINE) {
        rd_fail(r, CPN_ERR_CORRUPT);
        return;
    }
    if (obj->flags & CPN_WIRE_OBJ_INLINE) {
        obj->digest = rd_digest(r);
        if (r->status == CPN_OK && obj->size > rd_left(r)) {
            rd_fail(r, CPN_ERR_TRUNCATED);
            return;
        }
        obj->data = rd_take(r, (size_t)obj->size);
    }
}

cpn_status_t cpn_wire_decode_offer(const void *buf, size_t len,
                                   cpn_wire_hdr_t *hdr_p, cpn_wire_offer_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_offer_t v;
    cpn_wire_object_t obj;
    uint64_t sum = 0;
    wire_rd_t r;
    cpn_status_t status;
    uint32_t i;

    status = wire_open(buf, len, CPN_MSG_OFFER, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    v.job         = rd_str16(&r);
    v.spec        = rd_bytes32(&r, CPN_WIRE_MAX_SPEC);
    v.total_bytes = rd_u64(&r);
    v.chunk_size  = rd_u32(&r);
    if (r.status == CPN_OK && v.chunk_size == 0) {
        rd_fail(&r, CPN_ERR_CORRUPT);
    }
    v.nobjects     = rd_count(&r, CPN_WIRE_MAX_OBJECTS, WIRE_OBJ_MIN);
    v.objects_     = r.pos;
    v.objects_len_ = rd_left(&r);
    for (i = 0; i < v.nobjects && r.status == CPN_OK; i++) {
        rd_object(&r, &obj);
        if (r.status == CPN_OK && obj.size > UINT64_MAX - sum) {
            rd_fail(&r, CPN_ERR_CORRUPT);
        }
        sum += obj.size;
    }
    if (r.status == CPN_OK && sum != v.total_bytes) {
        rd_fail(&r, CPN_ERR_CORRUPT);
    }
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

/* Open @p r on the next record of @p it; 0 when none is left. */
static int iter_open(const cpn_wire_iter_t *it, wire_rd_t *r)
{
    r->pos = it->pos;
    r->end = it->end;
    r->status = CPN_OK;
    return it->left > 0;
}

/* Move @p it past the record @p r has just read. The decoder walked these
 * bytes already; checking again costs little and keeps an iterator over a
 * hand-made message in bounds. */
static cpn_status_t iter_step(cpn_wire_iter_t *it, const wire_rd_t *r)
{
    if (r->status != CPN_OK) {
        return CPN_ERR_CORRUPT;
    }
    it->pos = r->pos;
    it->left--;
    return CPN_OK;
}

void cpn_wire_offer_iter_init(const cpn_wire_offer_t *m, cpn_wire_iter_t *it)
{
    it->pos  = m->objects_;
    it->end  = m->objects_ + m->objects_len_;
    it->left = m->nobjects;
}

cpn_status_t cpn_wire_offer_next(cpn_wire_iter_t *it, cpn_wire_object_t *obj)
{
    cpn_wire_object_t o;
    wire_rd_t r;
    cpn_status_t status;

    if (!iter_open(it, &r)) {
        return CPN_ERR_NOT_FOUND;
    }
    rd_object(&r, &o);
    status = iter_step(it, &r);
    if (status == CPN_OK) {
        *obj = o;
    }
    return status;
}

uint32_t cpn_wire_u32_at(const uint8_t *array, uint32_t i)
{
    return ld32(array + (size_t)i * 4);
}

static void rd_sink(wire_rd_t *r, cpn_wire_sink_t *sink)
{
    sink->object = rd_u32(r);
    sink->addr   = rd_u64(r);
    sink->rkey   = rd_bytes32(r, CPN_WIRE_MAX_MSG);
}

cpn_status_t cpn_wire_decode_accept(const void *buf, size_t len,
                                    cpn_wire_hdr_t *hdr_p,
                                    cpn_wire_accept_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_accept_t v;
    cpn_wire_sink_t sink;
    wire_rd_t r;
    cpn_status_t status;
    uint32_t i;

    status = wire_open(buf, len, CPN_MSG_ACCEPT, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    v.status     = rd_i32(&r);
    v.error      = rd_str16(&r);
    v.nslots     = rd_count(&r, CPN_WIRE_MAX_SLOTS, 4);
    v.slots_     = rd_take(&r, (size_t)v.nslots * 4);
    v.nsinks     = rd_count(&r, CPN_WIRE_MAX_OBJECTS, WIRE_SINK_MIN);
    v.sinks_     = r.pos;
    v.sinks_len_ = rd_left(&r);
    for (i = 0; i < v.nsinks && r.status == CPN_OK; i++) {
        rd_sink(&r, &sink);
    }
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

void cpn_wire_sink_iter_init(const cpn_wire_accept_t *m, cpn_wire_iter_t *it)
{
    it->pos = m->sinks_;
    it->end = m->sinks_ + m->sinks_len_;
    it->left = m->nsinks;
}

cpn_status_t cpn_wire_sink_next(cpn_wire_iter_t *it, cpn_wire_sink_t *sink_p)
{
    cpn_wire_sink_t sink;
    wire_rd_t r;
    cpn_status_t status;

    if (!iter_open(it, &r)) {
        return CPN_ERR_NOT_FOUND;
    }
    rd_sink(&r, &sink);
    status = iter_step(it, &r);
    if (status == CPN_OK) {
        *sink_p = sink;
    }
    return status;
}

cpn_status_t cpn_wire_decode_grant(const void *buf, size_t len,
                                   cpn_wire_hdr_t *hdr_p, cpn_wire_grant_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_grant_t v;
    wire_rd_t r;
    cpn_status_t status;

    status = wire_open(buf, len, CPN_MSG_GRANT, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    v.nslots = rd_count(&r, CPN_WIRE_MAX_SLOTS, 4);
    v.slots_ = rd_take(&r, (size_t)v.nslots * 4);
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

cpn_status_t cpn_wire_decode_have(const void *buf, size_t len,
                                  cpn_wire_hdr_t *hdr_p, cpn_wire_have_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_have_t v;
    wire_rd_t r;
    cpn_status_t status;

    status = wire_open(buf, len, CPN_MSG_HAVE, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    v.n = rd_count(&r, CPN_WIRE_MAX_HAVE, CPN_WIRE_HAVE_ENTRY);
    v.entries_ = rd_take(&r, (size_t)v.n * CPN_WIRE_HAVE_ENTRY);
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

cpn_wire_have_entry_t cpn_wire_have_at(const cpn_wire_have_t *m, uint32_t i)
{
    const uint8_t *p = m->entries_ + (size_t)i * CPN_WIRE_HAVE_ENTRY;
    cpn_wire_have_entry_t e;
    wire_rd_t r;

    r.pos = p;
    r.end = p + CPN_WIRE_HAVE_ENTRY;
    r.status = CPN_OK;
    e.object = rd_u32(&r);
    e.chunk = rd_u64(&r);
    e.hash = rd_u64(&r);
    return e;
}

cpn_status_t cpn_wire_decode_chunk(const void *buf, size_t len,
                                   cpn_wire_hdr_t *hdr_p, cpn_wire_chunk_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_chunk_t v;
    wire_rd_t r;
    cpn_status_t status;
    uint32_t reserved;

    status = wire_open(buf, len, CPN_MSG_CHUNK, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    v.slot   = rd_u32(&r);
    v.object = rd_u32(&r);
    v.offset = rd_u64(&r);
    v.len    = rd_u32(&r);
    reserved = rd_u32(&r);
    v.hash   = rd_u64(&r);
    if (r.status == CPN_OK &&
        (reserved != 0 || v.len == 0 || v.offset > UINT64_MAX - v.len)) {
        rd_fail(&r, CPN_ERR_CORRUPT);
    }
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

cpn_status_t cpn_wire_decode_nack(const void *buf, size_t len,
                                  cpn_wire_hdr_t *hdr_p, cpn_wire_nack_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_nack_t v;
    wire_rd_t r;
    cpn_status_t status;

    status = wire_open(buf, len, CPN_MSG_NACK, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    v.slot   = rd_u32(&r);
    v.object = rd_u32(&r);
    v.offset = rd_u64(&r);
    v.len    = rd_u32(&r);
    v.status = rd_i32(&r);
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

cpn_status_t cpn_wire_decode_commit(const void *buf, size_t len,
                                    cpn_wire_hdr_t *hdr_p,
                                    cpn_wire_commit_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_commit_t v;
    wire_rd_t r;
    cpn_status_t status;

    status = wire_open(buf, len, CPN_MSG_COMMIT, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    v.nobjects = rd_count(&r, CPN_WIRE_MAX_OBJECTS, WIRE_DIGEST_LEN);
    v.digests_ = rd_take(&r, (size_t)v.nobjects * WIRE_DIGEST_LEN);
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

cpn_digest_t cpn_wire_commit_digest(const cpn_wire_commit_t *m, uint32_t i)
{
    const uint8_t *p = m->digests_ + (size_t)i * WIRE_DIGEST_LEN;
    cpn_digest_t d = { .hi = ld64(p), .lo = ld64(p + 8) };

    return d;
}

cpn_status_t cpn_wire_decode_receipt(const void *buf, size_t len,
                                     cpn_wire_hdr_t *hdr_p,
                                     cpn_wire_receipt_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_receipt_t v;
    wire_rd_t r;
    cpn_status_t status;

    status = wire_open(buf, len, CPN_MSG_RECEIPT, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    v.status     = rd_i32(&r);
    v.error      = rd_str16(&r);
    v.landed_at  = rd_str16(&r);
    v.bytes      = rd_u64(&r);
    v.chunks     = rd_u64(&r);
    v.retries    = rd_u64(&r);
    v.elapsed_ns = rd_u64(&r);
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

cpn_status_t cpn_wire_decode_cancel(const void *buf, size_t len,
                                    cpn_wire_hdr_t *hdr_p,
                                    cpn_wire_cancel_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_cancel_t v;
    wire_rd_t r;
    cpn_status_t status;

    status = wire_open(buf, len, CPN_MSG_CANCEL, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    v.status = rd_i32(&r);
    v.reason = rd_str16(&r);
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

/* ---- the output buffer ---- */

void cpn_wire_buf_init(cpn_wire_buf_t *b)
{
    memset(b, 0, sizeof(*b));
}

void cpn_wire_buf_free(cpn_wire_buf_t *b)
{
    free(b->data);
    cpn_wire_buf_init(b);
}

void cpn_wire_buf_reset(cpn_wire_buf_t *b)
{
    b->len         = 0;
    b->failed      = 0;
    b->offer_start = WIRE_OFFER_NONE;
    b->offer_count = 0;
    b->offer_total = 0;
}

/* Make room for @p n more bytes. */
static cpn_status_t buf_reserve(cpn_wire_buf_t *b, size_t n)
{
    size_t need, cap;
    uint8_t *data;

    if (b->failed) {
        return CPN_ERR_NO_MEMORY;
    }
    if (n > SIZE_MAX - b->len) {
        b->failed = 1;
        return CPN_ERR_NO_MEMORY;
    }
    need = b->len + n;
    if (need <= b->cap) {
        return CPN_OK;
    }
    cap = b->cap < 256 ? 256 : b->cap;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    data = realloc(b->data, cap);
    if (data == NULL) {
        b->failed = 1;
        return CPN_ERR_NO_MEMORY;
    }
    b->data = data;
    b->cap  = cap;
    return CPN_OK;
}

/* ---- encoding ---- */

static uint8_t *st_hdr(uint8_t *p, unsigned type, uint32_t length,
                       uint64_t task_id)
{
    p = st16(p, CPN_WIRE_MAGIC);
    p = st8(p, CPN_WIRE_VERSION);
    p = st8(p, (uint8_t)type);
    p = st32(p, length);
    return st64(p, task_id);
}

/* A string field the encoders may take: its pointer is valid for its
 * length and the length is within @p max. */
static cpn_status_t field_check(cpn_wire_str_t s, size_t max)
{
    if (s.ptr == NULL && s.len != 0) {
        return CPN_ERR_INVALID;
    }
    return s.len <= max ? CPN_OK : CPN_ERR_TOO_BIG;
}

/* Check that encoding may start, and reserve a message of @p size bytes.
 * @return CPN_OK with the header written, and *p_p at the body. */
static cpn_status_t enc_start(cpn_wire_buf_t *b, uint64_t size, unsigned type,
                              uint64_t task_id, uint8_t **p_p)
{
    cpn_status_t status;

    if (b->offer_start != WIRE_OFFER_NONE) {
        return CPN_ERR_INVALID; /* another message inside an open OFFER */
    }
    if (size > CPN_WIRE_MAX_MSG) {
        return CPN_ERR_TOO_BIG;
    }
    status = buf_reserve(b, (size_t)size);
    if (status != CPN_OK) {
        return status;
    }
    *p_p = st_hdr(b->data + b->len, type, (uint32_t)size, task_id);
    return CPN_OK;
}

/* Account for the message of @p size bytes whose last byte ends at @p end. */
static cpn_status_t enc_finish(cpn_wire_buf_t *b, uint64_t size,
                               const uint8_t *end)
{
    assert(end == b->data + b->len + size);
    (void)end;
    b->len += (size_t)size;
    return CPN_OK;
}

cpn_status_t cpn_wire_encode_hello(cpn_wire_buf_t *b, const cpn_wire_hello_t *m)
{
    uint64_t size;
    cpn_status_t status;
    uint8_t *p;

    if ((status = field_check(m->site, CPN_WIRE_MAX_STR)) != CPN_OK ||
        (status = field_check(m->transport, CPN_WIRE_MAX_STR)) != CPN_OK) {
        return status;
    }
    if (m->has_key > 1 || (m->has_key && m->proto_max < 2)) {
        return CPN_ERR_INVALID;
    }
    size = CPN_WIRE_HDR_LEN + 2 + 2 + (2 + m->site.len) +
           (2 + m->transport.len) +
           (m->proto_max >= 2 ? 1 + CPN_WIRE_NONCE_LEN + CPN_WIRE_PUBKEY_LEN : 0);
    status = enc_start(b, size, CPN_MSG_HELLO, 0, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st16(p, m->proto_min);
    p = st16(p, m->proto_max);
    p = st_str16(p, m->site);
    p = st_str16(p, m->transport);
    if (m->proto_max >= 2) {
        p = st8(p, m->has_key);
        p = st_bytes(p, m->nonce, CPN_WIRE_NONCE_LEN);
        if (m->has_key) {
            p = st_bytes(p, m->pubkey, CPN_WIRE_PUBKEY_LEN);
        } else {
            memset(p, 0, CPN_WIRE_PUBKEY_LEN);
            p += CPN_WIRE_PUBKEY_LEN;
        }
    }
    return enc_finish(b, size, p);
}

cpn_status_t cpn_wire_encode_hello_ack(cpn_wire_buf_t *b,
                                       const cpn_wire_hello_ack_t *m)
{
    uint64_t size;
    cpn_status_t status;
    uint8_t *p;

    if ((status = field_check(m->site, CPN_WIRE_MAX_STR)) != CPN_OK ||
        (status = field_check(m->error, CPN_WIRE_MAX_STR)) != CPN_OK ||
        (status = field_check(m->pool_rkey, CPN_WIRE_MAX_MSG)) != CPN_OK) {
        return status;
    }
    size = CPN_WIRE_HDR_LEN + 4 + 2 + (2 + m->site.len) + (2 + m->error.len) +
           4 + 8 + 4 + 4 + 4 + 4 + 8 + (4 + (uint64_t)m->pool_rkey.len);
    status = enc_start(b, size, CPN_MSG_HELLO_ACK, 0, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st32(p, (uint32_t)m->status);
    p = st16(p, m->proto);
    p = st_str16(p, m->site);
    p = st_str16(p, m->error);
    p = st32(p, m->max_objects);
    p = st64(p, m->max_task_bytes);
    p = st32(p, m->max_name_len);
    p = st32(p, m->inline_max);
    p = st32(p, m->slot_size);
    p = st32(p, m->nslots);
    p = st64(p, m->pool_addr);
    p = st_bytes32(p, m->pool_rkey);
    return enc_finish(b, size, p);
}

cpn_status_t cpn_wire_encode_accept(cpn_wire_buf_t *b, uint64_t task_id,
                                    int32_t result, cpn_wire_str_t error,
                                    const uint32_t *slots, uint32_t nslots,
                                    const cpn_wire_sink_t *sinks,
                                    uint32_t nsinks)
{
    uint64_t size;
    cpn_status_t status;
    uint8_t *p;
    uint32_t i;

    status = field_check(error, CPN_WIRE_MAX_STR);
    if (status != CPN_OK) {
        return status;
    }
    if (nslots > CPN_WIRE_MAX_SLOTS || nsinks > CPN_WIRE_MAX_OBJECTS) {
        return CPN_ERR_TOO_BIG;
    }
    if ((slots == NULL && nslots != 0) || (sinks == NULL && nsinks != 0)) {
        return CPN_ERR_INVALID;
    }
    size = CPN_WIRE_HDR_LEN + 4 + (2 + error.len) + 4 + (uint64_t)nslots * 4 +
           4;
    for (i = 0; i < nsinks; i++) {
        status = field_check(sinks[i].rkey, CPN_WIRE_MAX_MSG);
        if (status != CPN_OK) {
            return status;
        }
        /* at most 2^20 sinks of at most 2^26 bytes each: no overflow */
        size += WIRE_SINK_MIN + (uint64_t)sinks[i].rkey.len;
    }
    status = enc_start(b, size, CPN_MSG_ACCEPT, task_id, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st32(p, (uint32_t)result);
    p = st_str16(p, error);
    p = st32(p, nslots);
    for (i = 0; i < nslots; i++) {
        p = st32(p, slots[i]);
    }
    p = st32(p, nsinks);
    for (i = 0; i < nsinks; i++) {
        p = st32(p, sinks[i].object);
        p = st64(p, sinks[i].addr);
        p = st_bytes32(p, sinks[i].rkey);
    }
    return enc_finish(b, size, p);
}

cpn_status_t cpn_wire_encode_have(cpn_wire_buf_t *b, uint64_t task_id,
                                  const cpn_wire_have_entry_t *e, uint32_t n)
{
    uint64_t size;
    cpn_status_t status;
    uint8_t *p;
    uint32_t i;

    if (n > CPN_WIRE_MAX_HAVE) {
        return CPN_ERR_TOO_BIG;
    }
    if (e == NULL && n != 0) {
        return CPN_ERR_INVALID;
    }
    size   = CPN_WIRE_HDR_LEN + 4 + (uint64_t)n * CPN_WIRE_HAVE_ENTRY;
    status = enc_start(b, size, CPN_MSG_HAVE, task_id, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st32(p, n);
    for (i = 0; i < n; i++) {
        p = st32(p, e[i].object);
        p = st64(p, e[i].chunk);
        p = st64(p, e[i].hash);
    }
    return enc_finish(b, size, p);
}

cpn_status_t cpn_wire_encode_grant(cpn_wire_buf_t *b, uint64_t task_id,
                                   const uint32_t *slots, uint32_t nslots)
{
    uint64_t size;
    cpn_status_t status;
    uint8_t *p;
    uint32_t i;

    if (nslots > CPN_WIRE_MAX_SLOTS) {
        return CPN_ERR_TOO_BIG;
    }
    if (slots == NULL && nslots != 0) {
        return CPN_ERR_INVALID;
    }
    size   = CPN_WIRE_HDR_LEN + 4 + (uint64_t)nslots * 4;
    status = enc_start(b, size, CPN_MSG_GRANT, task_id, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st32(p, nslots);
    for (i = 0; i < nslots; i++) {
        p = st32(p, slots[i]);
    }
    return enc_finish(b, size, p);
}

cpn_status_t cpn_wire_encode_nack(cpn_wire_buf_t *b, uint64_t task_id,
                                  const cpn_wire_nack_t *m)
{
    const uint64_t size = CPN_WIRE_HDR_LEN + WIRE_NACK_BODY;
    cpn_status_t status;
    uint8_t *p;

    status = enc_start(b, size, CPN_MSG_NACK, task_id, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st32(p, m->slot);
    p = st32(p, m->object);
    p = st64(p, m->offset);
    p = st32(p, m->len);
    p = st32(p, (uint32_t)m->status);
    return enc_finish(b, size, p);
}

cpn_status_t cpn_wire_encode_commit(cpn_wire_buf_t *b, uint64_t task_id,
                                    const cpn_digest_t *digests, uint32_t n)
{
    uint64_t size;
    cpn_status_t status;
    uint8_t *p;
    uint32_t i;

    if (n > CPN_WIRE_MAX_OBJECTS) {
        return CPN_ERR_TOO_BIG;
    }
    if (digests == NULL && n != 0) {
        return CPN_ERR_INVALID;
    }
    size   = CPN_WIRE_HDR_LEN + 4 + (uint64_t)n * WIRE_DIGEST_LEN;
    status = enc_start(b, size, CPN_MSG_COMMIT, task_id, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st32(p, n);
    for (i = 0; i < n; i++) {
        p = st64(p, digests[i].hi);
        p = st64(p, digests[i].lo);
    }
    return enc_finish(b, size, p);
}

cpn_status_t cpn_wire_encode_receipt(cpn_wire_buf_t *b, uint64_t task_id,
                                     const cpn_wire_receipt_t *m)
{
    uint64_t size;
    cpn_status_t status;
    uint8_t *p;

    if ((status = field_check(m->error, CPN_WIRE_MAX_STR)) != CPN_OK ||
        (status = field_check(m->landed_at, CPN_WIRE_MAX_STR)) != CPN_OK) {
        return status;
    }
    size = CPN_WIRE_HDR_LEN + 4 + (2 + m->error.len) +
           (2 + m->landed_at.len) + 4 * 8;
    status = enc_start(b, size, CPN_MSG_RECEIPT, task_id, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st32(p, (uint32_t)m->status);
    p = st_str16(p, m->error);
    p = st_str16(p, m->landed_at);
    p = st64(p, m->bytes);
    p = st64(p, m->chunks);
    p = st64(p, m->retries);
    p = st64(p, m->elapsed_ns);
    return enc_finish(b, size, p);
}

cpn_status_t cpn_wire_encode_cancel(cpn_wire_buf_t *b, uint64_t task_id,
                                    const cpn_wire_cancel_t *m)
{
    uint64_t size;
    cpn_status_t status;
    uint8_t *p;

    status = field_check(m->reason, CPN_WIRE_MAX_STR);
    if (status != CPN_OK) {
        return status;
    }
    size   = CPN_WIRE_HDR_LEN + 4 + (2 + m->reason.len);
    status = enc_start(b, size, CPN_MSG_CANCEL, task_id, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st32(p, (uint32_t)m->status);
    p = st_str16(p, m->reason);
    return enc_finish(b, size, p);
}

/* ---- OFFER, in three steps ---- */

/* Where the open OFFER starts in @p b. */
static size_t offer_off(const cpn_wire_buf_t *b)
{
    return b->offer_start - 1;
}

/* Where the open OFFER keeps total_bytes, which cpn_wire_offer_end patches
 * with chunk_size and nobjects after it: past str16 job and bytes32 spec. */
static size_t offer_total_off(const cpn_wire_buf_t *b)
{
    const uint8_t *p = b->data + offer_off(b) + CPN_WIRE_HDR_LEN;
    size_t job_len   = ld16(p);
    size_t spec_len  = ld32(p + 2 + job_len);

    return offer_off(b) + CPN_WIRE_HDR_LEN + 2 + job_len + 4 + spec_len;
}

cpn_status_t cpn_wire_offer_begin(cpn_wire_buf_t *b, uint64_t task_id,
                                  cpn_wire_str_t job, cpn_wire_str_t spec,
                                  uint32_t chunk_size)
{
    size_t start = b->len;
    uint64_t size;
    cpn_status_t status;
    uint8_t *p;

    if ((status = field_check(job, CPN_WIRE_MAX_STR)) != CPN_OK ||
        (status = field_check(spec, CPN_WIRE_MAX_SPEC)) != CPN_OK) {
        return status;
    }
    if (chunk_size == 0) {
        return CPN_ERR_INVALID;
    }
    size = CPN_WIRE_HDR_LEN + (2 + job.len) + (4 + spec.len) + 8 + 4 + 4;
    /* length, total_bytes and nobjects are patched by cpn_wire_offer_end */
    status = enc_start(b, size, CPN_MSG_OFFER, task_id, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st_str16(p, job);
    p = st_bytes32(p, spec);
    p = st64(p, 0);
    p = st32(p, chunk_size);
    p = st32(p, 0);
    enc_finish(b, size, p);
    b->offer_start = start + 1;
    b->offer_count = 0;
    b->offer_total = 0;
    return CPN_OK;
}

cpn_status_t cpn_wire_offer_add(cpn_wire_buf_t *b, const cpn_wire_object_t *obj)
{
    int is_inline = (obj->flags & CPN_WIRE_OBJ_INLINE) != 0;
    uint64_t size;
    cpn_status_t status;
    uint8_t *p;

    if (b->offer_start == WIRE_OFFER_NONE ||
        (obj->flags & ~CPN_WIRE_OBJ_INLINE) != 0 ||
        (is_inline && obj->data == NULL && obj->size != 0)) {
        return CPN_ERR_INVALID;
    }
    status = field_check(obj->name, CPN_WIRE_MAX_STR);
    if (status != CPN_OK) {
        return status;
    }
    if (b->offer_count >= CPN_WIRE_MAX_OBJECTS ||
        obj->size > UINT64_MAX - b->offer_total) {
        return CPN_ERR_TOO_BIG;
    }
    size = WIRE_OBJ_MIN + obj->name.len;
    if (is_inline) {
        if (obj->size > CPN_WIRE_MAX_MSG) {
            return CPN_ERR_TOO_BIG;
        }
        size += WIRE_OBJ_INLINE_HDR + obj->size;
    }
    if (size > CPN_WIRE_MAX_MSG - (b->len - offer_off(b))) {
        return CPN_ERR_TOO_BIG;
    }
    status = buf_reserve(b, (size_t)size);
    if (status != CPN_OK) {
        return status;
    }
    p = b->data + b->len;
    p = st_str16(p, obj->name);
    p = st64(p, obj->size);
    p = st8(p, obj->flags);
    if (is_inline) {
        p = st64(p, obj->digest.hi);
        p = st64(p, obj->digest.lo);
        p = st_bytes(p, obj->data, (size_t)obj->size);
    }
    enc_finish(b, size, p);
    b->offer_count++;
    b->offer_total += obj->size;
    return CPN_OK;
}

cpn_status_t cpn_wire_offer_end(cpn_wire_buf_t *b)
{
    size_t off;
    uint8_t *p;

    if (b->offer_start == WIRE_OFFER_NONE) {
        return CPN_ERR_INVALID;
    }
    if (!b->failed) {
        off = offer_total_off(b);
        p   = st64(b->data + off, b->offer_total);
        st32(p + 4, b->offer_count); /* past chunk_size */
        st32(b->data + offer_off(b) + WIRE_HDR_LENGTH_OFF,
             (uint32_t)(b->len - offer_off(b)));
    }
    /* a failed buffer holds no usable OFFER; close it all the same, so a
     * reset buffer starts clean */
    b->offer_start = WIRE_OFFER_NONE;
    b->offer_count = 0;
    b->offer_total = 0;
    return b->failed ? CPN_ERR_NO_MEMORY : CPN_OK;
}

void cpn_wire_encode_chunk(void *out, uint64_t task_id,
                           const cpn_wire_chunk_t *m)
{
    uint8_t *p = out;

    /* the decoder refuses these; the caller never makes them */
    assert(m->len > 0 && m->offset <= UINT64_MAX - m->len);
    p = st_hdr(p, CPN_MSG_CHUNK, CPN_WIRE_CHUNK_LEN, task_id);
    p = st32(p, m->slot);
    p = st32(p, m->object);
    p = st64(p, m->offset);
    p = st32(p, m->len);
    p = st32(p, 0); /* reserved */
    p = st64(p, m->hash);
    assert(p == (uint8_t *)out + CPN_WIRE_CHUNK_LEN);
    (void)p;
}

/* ---- AUTH (protocol 2) ---- */

#define WIRE_AUTH_BODY (4u + CPN_WIRE_NONCE_LEN + CPN_WIRE_PUBKEY_LEN + \
                        CPN_WIRE_SIG_LEN)

cpn_status_t cpn_wire_decode_auth(const void *buf, size_t len,
                                  cpn_wire_hdr_t *hdr_p, cpn_wire_auth_t *m)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_auth_t v;
    const uint8_t *p;
    wire_rd_t r;
    cpn_status_t status;

    status = wire_open(buf, len, CPN_MSG_AUTH, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    if (hdr.task_id != 0) {
        return CPN_ERR_CORRUPT;
    }
    v.step = rd_u32(&r);
    if (r.status == CPN_OK && v.step != 1 && v.step != 2) {
        rd_fail(&r, CPN_ERR_CORRUPT);
    }
    p = rd_take(&r, WIRE_AUTH_BODY - 4);
    if (p != NULL) {
        memcpy(v.nonce, p, CPN_WIRE_NONCE_LEN);
        memcpy(v.pubkey, p + CPN_WIRE_NONCE_LEN, CPN_WIRE_PUBKEY_LEN);
        memcpy(v.sig, p + CPN_WIRE_NONCE_LEN + CPN_WIRE_PUBKEY_LEN,
               CPN_WIRE_SIG_LEN);
    }
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *m = v;
    }
    return status;
}

cpn_status_t cpn_wire_encode_auth(cpn_wire_buf_t *b, const cpn_wire_auth_t *m)
{
    uint64_t size = CPN_WIRE_HDR_LEN + WIRE_AUTH_BODY;
    cpn_status_t status;
    uint8_t *p;

    if (m->step != 1 && m->step != 2) {
        return CPN_ERR_INVALID;
    }
    status = enc_start(b, size, CPN_MSG_AUTH, 0, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st32(p, m->step);
    p = st_bytes(p, m->nonce, CPN_WIRE_NONCE_LEN);
    p = st_bytes(p, m->pubkey, CPN_WIRE_PUBKEY_LEN);
    p = st_bytes(p, m->sig, CPN_WIRE_SIG_LEN);
    return enc_finish(b, size, p);
}

/* ---- PING (keepalive) ---- */

cpn_status_t cpn_wire_decode_ping(const void *buf, size_t len,
                                  cpn_wire_hdr_t *hdr_p, uint64_t *sent_ns)
{
    cpn_wire_hdr_t hdr;
    wire_rd_t r;
    uint64_t v;
    cpn_status_t status;

    status = wire_open(buf, len, CPN_MSG_PING, &hdr, &r);
    if (status != CPN_OK) {
        return status;
    }
    if (hdr.task_id != 0) {
        return CPN_ERR_CORRUPT;
    }
    v = rd_u64(&r);
    status = wire_close(&r, &hdr, hdr_p);
    if (status == CPN_OK) {
        *sent_ns = v;
    }
    return status;
}

cpn_status_t cpn_wire_encode_ping(cpn_wire_buf_t *b, uint64_t sent_ns)
{
    uint64_t size = CPN_WIRE_HDR_LEN + 8;
    cpn_status_t status;
    uint8_t *p;

    status = enc_start(b, size, CPN_MSG_PING, 0, &p);
    if (status != CPN_OK) {
        return status;
    }
    p = st64(p, sent_ns);
    return enc_finish(b, size, p);
}
