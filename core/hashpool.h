/* SPDX-License-Identifier: Apache-2.0 */
/* Threads that copy and hash chunks beside a progress thread, so that the
 * integrity check of a bulk transfer is not bound to one core.
 *
 * One owner thread (the site's progress thread) submits jobs and reaps
 * them; the pool's threads, and the owner itself through
 * cpn_hpool_run_one(), run them. The fast path takes no lock and makes no
 * system call: jobs pass through a bounded ring claimed with atomics and
 * come back on a lock-free stack. A mutex and condition variables are
 * touched only to put an idle thread to sleep or wake it. */
#ifndef CPN_CORE_HASHPOOL_H
#define CPN_CORE_HASHPOOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cpn/status.h>

/** Most jobs submitted and not yet reaped at once. */
#define CPN_HPOOL_RING 1024u

/** One chunk to hash (and copy first when @c dst is set); the caller owns
 *  it and keeps it alive until reaped. */
typedef struct cpn_hjob {
    void *dst;                /**< copy @c src here while hashing; NULL: hash only */
    const void *src;
    size_t len;
    uint64_t hash;            /**< out: cpn_hash64() of the bytes */
    struct cpn_hjob *next;    /**< the pool's, while it holds the job */
} cpn_hjob_t;

typedef struct cpn_hpool cpn_hpool_t;

/**
 * Start @p nthreads threads (at least 1).
 * @return CPN_OK with @p pool_p set, CPN_ERR_NO_MEMORY, or CPN_ERR_IO when
 *         a thread cannot be started (the log says why).
 */
cpn_status_t cpn_hpool_create(unsigned nthreads, cpn_hpool_t **pool_p);

/** Stop and join the threads; jobs still queued are run first. Jobs not
 *  reaped are dropped (they are the caller's). */
void cpn_hpool_destroy(cpn_hpool_t *pool);

/**
 * Queue @p job. Owner thread only.
 * @return CPN_OK, or CPN_ERR_BUSY when CPN_HPOOL_RING jobs are out: then
 *         run it with cpn_hpool_run() instead.
 */
cpn_status_t cpn_hpool_submit(cpn_hpool_t *pool, cpn_hjob_t *job);

/** Run @p job here, now (what a pool thread does with it). */
void cpn_hpool_run(cpn_hjob_t *job);

/** Owner thread: run one queued job here, if any; it is then reaped like
 *  any other. @return 1 when a job ran, 0 when none was queued. */
int cpn_hpool_run_one(cpn_hpool_t *pool);

/** Owner thread: the jobs finished since the last call, as a list through
 *  @c next, in no particular order; NULL when none. */
cpn_hjob_t *cpn_hpool_reap(cpn_hpool_t *pool);

/** Jobs submitted and not yet reaped (queued, running or finished). */
unsigned cpn_hpool_outstanding(const cpn_hpool_t *pool);

/** Owner thread: sleep until a job finishes or @p timeout_us passes;
 *  returns at once when a finished job waits to be reaped or none is out. */
void cpn_hpool_wait(cpn_hpool_t *pool, unsigned timeout_us);

/** Owner thread: return once no job is queued or running (helping with
 *  the queued ones), so that memory the jobs write may be unmapped. */
void cpn_hpool_drain(cpn_hpool_t *pool);

#endif
