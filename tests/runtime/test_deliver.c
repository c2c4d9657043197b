/* SPDX-License-Identifier: Apache-2.0 */
/* Two sites in one process over UCX: task delivery end to end. The receiving
 * site runs on its own thread (a site belongs to one thread at a time); the
 * sending site is driven by cpn_task_wait() on the test's thread. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <cpn/cpn.h>

#include "core/checksum.h"
#include "core/clock.h"
#include "runtime/site_int.h"
#include "runtime/wire.h"
#include "transport/transport.h"

#include "two_sites.h"

TestSuite(deliver, .timeout = 300);

Test(deliver, files_of_many_sizes)
{
    static const size_t sizes[] = {0, 1, 4095, 64 * 1024, 64 * 1024 + 1,
                                   1 * MiB - 1, 1 * MiB, 1 * MiB + 1,
                                   5 * MiB + 7};
    uint8_t *buf[sizeof(sizes) / sizeof(sizes[0])];
    const cpn_receipt_t *r;
    cpn_task_t *task;
    cpn_peer_t *peer;
    char name[64], path[512];
    char *json;
    size_t i, total = 0;

    setup_sites(8 * MiB, 1 * MiB);
    start_rx();
    peer = connect_tx();
    cr_assert_eq(cpn_task_create(tx, "job-sizes", &task), CPN_OK);
    cr_assert_eq(cpn_task_set_spec(task, "{\"model\":\"x\"}", 13), CPN_OK);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        buf[i] = malloc(sizes[i] + 1);
        fill(buf[i], sizes[i], i + 1);
        snprintf(name, sizeof(name), "dir%zu/obj-%zu.bin", i % 3, sizes[i]);
        cr_assert_eq(cpn_task_add_mem(task, name, buf[i], sizes[i], NULL),
                     CPN_OK);
        total += sizes[i];
    }
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 60000), CPN_OK, "%s",
                 cpn_task_error(task));
    r = cpn_task_receipt(task);
    cr_assert_not_null(r);
    cr_assert_eq(r->bytes, total);
    cr_assert_eq(r->objects, sizeof(sizes) / sizeof(sizes[0]));
    cr_assert_gt(r->chunks, 5);
    cr_assert_str_eq(r->receiver, "site-b");
    cr_assert(strstr(r->landed_at, "job-sizes") != NULL);
    /* digests are the chunk-list digest of the data */
    for (i = 0; i < r->nobjects; i++) {
        size_t n = (sizes[i] + MiB - 1) / MiB, c;
        uint64_t h[8];
        cpn_digest_t d;

        for (c = 0; c < n; c++) {
            size_t off = c * MiB;
            h[c] = cpn_hash64(buf[i] + off,
                              sizes[i] - off < MiB ? sizes[i] - off : MiB);
        }
        d = cpn_object_digest(sizes[i], MiB, h, n);
        cr_assert_eq(r->object[i].digest_hi, d.hi);
        cr_assert_eq(r->object[i].digest_lo, d.lo);
    }
    cr_assert_eq(cpn_receipt_to_json(r, 0, &json), CPN_OK);
    {
        json_error_t jerr;
        json_t *j = json_loads(json, 0, &jerr);

        cr_assert_not_null(j, "receipt JSON does not parse: %s", jerr.text);
        cr_assert_eq(json_integer_value(json_object_get(j, "bytes")),
                     (json_int_t)total);
        json_decref(j);
    }
    free(json);
    wait_landed_or_failed(1, 0);
    cr_assert_str_eq(rx.spec_seen, "{\"model\":\"x\"}");
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        snprintf(path, sizeof(path), "%s/job-sizes/dir%zu/obj-%zu.bin",
                 rx.land, i % 3, sizes[i]);
        assert_file_eq(path, buf[i], sizes[i]);
        free(buf[i]);
    }
    /* nothing else in the landing directory: no partial directory left */
    cr_assert_eq(dir_entries(rx.land), 1);
    cpn_task_destroy(task);
    cpn_peer_close(peer);
    teardown_sites();
}

