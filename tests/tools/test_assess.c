/* SPDX-License-Identifier: Apache-2.0 */
/* The maturity assessment: levels at their thresholds' boundaries (both
 * directions), indicators with no measurement, the shipped model file, a
 * malformed model (errors name the line and the field), receipts as input,
 * and `cpn assess` end to end on a bench document. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "bench/assess.h"
#include "bench/bench.h"

static json_t *ind(const char *better, double t2, double t3, double t4)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:i, s:f, s:s},"
                          "{s:i, s:f, s:s},{s:i, s:f, s:s}]}",
                          "id", "x.y", "dimension", "network", "name", "x",
                          "metric", "x", "unit", "ms", "better", better,
                          "levels", "level", 2, "threshold", t2, "source", "P",
                          "level", 3, "threshold", t3, "source", "S: a",
                          "level", 4, "threshold", t4, "source", "P");

    cr_assert_not_null(j);
    return j;
}

Test(assess, boundaries_lower_is_better)
{
    json_t *i = ind("lower", 20, 5, 1);
    char why[512], next[512];

    cr_expect_eq(cpn_assess_level(i, 20.0001, why, sizeof(why), next,
                                  sizeof(next)), 1);
    cr_expect(strstr(next, "L2") != NULL, "%s", next);
    cr_expect_eq(cpn_assess_level(i, 20, why, sizeof(why), next, sizeof(next)),
                 2, "a value at the threshold meets it");
    cr_expect_eq(cpn_assess_level(i, 5, why, sizeof(why), next, sizeof(next)),
                 3);
    cr_expect(strstr(why, "S: a") != NULL, "why names the source: %s", why);
    cr_expect(strstr(next, "L4") != NULL && strstr(next, "<= 1") != NULL,
              "%s", next);
    cr_expect_eq(cpn_assess_level(i, 0.5, why, sizeof(why), next, sizeof(next)),
                 4);
    cr_expect_str_eq(next, "", "no level above the top");
    json_decref(i);
}

Test(assess, boundaries_higher_is_better)
{
    json_t *i = ind("higher", 0.2, 0.5, 0.7);
    char why[512], next[512];

    cr_expect_eq(cpn_assess_level(i, 0.1999, why, sizeof(why), next,
                                  sizeof(next)), 1);
    cr_expect_eq(cpn_assess_level(i, 0.2, why, sizeof(why), next, sizeof(next)),
                 2);
    cr_expect_eq(cpn_assess_level(i, 0.69, why, sizeof(why), next, sizeof(next)),
                 3);
    cr_expect_eq(cpn_assess_level(i, 0.7, why, sizeof(why), next, sizeof(next)),
                 4);
    json_decref(i);
}

static json_t *shipped_model(void)
{
    const char *src = getenv("CPN_SOURCE_DIR");
    char path[4096], err[512];
    json_t *m = NULL;

    cr_assert_not_null(src);
    snprintf(path, sizeof(path), "%s/data/maturity-model.json", src);
    cr_assert_eq(cpn_assess_model_load(path, &m, err, sizeof(err)), CPN_OK,
                 "%s", err);
    return m;
}

Test(assess, not_measured_is_never_a_guess)
{
    json_t *m = shipped_model(), *metrics, *a, *x;
    cpn_assess_inputs_t in = {.bench = json_array(), .receipts = json_array()};
    size_t i;

    metrics = cpn_assess_metrics(&in);
    a = cpn_assess_score(m, metrics, &in);
    json_array_foreach(json_object_get(a, "indicators"), i, x)
    {
        if (strcmp(json_string_value(json_object_get(x, "id")),
                   "network.rdma") == 0) {
            continue;
        }
        cr_expect_str_eq(json_string_value(json_object_get(x, "status")),
                         "not measured", "%s",
                         json_string_value(json_object_get(x, "id")));
        cr_expect(json_is_null(json_object_get(x, "value")));
        cr_expect(json_is_null(json_object_get(x, "level")));
        cr_expect(json_string_length(json_object_get(x, "why")) > 0);
    }
    cr_expect(json_is_null(json_object_get(
        json_object_get(json_object_get(a, "dimensions"), "network"), "level")));
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(a, "stage"),
                                                    "stage")), 3);
    json_decref(a);
    json_decref(metrics);
    json_decref(m);
    json_decref(in.bench);
    json_decref(in.receipts);
}

Test(assess, receipts_give_loss_and_retries)
{
    json_t *m = shipped_model(), *metrics, *a, *x;
    cpn_assess_inputs_t in = {.bench = json_array(), .receipts = json_array()};
    char err[256];
    size_t i;
    const char *lines =
        "{\"schema\":\"cpn.receipt/1\",\"chunks\":1000,\"retries\":1,"
        "\"elapsed_ns\":4000000,\"goodput_gbps\":12.5}\n"
        "{\"schema\":\"cpn.receipt/1\",\"chunks\":1000,\"retries\":0,"
        "\"elapsed_ns\":2000000,\"goodput_gbps\":10}\n";

    cr_assert_eq(cpn_assess_add_input(&in, "r.jsonl", lines, err, sizeof(err)),
                 CPN_OK, "%s", err);
    cr_expect_eq(json_array_size(in.receipts), 2);
    metrics = cpn_assess_metrics(&in);
    a = cpn_assess_score(m, metrics, &in);
    json_array_foreach(json_object_get(a, "indicators"), i, x)
    {
        const char *id = json_string_value(json_object_get(x, "id"));

        if (strcmp(id, "network.loss") == 0) {
            /* 1 / 2000 = 5e-4 <= 1e-3: L2 (Y.1541) */
            cr_expect_float_eq(json_number_value(json_object_get(x, "value")),
                               5e-4, 1e-12);
            cr_expect_eq(json_integer_value(json_object_get(x, "level")), 2);
        } else if (strcmp(id, "operation.retries") == 0) {
            cr_expect_float_eq(json_number_value(json_object_get(x, "value")),
                               0.5, 1e-12);
        } else if (strcmp(id, "application.delivery_time") == 0) {
            cr_expect_float_eq(json_number_value(json_object_get(x, "value")),
                               2.0, 1e-12);
            cr_expect_eq(json_integer_value(json_object_get(x, "level")), 4);
        }
    }
    cr_expect_eq(cpn_assess_add_input(&in, "bad.json", "{\"schema\":\"x/1\"}",
                                      err, sizeof(err)), CPN_ERR_INVALID);
    cr_expect(strstr(err, "bad.json") != NULL, "%s", err);
    json_decref(a);
    json_decref(metrics);
    json_decref(m);
    json_decref(in.bench);
    json_decref(in.receipts);
}

