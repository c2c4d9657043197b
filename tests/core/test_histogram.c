/* SPDX-License-Identifier: Apache-2.0 */
/* The latency histogram: percentiles against data whose exact percentiles
 * are known (by construction, or by sorting), exact min/max/small values,
 * the empty and single-value cases, merging, and values up to 2^64 - 1.
 * Histograms live on the heap so AddressSanitizer sees any bucket index
 * that runs past the array. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/histogram.h"

static cpn_hist_t *hist_new(void)
{
    cpn_hist_t *h = malloc(sizeof(*h));

    cr_assert_not_null(h);
    memset(h, 0xa5, sizeof(*h)); /* init must not rely on zeroed memory */
    cpn_hist_init(h);
    return h;
}

/* The reported value is its bucket's upper bound: never below the exact
 * value, and above it by less than 1/128 of it (so under 1%). */
static void expect_close(uint64_t got, uint64_t exact, const char *what)
{
    cr_expect_geq(got, exact, "%s: got %llu, below exact %llu", what,
                  (unsigned long long)got, (unsigned long long)exact);
    cr_expect_leq((double)(got - exact), (double)exact / 128.0,
                  "%s: got %llu, exact %llu: off by more than 1/128", what,
                  (unsigned long long)got, (unsigned long long)exact);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The smallest v in sorted @p v such that at least pct% are <= v. */
static uint64_t exact_percentile(const uint64_t *v, size_t n, double pct)
{
    size_t rank = (size_t)ceil(pct / 100.0 * (double)n - 1e-9);

    return v[(rank == 0 ? 1 : rank) - 1];
}

Test(histogram, uniform_1_to_10000)
{
    cpn_hist_t *h = hist_new();
    cpn_hist_summary_t s;
    uint64_t v;

    for (v = 1; v <= 10000; v++) {
        cpn_hist_record(h, v);
    }
    cpn_hist_summary(h, &s);
    cr_expect_eq(s.count, 10000);
    cr_expect_eq(s.min, 1);
    cr_expect_eq(s.max, 10000);
    cr_expect_float_eq(s.mean, 5000.5, 1e-9);
    expect_close(s.p50, 5000, "p50");
    expect_close(s.p90, 9000, "p90");
    expect_close(s.p99, 9900, "p99");
    expect_close(s.p999, 9990, "p99.9");
    expect_close(cpn_hist_percentile(h, 25.0), 2500, "p25");
    expect_close(cpn_hist_percentile(h, 0.01), 1, "p0.01");
    cr_expect_eq(cpn_hist_percentile(h, 100.0), 10000);
    free(h);
}

Test(histogram, random_data_against_sorted)
{
    enum { N = 20000 };
    static const double pcts[] = {0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};
    uint64_t *v = malloc(N * sizeof(*v));
    cpn_hist_t *h = hist_new();
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t i;

    cr_assert_not_null(v);
    for (i = 0; i < N; i++) {
        /* xorshift64, then a random width so values span 1 ns .. hours */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[i] = x >> (20 + x % 40);
        cpn_hist_record(h, v[i]);
    }
    qsort(v, N, sizeof(*v), cmp_u64);
    cr_expect_eq(cpn_hist_percentile(h, 100.0), v[N - 1]);
    for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        char what[32];

        snprintf(what, sizeof(what), "p%g", pcts[i]);
        expect_close(cpn_hist_percentile(h, pcts[i]),
                     exact_percentile(v, N, pcts[i]), what);
    }
    free(v);
    free(h);
}

Test(histogram, small_values_are_exact)
{
    cpn_hist_t *h = hist_new();
    uint64_t v;

    /* 0..255 once each: the k-th smallest is k, and it must come back as
     * exactly k (these values have a bucket each). */
    for (v = 0; v < 256; v++) {
        cpn_hist_record(h, v);
    }
    for (v = 0; v < 255; v++) {
        double pct = 100.0 * (double)(v + 1) / 256.0;

        cr_expect_eq(cpn_hist_percentile(h, pct), v, "pct %g", pct);
    }
    cr_expect_eq(cpn_hist_percentile(h, 100.0), 255);
    free(h);
}

Test(histogram, each_bucket_within_one_percent)
{
    cpn_hist_t *h = hist_new();
    unsigned e, j;

    /* For values spread over every power of two, record v and a larger
     * value: p50 is v's bucket bound, which must sit in [v, v + v/128]. */
    for (e = 8; e < 63; e++) {
        for (j = 0; j < 128; j += 9) {
            uint64_t base = UINT64_C(1) << e;
            uint64_t v = base + j * (base >> 7) + (base >> 9) + 1;
            char what[48];

            cpn_hist_init(h);
            cpn_hist_record(h, v);
            cpn_hist_record(h, UINT64_MAX);
            snprintf(what, sizeof(what), "2^%u + %u/128", e, j);
            expect_close(cpn_hist_percentile(h, 50.0), v, what);
        }
    }
    free(h);
}

