/* SPDX-License-Identifier: Apache-2.0 */
/* Log-linear latency histogram. Values below 2 * CPN_HIST_SUB (256) each
 * have their own bucket. Above that, every power of two [2^e, 2^(e+1)) is
 * cut into CPN_HIST_SUB buckets of width 2^(e-7), so a bucket is never
 * wider than 1/128 of the values in it: reporting a bucket's upper bound
 * is off by less than 0.8%. The index is a count-leading-zeros, a shift and
 * an add, with no branch and no loop, so recording fits the hot path.
 *
 * Index of v:  s = msb(v | 255) - 7;  index = (s << 7) + (v >> s)
 *   v < 256:        s = 0, index = v                       (exact)
 *   v in [2^e, ..): s = e - 7, v >> s in [128, 256), so
 *                   index = (e - 6) * 128 + sub-bucket     (e up to 63)
 * The largest index, for UINT64_MAX, is 56 * 128 + 255 = CPN_HIST_BUCKETS-1. */
#include "core/histogram.h"

#include <math.h>
#include <string.h>

#include "core/compiler.h"

static inline unsigned cpn_hist_index(uint64_t value)
{
    unsigned s = 63u - (unsigned)__builtin_clzll(value | 255u) - 7u;

    return (s << CPN_HIST_SUB_BITS) + (unsigned)(value >> s);
}

/* The largest value that lands in bucket @p index. */
static uint64_t cpn_hist_upper(unsigned index)
{
    unsigned s;
    uint64_t lower;

    if (index < 2 * CPN_HIST_SUB) {
        return index;
    }
    s = (index >> CPN_HIST_SUB_BITS) - 1;
    lower = (uint64_t)((index & (CPN_HIST_SUB - 1)) + CPN_HIST_SUB) << s;
    return lower + ((UINT64_C(1) << s) - 1);
}

void cpn_hist_init(cpn_hist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void cpn_hist_record(cpn_hist_t *h, uint64_t value)
{
    h->count++;
    h->sum += (double)value;
    h->min = CPN_MIN(h->min, value);
    h->max = CPN_MAX(h->max, value);
    h->bucket[cpn_hist_index(value)]++;
}

void cpn_hist_merge(cpn_hist_t *dst, const cpn_hist_t *src)
{
    unsigned i;

    if (src->count == 0) {
        return;
    }
    dst->count += src->count;
    dst->sum += src->sum;
    dst->min = CPN_MIN(dst->min, src->min);
    dst->max = CPN_MAX(dst->max, src->max);
    for (i = 0; i < CPN_HIST_BUCKETS; i++) {
        dst->bucket[i] += src->bucket[i];
    }
}

uint64_t cpn_hist_percentile(const cpn_hist_t *h, double pct)
{
    uint64_t rank, seen = 0;
    double want;
    unsigned i;

    if (h->count == 0) {
        return 0;
    }
    if (!(pct > 0.0)) { /* also NaN */
        return h->min;
    }
    if (pct >= 100.0) {
        return h->max;
    }

    /* The rank of the value: the smallest r with r >= pct% of count. A
     * product like 99.9 / 100 * 10000 comes out as 9990.000000000002, so
     * shave a relative hair off before rounding up. */
    want = pct / 100.0 * (double)h->count;
    rank = (uint64_t)ceil(want - want * 1e-12);
    rank = CPN_MAX(rank, 1);
    if (rank >= h->count) {
        return h->max;
    }

    for (i = 0; i < CPN_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t v = cpn_hist_upper(i);

            return CPN_MIN(CPN_MAX(v, h->min), h->max);
        }
    }
    return h->max; /* buckets disagree with count: only after a misuse */
}

void cpn_hist_summary(const cpn_hist_t *h, cpn_hist_summary_t *s)
{
    s->count = h->count;
    s->min = h->count != 0 ? h->min : 0;
    s->max = h->max;
    s->p50 = cpn_hist_percentile(h, 50.0);
    s->p90 = cpn_hist_percentile(h, 90.0);
    s->p99 = cpn_hist_percentile(h, 99.0);
    s->p999 = cpn_hist_percentile(h, 99.9);
    s->mean = h->count != 0 ? h->sum / (double)h->count : 0.0;
}