/* Paths are the distinct devices of the lanes ("tp/dev"); words without a
 * '/' describe the lane before them (dpdk's "mtu 1500", verbs' port and
 * GID) and are no paths of their own. */
Test(assess, paths_from_lanes)
{
    static const struct {
        const char *name, *lanes;
        double paths;
        int rdma;
    } c[] = {{"dpdk", "dpdk/net_memif0 mtu 1500", 1, 0},
             {"ucx", "tcp/lo cma/memory tcp/lo", 2, 0},
             {"verbs", "rc/verbs rxe0 port 1 GID[1]", 1, 1}};

    for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
        cpn_assess_inputs_t in = {.bench = json_array(),
                                  .receipts = json_array()};
        json_t *metrics;

        json_array_append_new(in.bench,
                              json_pack("{s:{s:s, s:s}, s:[]}", "transport",
                                        "name", c[k].name, "lanes",
                                        c[k].lanes, "results"));
        metrics = cpn_assess_metrics(&in);
        cr_expect_float_eq(json_number_value(json_object_get(
                               json_object_get(metrics, "paths_used"),
                               "value")),
                           c[k].paths, 1e-12, "%s", c[k].lanes);
        cr_expect_float_eq(json_number_value(json_object_get(
                               json_object_get(metrics, "rdma_in_use"),
                               "value")),
                           c[k].rdma, 1e-12, "%s", c[k].lanes);
        json_decref(metrics);
        json_decref(in.bench);
        json_decref(in.receipts);
    }
}

/* Write @p text to a temporary model and load it; the error must contain
 * every one of @p want (NULL-terminated). */
static void bad_model(const char *text, const char *const *want)
{
    char path[] = "/tmp/cpn-model-test.XXXXXX", err[512] = "";
    json_t *m = NULL;
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cr_expect_neq(cpn_assess_model_load(path, &m, err, sizeof(err)), CPN_OK,
                  "accepted: %s", text);
    for (; *want != NULL; want++) {
        cr_expect(strstr(err, *want) != NULL, "'%s' not in '%s'", *want, err);
    }
    cr_expect(strstr(err, path) != NULL, "the error names the file: %s", err);
    unlink(path);
    json_decref(m);
}

#define STAGES                                                                 \
    "\"stages\": [{\"stage\":1,\"name\":\"a\",\"capability\":\"none\"},"       \
    "{\"stage\":2,\"name\":\"b\",\"capability\":\"deliver\"},"                 \
    "{\"stage\":3,\"name\":\"c\",\"capability\":\"measure\"},"                 \
    "{\"stage\":4,\"name\":\"d\",\"capability\":\"diagnose\"},"                \
    "{\"stage\":5,\"name\":\"e\",\"capability\":\"predict\"},"                 \
    "{\"stage\":6,\"name\":\"f\",\"capability\":\"adapt\"}],\n"

