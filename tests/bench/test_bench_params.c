/* SPDX-License-Identifier: Apache-2.0 */
/* The bench's options and statistics: size sweeps (one size, lists, powers
 * of two, stepped and geometric ranges, and every malformed form), test
 * lists, the parameters' JSON round trip (what the client sends the
 * server), and the trial statistics against values computed by hand. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bench/bench.h"

static cpn_bench_params_t p;
static char err[256];

static void sweep(const char *s)
{
    cpn_bench_params_init(&p);
    cr_assert_eq(cpn_bench_parse_sizes(s, &p, err, sizeof(err)), CPN_OK,
                 "'%s': %s", s, err);
}

Test(bench_params, defaults)
{
    cpn_bench_params_init(&p);
    cr_expect_str_eq(p.transport, "ucx");
    cr_expect_eq(p.tests, (1u << CPN_BENCH_NTESTS) - 1);
    cr_expect_eq(p.objects, 10000);
    cr_expect_eq(p.sizes[0], 64);
    cr_expect_eq(p.sizes[p.nsizes - 1], 1024 * 1024);
}

Test(bench_params, one_size_and_units)
{
    uint64_t v;

    sweep("4K");
    cr_expect_eq(p.nsizes, 1);
    cr_expect_eq(p.sizes[0], 4096);
    cr_expect_eq(cpn_bench_parse_size("2M", &v), CPN_OK);
    cr_expect_eq(v, 2u << 20);
    cr_expect_eq(cpn_bench_parse_size("1GiB", &v), CPN_OK);
    cr_expect_eq(v, 1u << 30);
    cr_expect_eq(cpn_bench_parse_size("12", &v), CPN_OK);
    cr_expect_eq(v, 12);
}

Test(bench_params, list)
{
    sweep("1,64,4K");
    cr_assert_eq(p.nsizes, 3);
    cr_expect_eq(p.sizes[0], 1);
    cr_expect_eq(p.sizes[1], 64);
    cr_expect_eq(p.sizes[2], 4096);
}

Test(bench_params, powers_of_two)
{
    sweep("8-1M");
    cr_assert_eq(p.nsizes, 18, "8..2^20 is 18 sizes, got %u", p.nsizes);
    for (unsigned i = 0; i < p.nsizes; i++) {
        cr_expect_eq(p.sizes[i], 8u << i);
    }
    sweep("1-100"); /* a ragged end is kept */
    cr_assert_eq(p.nsizes, 8);
    cr_expect_eq(p.sizes[6], 64);
    cr_expect_eq(p.sizes[7], 100);
}

Test(bench_params, step_and_factor)
{
    sweep("1K-4K:1K");
    cr_assert_eq(p.nsizes, 4);
    cr_expect_eq(p.sizes[3], 4096);
    sweep("8-1M*4");
    cr_assert_eq(p.nsizes, 9); /* 8, 32, ... 2^19 */
    cr_expect_eq(p.sizes[1], 32);
    cr_expect_eq(p.sizes[8], 8u << 16);
    sweep("1,8-32,1M");
    cr_expect_eq(p.nsizes, 5);
}

Test(bench_params, bad_sweeps)
{
    static const char *const bad[] = {"",     "0",      "x",     "4Q",
                                      "8-4",  "0-8",    "1K-4K:0", "8-64*1",
                                      "1,,x", "1-2-3",  "-5",    "4K:1"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cpn_bench_params_init(&p);
        err[0] = '\0';
        cr_expect_eq(cpn_bench_parse_sizes(bad[i], &p, err, sizeof(err)),
                     CPN_ERR_INVALID, "'%s' accepted", bad[i]);
        cr_expect_neq(err[0], '\0', "'%s': no reason given", bad[i]);
        cr_expect_eq(p.nsizes, 8, "'%s' changed the sizes", bad[i]);
    }
    cpn_bench_params_init(&p);
    cr_expect_eq(cpn_bench_parse_sizes("1-1G", &p, err, sizeof(err)), CPN_OK);
    cpn_bench_params_init(&p);
    cr_expect_eq(cpn_bench_parse_sizes("1-100000:1", &p, err, sizeof(err)),
                 CPN_ERR_INVALID, "more than 64 sizes accepted");
    cr_expect(strstr(err, "64") != NULL, "%s", err);
}