Test(histogram, single_value)
{
    cpn_hist_t *h = hist_new();
    cpn_hist_summary_t s;

    cpn_hist_record(h, 123457);
    cpn_hist_summary(h, &s);
    cr_expect_eq(s.count, 1);
    cr_expect_eq(s.min, 123457);
    cr_expect_eq(s.max, 123457);
    /* its bucket is wider than one, but the result is clamped to [min,max] */
    cr_expect_eq(s.p50, 123457);
    cr_expect_eq(s.p90, 123457);
    cr_expect_eq(s.p99, 123457);
    cr_expect_eq(s.p999, 123457);
    cr_expect_float_eq(s.mean, 123457.0, 1e-9);
    free(h);
}

Test(histogram, never_above_max)
{
    cpn_hist_t *h = hist_new();

    /* 1000 shares a bucket with 1001 (and up to 1003): the bucket's bound
     * must be clamped to the largest value recorded. */
    cpn_hist_record(h, 1000);
    cpn_hist_record(h, 1000);
    cpn_hist_record(h, 1001);
    cr_expect_eq(cpn_hist_percentile(h, 50.0), 1001);
    cr_expect_eq(cpn_hist_percentile(h, 0.1), 1001);
    free(h);
}

Test(histogram, empty)
{
    cpn_hist_t *h = hist_new();
    cpn_hist_summary_t s;

    memset(&s, 0xff, sizeof(s));
    cpn_hist_summary(h, &s);
    cr_expect_eq(s.count, 0);
    cr_expect_eq(s.min, 0);
    cr_expect_eq(s.max, 0);
    cr_expect_eq(s.p50, 0);
    cr_expect_eq(s.p999, 0);
    cr_expect_float_eq(s.mean, 0.0, 1e-12);
    cr_expect_eq(cpn_hist_percentile(h, 50.0), 0);
    cr_expect_eq(cpn_hist_percentile(h, 100.0), 0);
    free(h);
}

Test(histogram, merge_equals_recording_all)
{
    cpn_hist_t *a = hist_new(), *b = hist_new(), *all = hist_new();
    cpn_hist_t *empty = hist_new();
    cpn_hist_summary_t sa, sall;
    uint64_t v;

    for (v = 1; v <= 5000; v++) {
        cpn_hist_record(a, v * 3);
        cpn_hist_record(all, v * 3);
    }
    for (v = 1; v <= 3000; v++) {
        cpn_hist_record(b, 1000000 + v * 7);
        cpn_hist_record(all, 1000000 + v * 7);
    }
    cpn_hist_merge(a, b);
    cpn_hist_merge(a, empty); /* merging nothing changes nothing */
    cr_expect_eq(memcmp(a->bucket, all->bucket, sizeof(a->bucket)), 0);
    cpn_hist_summary(a, &sa);
    cpn_hist_summary(all, &sall);
    cr_expect_eq(sa.count, 8000);
    cr_expect_eq(sa.min, 3);
    cr_expect_eq(sa.max, 1021000);
    cr_expect_eq(sa.p50, sall.p50);
    cr_expect_eq(sa.p90, sall.p90);
    cr_expect_eq(sa.p99, sall.p99);
    cr_expect_float_eq(sa.mean, sall.mean, 1e-6);

    /* into an empty one: min must come from the source, not stay unset */
    cpn_hist_merge(empty, b);
    expect_close(cpn_hist_percentile(empty, 0.001), 1000007, "merged min");
    cr_expect_eq(empty->min, 1000007);
    cr_expect_eq(empty->max, 1021000);
    free(a);
    free(b);
    free(all);
    free(empty);
}

Test(histogram, values_near_2_pow_63_and_max)
{
    cpn_hist_t *h = hist_new();
    const uint64_t top = UINT64_C(1) << 63;

    cpn_hist_record(h, top - 1);
    cpn_hist_record(h, top);
    cpn_hist_record(h, top + (top >> 1));
    cpn_hist_record(h, UINT64_MAX);
    cr_expect_eq(h->min, top - 1);
    cr_expect_eq(h->max, UINT64_MAX);
    expect_close(cpn_hist_percentile(h, 25.0), top - 1, "2^63 - 1");
    expect_close(cpn_hist_percentile(h, 50.0), top, "2^63");
    expect_close(cpn_hist_percentile(h, 75.0), top + (top >> 1), "1.5 * 2^63");
    cr_expect_eq(cpn_hist_percentile(h, 99.9), UINT64_MAX);
    cr_expect_eq(cpn_hist_percentile(h, 100.0), UINT64_MAX);
    free(h);
}
