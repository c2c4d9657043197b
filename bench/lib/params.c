/* SPDX-License-Identifier: Apache-2.0 */
/* The bench's test names and options: size sweeps, test lists, and the
 * parameters as JSON (what the client sends the server and what a document
 * records as its configuration). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/compiler.h"

static const char *const test_names[CPN_BENCH_NTESTS] = {
    [CPN_BENCH_PUT_BW] = "put_bw",     [CPN_BENCH_PUT_LAT] = "put_lat",
    [CPN_BENCH_SEND_LAT] = "send_lat", [CPN_BENCH_BIBW] = "bibw",
    [CPN_BENCH_TASK_BW] = "task_bw",   [CPN_BENCH_TASK_LAT] = "task_lat",
    [CPN_BENCH_TASK_MANY] = "task_many",
};

const char *cpn_bench_test_name(cpn_bench_test_t test)
{
    return (unsigned)test < CPN_BENCH_NTESTS ? test_names[test] : NULL;
}

cpn_status_t cpn_bench_test_parse(const char *name, cpn_bench_test_t *test_p)
{
    for (unsigned i = 0; i < CPN_BENCH_NTESTS; i++) {
        if (strcmp(name, test_names[i]) == 0) {
            *test_p = (cpn_bench_test_t)i;
            return CPN_OK;
        }
    }
    return CPN_ERR_INVALID;
}

int cpn_bench_test_is_lat(cpn_bench_test_t test)
{
    return test == CPN_BENCH_PUT_LAT || test == CPN_BENCH_SEND_LAT ||
           test == CPN_BENCH_TASK_LAT;
}

int cpn_bench_test_is_task(cpn_bench_test_t test)
{
    return test == CPN_BENCH_TASK_BW || test == CPN_BENCH_TASK_LAT ||
           test == CPN_BENCH_TASK_MANY;
}

void cpn_bench_params_init(cpn_bench_params_t *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->transport, sizeof(p->transport), "ucx");
    p->tests = (1u << CPN_BENCH_NTESTS) - 1;
    for (uint64_t s = 64; s <= 1024 * 1024; s *= 4) {
        p->sizes[p->nsizes++] = s;
    }
    p->iters = 1000;
    p->warmup = 100;
    p->window = 16;
    p->streams = 1;
    p->trials = 5;
    p->objects = 10000;
    p->max_task_bytes = UINT64_C(1) << 30;
    p->timeout_ms = 30000;
}

cpn_status_t cpn_bench_parse_tests(const char *s, unsigned *mask_p, char *err,
                                   size_t errlen)
{
    char buf[256], *save = NULL, *tok;
    unsigned mask = 0;

    if (strlen(s) >= sizeof(buf)) {
        snprintf(err, errlen, "test list too long");
        return CPN_ERR_INVALID;
    }
    strcpy(buf, s);
    for (tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        cpn_bench_test_t t;

        if (strcmp(tok, "all") == 0) {
            mask |= (1u << CPN_BENCH_NTESTS) - 1;
        } else if (cpn_bench_test_parse(tok, &t) == CPN_OK) {
            mask |= 1u << t;
        } else {
            snprintf(err, errlen,
                     "unknown test '%s' (put_bw, put_lat, send_lat, bibw, "
                     "task_bw, task_lat, task_many, all)",
                     tok);
            return CPN_ERR_INVALID;
        }
    }
    if (mask == 0) {
        snprintf(err, errlen, "no test named");
        return CPN_ERR_INVALID;
    }
    *mask_p = mask;
    return CPN_OK;
}

cpn_status_t cpn_bench_parse_size(const char *s, uint64_t *v_p)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    if (s == NULL || !isdigit((unsigned char)s[0])) {
        return CPN_ERR_INVALID;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0) {
        return CPN_ERR_INVALID;
    }
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = UINT64_C(1) << 10; end++; break;
    case 'M': mul = UINT64_C(1) << 20; end++; break;
    case 'G': mul = UINT64_C(1) << 30; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'I') {
        end++; /* "KiB" */
    }
    if (*end == 'B' || *end == 'b') {
        end++;
    }
    if (*end != '\0' || (v != 0 && mul > UINT64_MAX / v)) {
        return CPN_ERR_INVALID;
    }
    *v_p = (uint64_t)v * mul;
    return CPN_OK;
}

static cpn_status_t add_size(cpn_bench_params_t *p, uint64_t v, char *err,
                             size_t errlen)
{
    if (v == 0) {
        snprintf(err, errlen, "a size must be at least 1 byte");
        return CPN_ERR_INVALID;
    }
    if (p->nsizes == CPN_BENCH_MAX_SIZES) {
        snprintf(err, errlen, "more than %d sizes", CPN_BENCH_MAX_SIZES);
        return CPN_ERR_INVALID;
    }
    p->sizes[p->nsizes++] = v;
    return CPN_OK;
}