Test(deliver, thousand_small_objects)
{
    enum { N = 1000 };
    static uint8_t data[N][97];
    cpn_task_t *task;
    cpn_peer_t *peer;
    char name[64], path[512];
    int i;

    setup_sites(8 * MiB, 1 * MiB);
    start_rx();
    peer = connect_tx();
    cr_assert_eq(cpn_task_create(tx, "many", &task), CPN_OK);
    for (i = 0; i < N; i++) {
        fill(data[i], sizeof(data[i]) - (size_t)(i % 7), (uint64_t)i);
        snprintf(name, sizeof(name), "part-%02d/obj-%04d", i / 100, i);
        cr_assert_eq(cpn_task_add_mem(task, name, data[i],
                                      sizeof(data[i]) - (size_t)(i % 7), NULL),
                     CPN_OK);
    }
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 60000), CPN_OK, "%s",
                 cpn_task_error(task));
    cr_assert_eq(cpn_task_receipt(task)->objects, N);
    cr_assert_eq(cpn_task_receipt(task)->inline_objects, N);
    wait_landed_or_failed(1, 0);
    for (i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "%s/many/part-%02d/obj-%04d", rx.land,
                 i / 100, i);
        assert_file_eq(path, data[i], sizeof(data[i]) - (size_t)(i % 7));
    }
    cpn_task_destroy(task);
    cpn_peer_close(peer);
    teardown_sites();
}

Test(deliver, object_larger_than_pool, .timeout = 600)
{
    const size_t size = 1024 * MiB, pool = 64 * MiB;
    cpn_task_t *task;
    cpn_peer_t *peer;
    uint8_t *buf, *back;
    char path[512];
    FILE *f;
    size_t off;

    buf = malloc(size);
    cr_assert_not_null(buf);
    for (off = 0; off < size; off += MiB) {
        fill(buf + off, MiB, off / MiB);
    }
    setup_sites(pool, 4 * MiB);
    cr_assert_leq((size_t)rx.site->nslots * rx.site->slot_size, pool);
    start_rx();
    peer = connect_tx();
    cr_assert_eq(cpn_task_create(tx, "big", &task), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "shard.bin", buf, size, NULL), CPN_OK);
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 300000), CPN_OK, "%s",
                 cpn_task_error(task));
    cr_assert_eq(cpn_task_receipt(task)->bytes, size);
    cr_assert_eq(cpn_task_receipt(task)->chunks, size / (4 * MiB));
    wait_landed_or_failed(1, 0);
    snprintf(path, sizeof(path), "%s/big/shard.bin", rx.land);
    f = fopen(path, "rb");
    cr_assert_not_null(f);
    back = malloc(MiB);
    for (off = 0; off < size; off += MiB) {
        cr_assert_eq(fread(back, 1, MiB, f), MiB);
        cr_assert(memcmp(back, buf + off, MiB) == 0, "differs at %zu", off);
    }
    cr_assert_eq(fread(back, 1, 1, f), 0);
    fclose(f);
    free(back);
    free(buf);
    cpn_task_destroy(task);
    cpn_peer_close(peer);
    teardown_sites();
}

Test(deliver, memory_sink_zero_copy)
{
    const size_t a = 3 * MiB + 5, b = 100;
    cpn_task_t *task;
    cpn_peer_t *peer;
    cpn_mem_t *src_mem;
    uint8_t *src;

    setup_sites(8 * MiB, 1 * MiB);
    use_sink(a + b);
    start_rx();
    peer = connect_tx();
    src = malloc(a + b);
    fill(src, a + b, 42);
    cr_assert_eq(cpn_site_mem_reg(tx, src, a + b, &src_mem), CPN_OK);
    cr_assert_eq(cpn_task_create(tx, "sink", &task), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "a", src, a, src_mem), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "b", src + a, b, src_mem), CPN_OK);
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 60000), CPN_OK, "%s",
                 cpn_task_error(task));
    cr_assert_str_eq(cpn_task_receipt(task)->landed_at, "memory");
    wait_landed_or_failed(1, 0);
    cr_assert(memcmp(rx.sink, src, a + b) == 0);
    /* nothing was written as files */
    cr_assert_eq(dir_entries(rx.land), 0);
    cpn_task_destroy(task);
    cpn_site_mem_dereg(src_mem);
    free(src);
    cpn_peer_close(peer);
    teardown_sites();
}

