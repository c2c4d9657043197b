/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target bodies (see fuzz_body.h): the properties the wire decoders and
 * the manifest checks must keep whatever bytes a peer sends. */
#include "tests/fuzz/fuzz_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/names.h"
#include "runtime/wire.h"

#define FUZZ_CHECK(cond, what)                                               \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz property broken: %s (%s:%d)\n", what,      \
                    __FILE__, __LINE__);                                     \
            abort();                                                         \
        }                                                                    \
    } while (0)

static void same_bytes(const cpn_wire_buf_t *re, const uint8_t *buf,
                       size_t len, cpn_status_t st2)
{
    FUZZ_CHECK(st2 == CPN_OK, "a decoded message re-encodes");
    FUZZ_CHECK(re->len == len && memcmp(re->data, buf, len) == 0,
               "a decoded message re-encodes to the same bytes");
}

/* Decode @p buf as OFFER; on success walk, name-check and re-encode it. */
static void offer_check(const uint8_t *buf, size_t len)
{
    cpn_wire_offer_t m;
    cpn_wire_iter_t it;
    cpn_wire_object_t obj;
    cpn_wire_hdr_t hdr;
    cpn_wire_buf_t re;
    const char *why;
    char q[64];
    uint64_t sum = 0;
    uint32_t n = 0;
    cpn_status_t st2;

    if (cpn_wire_decode_offer(buf, len, &hdr, &m) != CPN_OK) {
        return;
    }
    (void)cpn__job_check(m.job.ptr, m.job.len, &why);
    cpn__name_quote(m.job.ptr, m.job.len, q, sizeof(q));
    FUZZ_CHECK(memchr(q, '\0', sizeof(q)) != NULL, "quoted job name ends");
    cpn_wire_buf_init(&re);
    st2 = cpn_wire_offer_begin(&re, hdr.task_id, m.job, m.spec, m.chunk_size);
    cpn_wire_offer_iter_init(&m, &it);
    while (cpn_wire_offer_next(&it, &obj) == CPN_OK) {
        const uint8_t *d = obj.data;

        FUZZ_CHECK(((obj.flags & CPN_WIRE_OBJ_INLINE) != 0) == (d != NULL),
                   "inline data present iff INLINE");
        FUZZ_CHECK(d == NULL || (d >= buf && obj.size <= len &&
                                 d + obj.size <= buf + len),
                   "inline data inside the message");
        FUZZ_CHECK((const uint8_t *)obj.name.ptr >= buf &&
                       (const uint8_t *)obj.name.ptr + obj.name.len <= buf + len,
                   "object name inside the message");
        if (cpn__name_check(obj.name.ptr, obj.name.len, 4096, &why) == CPN_OK) {
            FUZZ_CHECK(obj.name.len > 0 && obj.name.ptr[0] != '/' &&
                           memchr(obj.name.ptr, '\0', obj.name.len) == NULL,
                       "an accepted name is relative and has no NUL");
        }
        cpn__name_quote(obj.name.ptr, obj.name.len, q, sizeof(q));
        sum += obj.size;
        n++;
        if (st2 == CPN_OK) {
            st2 = cpn_wire_offer_add(&re, &obj);
        }
    }
    FUZZ_CHECK(n == m.nobjects, "the iterator yields nobjects objects");
    FUZZ_CHECK(sum == m.total_bytes, "object sizes add up to total_bytes");
    if (st2 == CPN_OK) {
        st2 = cpn_wire_offer_end(&re);
    }
    same_bytes(&re, buf, len, st2);
    cpn_wire_buf_free(&re);
}