Test(assess, malformed_model)
{
    bad_model("{\n \"schema\": \"cpn.maturity-model/1\",\n oops\n}",
              (const char *const[]){":3:", "not JSON", NULL});
    bad_model("{\"schema\": \"cpn.maturity-model/9\"}",
              (const char *const[]){"schema", NULL});
    bad_model("{\n\"schema\": \"cpn.maturity-model/1\",\n"
              "\"dimensions\": [\"network\"],\n" STAGES
              "\"indicators\": [\n"
              "{\"id\": \"a\", \"dimension\": \"network\", \"name\": \"n\","
              " \"metric\": \"m\", \"unit\": \"u\", \"better\": \"lower\","
              " \"levels\": [{\"level\": 2, \"threshold\": 1, \"source\": "
              "\"P\"}]},\n"
              "{\"id\": \"b\", \"dimension\": \"network\", \"name\": \"n\","
              " \"metric\": \"m\", \"unit\": \"u\", \"better\": \"lower\","
              " \"levels\": [{\"level\": 2, \"threshold\": \"fast\", "
              "\"source\": \"P\"}]}\n]}\n",
              (const char *const[]){":7:", "indicators[1] 'b'",
                                    "levels[0].threshold", "not a number",
                                    NULL});
    bad_model("{\n\"schema\": \"cpn.maturity-model/1\",\n"
              "\"dimensions\": [\"network\"],\n" STAGES
              "\"indicators\": [\n"
              "{\"id\": \"a\", \"dimension\": \"moon\", \"name\": \"n\","
              " \"metric\": \"m\", \"unit\": \"u\", \"better\": \"lower\","
              " \"levels\": [{\"level\": 2, \"threshold\": 1, \"source\": "
              "\"P\"}]}]}\n",
              (const char *const[]){":6:", "dimension", "moon", NULL});
    bad_model("{\n\"schema\": \"cpn.maturity-model/1\",\n"
              "\"dimensions\": [\"network\"],\n" STAGES
              "\"indicators\": [\n"
              "{\"id\": \"a\", \"dimension\": \"network\", \"name\": \"n\","
              " \"metric\": \"m\", \"unit\": \"u\", \"better\": \"lower\","
              " \"levels\": [{\"level\": 2, \"threshold\": 1, \"source\": "
              "\"P\"}, {\"level\": 3, \"threshold\": 5, \"source\": \"P\"}]}"
              "]}\n",
              (const char *const[]){"levels[1].threshold", "looser", NULL});
    bad_model("{\n\"schema\": \"cpn.maturity-model/1\",\n"
              "\"dimensions\": [\"network\"],\n" STAGES
              "\"indicators\": [\n"
              "{\"id\": \"a\", \"dimension\": \"network\", \"name\": \"n\","
              " \"metric\": \"m\", \"unit\": \"u\", \"better\": \"lower\","
              " \"levels\": [{\"level\": 2, \"threshold\": 1, \"source\": "
              "\"maybe\"}]}]}\n",
              (const char *const[]){"levels[0].source", NULL});
}

/* The command: a bench document in, a table and JSON out; a bad model
 * gives exit 4 with the line. */
Test(assess, command)
{
    const char *cli = getenv("CPN_CLI");
    char dir[] = "/tmp/cpn-assess-test.XXXXXX", cmd[2048], path[256];
    json_t *a;
    int rc;

    cr_assert_not_null(cli);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "%s bench -q --no-ref -T send_lat,put_bw,task_lat -s 64,4K -n 50 "
             "-w 5 --trials 2 -j %s/b.json > /dev/null 2>&1 && "
             "%s assess --line-rate 25 -j %s/a.json %s/b.json > %s/a.txt",
             cli, dir, cli, dir, dir, dir);
    rc = system(cmd);
    cr_assert_eq(WEXITSTATUS(rc), 0, "exit %d", WEXITSTATUS(rc));
    snprintf(path, sizeof(path), "%s/a.json", dir);
    a = json_load_file(path, 0, NULL);
    cr_assert_not_null(a);
    cr_expect_str_eq(json_string_value(json_object_get(a, "schema")),
                     CPN_ASSESS_SCHEMA);
    cr_expect_float_eq(json_number_value(json_object_get(
                           json_object_get(a, "line_rate"), "gbps")),
                       25.0, 1e-9);
    {
        json_t *x;
        size_t i;
        int measured = 0;

        json_array_foreach(json_object_get(a, "indicators"), i, x)
        {
            if (strcmp(json_string_value(json_object_get(x, "status")),
                       "measured") == 0) {
                measured++;
                cr_expect(json_integer_value(json_object_get(x, "level")) >= 1);
            }
        }
        cr_expect_geq(measured, 7, "measured indicators: %d", measured);
    }
    json_decref(a);
    snprintf(cmd, sizeof(cmd),
             "printf '{\\n\\n  \"schema\": 3' > %s/m.json; %s assess --model "
             "%s/m.json %s/b.json 2> %s/err.txt",
             dir, cli, dir, dir, dir);
    rc = system(cmd);
    cr_expect_eq(WEXITSTATUS(rc), 4);
    snprintf(cmd, sizeof(cmd), "grep -q 'm.json:3' %s/err.txt", dir);
    cr_expect_eq(system(cmd), 0, "the error names the line");
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
