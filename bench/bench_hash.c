/* SPDX-License-Identifier: Apache-2.0 */
/* cpn-bench-hash: how fast this host's CPUs check what cpn moves, against
 * glibc's memcpy of the same chunks in the same run.
 *
 * A sender that copies into memory the transport maps (UCX between sites
 * of one host) copies and hashes each chunk in one pass (cpn_hash64_copy);
 * one that puts through a NIC only hashes it; the receiver hashes it
 * again. So the figures a deployment needs beside its link rate are: the
 * hash alone, the fused copy and hash, and both through the sender's
 * hashing threads (CPN_SITE_HASH_THREADS). Each is timed over --size MiB
 * of memory in --chunk pieces, from memory written once before (not from
 * cache), into a destination as large as the source, --runs times; the
 * median is printed with its ratio to memcpy's median.
 *
 * With two CPUs or more it also times the two ways a delivery between two
 * sites of one host can share the work on two threads, as the ceiling of
 * that delivery on this host: a pipeline (one thread copies and hashes
 * each chunk, as a sender into mapped memory does, the other reads it
 * again to verify it, as the receiver does) and a balanced split (each
 * thread copies and hashes half the chunks and verifies the other's).
 * A benchmark, not a test: exit 0 when every measurement ran, 1 when one
 * could not, 2 on a usage error. */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/checksum.h"
#include "core/clock.h"
#include "core/hashpool.h"

#define MIB (1024.0 * 1024.0)

/* ucx_perftest's message in cpn-bench-ucx-task: glibc copies pieces this
 * large with streaming stores, 1 MiB chunks with plain ones. */
#define BIG_PIECE ((size_t)256 << 20)

typedef struct opts {
    size_t size;
    size_t chunk;
    unsigned runs;
    unsigned max_threads;
} opts_t;

static uint8_t *src, *dst;
static volatile uint64_t sink; /* keeps the hashes alive */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { K_MEMCPY, K_HASH, K_FUSED };

/* Bytes of the piece at @p off: a chunk, or what is left of the buffer. */
static size_t piece_len(const opts_t *o, size_t off)
{
    return o->size - off < o->chunk ? o->size - off : o->chunk;
}

/* One pass over the buffer, on this thread: GB/s (1e9 B/s). */
static double pass_inline(const opts_t *o, int kind)
{
    uint64_t t0 = cpn_time_ns(), h = 0;
    size_t off;

    for (off = 0; off < o->size; off += o->chunk) {
        size_t n = piece_len(o, off);

        if (kind == K_MEMCPY) {
            memcpy(dst + off, src + off, n);
        } else if (kind == K_HASH) {
            h ^= cpn_hash64(src + off, n);
        } else {
            h ^= cpn_hash64_copy(dst + off, src + off, n);
        }
    }
    sink ^= h;
    return (double)o->size / (double)(cpn_time_ns() - t0);
}

/* One pass through a pool of @p threads (the owner helps, as the runtime's
 * progress thread does), a window of 16 chunks out at once. */
static double pass_pool(const opts_t *o, cpn_hpool_t *pool, int fused)
{
    cpn_hjob_t jobs[16];
    unsigned free_n = 16, i;
    cpn_hjob_t *free_list[16];
    size_t off = 0, done = 0;
    uint64_t t0 = cpn_time_ns(), h = 0;

    for (i = 0; i < 16; i++) {
        free_list[i] = &jobs[i];
    }
    while (done < o->size) {
        cpn_hjob_t *job, *next;

        while (free_n > 0 && off < o->size) {
            job = free_list[--free_n];
            job->len = piece_len(o, off);
            job->src = src + off;
            job->dst = fused ? dst + off : NULL;
            off += job->len;
            if (cpn_hpool_submit(pool, job) != CPN_OK) {
                cpn_hpool_run(job);
                h ^= job->hash;
                done += job->len;
                free_list[free_n++] = job;
            }
        }
        if (!cpn_hpool_run_one(pool)) {
            cpn_hpool_wait(pool, 100);
        }
        for (job = cpn_hpool_reap(pool); job != NULL; job = next) {
            next = job->next;
            h ^= job->hash;
            done += job->len;
            free_list[free_n++] = job;
        }
    }
    sink ^= h;
    return (double)o->size / (double)(cpn_time_ns() - t0);
}