void cpn_fuzz_wire_one(const uint8_t *buf, size_t len)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_buf_t re;
    cpn_status_t st2 = CPN_OK;
    uint32_t i;

    if (cpn_wire_decode_hdr(buf, len, &hdr) == CPN_OK) {
        FUZZ_CHECK(hdr.length == len && hdr.type > 0 &&
                       hdr.type < CPN_MSG_TYPE_MAX,
                   "an accepted header matches the message");
    }
    cpn_wire_buf_init(&re);
    {
        cpn_wire_hello_t m;
        if (cpn_wire_decode_hello(buf, len, &hdr, &m) == CPN_OK) {
            cpn_wire_buf_reset(&re);
            same_bytes(&re, buf, len, cpn_wire_encode_hello(&re, &m));
        }
    }
    {
        cpn_wire_hello_ack_t m;
        if (cpn_wire_decode_hello_ack(buf, len, &hdr, &m) == CPN_OK) {
            cpn_wire_buf_reset(&re);
            same_bytes(&re, buf, len, cpn_wire_encode_hello_ack(&re, &m));
        }
    }
    offer_check(buf, len);
    {
        cpn_wire_accept_t m;
        cpn_wire_iter_t sit;

        if (cpn_wire_decode_accept(buf, len, &hdr, &m) == CPN_OK) {
            uint32_t *slots = malloc(((size_t)m.nslots + 1) * sizeof(*slots));
            cpn_wire_sink_t *sinks =
                malloc(((size_t)m.nsinks + 1) * sizeof(*sinks));

            FUZZ_CHECK(slots != NULL && sinks != NULL, "memory");
            for (i = 0; i < m.nslots; i++) {
                slots[i] = cpn_wire_u32_at(m.slots_, i);
            }
            cpn_wire_sink_iter_init(&m, &sit);
            for (i = 0; i < m.nsinks; i++) {
                FUZZ_CHECK(cpn_wire_sink_next(&sit, &sinks[i]) == CPN_OK,
                           "every counted sink decodes");
            }
            FUZZ_CHECK(cpn_wire_sink_next(&sit, &sinks[0]) ==
                           CPN_ERR_NOT_FOUND, "no sink past the count");
            cpn_wire_buf_reset(&re);
            st2 = cpn_wire_encode_accept(&re, hdr.task_id, m.status, m.error,
                                         slots, m.nslots, sinks, m.nsinks);
            same_bytes(&re, buf, len, st2);
            free(slots);
            free(sinks);
        }
    }
    {
        cpn_wire_grant_t m;
        if (cpn_wire_decode_grant(buf, len, &hdr, &m) == CPN_OK) {
            uint32_t *slots = malloc(((size_t)m.nslots + 1) * sizeof(*slots));

            FUZZ_CHECK(slots != NULL, "memory");
            for (i = 0; i < m.nslots; i++) {
                slots[i] = cpn_wire_u32_at(m.slots_, i);
            }
            cpn_wire_buf_reset(&re);
            same_bytes(&re, buf, len,
                       cpn_wire_encode_grant(&re, hdr.task_id, slots, m.nslots));
            free(slots);
        }
    }
    {
        cpn_wire_have_t m;
        if (cpn_wire_decode_have(buf, len, &hdr, &m) == CPN_OK) {
            cpn_wire_have_entry_t *e = malloc(((size_t)m.n + 1) * sizeof(*e));

            FUZZ_CHECK(e != NULL, "memory");
            for (i = 0; i < m.n; i++) {
                e[i] = cpn_wire_have_at(&m, i);
            }
            cpn_wire_buf_reset(&re);
            same_bytes(&re, buf, len,
                       cpn_wire_encode_have(&re, hdr.task_id, e, m.n));
            free(e);
        }
    }
    {
        cpn_wire_chunk_t m;
        uint8_t out[CPN_WIRE_CHUNK_LEN];
        if (cpn_wire_decode_chunk(buf, len, &hdr, &m) == CPN_OK) {
            FUZZ_CHECK(m.len > 0 && m.offset + m.len >= m.offset,
                       "an accepted CHUNK has a length and does not wrap");
            cpn_wire_encode_chunk(out, hdr.task_id, &m);
            FUZZ_CHECK(len == sizeof(out) && memcmp(out, buf, len) == 0,
                       "CHUNK re-encodes to the same bytes");
        }
    }
    {
        cpn_wire_nack_t m;
        if (cpn_wire_decode_nack(buf, len, &hdr, &m) == CPN_OK) {
            cpn_wire_buf_reset(&re);
            same_bytes(&re, buf, len, cpn_wire_encode_nack(&re, hdr.task_id, &m));
        }
    }
    {
        cpn_wire_commit_t m;
        if (cpn_wire_decode_commit(buf, len, &hdr, &m) == CPN_OK) {
            cpn_digest_t *d = malloc(((size_t)m.nobjects + 1) * sizeof(*d));

            FUZZ_CHECK(d != NULL, "memory");
            for (i = 0; i < m.nobjects; i++) {
                d[i] = cpn_wire_commit_digest(&m, i);
            }
            cpn_wire_buf_reset(&re);
            same_bytes(&re, buf, len,
                       cpn_wire_encode_commit(&re, hdr.task_id, d, m.nobjects));
            free(d);
        }
    }
    {
        cpn_wire_receipt_t m;
        if (cpn_wire_decode_receipt(buf, len, &hdr, &m) == CPN_OK) {
            cpn_wire_buf_reset(&re);
            same_bytes(&re, buf, len,
                       cpn_wire_encode_receipt(&re, hdr.task_id, &m));
        }
    }
    {
        cpn_wire_cancel_t m;
        if (cpn_wire_decode_cancel(buf, len, &hdr, &m) == CPN_OK) {
            cpn_wire_buf_reset(&re);
            same_bytes(&re, buf, len,
                       cpn_wire_encode_cancel(&re, hdr.task_id, &m));
        }
    }
    {
        uint64_t t;
        if (cpn_wire_decode_ping(buf, len, &hdr, &t) == CPN_OK) {
            cpn_wire_buf_reset(&re);
            same_bytes(&re, buf, len, cpn_wire_encode_ping(&re, t));
        }
    }
    {
        cpn_wire_auth_t m;
        if (cpn_wire_decode_auth(buf, len, &hdr, &m) == CPN_OK) {
            FUZZ_CHECK(m.step == 1 || m.step == 2, "AUTH step is 1 or 2");
            cpn_wire_buf_reset(&re);
            same_bytes(&re, buf, len, cpn_wire_encode_auth(&re, &m));
        }
    }
    cpn_wire_buf_free(&re);
}

