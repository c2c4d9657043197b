/* SPDX-License-Identifier: Apache-2.0 */
/* The copy-and-hash thread pool (hashpool.h). Jobs are queued on a ring
 * that one producer fills and any runner claims with a compare-and-swap on
 * its head; finished jobs are pushed on a lock-free stack that the owner
 * takes whole. Sleeping is the only slow path: a thread that found the
 * ring empty for a while waits on a condition variable, and the producer
 * signals it only when somebody sleeps (both sides go through sequentially
 * consistent atomics, so one of them always sees the other). */
#include "core/hashpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/checksum.h"
#include "core/compiler.h"
#include "core/log.h"

/* Claims tried on an empty ring before a thread sleeps: about 20 us, less
 * than a 256 KiB chunk takes, so a steady stream never sleeps. */
#define CPN_HPOOL_SPIN 2000

struct cpn_hpool {
    _Atomic(cpn_hjob_t *) ring[CPN_HPOOL_RING]; /* atomic: see claim */
    _Atomic uint64_t tail;          /* next slot to fill (owner only) */
    _Atomic uint64_t head;          /* next slot to claim */
    _Atomic(cpn_hjob_t *) done;     /* finished, for the owner */
    _Atomic unsigned busy;          /* queued or running */
    _Atomic unsigned sleepers;      /* pool threads asleep on work_cv */
    _Atomic int owner_waiting;      /* the owner sleeps on done_cv */
    _Atomic int stop;
    unsigned outstanding;           /* submitted and not reaped (owner) */
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;
    unsigned nthreads;
    pthread_t *threads;
};

void cpn_hpool_run(cpn_hjob_t *job)
{
    if (job->dst != NULL) {
        job->hash = cpn_hash64_copy(job->dst, job->src, job->len);
    } else {
        job->hash = cpn_hash64(job->src, job->len);
    }
}

/* Take the job at the head, or NULL when the ring is empty. The slot is
 * read before the claim: the owner does not refill it until head has
 * moved past it. A runner with a stale head may read a slot as the owner
 * refills it (so slots are atomic), but then its claim fails and it reads
 * again. */
static cpn_hjob_t *hpool_claim(cpn_hpool_t *pool)
{
    uint64_t h = atomic_load(&pool->head);

    while (h != atomic_load(&pool->tail)) {
        cpn_hjob_t *job = atomic_load_explicit(
            &pool->ring[h & (CPN_HPOOL_RING - 1)], memory_order_relaxed);

        if (atomic_compare_exchange_weak(&pool->head, &h, h + 1)) {
            return job;
        }
    }
    return NULL;
}

static void hpool_finish(cpn_hpool_t *pool, cpn_hjob_t *job)
{
    cpn_hjob_t *top = atomic_load(&pool->done);

    do {
        job->next = top;
    } while (!atomic_compare_exchange_weak(&pool->done, &top, job));
    atomic_fetch_sub(&pool->busy, 1);
    if (atomic_load(&pool->owner_waiting)) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_signal(&pool->done_cv);
        pthread_mutex_unlock(&pool->mu);
    }
}

static void *hpool_thread(void *arg)
{
    cpn_hpool_t *pool = arg;
    unsigned idle = 0;

    for (;;) {
        cpn_hjob_t *job = hpool_claim(pool);

        if (job != NULL) {
            cpn_hpool_run(job);
            hpool_finish(pool, job);
            idle = 0;
            continue;
        }
        if (atomic_load(&pool->stop)) {
            return NULL;
        }
        if (++idle < CPN_HPOOL_SPIN) {
            cpn_cpu_relax();
            continue;
        }
        pthread_mutex_lock(&pool->mu);
        atomic_fetch_add(&pool->sleepers, 1);
        while (atomic_load(&pool->head) == atomic_load(&pool->tail) &&
               !atomic_load(&pool->stop)) {
            pthread_cond_wait(&pool->work_cv, &pool->mu);
        }
        atomic_fetch_sub(&pool->sleepers, 1);
        pthread_mutex_unlock(&pool->mu);
        idle = 0;
    }
}

