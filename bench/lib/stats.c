/* SPDX-License-Identifier: Apache-2.0 */
/* Statistics over repeated trials: mean, extremes, sample standard
 * deviation and the 95% confidence interval of the mean from Student's t
 * distribution (trials are few, so the normal 1.96 would be too narrow). */
#include <math.h>

#include "bench/bench.h"

double cpn_bench_t95(unsigned df)
{
    /* Two-sided 97.5% quantiles of Student's t, df = 1..30; beyond that the
     * table steps to 40, 60, 120 and the normal limit. */
    static const double t[] = {
        0,      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365,
        2.306,  2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120,  2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069,
        2.064,  2.060,  2.056, 2.052, 2.048, 2.045, 2.042};

    if (df == 0) {
        return INFINITY;
    }
    if (df <= 30) {
        return t[df];
    }
    if (df <= 40) {
        return 2.021;
    }
    if (df <= 60) {
        return 2.000;
    }
    if (df <= 120) {
        return 1.980;
    }
    return 1.960;
}

void cpn_bench_stats(const double *v, unsigned n, cpn_bench_stats_t *s)
{
    double sum = 0, ss = 0, half;

    s->n = n;
    if (n == 0) {
        s->avg = s->min = s->max = s->stddev = s->ci_lo = s->ci_hi = 0;
        return;
    }
    s->min = s->max = v[0];
    for (unsigned i = 0; i < n; i++) {
        sum += v[i];
        s->min = v[i] < s->min ? v[i] : s->min;
        s->max = v[i] > s->max ? v[i] : s->max;
    }
    s->avg = sum / n;
    for (unsigned i = 0; i < n; i++) {
        ss += (v[i] - s->avg) * (v[i] - s->avg);
    }
    s->stddev = n > 1 ? sqrt(ss / (n - 1)) : 0;
    half = n > 1 ? cpn_bench_t95(n - 1) * s->stddev / sqrt((double)n) : 0;
    s->ci_lo = s->avg - half;
    s->ci_hi = s->avg + half;
}

void cpn_bench_result_finish(cpn_bench_result_t *r)
{
    cpn_bench_stats(r->trial_gbps, r->ntrials, &r->bw);
    cpn_bench_stats(r->trial_rate, r->ntrials, &r->rate);
}
