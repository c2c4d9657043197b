/* SPDX-License-Identifier: Apache-2.0 */
/* A latency histogram with log-linear buckets (as HdrHistogram does): each
 * power of two is split into CPN_HIST_SUB linear buckets, so any recorded
 * value is reported within 1/CPN_HIST_SUB (under 1%) of itself, from 1 ns to
 * hours, in a fixed 29 KiB with no allocation. min and max are exact, and
 * values below 256 have a bucket each. Recording is O(1) and branch-free:
 * fit for the per-chunk hot path. A bucket counts up to 2^32 - 1 values.
 * Not thread-safe: keep one per thread and merge them for a report. */
#ifndef CPN_CORE_HISTOGRAM_H
#define CPN_CORE_HISTOGRAM_H

#include <stdint.h>

#define CPN_HIST_SUB_BITS 7                       /* 128 sub-buckets */
#define CPN_HIST_SUB      (1u << CPN_HIST_SUB_BITS)
#define CPN_HIST_BUCKETS  ((64 - CPN_HIST_SUB_BITS + 1) * CPN_HIST_SUB)

typedef struct cpn_hist {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    double sum;
    uint32_t bucket[CPN_HIST_BUCKETS];
} cpn_hist_t;

/** The figures a report prints. Values in the unit recorded (ns). */
typedef struct cpn_hist_summary {
    uint64_t count;
    uint64_t min, p50, p90, p99, p999, max;
    double mean;
} cpn_hist_summary_t;

/** Empty the histogram (also the way to initialise one). */
void cpn_hist_init(cpn_hist_t *h);

/** Record one value. */
void cpn_hist_record(cpn_hist_t *h, uint64_t value);

/** Add every value of @p src into @p dst. */
void cpn_hist_merge(cpn_hist_t *dst, const cpn_hist_t *src);

/**
 * The value at percentile @p pct (0..100]: the smallest recorded value v
 * such that at least pct% of values are <= v, within the bucket error; 100
 * gives max exactly, and the result is clamped to [min, max].
 * What is reported is the upper bound of v's bucket, so it is never below
 * v and above it by less than 1/128 of v; pct <= 0 gives min.
 * @return 0 on an empty histogram.
 */
uint64_t cpn_hist_percentile(const cpn_hist_t *h, double pct);

/** Fill @p s with count, min, p50, p90, p99, p99.9, max and mean (all 0
 *  for an empty histogram). */
void cpn_hist_summary(const cpn_hist_t *h, cpn_hist_summary_t *s);

#endif /* CPN_CORE_HISTOGRAM_H */