cpn_status_t cpn_hpool_create(unsigned nthreads, cpn_hpool_t **pool_p)
{
    pthread_condattr_t cattr;
    cpn_hpool_t *pool;
    unsigned i;
    int rc;

    pool = calloc(1, sizeof(*pool));
    if (pool == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    nthreads = nthreads > 0 ? nthreads : 1;
    pool->threads = calloc(nthreads, sizeof(*pool->threads));
    if (pool->threads == NULL) {
        free(pool);
        return CPN_ERR_NO_MEMORY;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->work_cv, NULL);
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC); /* not wall time */
    pthread_cond_init(&pool->done_cv, &cattr);
    pthread_condattr_destroy(&cattr);
    for (i = 0; i < nthreads; i++) {
        rc = pthread_create(&pool->threads[i], NULL, hpool_thread, pool);
        if (rc != 0) {
            cpn_error("cannot start hashing thread %u of %u: %s", i + 1,
                      nthreads, strerror(rc));
            pool->nthreads = i;
            cpn_hpool_destroy(pool);
            return CPN_ERR_IO;
        }
        pool->nthreads = i + 1;
    }
    *pool_p = pool;
    return CPN_OK;
}

void cpn_hpool_destroy(cpn_hpool_t *pool)
{
    unsigned i;

    if (pool == NULL) {
        return;
    }
    cpn_hpool_drain(pool);
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);
    for (i = 0; i < pool->nthreads; i++) {
        pthread_join(pool->threads[i], NULL);
    }
    pthread_cond_destroy(&pool->done_cv);
    pthread_cond_destroy(&pool->work_cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->threads);
    free(pool);
}

cpn_status_t cpn_hpool_submit(cpn_hpool_t *pool, cpn_hjob_t *job)
{
    uint64_t t = atomic_load_explicit(&pool->tail, memory_order_relaxed);

    if (pool->outstanding >= CPN_HPOOL_RING ||
        t - atomic_load(&pool->head) >= CPN_HPOOL_RING) {
        return CPN_ERR_BUSY;
    }
    atomic_store_explicit(&pool->ring[t & (CPN_HPOOL_RING - 1)], job,
                          memory_order_relaxed); /* published by tail */
    pool->outstanding++;
    atomic_fetch_add(&pool->busy, 1);
    atomic_store(&pool->tail, t + 1);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_signal(&pool->work_cv);
        pthread_mutex_unlock(&pool->mu);
    }
    return CPN_OK;
}

int cpn_hpool_run_one(cpn_hpool_t *pool)
{
    cpn_hjob_t *job = hpool_claim(pool);

    if (job == NULL) {
        return 0;
    }
    cpn_hpool_run(job);
    hpool_finish(pool, job);
    return 1;
}

cpn_hjob_t *cpn_hpool_reap(cpn_hpool_t *pool)
{
    cpn_hjob_t *list, *job;

    if (atomic_load_explicit(&pool->done, memory_order_relaxed) == NULL) {
        return NULL;
    }
    list = atomic_exchange(&pool->done, NULL);
    for (job = list; job != NULL; job = job->next) {
        pool->outstanding--;
    }
    return list;
}

unsigned cpn_hpool_outstanding(const cpn_hpool_t *pool)
{
    return pool->outstanding;
}

void cpn_hpool_wait(cpn_hpool_t *pool, unsigned timeout_us)
{
    struct timespec ts;

    if (pool->outstanding == 0 || atomic_load(&pool->done) != NULL) {
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(timeout_us % 1000000u) * 1000;
    ts.tv_sec += timeout_us / 1000000u + ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->owner_waiting, 1);
    while (atomic_load(&pool->done) == NULL) {
        if (pthread_cond_timedwait(&pool->done_cv, &pool->mu, &ts) ==
            ETIMEDOUT) {
            break;
        }
    }
    atomic_store(&pool->owner_waiting, 0);
    pthread_mutex_unlock(&pool->mu);
}

void cpn_hpool_drain(cpn_hpool_t *pool)
{
    while (atomic_load(&pool->busy) > 0) {
        if (!cpn_hpool_run_one(pool)) {
            cpn_cpu_relax(); /* the last ones run elsewhere: < 1 chunk */
        }
    }
}