/* Chunks copied and hashed on the progress thread alone (0), on one thread
 * beside it (the default), and on four: the same bytes land, with the
 * chunk hashes the receiver checks, files and memory alike. */
static void deliver_with_hash_threads(const char *threads)
{
    cpu_set_t cpus;
    const size_t a = 24 * MiB + 3, b = 5 * MiB;
    cpn_task_t *task;
    cpn_peer_t *peer;
    uint8_t *src;
    char path[512];

    setenv("CPN_SITE_HASH_THREADS", threads, 1);
    setup_sites(8 * MiB, 512 * 1024);
    start_rx();
    peer = connect_tx();
    src = malloc(a + b);
    cr_assert_not_null(src);
    fill(src, a + b, 9);
    src_file(path, sizeof(path), src + a, b);
    cr_assert_eq(cpn_task_create(tx, "threads", &task), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "mem.bin", src, a, NULL), CPN_OK);
    cr_assert_eq(cpn_task_add_file(task, "file.bin", path), CPN_OK);
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 120000), CPN_OK, "%s threads: %s",
                 threads, cpn_task_error(task));
    /* the memory object's 512 KiB chunks went to the threads, when any
     * (and this process may run on more than one CPU) */
    cr_assert_eq(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
    cr_assert_eq(tx->hpool != NULL,
                 strcmp(threads, "0") != 0 && CPU_COUNT(&cpus) > 1,
                 "%s threads: the sender %s hashing threads", threads,
                 tx->hpool != NULL ? "started" : "did not start");
    wait_landed_or_failed(1, 0);
    snprintf(path, sizeof(path), "%s/threads/mem.bin", rx.land);
    assert_file_eq(path, src, a);
    snprintf(path, sizeof(path), "%s/threads/file.bin", rx.land);
    assert_file_eq(path, src + a, b);
    cpn_task_destroy(task);
    free(src);
    cpn_peer_close(peer);
    teardown_sites();
}

Test(deliver, hash_threads_none)
{
    deliver_with_hash_threads("0");
}

Test(deliver, hash_threads_four)
{
    deliver_with_hash_threads("4");
}

/* Chunks that fail their check at the receiver (a byte flipped on 5% of
 * them, CPN_SITE_FAULT_CORRUPT) are asked for again, from a file into the
 * staging pool and from memory into a sink: the objects land byte-exact
 * and both receipts count the retries. */
static void corrupt_and_resend(int sink)
{
    const size_t size = 32 * MiB;
    const cpn_receipt_t *r;
    cpn_task_t *task;
    cpn_peer_t *peer;
    uint8_t *src;
    char path[512];

    setenv("CPN_SITE_FAULT_CORRUPT", "5%", 1);
    setup_sites(8 * MiB, 256 * 1024);
    unsetenv("CPN_SITE_FAULT_CORRUPT");
    if (sink) {
        use_sink(size);
    }
    start_rx();
    peer = connect_tx();
    src = malloc(size);
    cr_assert_not_null(src);
    fill(src, size, 77);
    cr_assert_eq(cpn_task_create(tx, "corrupt", &task), CPN_OK);
    if (sink) {
        cr_assert_eq(cpn_task_add_mem(task, "blob.bin", src, size, NULL),
                     CPN_OK);
    } else {
        src_file(path, sizeof(path), src, size);
        cr_assert_eq(cpn_task_add_file(task, "blob.bin", path), CPN_OK);
    }
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 120000), CPN_OK, "%s",
                 cpn_task_error(task));
    r = cpn_task_receipt(task);
    cr_assert_gt(r->retries, 0, "no chunk was asked for again");
    cr_assert_leq(r->retries, 16);
    cr_assert_eq(r->chunks, size / (256 * 1024) + r->retries);
    wait_landed_or_failed(1, 0);
    if (sink) {
        cr_assert(memcmp(rx.sink, src, size) == 0, "the sink differs");
    } else {
        snprintf(path, sizeof(path), "%s/corrupt/blob.bin", rx.land);
        assert_file_eq(path, src, size);
    }
    cpn_task_destroy(task);
    free(src);
    cpn_peer_close(peer);
    teardown_sites();
}

