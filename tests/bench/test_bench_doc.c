/* SPDX-License-Identifier: Apache-2.0 */
/* The bench's JSON document ("cpn.bench/1"): every document the library
 * writes validates, at every stage (just opened, part-way, closed ok or
 * failed); a process that dies part-way leaves a valid file behind; and the
 * validator refuses documents that break the schema, naming the field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "bench/bench.h"

static char path[256];

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/cpn-bench-doc-test.%d.json",
             (int)getpid());
}

static void teardown(void)
{
    unlink(path);
}

static json_t *load(void)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);

    cr_assert_not_null(j, "%s is not valid JSON: %s (line %d)", path, e.text,
                       e.line);
    return j;
}

static void expect_valid(json_t *j, const char *status)
{
    char err[256];

    cr_expect_eq(cpn_bench_doc_validate(j, err, sizeof(err)), CPN_OK, "%s",
                 err);
    cr_expect_str_eq(json_string_value(json_object_get(j, "status")), status);
}

static void fake_result(cpn_bench_result_t *r, cpn_bench_test_t t,
                        uint64_t size)
{
    cpn_hist_t *h = malloc(sizeof(*h));

    cr_assert_not_null(h);
    memset(r, 0, sizeof(*r));
    r->test = t;
    r->size = size;
    r->status = CPN_OK;
    cpn_hist_init(h);
    for (uint64_t v = 1000; v < 2000; v += 10) {
        cpn_hist_record(h, v);
    }
    cpn_hist_summary(h, &r->lat);
    r->has_lat = 1;
    r->ntrials = 3;
    r->trial_gbps[0] = 1.0;
    r->trial_gbps[1] = 1.2;
    r->trial_gbps[2] = 1.1;
    r->trial_rate[0] = r->trial_rate[1] = r->trial_rate[2] = 1000;
    snprintf(r->lanes, sizeof(r->lanes), "tcp/lo");
    cpn_bench_result_finish(r);
    free(h);
}

Test(bench_doc, every_stage_is_valid, .init = setup, .fini = teardown)
{
    cpn_bench_params_t p;
    cpn_bench_doc_t *doc;
    cpn_bench_result_t r;
    json_t *j;

    cpn_bench_params_init(&p);
    cr_assert_eq(cpn_bench_doc_open(path, &p, "local", &doc), CPN_OK);
    j = load();
    expect_valid(j, "running");
    cr_expect_str_eq(json_string_value(json_object_get(j, "schema")),
                     CPN_BENCH_SCHEMA);
    cr_expect(json_is_string(json_object_get(json_object_get(j, "host"),
                                             "kernel")));
    json_decref(j);

    fake_result(&r, CPN_BENCH_PUT_LAT, 64);
    cpn_bench_doc_add(doc, &r);
    j = load();
    expect_valid(j, "running");
    cr_expect_eq(json_array_size(json_object_get(j, "results")), 1);
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(j, "transport"), "lanes")),
                     "tcp/lo");
    json_decref(j);

    cpn_bench_doc_add_ref(doc, json_pack("{s:s, s:s, s:s, s:i, s:s, s:f, "
                                         "s:{s:f}}",
                                         "tool", "ucx_perftest", "test",
                                         "ucp_put_lat", "compare", "put_lat",
                                         "size", 64, "status", "ok",
                                         "bandwidth_GBps", 0.5, "latency_us",
                                         "p50", 0.5));
    cr_assert_eq(cpn_bench_doc_close(doc, NULL), CPN_OK);
    j = load();
    expect_valid(j, "ok");
    {
        json_t *ratio = json_object_get(
            json_array_get(json_object_get(j, "reference"), 0), "ratio");
        double p50_us = (double)r.lat.p50 / 1e3;

        /* latency ratio = cpn p50 / reference p50 */
        cr_expect_float_eq(json_number_value(json_object_get(ratio,
                                                             "latency_p50")),
                           p50_us / 0.5, 1e-9);
    }
    json_decref(j);
}

