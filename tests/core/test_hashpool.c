/* SPDX-License-Identifier: Apache-2.0 */
/* The copy-and-hash pool: every job comes back once, with the hash
 * cpn_hash64() gives and (for a copy) the bytes at the destination, however
 * the work is split between the pool's threads and the owner; a full ring
 * says BUSY instead of losing a job; drain returns with nothing running;
 * destroy runs what is still queued. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/checksum.h"
#include "core/clock.h"
#include "core/hashpool.h"

#define NJOBS 3000

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* Submit NJOBS jobs of varied sizes (copies and hash-only, some unaligned)
 * through a pool of @p nthreads, helping every other round, and check each
 * one when it comes back. */
static void run_jobs(unsigned nthreads)
{
    static cpn_hjob_t jobs[NJOBS];
    static uint8_t seen[NJOBS];
    /* every copy has a destination of its own: the first 64 jobs are big
     * (up to 300 KiB), the rest up to 4 KiB */
    const size_t max = 300 * 1024, big = max + 64, small = 4096 + 64;
    uint8_t *src = malloc(max + 64);
    uint8_t *dst = malloc(64 * big + (size_t)NJOBS * small);
    size_t submitted = 0, reaped = 0;
    cpn_hpool_t *pool;

    cr_assert(src != NULL && dst != NULL);
    fill(src, max + 64, 7);
    memset(seen, 0, sizeof(seen));
    cr_assert_eq(cpn_hpool_create(nthreads, &pool), CPN_OK);
    while (reaped < NJOBS) {
        cpn_hjob_t *job, *next;

        for (; submitted < NJOBS; submitted++) {
            size_t k = submitted;

            jobs[k].len = (k * 7919) % (k < 64 ? max : 4097);
            jobs[k].src = src + (k % 3);
            jobs[k].dst = k % 4 == 0 ? NULL
                          : k < 64   ? dst + k * big + (k & 1)
                                     : dst + 64 * big + k * small + (k & 1);
            jobs[k].hash = 0;
            if (cpn_hpool_submit(pool, &jobs[k]) != CPN_OK) {
                break; /* ring full: reap first */
            }
        }
        if (reaped % 2 == 0) {
            cpn_hpool_run_one(pool); /* the owner helps */
        }
        cpn_hpool_wait(pool, 1000);
        for (job = cpn_hpool_reap(pool); job != NULL; job = next) {
            size_t k = (size_t)(job - jobs);

            next = job->next;
            cr_assert_lt(k, NJOBS);
            cr_assert_eq(seen[k], 0, "job %zu came back twice", k);
            seen[k] = 1;
            cr_assert_eq(job->hash, cpn_hash64(job->src, job->len),
                         "job %zu (%zu bytes): wrong hash", k, job->len);
            if (job->dst != NULL) {
                cr_assert(memcmp(job->dst, job->src, job->len) == 0,
                          "job %zu: copy differs", k);
            }
            reaped++;
        }
    }
    cr_assert_eq(cpn_hpool_outstanding(pool), 0);
    cpn_hpool_destroy(pool);
    free(src);
    free(dst);
}

Test(hashpool, one_thread)
{
    run_jobs(1);
}

Test(hashpool, four_threads)
{
    run_jobs(4);
}

Test(hashpool, full_ring_is_busy_and_drain_finishes_all)
{
    static cpn_hjob_t jobs[CPN_HPOOL_RING + 1];
    static uint8_t data[64 * 1024];
    cpn_hpool_t *pool;
    cpn_hjob_t *job;
    size_t i, n = 0;

    fill(data, sizeof(data), 3);
    cr_assert_eq(cpn_hpool_create(2, &pool), CPN_OK);
    for (i = 0; i < CPN_HPOOL_RING; i++) {
        jobs[i].src = data;
        jobs[i].len = sizeof(data);
        jobs[i].dst = NULL;
        cr_assert_eq(cpn_hpool_submit(pool, &jobs[i]), CPN_OK);
    }
    jobs[i].src = data;
    jobs[i].len = 1;
    jobs[i].dst = NULL;
    cr_assert_eq(cpn_hpool_submit(pool, &jobs[i]), CPN_ERR_BUSY,
                 "a job past the ring must be refused, not lost");
    cpn_hpool_drain(pool);
    for (job = cpn_hpool_reap(pool); job != NULL; job = job->next) {
        cr_assert_eq(job->hash, cpn_hash64(data, sizeof(data)));
        n++;
    }
    cr_assert_eq(n, CPN_HPOOL_RING, "drain returned with %zu of %u done", n,
                 CPN_HPOOL_RING);
    cr_assert_eq(cpn_hpool_outstanding(pool), 0);
    /* room again */
    cr_assert_eq(cpn_hpool_submit(pool, &jobs[CPN_HPOOL_RING]), CPN_OK);
    cpn_hpool_destroy(pool); /* runs it, drops it unreaped */
}

Test(hashpool, wait_returns_when_nothing_is_out)
{
    cpn_hpool_t *pool;
    uint64_t t0;

    cr_assert_eq(cpn_hpool_create(1, &pool), CPN_OK);
    t0 = cpn_time_ns();
    cpn_hpool_wait(pool, 10 * 1000 * 1000); /* would be 10 s otherwise */
    cr_assert_lt(cpn_time_ns() - t0, 1000000000ull,
                 "wait slept with no job out");
    cr_assert_null(cpn_hpool_reap(pool));
    cr_assert_eq(cpn_hpool_run_one(pool), 0);
    cpn_hpool_destroy(pool);
}