/* A byte flipped in 5% of the chunks of a 32 MiB file as they land in the
 * receiver's staging slots: each is asked for again, the file lands
 * byte-exact, and the receipt counts the retries. */
Test(deliver, corrupt_chunk_sent_again_file)
{
    corrupt_and_resend(0);
}

/* The same into a memory sink (the sender copies straight into it): each
 * flipped chunk is copied again, the sink ends byte-exact. */
Test(deliver, corrupt_chunk_sent_again_sink)
{
    corrupt_and_resend(1);
}

Test(deliver, bad_names_refused_by_sender)
{
    static const char *bad[] = {"../etc/passwd", "/abs/path", "a/../../b",
                                "a//b", "a/", "", "a/./b"};
    cpn_task_t *task;
    size_t i;

    setup_sites(8 * MiB, 1 * MiB);
    start_rx();
    cr_assert_eq(cpn_task_create(tx, "bad", &task), CPN_OK);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(cpn_task_add_mem(task, bad[i], "x", 1, NULL),
                     CPN_ERR_BAD_NAME, "name '%s' was accepted", bad[i]);
    }
    cr_assert_eq(cpn_task_add_mem(task, "ok", "x", 1, NULL), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "ok", "y", 1, NULL),
                 CPN_ERR_DUPLICATE);
    cr_assert_eq(cpn_task_create(tx, "../up", &(cpn_task_t *){NULL}),
                 CPN_ERR_BAD_NAME);
    cpn_task_destroy(task);
    teardown_sites();
}

/* A sender that skips its own checks: the receiver must refuse before any
 * byte lands, naming the object. */
static void raw_offer_refused(const char *name, size_t name_len,
                              cpn_status_t want)
{
    cpn_wire_object_t wo;
    cpn_peer_t *peer;
    cpn_msg_t *m;
    uint64_t h;

    peer = connect_tx();
    m = cpn__msg_get(tx);
    cr_assert_eq(cpn_wire_offer_begin(&m->buf, 77, cpn_wire_str("evil"),
                                      cpn_wire_str(NULL), 1 << 20), CPN_OK);
    memset(&wo, 0, sizeof(wo));
    wo.name.ptr = name;
    wo.name.len = name_len;
    wo.size = 4;
    wo.flags = CPN_WIRE_OBJ_INLINE;
    h = cpn_hash64("evil", 4);
    wo.digest = cpn_object_digest(4, 1 << 20, &h, 1);
    wo.data = "evil";
    cr_assert_eq(cpn_wire_offer_add(&m->buf, &wo), CPN_OK);
    cr_assert_eq(cpn_wire_offer_end(&m->buf), CPN_OK);
    cr_assert_eq(cpn__peer_send(peer, m), CPN_OK);
    {
        uint64_t deadline = cpn_time_ns() + 5000000000ull;

        while (atomic_load(&rx.failed) == 0 && cpn_time_ns() < deadline) {
            cpn_site_progress(tx);
        }
    }
    cr_assert_eq(atomic_load(&rx.failed), 1, "receiver did not refuse");
    cr_assert_eq(rx.last_status, want);
    cr_assert_eq(dir_entries(rx.land), 0, "something was written");
    cpn_peer_close(peer);
}

Test(deliver, receiver_refuses_dotdot)
{
    setup_sites(8 * MiB, 1 * MiB);
    start_rx();
    raw_offer_refused("../../outside", 13, CPN_ERR_BAD_NAME);
    teardown_sites();
}

Test(deliver, receiver_refuses_absolute)
{
    setup_sites(8 * MiB, 1 * MiB);
    start_rx();
    raw_offer_refused("/etc/cron.d/x", 13, CPN_ERR_BAD_NAME);
    teardown_sites();
}