/* Two threads over the buffer (see the top of the file). */
typedef struct duo {
    const opts_t *o;
    size_t nchunks;
    int balanced;
    atomic_uchar *copied;   /* per chunk: copied and hashed */
    uint64_t *hash;         /* per chunk: the copier's hash */
    atomic_size_t bad;      /* chunks whose verification differed */
} duo_t;

typedef struct duo_arg {
    duo_t *d;
    unsigned me;            /* 0: the owner thread, 1: the other */
} duo_arg_t;

static size_t duo_len(const duo_t *d, size_t i)
{
    return piece_len(d->o, i * d->o->chunk);
}

static void duo_copy(duo_t *d, size_t i)
{
    size_t off = i * d->o->chunk;

    d->hash[i] = cpn_hash64_copy(dst + off, src + off, duo_len(d, i));
    atomic_store_explicit(&d->copied[i], 1, memory_order_release);
}

static void duo_verify(duo_t *d, size_t i)
{
    while (!atomic_load_explicit(&d->copied[i], memory_order_acquire)) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
    }
    if (cpn_hash64(dst + i * d->o->chunk, duo_len(d, i)) != d->hash[i]) {
        atomic_fetch_add(&d->bad, 1);
    }
}

/* Pipeline: thread 0 copies every chunk in order, thread 1 verifies each.
 * Balanced: thread k copies the chunks i with i % 2 == k, each followed
 * by the other thread's chunk before it. */
static void *duo_main(void *arg)
{
    duo_arg_t *a = arg;
    duo_t *d = a->d;
    size_t i;

    if (!d->balanced) {
        for (i = 0; i < d->nchunks; i++) {
            if (a->me == 0) {
                duo_copy(d, i);
            } else {
                duo_verify(d, i);
            }
        }
        return NULL;
    }
    for (i = a->me; i < d->nchunks; i += 2) {
        duo_copy(d, i);
        if (i > 0) {
            duo_verify(d, i - 1);
        }
    }
    if (d->nchunks > 0 && a->me == d->nchunks % 2) {
        duo_verify(d, d->nchunks - 1); /* the other thread copied it last */
    }
    return NULL;
}

/* One pass of two threads: GB/s, or -1 when the second cannot start or a
 * verification failed (the copy is then broken, not slow). */