Test(bench_params, tests)
{
    unsigned m = 0;

    cr_expect_eq(cpn_bench_parse_tests("put_bw,task_many", &m, err,
                                       sizeof(err)), CPN_OK);
    cr_expect_eq(m, (1u << CPN_BENCH_PUT_BW) | (1u << CPN_BENCH_TASK_MANY));
    cr_expect_eq(cpn_bench_parse_tests("all", &m, err, sizeof(err)), CPN_OK);
    cr_expect_eq(m, (1u << CPN_BENCH_NTESTS) - 1);
    cr_expect_eq(cpn_bench_parse_tests("put_bw,nope", &m, err, sizeof(err)),
                 CPN_ERR_INVALID);
    cr_expect(strstr(err, "nope") != NULL, "%s", err);
    for (unsigned t = 0; t < CPN_BENCH_NTESTS; t++) {
        cpn_bench_test_t back;

        cr_expect_eq(cpn_bench_test_parse(cpn_bench_test_name(t), &back),
                     CPN_OK);
        cr_expect_eq(back, t);
    }
    cr_expect_null(cpn_bench_test_name(CPN_BENCH_NTESTS));
}

Test(bench_params, json_round_trip)
{
    cpn_bench_params_t q;
    json_t *j;

    sweep("1,4K,1M");
    p.iters = 77;
    p.warmup = 3;
    p.window = 9;
    p.streams = 4;
    p.trials = 7;
    p.objects = 123;
    p.duration_s = 1.5;
    p.tests = 1u << CPN_BENCH_BIBW;
    j = cpn_bench_params_to_json(&p);
    cr_assert_eq(cpn_bench_params_from_json(j, &q, err, sizeof(err)), CPN_OK,
                 "%s", err);
    json_decref(j);
    cr_expect_eq(memcmp(&p, &q, sizeof(p)), 0, "parameters differ after "
                 "the round trip");
}

Test(bench_params, json_rejects)
{
    cpn_bench_params_t q;
    json_t *j = json_loads("{\"window\": 0}", 0, NULL);

    cr_expect_eq(cpn_bench_params_from_json(j, &q, err, sizeof(err)),
                 CPN_ERR_INVALID);
    cr_expect(strstr(err, "window") != NULL, "%s", err);
    json_decref(j);
    j = json_loads("{\"tests\": [\"put_bw\", 3]}", 0, NULL);
    cr_expect_eq(cpn_bench_params_from_json(j, &q, err, sizeof(err)),
                 CPN_ERR_INVALID);
    cr_expect(strstr(err, "tests[1]") != NULL, "%s", err);
    json_decref(j);
    j = json_loads("{\"sizes\": []}", 0, NULL);
    cr_expect_eq(cpn_bench_params_from_json(j, &q, err, sizeof(err)),
                 CPN_ERR_INVALID);
    json_decref(j);
}

Test(bench_stats, by_hand)
{
    /* 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample sd sqrt(32/7). */
    static const double v[] = {2, 4, 4, 4, 5, 5, 7, 9};
    cpn_bench_stats_t s;
    double sd = sqrt(32.0 / 7), half = 2.365 * sd / sqrt(8.0);

    cpn_bench_stats(v, 8, &s);
    cr_expect_eq(s.n, 8);
    cr_expect_float_eq(s.avg, 5.0, 1e-12);
    cr_expect_float_eq(s.min, 2.0, 1e-12);
    cr_expect_float_eq(s.max, 9.0, 1e-12);
    cr_expect_float_eq(s.stddev, sd, 1e-12);
    cr_expect_float_eq(s.ci_lo, 5.0 - half, 1e-9);
    cr_expect_float_eq(s.ci_hi, 5.0 + half, 1e-9);
}

Test(bench_stats, edge_cases)
{
    static const double one = 3.5;
    cpn_bench_stats_t s;

    cpn_bench_stats(&one, 1, &s);
    cr_expect_float_eq(s.avg, 3.5, 1e-12);
    cr_expect_float_eq(s.stddev, 0, 1e-12);
    cr_expect_float_eq(s.ci_lo, 3.5, 1e-12);
    cr_expect_float_eq(s.ci_hi, 3.5, 1e-12);
    cpn_bench_stats(NULL, 0, &s);
    cr_expect_eq(s.n, 0);
    cr_expect_float_eq(s.avg, 0, 1e-12);
    cr_expect_float_eq(cpn_bench_t95(1), 12.706, 1e-9);
    cr_expect_float_eq(cpn_bench_t95(30), 2.042, 1e-9);
    cr_expect_float_eq(cpn_bench_t95(1000), 1.960, 1e-9);
    cr_expect(isinf(cpn_bench_t95(0)));
}