Test(deliver, receiver_refuses_nul)
{
    setup_sites(8 * MiB, 1 * MiB);
    start_rx();
    raw_offer_refused("ok\0../../x", 10, CPN_ERR_BAD_NAME);
    teardown_sites();
}

typedef struct raw_state {
    int got;
    int32_t status;
    char err[512];
} raw_state_t;

static void raw_recv(void *arg, cpn_tp_ep_t *ep, const void *data, size_t len)
{
    raw_state_t *st = arg;
    cpn_wire_hello_ack_t ack;
    cpn_wire_hdr_t hdr;

    (void)ep;
    if (cpn_wire_decode_hello_ack(data, len, &hdr, &ack) == CPN_OK) {
        st->status = ack.status;
        snprintf(st->err, sizeof(st->err), "%.*s", (int)ack.error.len,
                 ack.error.ptr);
        st->got = 1;
    }
}

static void noop_comp(void *arg, cpn_status_t status)
{
    (void)arg;
    (void)status;
}

/* A peer from a future protocol version gets a clear refusal, not garbage. */
Test(deliver, version_mismatch_is_clear)
{
    const cpn_transport_ops_t *ops = cpn__tp_find("ucx");
    raw_state_t st;
    cpn_tp_handlers_t h;
    cpn_tp_params_t tp = {.site_name = "future"};
    cpn_tp_iface_t *iface;
    cpn_tp_ep_t *ep;
    cpn_wire_hello_t hello;
    cpn_wire_buf_t b;
    char host[64];
    uint16_t port;
    uint64_t deadline;

    memset(&st, 0, sizeof(st));
    setup_sites(8 * MiB, 1 * MiB);
    start_rx();
    cr_assert_not_null(ops);
    memset(&h, 0, sizeof(h));
    h.recv = raw_recv;
    h.arg = &st;
    cr_assert_eq(ops->open(&tp, &h, &iface), CPN_OK);
    cr_assert_eq(cpn__tp_parse_addr(rx.addr, host, sizeof(host), &port),
                 CPN_OK);
    cr_assert_eq(ops->connect(iface, host, port, &ep), CPN_OK);
    memset(&hello, 0, sizeof(hello));
    hello.proto_min = CPN_PROTO_VERSION + 1;
    hello.proto_max = CPN_PROTO_VERSION + 2;
    hello.site = cpn_wire_str("future-site");
    hello.transport = cpn_wire_str("ucx");
    cpn_wire_buf_init(&b);
    cr_assert_eq(cpn_wire_encode_hello(&b, &hello), CPN_OK);
    cr_assert_geq(ops->send(ep, b.data, b.len, noop_comp, NULL), CPN_OK);
    deadline = cpn_time_ns() + 5000000000ull;
    while (!st.got && cpn_time_ns() < deadline) {
        ops->progress(iface);
    }
    cr_assert(st.got, "no HELLO_ACK within 5 s");
    cr_assert_eq(st.status, CPN_ERR_VERSION);
    cr_assert(strstr(st.err, "protocol") != NULL, "error text: %s", st.err);
    cr_assert(strstr(st.err, "future-site") != NULL, "error text: %s", st.err);
    ops->ep_close(ep);
    ops->close(iface);
    cpn_wire_buf_free(&b);
    teardown_sites();
}

/* A cancel that comes after the commit is too late: every chunk is
 * verified and the receiver lands the task as it reads COMMIT, so the
 * cancel says CPN_ERR_BUSY and the task goes on to its receipt; what landed
 * and what the sender reports agree. */
