/* SPDX-License-Identifier: Apache-2.0 */
/* The small-task path: a destroyed task is recycled by the next create (its
 * object array, chunk hashes and receipt buffers kept), a receiving site
 * recycles its finished tasks the same way, and tasks of a few objects
 * check names for duplicates by comparing them instead of hashing. These
 * tests deliver tasks of changing shapes back to back over UCX (two sites
 * in one process, the receiver on its own thread, into memory sinks) and
 * check every byte, receipt and digest, so a stale field of a recycled
 * task shows; and they send raw offers with duplicate names to check the
 * receiver refuses them below and above the hash-set threshold. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpn/cpn.h>

#include "core/checksum.h"
#include "core/clock.h"
#include "runtime/site_int.h"
#include "runtime/wire.h"

#include "two_sites.h"

#define CHUNK (1u << 20)

/* Both sites with an 8 MiB pool, every object into one sink of
 * @p sink_len bytes, the receiver running. */
static void setup_small(size_t sink_len)
{
    setup_sites(8 * MiB, CHUNK);
    use_sink(sink_len);
    start_rx();
}

/* The digest cpn gives an object of @p len bytes at @p data. */
static cpn_digest_t digest_of(const uint8_t *data, uint64_t len)
{
    uint64_t n = (len + CHUNK - 1) / CHUNK, i;
    uint64_t *h = calloc(n ? n : 1, sizeof(*h));
    cpn_digest_t d;

    for (i = 0; i < n; i++) {
        uint64_t off = i * CHUNK;

        h[i] = cpn_hash64(data + off, len - off < CHUNK ? len - off : CHUNK);
    }
    d = cpn_object_digest(len, CHUNK, h, n);
    free(h);
    return d;
}

/* Deliver one task of @p n objects of @p size bytes each (seeded by
 * @p seed) and check the sink, the receipt and every object digest. */
static void deliver_shape(cpn_peer_t *peer, unsigned n, uint64_t size,
                          uint64_t seed)
{
    uint64_t total = (uint64_t)n * size;
    const cpn_receipt_t *r;
    int landed = atomic_load(&rx.landed);
    uint8_t *src = malloc(total ? total : 1);
    cpn_task_t *task;
    char job[64], name[64];
    unsigned i, inl = 0;
    uint64_t deadline;

    cr_assert_not_null(src);
    cr_assert_leq(total, rx.sink_len);
    fill(src, total, seed);
    memset(rx.sink, 0xee, rx.sink_len);
    snprintf(job, sizeof(job), "shape-%u-%llu", n, (unsigned long long)seed);
    cr_assert_eq(cpn_task_create(tx, job, &task), CPN_OK);
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "dir%u/obj%u", i % 3, i);
        cr_assert_eq(cpn_task_add_mem(task, name, src + (size_t)i * size,
                                      size, NULL), CPN_OK);
    }
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 60000), CPN_OK, "task %s: %s", job,
                 cpn_task_error(task));
    r = cpn_task_receipt(task);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->job, job);
    cr_assert_str_eq(r->landed_at, "memory");
    cr_assert_eq(r->objects, n);
    cr_assert_eq(r->nobjects, n);
    cr_assert_eq(r->bytes, total);
    for (i = 0; i < n; i++) {
        cpn_digest_t d = digest_of(src + (size_t)i * size, size);

        snprintf(name, sizeof(name), "dir%u/obj%u", i % 3, i);
        cr_assert_str_eq(r->object[i].name, name);
        cr_assert_eq(r->object[i].size, size);
        cr_assert(r->object[i].digest_hi == d.hi &&
                  r->object[i].digest_lo == d.lo,
                  "task %s: object %u has a stale or wrong digest", job, i);
        inl += (unsigned)r->object[i].inlined;
    }
    cr_assert_eq(r->inline_objects, inl);
    deadline = cpn_time_ns() + 10000000000ull;
    while (atomic_load(&rx.landed) == landed && cpn_time_ns() < deadline) {
        cpn_site_progress(tx);
    }
    cr_assert_eq(atomic_load(&rx.landed), landed + 1);
    cr_assert(memcmp(rx.sink, src, total) == 0,
              "task %s: the sink differs from the source", job);
    cpn_task_destroy(task);
    free(src);
}

TestSuite(small, .timeout = 300);

/* Shapes that grow and shrink, so each recycled task (sender and receiver)
 * holds stale objects, hashes and receipt entries from a bigger one; 70
 * objects is past what a spare keeps, and 3 MiB + 5 goes in chunks. */
