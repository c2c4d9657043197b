/* SPDX-License-Identifier: Apache-2.0 */
/* Parsers of the reference tools' outputs, on recorded outputs kept in
 * tests/bench/fixtures (see its README for where each came from), and on
 * outputs that must be refused. */
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "bench/bench.h"

static char *fixture(const char *name)
{
    const char *src = getenv("CPN_SOURCE_DIR");
    char path[4096];
    FILE *f;
    char *buf;
    long n;

    cr_assert_not_null(src, "CPN_SOURCE_DIR is not set (run through meson)");
    snprintf(path, sizeof(path), "%s/tests/bench/fixtures/%s", src, name);
    f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    cr_assert(json_is_number(v), "no number '%s'", k);
    return json_number_value(v);
}

Test(bench_ref, ucx_perftest_bw)
{
    char *out = fixture("ucx_perftest_put_bw.txt");
    json_t *j = cpn_bench_parse_ucx_perftest(out);

    cr_assert_not_null(j);
    /* Final: 200 22.151 203.450 203.450 307.20 307.20 4915 4915 */
    cr_expect_float_eq(num(j, "iterations"), 200, 1e-9);
    cr_expect_float_eq(num(j, "bandwidth_GBps"), 307.20 * 1048576 / 1e9, 1e-9);
    cr_expect_float_eq(num(j, "msg_rate"), 4915, 1e-9);
    cr_expect_float_eq(num(json_object_get(j, "latency_us"), "p50"), 22.151,
                       1e-9);
    json_decref(j);
    free(out);
}

Test(bench_ref, ucx_perftest_lat)
{
    char *out = fixture("ucx_perftest_am_lat.txt");
    json_t *j = cpn_bench_parse_ucx_perftest(out);

    cr_assert_not_null(j);
    cr_expect_float_eq(num(json_object_get(j, "latency_us"), "p50"), 0.181,
                       1e-9);
    cr_expect_float_eq(num(j, "msg_rate"), 25973, 1e-9);
    json_decref(j);
    free(out);
    cr_expect_null(cpn_bench_parse_ucx_perftest("Final: 1 2 3"));
    cr_expect_null(cpn_bench_parse_ucx_perftest("no such thing"));
}

Test(bench_ref, iperf3)
{
    char *out = fixture("iperf3.json");
    json_t *j = cpn_bench_parse_iperf3(out);

    cr_assert_not_null(j);
    cr_expect_float_eq(num(j, "goodput_Gbps"), 11.40672463526254, 1e-9);
    cr_expect_float_eq(num(j, "retransmits"), 12, 1e-9);
    cr_expect_float_eq(num(j, "bandwidth_GBps"), 11.40672463526254 / 8, 1e-9);
    json_decref(j);
    free(out);
    cr_expect_null(cpn_bench_parse_iperf3("{\"error\": \"unable to connect\"}"));
    cr_expect_null(cpn_bench_parse_iperf3("not json"));
}

Test(bench_ref, perftest_bw_mb)
{
    char *out = fixture("ib_write_bw_rxe.txt");
    json_t *rows = cpn_bench_parse_perftest_bw(out), *r;

    cr_assert_not_null(rows);
    cr_assert_eq(json_array_size(rows), 1);
    r = json_array_get(rows, 0);
    cr_expect_float_eq(num(r, "size"), 65536, 1e-9);
    cr_expect_float_eq(num(r, "iterations"), 5000, 1e-9);
    cr_expect_float_eq(num(r, "bandwidth_GBps"), 110.28 * 1048576 / 1e9, 1e-9);
    cr_expect_float_eq(num(r, "bw_peak_GBps"), 110.31 * 1048576 / 1e9, 1e-9);
    cr_expect_float_eq(num(r, "msg_rate"), 1764, 1e-6);
    json_decref(rows);
    free(out);
}

Test(bench_ref, perftest_bw_gbits)
{
    char *out = fixture("ib_write_bw_gbits.txt");
    json_t *rows = cpn_bench_parse_perftest_bw(out);

    cr_assert_not_null(rows);
    cr_assert_eq(json_array_size(rows), 2);
    cr_expect_float_eq(num(json_array_get(rows, 1), "size"), 8388608, 1e-9);
    cr_expect_float_eq(num(json_array_get(rows, 1), "bandwidth_GBps"),
                       196.92 / 8, 1e-9);
    json_decref(rows);
    free(out);
    cr_expect_null(cpn_bench_parse_perftest_bw("Couldn't connect to 1.2.3.4"));
}

Test(bench_ref, perftest_lat)
{
    static const char *const files[] = {"ib_write_lat.txt",
                                        "ib_send_lat_rxe.txt"};
    static const double want[][5] = {{1.76, 6.12, 1.79, 1.88, 6.12},
                                     {6.88, 16.81, 7.04, 7.38, 16.81}};

    for (int i = 0; i < 2; i++) {
        char *out = fixture(files[i]);
        json_t *rows = cpn_bench_parse_perftest_lat(out), *l;

        cr_assert_not_null(rows, "%s", files[i]);
        cr_assert_eq(json_array_size(rows), 1);
        l = json_object_get(json_array_get(rows, 0), "latency_us");
        cr_expect_float_eq(num(l, "min"), want[i][0], 1e-9);
        cr_expect_float_eq(num(l, "max"), want[i][1], 1e-9);
        cr_expect_float_eq(num(l, "p50"), want[i][2], 1e-9);
        cr_expect_float_eq(num(l, "p99"), want[i][3], 1e-9);
        cr_expect_float_eq(num(l, "p999"), want[i][4], 1e-9);
        json_decref(rows);
        free(out);
    }
}

Test(bench_ref, testpmd)
{
    char *out = fixture("testpmd_stats.txt");
    json_t *j = cpn_bench_parse_testpmd(out), *tot, *p0;

    cr_assert_not_null(j);
    tot = json_object_get(j, "total");
    p0 = json_object_get(json_object_get(j, "ports"), "0");
    cr_assert_not_null(p0);
    cr_expect_float_eq(num(p0, "rx_pps"), 6333196, 1e-6);
    cr_expect_float_eq(num(p0, "tx_errors"), 33216, 1e-6);
    cr_expect_float_eq(num(tot, "rx_pps"), 7333196, 1e-6);
    cr_expect_float_eq(num(tot, "tx_bps"), 2837285936.0 + 808000000.0, 1e-3);
    cr_expect_float_eq(num(tot, "tx_packets"), 68114967.0 + 240000001.0, 1e-3);
    cr_expect_float_eq(num(j, "msg_rate"), 7333196, 1e-6);
    json_decref(j);
    free(out);
    cr_expect_null(cpn_bench_parse_testpmd("EAL: Error - exiting"));
}
