/* SPDX-License-Identifier: Apache-2.0 */
/* Writes the seed corpus of the fuzz targets: one well-formed message of
 * each type (and a few edge cases) made by the real encoders, one file each,
 * into DIR/wire and DIR/offer. The committed corpus under tests/fuzz/corpus
 * was made by `cpn-fuzz-seeds tests/fuzz/corpus`; rerun it when the wire
 * format changes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/wire.h"

static const char *out_dir;
static unsigned nwritten;

static void put_file(const char *target, const char *name,
                     const cpn_wire_buf_t *b)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", out_dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cpn-fuzz-seeds: cannot create %s: %s\n", path,
                strerror(errno));
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(b->data, 1, b->len, f) != b->len ||
        fclose(f) != 0) {
        fprintf(stderr, "cpn-fuzz-seeds: cannot write %s\n", path);
        exit(1);
    }
    nwritten++;
}

static void emit(cpn_wire_buf_t *b, cpn_status_t st, const char *name,
                 int offer)
{
    if (st != CPN_OK) {
        fprintf(stderr, "cpn-fuzz-seeds: encoding %s: %s\n", name,
                cpn_status_str(st));
        exit(1);
    }
    put_file("wire", name, b);
    if (offer) {
        put_file("offer", name, b);
    }
    cpn_wire_buf_reset(b);
}

int main(int argc, char **argv)
{
    static const uint8_t inl[] = "inline bytes";
    cpn_wire_buf_t b;
    cpn_wire_hello_t hello;
    cpn_wire_hello_ack_t ack;
    cpn_wire_object_t obj;
    cpn_wire_sink_t sinks[2];
    cpn_wire_chunk_t chunk;
    cpn_wire_nack_t nack;
    cpn_wire_receipt_t rc;
    cpn_wire_cancel_t cancel;
    cpn_digest_t dig[2] = { { 1, 2 }, { 3, 4 } };
    uint32_t slots[3] = { 0, 7, 65535 };
    uint8_t chunk_buf[CPN_WIRE_CHUNK_LEN];

    if (argc != 2) {
        fprintf(stderr, "usage: cpn-fuzz-seeds DIR\n");
        return 2;
    }
    out_dir = argv[1];
    cpn_wire_buf_init(&b);

    hello = (cpn_wire_hello_t){ .proto_min = 1, .proto_max = 1, .site = cpn_wire_str("site-a"), .transport = cpn_wire_str("ucx") };
    emit(&b, cpn_wire_encode_hello(&b, &hello), "hello", 0);
    hello.proto_min = 2, hello.proto_max = 2, hello.has_key = 1;
    memset(hello.nonce, 0x42, sizeof(hello.nonce));
    memset(hello.pubkey, 0x24, sizeof(hello.pubkey));
    emit(&b, cpn_wire_encode_hello(&b, &hello), "hello_v2_key", 0);
    {
        cpn_wire_auth_t au;

        memset(&au, 0x33, sizeof(au));
        au.step = 1;
        emit(&b, cpn_wire_encode_auth(&b, &au), "auth_challenge", 0);
        au.step = 2;
        emit(&b, cpn_wire_encode_auth(&b, &au), "auth_answer", 0);
    }

    memset(&ack, 0, sizeof(ack));
    ack.status = CPN_OK, ack.proto = 1, ack.site = cpn_wire_str("site-b");
    ack.max_objects = 1000, ack.max_task_bytes = 1ull << 40;
    ack.max_name_len = 4096, ack.inline_max = 65536, ack.slot_size = 4 << 20;
    ack.nslots = 64, ack.pool_addr = 0x7f0012345000ull;
    ack.pool_rkey.ptr = "rkey", ack.pool_rkey.len = 4;
    emit(&b, cpn_wire_encode_hello_ack(&b, &ack), "hello_ack", 0);
    memset(&ack, 0, sizeof(ack));
    ack.status = CPN_ERR_VERSION, ack.error = cpn_wire_str("no common version");
    emit(&b, cpn_wire_encode_hello_ack(&b, &ack), "hello_ack_refused", 0);

    cpn_wire_offer_begin(&b, 1, cpn_wire_str("job"), cpn_wire_str(NULL), 4096);
    emit(&b, cpn_wire_offer_end(&b), "offer_empty", 1);
    cpn_wire_offer_begin(&b, 2, cpn_wire_str("train-42"),
                         cpn_wire_str("{\"epochs\":3}"), 4 << 20);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("model/shard-0.bin"), .size = 1ull << 30 };
    cpn_wire_offer_add(&b, &obj);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("cfg/a.json"), .size = sizeof(inl),
                               .flags = CPN_WIRE_OBJ_INLINE, .digest = { 5, 6 }, .data = inl };
    cpn_wire_offer_add(&b, &obj);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("empty"), .size = 0,
                               .flags = CPN_WIRE_OBJ_INLINE, .digest = { 7, 8 } };
    cpn_wire_offer_add(&b, &obj);
    emit(&b, cpn_wire_offer_end(&b), "offer_mixed", 1);
    cpn_wire_offer_begin(&b, 3, cpn_wire_str("bad"), cpn_wire_str(NULL), 4096);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("../../etc/passwd"), .size = 10 };
    cpn_wire_offer_add(&b, &obj);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("a//b/./c"), .size = 1 };
    cpn_wire_offer_add(&b, &obj);
    emit(&b, cpn_wire_offer_end(&b), "offer_bad_names", 1);

    sinks[0] = (cpn_wire_sink_t){ 0, 0x1000, cpn_wire_str("k0") };
    sinks[1] = (cpn_wire_sink_t){ 1, 0x2000, cpn_wire_str(NULL) };
    emit(&b, cpn_wire_encode_accept(&b, 4, CPN_OK, cpn_wire_str(NULL), slots, 3,
                                    sinks, 2), "accept", 0);
    emit(&b, cpn_wire_encode_accept(&b, 4, CPN_ERR_LIMIT, cpn_wire_str("too big"),
                                    NULL, 0, NULL, 0), "accept_refused", 0);
    emit(&b, cpn_wire_encode_grant(&b, 5, slots, 3), "grant", 0);
    {
        cpn_wire_have_entry_t have[2] = { { 0, 3, 0x1234 }, { 1, 0, 99 } };

        emit(&b, cpn_wire_encode_have(&b, 5, have, 2), "have", 0);
    }
    chunk = (cpn_wire_chunk_t){ 3, 1, 4096, 4096, 0xdeadbeefcafef00dull };
    cpn_wire_encode_chunk(chunk_buf, 6, &chunk);
    {
        cpn_wire_buf_t cb = { .data = chunk_buf, .len = sizeof(chunk_buf) };
        put_file("wire", "chunk", &cb);
    }
    nack = (cpn_wire_nack_t){ 3, 1, 4096, 4096, CPN_ERR_CHECKSUM };
    emit(&b, cpn_wire_encode_nack(&b, 7, &nack), "nack", 0);
    emit(&b, cpn_wire_encode_commit(&b, 8, dig, 2), "commit", 0);
    rc = (cpn_wire_receipt_t){ CPN_OK, cpn_wire_str(NULL), cpn_wire_str("/land/job"),
                               1 << 20, 1, 0, 123456 };
    emit(&b, cpn_wire_encode_receipt(&b, 9, &rc), "receipt", 0);
    cancel = (cpn_wire_cancel_t){ CPN_ERR_CANCELED, cpn_wire_str("gave up") };
    emit(&b, cpn_wire_encode_cancel(&b, 10, &cancel), "cancel", 0);
    emit(&b, cpn_wire_encode_ping(&b, 123456789), "ping", 0);

    cpn_wire_buf_free(&b);
    printf("cpn-fuzz-seeds: %u files under %s\n", nwritten, out_dir);
    return 0;
}