Test(small, recycled_tasks_of_changing_shapes)
{
    static const struct {
        unsigned n;
        uint64_t size;
    } shape[] = {
        {3, 4096}, {1, 4096}, {70, 1000}, {1, 10}, {2, 3 * MiB + 5},
        {1, 0},    {9, 4096}, {1, 4096},  {4, 1},
    };
    cpn_peer_t *peer;
    size_t k;
    unsigned rep;

    setup_small(8 * MiB);
    cr_assert_eq(cpn_site_connect(tx, rx.addr, 5000, &peer), CPN_OK);
    for (rep = 0; rep < 2; rep++) {
        for (k = 0; k < sizeof(shape) / sizeof(shape[0]); k++) {
            deliver_shape(peer, shape[k].n, shape[k].size, rep * 100 + k);
        }
    }
    cr_assert_eq(atomic_load(&rx.failed), 0);
    cpn_peer_close(peer);
    teardown_sites();
}

/* Fewer objects than CPN_NAME_SET_MIN are compared in turn, more go
 * through the hash set, which must also hold the names added before it. */
Test(small, sender_refuses_duplicates_few_and_many)
{
    char name[32];
    cpn_task_t *task;
    unsigned i;

    {
        cpn_site_params_t p;

        cr_assert_eq(cpn_site_params_init(&p), CPN_OK);
        p.name = "dups";
        cr_assert_eq(cpn_site_open(&p, &tx), CPN_OK);
    }
    cr_assert_eq(cpn_task_create(tx, "few", &task), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "a", "x", 1, NULL), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "b", "x", 1, NULL), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "a", "x", 1, NULL), CPN_ERR_DUPLICATE);
    cr_assert_eq(cpn_task_add_mem(task, "ab", "x", 1, NULL), CPN_OK);
    cpn_task_destroy(task);

    cr_assert_eq(cpn_task_create(tx, "many", &task), CPN_OK);
    for (i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "o%u", i);
        cr_assert_eq(cpn_task_add_mem(task, name, "x", 1, NULL), CPN_OK);
        if (i == 7 || i == 8 || i == 20 || i == 39) {
            /* below, at and past the set's creation and its growth */
            cr_assert_eq(cpn_task_add_mem(task, "o0", "x", 1, NULL),
                         CPN_ERR_DUPLICATE, "after %u objects", i + 1);
            cr_assert_eq(cpn_task_add_mem(task, name, "x", 1, NULL),
                         CPN_ERR_DUPLICATE, "after %u objects", i + 1);
        }
    }
    cpn_task_destroy(task);
    cpn_site_close(tx);
}

/* A raw offer of @p n objects of 4 bytes whose object @p dup repeats the
 * name of object 0: the receiver must refuse it with CPN_ERR_DUPLICATE. */
static void raw_offer_with_duplicate(cpn_peer_t *peer, unsigned n,
                                     unsigned dup, uint64_t id)
{
    int failed = atomic_load(&rx.failed);
    cpn_wire_object_t wo;
    uint64_t h = cpn_hash64("dupe", 4), deadline;
    char name[32];
    cpn_msg_t *m;
    unsigned i;

    m = cpn__msg_get(tx);
    cr_assert_not_null(m);
    cr_assert_eq(cpn_wire_offer_begin(&m->buf, id, cpn_wire_str("dupes"),
                                      cpn_wire_str(NULL), CHUNK), CPN_OK);
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "n%u", i == dup ? 0 : i);
        memset(&wo, 0, sizeof(wo));
        wo.name = cpn_wire_str(name);
        wo.size = 4;
        wo.flags = CPN_WIRE_OBJ_INLINE;
        wo.digest = cpn_object_digest(4, CHUNK, &h, 1);
        wo.data = "dupe";
        cr_assert_eq(cpn_wire_offer_add(&m->buf, &wo), CPN_OK);
    }
    cr_assert_eq(cpn_wire_offer_end(&m->buf), CPN_OK);
    cr_assert_eq(cpn__peer_send(peer, m), CPN_OK);
    deadline = cpn_time_ns() + 5000000000ull;
    while (atomic_load(&rx.failed) == failed && cpn_time_ns() < deadline) {
        cpn_site_progress(tx);
    }
    cr_assert_eq(atomic_load(&rx.failed), failed + 1,
                 "offer of %u objects with a duplicate was not refused", n);
    cr_assert_eq(rx.last_status, CPN_ERR_DUPLICATE);
}

Test(small, receiver_refuses_duplicates_few_and_many)
{
    cpn_peer_t *peer;

    setup_small(1 * MiB);
    cr_assert_eq(cpn_site_connect(tx, rx.addr, 5000, &peer), CPN_OK);
    raw_offer_with_duplicate(peer, 2, 1, 901);
    raw_offer_with_duplicate(peer, CPN_NAME_SET_MIN - 1, 6, 902);
    raw_offer_with_duplicate(peer, CPN_NAME_SET_MIN, 7, 903);
    raw_offer_with_duplicate(peer, 30, 29, 904);
    /* and a good task still lands after them */
    deliver_shape(peer, 2, 4096, 7);
    cr_assert_eq(atomic_load(&rx.landed), 1);
    cpn_peer_close(peer);
    teardown_sites();
}