void cpn_fuzz_offer_one(const uint8_t *data, size_t size)
{
    uint8_t *msg;
    size_t len;
    uint32_t len32;

    if (size >= 2 && data[0] == 'C' && data[1] == 'P') {
        offer_check(data, size);
        return;
    }
    /* An OFFER body: put a valid header in front, so the fuzzer spends its
     * time in the manifest, not in the header. */
    if (size > CPN_WIRE_MAX_MSG - CPN_WIRE_HDR_LEN) {
        return;
    }
    len = CPN_WIRE_HDR_LEN + size;
    msg = malloc(len);
    FUZZ_CHECK(msg != NULL, "memory");
    memset(msg, 0, CPN_WIRE_HDR_LEN);
    msg[0] = 'C';
    msg[1] = 'P';
    msg[2] = CPN_WIRE_VERSION;
    msg[3] = CPN_MSG_OFFER;
    len32 = (uint32_t)len;
    msg[4] = (uint8_t)len32;
    msg[5] = (uint8_t)(len32 >> 8);
    msg[6] = (uint8_t)(len32 >> 16);
    msg[7] = (uint8_t)(len32 >> 24);
    msg[8] = 0x2a; /* task id 42 */
    if (size > 0) {
        memcpy(msg + CPN_WIRE_HDR_LEN, data, size);
    }
    offer_check(msg, len);
    free(msg);
}