/* One item of a list: "N", "A-B" (powers of two), "A-B:STEP", "A-B*F". */
static cpn_status_t parse_item(char *item, cpn_bench_params_t *p, char *err,
                               size_t errlen)
{
    char *dash = strchr(item, '-'), *step = NULL, *fac = NULL;
    uint64_t lo, hi, inc = 0, mul = 2;
    cpn_status_t st;

    if (dash == NULL) {
        if (cpn_bench_parse_size(item, &lo) != CPN_OK) {
            snprintf(err, errlen, "bad size '%s' (a number, K/M/G allowed)",
                     item);
            return CPN_ERR_INVALID;
        }
        return add_size(p, lo, err, errlen);
    }
    *dash = '\0';
    step = strchr(dash + 1, ':');
    fac = strchr(dash + 1, '*');
    if (step != NULL) {
        *step++ = '\0';
    } else if (fac != NULL) {
        *fac++ = '\0';
    }
    if (cpn_bench_parse_size(item, &lo) != CPN_OK ||
        cpn_bench_parse_size(dash + 1, &hi) != CPN_OK || lo == 0 || hi < lo) {
        snprintf(err, errlen, "bad range '%s-%s' (LOW-HIGH, LOW >= 1)", item,
                 dash + 1);
        return CPN_ERR_INVALID;
    }
    if (step != NULL &&
        (cpn_bench_parse_size(step, &inc) != CPN_OK || inc == 0)) {
        snprintf(err, errlen, "bad step '%s' in a range", step);
        return CPN_ERR_INVALID;
    }
    if (fac != NULL) {
        char *end;
        unsigned long f = strtoul(fac, &end, 10);

        if (*end != '\0' || f < 2) {
            snprintf(err, errlen, "bad factor '%s' in a range (>= 2)", fac);
            return CPN_ERR_INVALID;
        }
        mul = f;
    }
    if (inc != 0) {
        for (uint64_t v = lo; v <= hi; v += inc) {
            if ((st = add_size(p, v, err, errlen)) != CPN_OK) {
                return st;
            }
            if (v > UINT64_MAX - inc) {
                break;
            }
        }
        return CPN_OK;
    }
    for (uint64_t v = lo; v <= hi; v *= mul) {
        if ((st = add_size(p, v, err, errlen)) != CPN_OK) {
            return st;
        }
        if (v > UINT64_MAX / mul) {
            break;
        }
        if (v * mul > hi && v != hi && fac == NULL &&
            (hi & (hi - 1)) != 0) {
            return add_size(p, hi, err, errlen); /* keep a ragged end */
        }
    }
    return CPN_OK;
}

cpn_status_t cpn_bench_parse_sizes(const char *s, cpn_bench_params_t *p,
                                   char *err, size_t errlen)
{
    char buf[512], *save = NULL, *tok;
    cpn_bench_params_t tmp = *p;
    cpn_status_t st;

    if (strlen(s) >= sizeof(buf) || s[0] == '\0') {
        snprintf(err, errlen, "empty or too long size list");
        return CPN_ERR_INVALID;
    }
    strcpy(buf, s);
    tmp.nsizes = 0;
    for (tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if ((st = parse_item(tok, &tmp, err, errlen)) != CPN_OK) {
            return st;
        }
    }
    if (tmp.nsizes == 0) {
        snprintf(err, errlen, "no size in '%s'", s);
        return CPN_ERR_INVALID;
    }
    *p = tmp;
    return CPN_OK;
}

json_t *cpn_bench_params_to_json(const cpn_bench_params_t *p)
{
    json_t *j = json_object(), *tests = json_array(), *sizes = json_array();

    for (unsigned i = 0; i < CPN_BENCH_NTESTS; i++) {
        if (p->tests & (1u << i)) {
            json_array_append_new(tests, json_string(test_names[i]));
        }
    }
    for (unsigned i = 0; i < p->nsizes; i++) {
        json_array_append_new(sizes, json_integer((json_int_t)p->sizes[i]));
    }
    json_object_set_new(j, "transport", json_string(p->transport));
    json_object_set_new(j, "tests", tests);
    json_object_set_new(j, "sizes", sizes);
    json_object_set_new(j, "iters", json_integer(p->iters));
    json_object_set_new(j, "warmup", json_integer(p->warmup));
    json_object_set_new(j, "duration_s", json_real(p->duration_s));
    json_object_set_new(j, "window", json_integer(p->window));
    json_object_set_new(j, "streams", json_integer(p->streams));
    json_object_set_new(j, "trials", json_integer(p->trials));
    json_object_set_new(j, "objects", json_integer(p->objects));
    json_object_set_new(j, "max_task_bytes",
                        json_integer((json_int_t)p->max_task_bytes));
    json_object_set_new(j, "timeout_ms", json_integer(p->timeout_ms));
    return j;
}