static double pass_duo(const opts_t *o, int balanced)
{
    duo_t d = {.o = o, .balanced = balanced};
    duo_arg_t a0 = {&d, 0}, a1 = {&d, 1};
    pthread_t t;
    uint64_t t0;
    double gbps;

    d.nchunks = (o->size + o->chunk - 1) / o->chunk;
    d.copied = calloc(d.nchunks, sizeof(*d.copied));
    d.hash = calloc(d.nchunks, sizeof(*d.hash));
    if (d.copied == NULL || d.hash == NULL) {
        free(d.copied);
        free(d.hash);
        return -1;
    }
    atomic_init(&d.bad, 0);
    t0 = cpn_time_ns();
    if (pthread_create(&t, NULL, duo_main, &a1) != 0) {
        free(d.copied);
        free(d.hash);
        return -1;
    }
    duo_main(&a0);
    pthread_join(t, NULL);
    gbps = (double)o->size / (double)(cpn_time_ns() - t0);
    free(d.copied);
    free(d.hash);
    return atomic_load(&d.bad) == 0 ? gbps : -1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cpn-bench-hash [--size MIB] [--chunk KIB] [--runs N] "
            "[--threads N]\n"
            "  --size MIB    bytes per pass (default 1024)\n"
            "  --chunk KIB   chunk size (default 1024: CPN_SITE_CHUNK_SIZE)\n"
            "  --runs N      passes per figure; the median is printed "
            "(default 5)\n"
            "  --threads N   most hashing threads tried (default: CPUs - 1, "
            "at least 1)\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"size", required_argument, NULL, 's'},
        {"chunk", required_argument, NULL, 'c'},
        {"runs", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    opts_t o = {.size = 1024 * 1024 * 1024ul, .chunk = 1024 * 1024,
                .runs = 5, .max_threads = ncpu > 1 ? (unsigned)ncpu - 1 : 1};
    double *v, ref;
    unsigned r, t;
    int c;

    while ((c = getopt_long(argc, argv, "s:c:r:t:h", lo, NULL)) != -1) {
        long n = optarg ? strtol(optarg, NULL, 10) : 0;

        switch (c) {
        case 's': o.size = (size_t)n << 20; break;
        case 'c': o.chunk = (size_t)n << 10; break;
        case 'r': o.runs = (unsigned)n; break;
        case 't': o.max_threads = (unsigned)n; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (n <= 0 || (c == 't' && n > 64)) {
            fprintf(stderr, "cpn-bench-hash: --%s %s: want a number from 1%s\n",
                    c == 's' ? "size" : c == 'c' ? "chunk" : c == 'r' ? "runs"
                                                                    : "threads",
                    optarg, c == 't' ? " to 64" : "");
            return 2;
        }
    }
    src = mmap(NULL, o.size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    dst = mmap(NULL, o.size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    v = calloc(o.runs, sizeof(*v));
    if (src == MAP_FAILED || dst == MAP_FAILED || v == NULL) {
        fprintf(stderr, "cpn-bench-hash: cannot map 2 x %zu MiB: try a "
                "smaller --size\n", o.size >> 20);
        return 1;
    }
    memset(src, 0x5a, o.size); /* fault in, out of the caches after */
    memset(dst, 0xa5, o.size);
    printf("cpn-bench-hash: %zu MiB in %zu KiB chunks, %u runs each, %ld "
           "CPUs online; GB = 1e9 B\n", o.size >> 20, o.chunk >> 10, o.runs,
           ncpu);
    printf("  %-40s %8s %10s\n", "figure", "GB/s", "/ memcpy");

    for (r = 0; r < o.runs; r++) {
        v[r] = pass_inline(&o, K_MEMCPY);
    }
    ref = median(v, o.runs);
    printf("  %-40s %8.2f %10s\n", "memcpy (glibc), one thread [reference]",
           ref, "1.00");
    if (o.size >= 2 * BIG_PIECE) {
        opts_t big = o;

        big.chunk = BIG_PIECE;
        for (r = 0; r < o.runs; r++) {
            v[r] = pass_inline(&big, K_MEMCPY);
        }
        printf("  %-40s %8.2f %10.2f\n", "memcpy in 256 MiB pieces (put_bw's)",
               median(v, o.runs), median(v, o.runs) / ref);
    }
    for (r = 0; r < o.runs; r++) {
        v[r] = pass_inline(&o, K_HASH);
    }
    printf("  %-40s %8.2f %10.2f\n", "XXH3-64 hash only, one thread",
           median(v, o.runs), median(v, o.runs) / ref);
    for (r = 0; r < o.runs; r++) {
        v[r] = pass_inline(&o, K_FUSED);
    }
    printf("  %-40s %8.2f %10.2f\n", "copy + hash fused, one thread",
           median(v, o.runs), median(v, o.runs) / ref);
    for (t = 1; t <= o.max_threads; t++) {
        cpn_hpool_t *pool;
        char label[64];
        int fused;

        if (cpn_hpool_create(t, &pool) != CPN_OK) {
            fprintf(stderr, "cpn-bench-hash: cannot start %u threads\n", t);
            return 1;
        }
        for (fused = 0; fused <= 1; fused++) {
            for (r = 0; r < o.runs; r++) {
                v[r] = pass_pool(&o, pool, fused);
            }
            snprintf(label, sizeof(label), "%s, owner + %u thread%s",
                     fused ? "copy + hash fused" : "hash only", t,
                     t > 1 ? "s" : "");
            printf("  %-40s %8.2f %10.2f\n", label, median(v, o.runs),
                   median(v, o.runs) / ref);
        }
        cpn_hpool_destroy(pool);
    }
    for (t = 0; ncpu >= 2 && t <= 1; t++) {
        for (r = 0; r < o.runs; r++) {
            v[r] = pass_duo(&o, (int)t);
            if (v[r] < 0) {
                fprintf(stderr, "cpn-bench-hash: the two-thread pass failed "
                        "(no thread, no memory, or a chunk verified wrong)\n");
                free(v);
                return 1;
            }
        }
        printf("  %-40s %8.2f %10.2f\n",
               t ? "balanced: copy half, verify other half"
                 : "pipeline: copy + hash, verify on 2nd",
               median(v, o.runs), median(v, o.runs) / ref);
    }
    free(v);
    return 0;
}