Test(bench_doc, failed_part_way, .init = setup, .fini = teardown)
{
    cpn_bench_params_t p;
    cpn_bench_doc_t *doc;
    cpn_bench_result_t r;
    json_t *j;

    cpn_bench_params_init(&p);
    cr_assert_eq(cpn_bench_doc_open(path, &p, "local", &doc), CPN_OK);
    fake_result(&r, CPN_BENCH_PUT_BW, 4096);
    cpn_bench_doc_add(doc, &r);
    memset(&r, 0, sizeof(r));
    r.test = CPN_BENCH_PUT_BW;
    r.size = 8192;
    r.status = CPN_ERR_CONN_RESET;
    snprintf(r.error, sizeof(r.error), "stream 0 to 127.0.0.1:1 failed");
    cpn_bench_result_finish(&r);
    cpn_bench_doc_add(doc, &r);
    cpn_bench_doc_close(doc, "put_bw at 8192 B: stream 0 failed");
    j = load();
    expect_valid(j, "failed");
    cr_expect_str_eq(json_string_value(json_object_get(j, "error")),
                     "put_bw at 8192 B: stream 0 failed");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "results"), 1),
                         "status")),
                     "failed");
    json_decref(j);
}

/* A process killed part-way (no close, no handler) leaves valid JSON. */
Test(bench_doc, killed_part_way, .init = setup, .fini = teardown)
{
    int status;
    pid_t pid = fork();
    json_t *j;

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        cpn_bench_params_t p;
        cpn_bench_doc_t *doc;
        cpn_bench_result_t r;

        cpn_bench_params_init(&p);
        if (cpn_bench_doc_open(path, &p, "local", &doc) != CPN_OK) {
            _exit(1);
        }
        fake_result(&r, CPN_BENCH_SEND_LAT, 8);
        cpn_bench_doc_add(doc, &r);
        _exit(0); /* as if killed: the document is never closed */
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    j = load();
    expect_valid(j, "running");
    cr_expect_eq(json_array_size(json_object_get(j, "results")), 1);
    json_decref(j);
}

Test(bench_doc, validator_refuses)
{
    static const struct {
        const char *doc, *field;
    } bad[] = {
        {"[]", "document"},
        {"{\"schema\": \"cpn.bench/2\"}", "schema"},
        {"{\"schema\": \"cpn.bench/1\", \"status\": \"done\"}", "status"},
        {"{\"schema\": \"cpn.bench/1\", \"status\": \"failed\", \"error\": null}",
         "error"},
    };
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i].doc, 0, NULL);

        cr_assert_not_null(j);
        cr_expect_eq(cpn_bench_doc_validate(j, err, sizeof(err)),
                     CPN_ERR_INVALID, "%s accepted", bad[i].doc);
        cr_expect(strstr(err, bad[i].field) != NULL, "%s: '%s'", bad[i].doc,
                  err);
        json_decref(j);
    }
}

Test(bench_doc, validator_checks_results, .init = setup, .fini = teardown)
{
    cpn_bench_params_t p;
    cpn_bench_doc_t *doc;
    cpn_bench_result_t r;
    json_t *j, *res;
    char err[256];

    cpn_bench_params_init(&p);
    cr_assert_eq(cpn_bench_doc_open(path, &p, "local", &doc), CPN_OK);
    fake_result(&r, CPN_BENCH_PUT_LAT, 64);
    cpn_bench_doc_add(doc, &r);
    cpn_bench_doc_close(doc, NULL);
    j = load();
    res = json_array_get(json_object_get(j, "results"), 0);
    /* percentiles out of order */
    json_object_set_new(json_object_get(res, "latency_ns"), "p90",
                        json_integer(1));
    cr_expect_eq(cpn_bench_doc_validate(j, err, sizeof(err)), CPN_ERR_INVALID);
    cr_expect(strstr(err, "results[0].latency_ns") != NULL, "%s", err);
    json_decref(j);
    j = load();
    res = json_array_get(json_object_get(j, "results"), 0);
    json_object_set_new(res, "test", json_string("warp_drive"));
    cr_expect_eq(cpn_bench_doc_validate(j, err, sizeof(err)), CPN_ERR_INVALID);
    cr_expect(strstr(err, "results[0].test") != NULL, "%s", err);
    json_decref(j);
}