static int get_uint(const json_t *j, const char *key, unsigned lo,
                    unsigned hi, unsigned *v, char *err, size_t errlen)
{
    const json_t *x = json_object_get(j, key);

    if (x == NULL) {
        return 0;
    }
    if (!json_is_integer(x) || json_integer_value(x) < (json_int_t)lo ||
        json_integer_value(x) > (json_int_t)hi) {
        snprintf(err, errlen, "config field '%s': an integer in [%u, %u]",
                 key, lo, hi);
        return -1;
    }
    *v = (unsigned)json_integer_value(x);
    return 0;
}

cpn_status_t cpn_bench_params_from_json(const json_t *j, cpn_bench_params_t *p,
                                        char *err, size_t errlen)
{
    cpn_bench_params_t t;
    const json_t *x, *v;
    unsigned tmo;
    size_t i;

    cpn_bench_params_init(&t);
    if (!json_is_object(j)) {
        snprintf(err, errlen, "config is not a JSON object");
        return CPN_ERR_INVALID;
    }
    if ((x = json_object_get(j, "transport")) != NULL) {
        if (!json_is_string(x) ||
            strlen(json_string_value(x)) >= sizeof(t.transport)) {
            snprintf(err, errlen, "config field 'transport': a short string");
            return CPN_ERR_INVALID;
        }
        snprintf(t.transport, sizeof(t.transport), "%s", json_string_value(x));
    }
    if ((x = json_object_get(j, "tests")) != NULL) {
        t.tests = 0;
        json_array_foreach(x, i, v)
        {
            cpn_bench_test_t tt;

            if (!json_is_string(v) ||
                cpn_bench_test_parse(json_string_value(v), &tt) != CPN_OK) {
                snprintf(err, errlen, "config field 'tests[%zu]': no such "
                         "test", i);
                return CPN_ERR_INVALID;
            }
            t.tests |= 1u << tt;
        }
    }
    if ((x = json_object_get(j, "sizes")) != NULL) {
        if (!json_is_array(x) || json_array_size(x) == 0 ||
            json_array_size(x) > CPN_BENCH_MAX_SIZES) {
            snprintf(err, errlen, "config field 'sizes': 1 to %d sizes",
                     CPN_BENCH_MAX_SIZES);
            return CPN_ERR_INVALID;
        }
        t.nsizes = 0;
        json_array_foreach(x, i, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                snprintf(err, errlen, "config field 'sizes[%zu]': an integer "
                         ">= 1", i);
                return CPN_ERR_INVALID;
            }
            t.sizes[t.nsizes++] = (uint64_t)json_integer_value(v);
        }
    }
    if (get_uint(j, "iters", 1, 100000000, &t.iters, err, errlen) ||
        get_uint(j, "warmup", 0, 100000000, &t.warmup, err, errlen) ||
        get_uint(j, "window", 1, 4096, &t.window, err, errlen) ||
        get_uint(j, "streams", 1, CPN_BENCH_MAX_STREAMS, &t.streams, err,
                 errlen) ||
        get_uint(j, "trials", 1, CPN_BENCH_MAX_TRIALS, &t.trials, err,
                 errlen) ||
        get_uint(j, "objects", 1, 1000000, &t.objects, err, errlen)) {
        return CPN_ERR_INVALID;
    }
    tmo = (unsigned)t.timeout_ms;
    if (get_uint(j, "timeout_ms", 1, 3600000, &tmo, err, errlen)) {
        return CPN_ERR_INVALID;
    }
    t.timeout_ms = (int)tmo;
    if ((x = json_object_get(j, "duration_s")) != NULL) {
        if (!json_is_number(x) || json_number_value(x) < 0 ||
            json_number_value(x) > 3600) {
            snprintf(err, errlen, "config field 'duration_s': 0 to 3600");
            return CPN_ERR_INVALID;
        }
        t.duration_s = json_number_value(x);
    }
    if ((x = json_object_get(j, "max_task_bytes")) != NULL) {
        if (!json_is_integer(x) || json_integer_value(x) < 1) {
            snprintf(err, errlen, "config field 'max_task_bytes': >= 1");
            return CPN_ERR_INVALID;
        }
        t.max_task_bytes = (uint64_t)json_integer_value(x);
    }
    *p = t;
    return CPN_OK;
}