Test(deliver, cancel_after_commit_is_too_late)
{
    const size_t size = 4 * MiB;
    cpn_task_t *task;
    cpn_peer_t *peer;
    uint8_t *buf = malloc(size);
    char path[512];
    uint64_t deadline;

    cr_assert_not_null(buf);
    memset(buf, 0x3c, size);
    setup_sites(8 * MiB, 1 * MiB);
    start_rx();
    peer = connect_tx();
    cr_assert_eq(cpn_task_create(tx, "late", &task), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "x", buf, size, NULL), CPN_OK);
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    /* drive only the sender, and stop the moment COMMIT is out */
    deadline = cpn_time_ns() + 30000000000ull;
    while (task->state != CPN_TASK_COMMITTED &&
           task->state != CPN_TASK_DONE && cpn_time_ns() < deadline) {
        cpn_site_progress(tx);
    }
    cr_assert_eq(task->state, CPN_TASK_COMMITTED, "the task never stood "
                 "committed (state %d): %s", (int)task->state,
                 cpn_task_error(task));
    cr_assert_eq(cpn_task_cancel(task), CPN_ERR_BUSY);
    cr_assert_eq(cpn_task_status(task), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 30000), CPN_OK, "%s",
                 cpn_task_error(task));
    cr_assert_not_null(cpn_task_receipt(task));
    wait_landed_or_failed(1, 0);
    snprintf(path, sizeof(path), "%s/late/x", rx.land);
    cr_assert_eq(access(path, F_OK), 0, "the receipt came but %s is missing",
                 path);
    cpn_task_destroy(task);
    free(buf);
    cpn_peer_close(peer);
    teardown_sites();
}

Test(deliver, nothing_listening_fails_within_timeout)
{
    cpn_peer_t *peer = NULL;
    uint64_t t0;
    cpn_status_t st;

    setup_sites(8 * MiB, 1 * MiB);
    start_rx();
    t0 = cpn_time_ns();
    /* port 1 on loopback: nothing listens there */
    st = cpn_site_connect(tx, "127.0.0.1:1", 3000, &peer);
    cr_assert(st == CPN_ERR_UNREACHABLE || st == CPN_ERR_TIMEOUT,
              "got %s", cpn_status_name(st));
    cr_assert_null(peer);
    cr_assert_lt(cpn_time_ns() - t0, 4000000000ull);
    teardown_sites();
}

/* A wait that times out leaves the task running to its receipt; a cancel
 * before the commit ends it with CPN_ERR_CANCELED at both ends, and
 * nothing of it is left in the landing directory. */
Test(deliver, wait_timeout_does_not_cancel_then_cancel)
{
    const size_t size = 256 * MiB;
    cpn_task_t *task, *task2;
    cpn_peer_t *peer;
    uint8_t *buf = malloc(size);
    char path[512];

    cr_assert_not_null(buf);
    memset(buf, 0x5a, size);
    setup_sites(8 * MiB, 1 * MiB);
    start_rx();
    peer = connect_tx();
    cr_assert_eq(cpn_task_create(tx, "slow", &task), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "x", buf, size, NULL), CPN_OK);
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 0), CPN_ERR_TIMEOUT);
    cr_assert_eq(cpn_task_status(task), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 120000), CPN_OK, "%s",
                 cpn_task_error(task));

    /* cancellation is its own call and its own status */
    cr_assert_eq(cpn_task_create(tx, "canceled", &task2), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task2, "x", buf, size, NULL), CPN_OK);
    cr_assert_eq(cpn_task_deliver(task2, peer, NULL), CPN_INPROGRESS);
    /* (a 0 ms wait: with mapped copies, 5 ms of progress could carry the
     * whole task to its COMMIT, and a cancel after that is too late) */
    cr_assert_eq(cpn_task_wait(task2, 0), CPN_ERR_TIMEOUT);
    cr_assert_eq(cpn_task_cancel(task2), CPN_OK);
    cr_assert_eq(cpn_task_status(task2), CPN_ERR_CANCELED);
    cr_assert_eq(cpn_task_wait(task2, 0), CPN_ERR_CANCELED);
    wait_landed_or_failed(1, 1);
    cr_assert_eq(rx.last_status, CPN_ERR_CANCELED, "receiver saw %s", cpn_status_name(rx.last_status));
    snprintf(path, sizeof(path), "%s/canceled", rx.land);
    cr_assert_neq(access(path, F_OK), 0, "a canceled task became visible");
    cr_assert_eq(dir_entries(rx.land), 1, "partial files left behind (%d entries)", dir_entries(rx.land));
    cpn_task_destroy(task2);
    cpn_task_destroy(task);
    free(buf);
    cpn_peer_close(peer);
    teardown_sites();
}
