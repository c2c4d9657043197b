/* SPDX-License-Identifier: Apache-2.0 */
/* The maturity assessment: the model file and its checks, the metrics cpn
 * observes from bench documents and receipts, the scoring, the acatech
 * stage, and the table. See bench/assess.h; the model is in
 * data/maturity-model.json. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/assess.h"
#include "bench/bench.h"
#include "core/compiler.h"

/* ---- the model -------------------------------------------------------------- */

/* 1-based line of the @p nth (0-based) occurrence of @p needle in @p text;
 * 0 when not found. */
static int line_of(const char *text, const char *needle, int nth)
{
    const char *p = text;
    int line = 1;

    if (text == NULL) {
        return 0;
    }
    for (int k = 0; (p = strstr(p, needle)) != NULL; k++, p++) {
        if (k == nth) {
            for (const char *q = text; q < p; q++) {
                line += *q == '\n';
            }
            return line;
        }
    }
    return 0;
}

static cpn_status_t model_err(char *err, size_t errlen, const char *path,
                              int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static cpn_status_t model_err(char *err, size_t errlen, const char *path,
                              int line, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0) {
        snprintf(err, errlen, "%s:%d: %s", path, line, msg);
    } else {
        snprintf(err, errlen, "%s: %s", path, msg);
    }
    return CPN_ERR_INVALID;
}

cpn_status_t cpn_assess_model_check(const json_t *m, const char *text,
                                    const char *path, char *err,
                                    size_t errlen)
{
    const json_t *dims, *inds, *ind, *stages;
    size_t i, j;

    if (!json_is_object(m)) {
        return model_err(err, errlen, path, 1, "not a JSON object");
    }
    if (!json_is_string(json_object_get(m, "schema")) ||
        strcmp(json_string_value(json_object_get(m, "schema")),
               "cpn.maturity-model/1") != 0) {
        return model_err(err, errlen, path, line_of(text, "\"schema\"", 0),
                         "field 'schema': must be \"cpn.maturity-model/1\"");
    }
    dims = json_object_get(m, "dimensions");
    if (!json_is_array(dims) || json_array_size(dims) == 0) {
        return model_err(err, errlen, path, line_of(text, "\"dimensions\"", 0),
                         "field 'dimensions': a non-empty array of names");
    }
    stages = json_object_get(m, "stages");
    if (!json_is_array(stages) || json_array_size(stages) != 6) {
        return model_err(err, errlen, path, line_of(text, "\"stages\"", 0),
                         "field 'stages': the six acatech stages");
    }
    json_array_foreach(stages, i, ind)
    {
        if (json_integer_value(json_object_get(ind, "stage")) != (json_int_t)i + 1 ||
            !json_is_string(json_object_get(ind, "name")) ||
            !json_is_string(json_object_get(ind, "capability"))) {
            return model_err(err, errlen, path,
                             line_of(text, "\"stage\"", (int)i),
                             "stages[%zu]: needs stage %zu, name, capability",
                             i, i + 1);
        }
    }
    inds = json_object_get(m, "indicators");
    if (!json_is_array(inds) || json_array_size(inds) == 0) {
        return model_err(err, errlen, path, line_of(text, "\"indicators\"", 0),
                         "field 'indicators': a non-empty array");
    }
    json_array_foreach(inds, i, ind)
    {
        const char *id = json_string_value(json_object_get(ind, "id"));
        const char *dim = json_string_value(json_object_get(ind, "dimension"));
        const char *better = json_string_value(json_object_get(ind, "better"));
        const json_t *levels = json_object_get(ind, "levels"), *lv, *d;
        int line = line_of(text, "\"id\"", (int)i), found = 0, prev = 1;
        double prev_t = 0;
        static const char *const strs[] = {"name", "metric", "unit"};

        if (id == NULL || id[0] == '\0') {
            return model_err(err, errlen, path, line,
                             "indicators[%zu]: field 'id': a non-empty string",
                             i);
        }
        for (j = 0; j < CPN_ARRAY_SIZE(strs); j++) {
            if (!json_is_string(json_object_get(ind, strs[j]))) {
                return model_err(err, errlen, path, line,
                                 "indicators[%zu] '%s': field '%s': a string",
                                 i, id, strs[j]);
            }
        }
        json_array_foreach(dims, j, d)
        {
            found |= dim != NULL && json_is_string(d) &&
                     strcmp(json_string_value(d), dim) == 0;
        }
        if (!found) {
            return model_err(err, errlen, path, line,
                             "indicators[%zu] '%s': field 'dimension': '%s' "
                             "is not one of 'dimensions'",
                             i, id, dim ? dim : "(missing)");
        }
        if (better == NULL ||
            (strcmp(better, "lower") != 0 && strcmp(better, "higher") != 0)) {
            return model_err(err, errlen, path, line,
                             "indicators[%zu] '%s': field 'better': \"lower\" "
                             "or \"higher\"",
                             i, id);
        }
        if (!json_is_array(levels) || json_array_size(levels) == 0) {
            return model_err(err, errlen, path, line,
                             "indicators[%zu] '%s': field 'levels': a "
                             "non-empty array",
                             i, id);
        }
        json_array_foreach(levels, j, lv)
        {
            const json_t *t = json_object_get(lv, "threshold");
            json_int_t l = json_integer_value(json_object_get(lv, "level"));
            const char *src = json_string_value(json_object_get(lv, "source"));

            if (!json_is_integer(json_object_get(lv, "level")) || l <= prev ||
                l > 5) {
                return model_err(err, errlen, path, line,
                                 "indicators[%zu] '%s': levels[%zu].level: an "
                                 "integer 2..5, rising",
                                 i, id, j);
            }
            if (!json_is_number(t)) {
                return model_err(err, errlen, path, line,
                                 "indicators[%zu] '%s': levels[%zu].threshold: "
                                 "not a number",
                                 i, id, j);
            }
            if (j > 0 && (strcmp(better, "lower") == 0
                              ? json_number_value(t) > prev_t
                              : json_number_value(t) < prev_t)) {
                return model_err(err, errlen, path, line,
                                 "indicators[%zu] '%s': levels[%zu].threshold: "
                                 "%g is %s than the level below (%g)",
                                 i, id, j, json_number_value(t),
                                 strcmp(better, "lower") == 0 ? "looser"
                                                              : "lower",
                                 prev_t);
            }
            if (src == NULL || (src[0] != 'S' && src[0] != 'P')) {
                return model_err(err, errlen, path, line,
                                 "indicators[%zu] '%s': levels[%zu].source: "
                                 "\"S: ...\" (a source) or \"P\" (proposed)",
                                 i, id, j);
            }
            prev = (int)l;
            prev_t = json_number_value(t);
        }
        for (size_t k = 0; k < i; k++) {
            const char *other = json_string_value(
                json_object_get(json_array_get(inds, k), "id"));

            if (other != NULL && strcmp(other, id) == 0) {
                return model_err(err, errlen, path, line,
                                 "indicators[%zu]: id '%s' appears twice", i,
                                 id);
            }
        }
    }
    return CPN_OK;
}

static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t n;

        if (cap - len < 4096) {
            char *b = realloc(buf, cap * 2 + 8192);

            if (b == NULL) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "out of memory reading %s", path);
                return NULL;
            }
            buf = b;
            cap = cap * 2 + 8192;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

cpn_status_t cpn_assess_model_load(const char *path, json_t **model_p,
                                   char *err, size_t errlen)
{
    json_error_t jerr;
    char *text = slurp(path, err, errlen);
    json_t *m;
    cpn_status_t st;

    if (text == NULL) {
        return CPN_ERR_IO;
    }
    m = json_loads(text, 0, &jerr);
    if (m == NULL) {
        snprintf(err, errlen, "%s:%d: not JSON: %s (column %d)", path,
                 jerr.line, jerr.text, jerr.column);
        free(text);
        return CPN_ERR_INVALID;
    }
    st = cpn_assess_model_check(m, text, path, err, errlen);
    free(text);
    if (st != CPN_OK) {
        json_decref(m);
        return st;
    }
    *model_p = m;
    return CPN_OK;
}

/* ---- inputs --------------------------------------------------------------- */

static cpn_status_t add_one(cpn_assess_inputs_t *in, const char *path,
                            json_t *j, char *err, size_t errlen)
{
    const char *schema = json_string_value(json_object_get(j, "schema"));
    char verr[256];

    if (schema != NULL && strcmp(schema, CPN_BENCH_SCHEMA) == 0) {
        if (cpn_bench_doc_validate(j, verr, sizeof(verr)) != CPN_OK) {
            snprintf(err, errlen, "%s: not a valid bench document: %s", path,
                     verr);
            return CPN_ERR_INVALID;
        }
        json_array_append(in->bench, j);
        return CPN_OK;
    }
    if (schema != NULL && strcmp(schema, "cpn.receipt/1") == 0) {
        json_array_append(in->receipts, j);
        return CPN_OK;
    }
    snprintf(err, errlen, "%s: neither a bench document (cpn.bench/1) nor a "
             "receipt (cpn.receipt/1): schema %s", path,
             schema ? schema : "missing");
    return CPN_ERR_INVALID;
}

cpn_status_t cpn_assess_add_input(cpn_assess_inputs_t *in, const char *path,
                                  const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr), *e;
    cpn_status_t st = CPN_OK;
    size_t i;

    if (j == NULL) {
        /* JSON lines: one receipt per line (`cpn send --json` appended). */
        char *copy = strdup(text), *save = NULL, *line;
        int n = 0;

        if (copy == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        for (line = strtok_r(copy, "\n", &save); line != NULL && st == CPN_OK;
             line = strtok_r(NULL, "\n", &save), n++) {
            json_t *x = json_loads(line, 0, &jerr);

            if (x == NULL) {
                snprintf(err, errlen, "%s:%d: not JSON: %s", path, n + 1,
                         jerr.text);
                st = CPN_ERR_INVALID;
                break;
            }
            st = add_one(in, path, x, err, errlen);
            json_decref(x);
        }
        free(copy);
        return st;
    }
    if (json_is_array(j)) {
        json_array_foreach(j, i, e)
        {
            if ((st = add_one(in, path, e, err, errlen)) != CPN_OK) {
                break;
            }
        }
    } else {
        st = add_one(in, path, j, err, errlen);
    }
    json_decref(j);
    return st;
}

double cpn_assess_line_rate(const char *sysroot, const char *dev, char *src,
                            size_t srclen)
{
    char path[512], buf[128];
    FILE *f;
    double v = -1;

    snprintf(path, sizeof(path), "%s/sys/class/net/%s/speed", sysroot, dev);
    if ((f = fopen(path, "r")) != NULL) {
        if (fgets(buf, sizeof(buf), f) != NULL) {
            long mbs = strtol(buf, NULL, 10);

            if (mbs > 0) {
                v = (double)mbs / 1000.0;
                snprintf(src, srclen, "%s", path);
            }
        }
        fclose(f);
        if (v > 0) {
            return v;
        }
    }
    snprintf(path, sizeof(path), "%s/sys/class/infiniband/%s/ports/1/rate",
             sysroot, dev);
    if ((f = fopen(path, "r")) != NULL) {
        if (fgets(buf, sizeof(buf), f) != NULL && atof(buf) > 0) {
            v = atof(buf); /* "200 Gb/sec (4X HDR)" */
            snprintf(src, srclen, "%s", path);
        }
        fclose(f);
    }
    return v;
}

/* ---- metrics --------------------------------------------------------------- */

static void metric(json_t *m, const char *name, double v, int measured,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void metric(json_t *m, const char *name, double v, int measured,
                   const char *fmt, ...)
{
    json_t *o = json_object();
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    json_object_set_new(o, "value", measured ? json_real(v) : json_null());
    json_object_set_new(o, "why", json_string(why));
    json_object_set_new(m, name, o);
}

/* Is @p a better than @p b for @p test (same size): higher bandwidth for
 * the *_bw tests, lower p50 for the others? */
static int better(const json_t *a, const json_t *b, const char *test)
{
    if (strstr(test, "_bw") != NULL) {
        return json_number_value(json_object_get(
                   json_object_get(a, "bandwidth_GBps"), "avg")) >
               json_number_value(json_object_get(
                   json_object_get(b, "bandwidth_GBps"), "avg"));
    }
    return json_number_value(json_object_get(json_object_get(a, "latency_ns"),
                                             "p50")) <
           json_number_value(json_object_get(json_object_get(b, "latency_ns"),
                                             "p50"));
}

/* The ok result of @p test with the smallest (small = 1) or largest size,
 * the best of the documents at that size; @p lanes_p gets its lanes. */
static json_t *pick(const cpn_assess_inputs_t *in, const char *test, int small,
                    const char **lanes_p)
{
    json_t *doc, *r, *best = NULL;
    size_t i, k;

    json_array_foreach(in->bench, i, doc)
    {
        json_array_foreach(json_object_get(doc, "results"), k, r)
        {
            json_int_t size = json_integer_value(json_object_get(r, "size"));
            json_int_t bsize =
                best ? json_integer_value(json_object_get(best, "size")) : 0;

            if (strcmp(json_string_value(json_object_get(r, "test")), test) != 0 ||
                strcmp(json_string_value(json_object_get(r, "status")), "ok") != 0) {
                continue;
            }
            if (best == NULL || (small ? size < bsize : size > bsize) ||
                (size == bsize && better(r, best, test))) {
                best = r;
                if (lanes_p != NULL) {
                    *lanes_p = json_string_value(json_object_get(
                        json_object_get(doc, "transport"), "lanes"));
                }
            }
        }
    }
    return best;
}

static double lat(json_t *r, const char *k)
{
    return json_number_value(json_object_get(json_object_get(r, "latency_ns"), k));
}

json_t *cpn_assess_metrics(const cpn_assess_inputs_t *in)
{
    json_t *m = json_object(), *r, *doc, *rc;
    const char *tp = NULL;
    const char *lt = "send_lat";
    double best_bw = -1;
    size_t i, k;

    /* latency, jitter: one-way, the smallest size of send_lat (else put_lat) */
    r = pick(in, "send_lat", 1, &tp);
    if (r == NULL) {
        lt = "put_lat";
        r = pick(in, lt, 1, &tp);
    }
    if (r != NULL) {
        json_int_t size = json_integer_value(json_object_get(r, "size"));

        metric(m, "latency_p50_ms", lat(r, "p50") / 1e6, 1,
               "%s p50 at %" JSON_INTEGER_FORMAT " B, lanes '%s', one-way = "
               "RTT/2", lt, size, tp ? tp : "?");
        metric(m, "latency_p99_ms", lat(r, "p99") / 1e6, 1,
               "%s p99 at %" JSON_INTEGER_FORMAT " B, lanes '%s'", lt, size,
               tp ? tp : "?");
        metric(m, "jitter_ms", (lat(r, "p99") - lat(r, "min")) / 1e6, 1,
               "%s p99 - min at %" JSON_INTEGER_FORMAT " B", lt, size);
        if (in->distance_km > 0) {
            metric(m, "latency_stretch",
                   lat(r, "p50") / 1e3 / (5.0 * in->distance_km), 1,
                   "p50 / (5 us x %.0f km)", in->distance_km);
        } else {
            metric(m, "latency_stretch", 0, 0,
                   "needs the fibre distance (--distance-km)");
        }
    } else {
        metric(m, "latency_p50_ms", 0, 0, "no send_lat or put_lat result");
        metric(m, "latency_p99_ms", 0, 0, "no send_lat or put_lat result");
        metric(m, "jitter_ms", 0, 0, "no send_lat or put_lat result");
        metric(m, "latency_stretch", 0, 0, "no latency result");
    }

    /* goodput: the best sustained bandwidth of put_bw or task_bw */
    {
        const char *from = NULL;
        json_int_t from_size = 0;

        json_array_foreach(in->bench, i, doc)
        {
            const char *lanes = json_string_value(json_object_get(
                json_object_get(doc, "transport"), "lanes"));

            /* shared memory does not cross a link: no goodput over a line */
            if (lanes != NULL && strstr(lanes, "/memory") != NULL) {
                continue;
            }
            json_array_foreach(json_object_get(doc, "results"), k, r)
            {
                const char *t = json_string_value(json_object_get(r, "test"));
                double bw = json_number_value(
                    json_object_get(json_object_get(r, "bandwidth_GBps"), "avg"));

                if ((strcmp(t, "put_bw") == 0 || strcmp(t, "task_bw") == 0) &&
                    strcmp(json_string_value(json_object_get(r, "status")),
                           "ok") == 0 &&
                    bw > best_bw) {
                    best_bw = bw;
                    from = t;
                    from_size = json_integer_value(json_object_get(r, "size"));
                }
            }
        }
        if (best_bw > 0 && in->line_rate_gbps > 0 &&
            best_bw * 8 > in->line_rate_gbps) {
            metric(m, "goodput_share", 0, 0,
                   "%s at %" JSON_INTEGER_FORMAT " B moved %.3f Gb/s, above "
                   "the line rate %.1f Gb/s: the path measured does not cross "
                   "that link (loopback?)",
                   from, from_size, best_bw * 8, in->line_rate_gbps);
        } else if (best_bw > 0 && in->line_rate_gbps > 0) {
            metric(m, "goodput_share", best_bw * 8 / in->line_rate_gbps, 1,
                   "%s at %" JSON_INTEGER_FORMAT " B: %.3f Gb/s over %.1f Gb/s "
                   "(%s)",
                   from, from_size, best_bw * 8, in->line_rate_gbps,
                   in->line_rate_source);
        } else {
            metric(m, "goodput_share", 0, 0, "%s",
                   best_bw <= 0 ? "no put_bw or task_bw result off shared "
                                  "memory"
                                : "line rate unknown: the device reports none "
                                  "(give --line-rate GBPS or --device DEV)");
        }
    }
    if (in->line_rate_gbps > 0) {
        metric(m, "line_rate_gbps", in->line_rate_gbps, 1, "%s",
               in->line_rate_source);
    } else {
        metric(m, "line_rate_gbps", 0, 0,
               "the device reports no speed (a virtual or loopback link); "
               "give --line-rate");
    }

    /* paths and RDMA, from the lanes the transport chose */
    {
        int paths = 0, rdma = 0, have = 0;
        char lanes_seen[256] = "", lanes_rdma[256] = "";

        json_array_foreach(in->bench, i, doc)
        {
            const char *lanes = json_string_value(json_object_get(
                json_object_get(doc, "transport"), "lanes"));
            const char *name = json_string_value(json_object_get(
                json_object_get(doc, "transport"), "name"));
            char copy[256], devs[16][64], *save = NULL, *tok;
            int n = 0;

            if (lanes == NULL) {
                continue;
            }
            have = 1;
            snprintf(copy, sizeof(copy), "%s", lanes);
            for (tok = strtok_r(copy, " ", &save); tok != NULL && n < 16;
                 tok = strtok_r(NULL, " ", &save)) {
                const char *dev = strchr(tok, '/') ? strchr(tok, '/') + 1 : NULL;
                int dup = 0;

                if (dev == NULL) {
                    /* not a lane: an attribute of the one before ("dpdk/
                     * net_memif0 mtu 1500", "rc/verbs rxe0 port 1 ...") */
                    continue;
                }
                for (int q = 0; q < n; q++) {
                    dup |= strcmp(devs[q], dev) == 0;
                }
                if (!dup) {
                    snprintf(devs[n++], sizeof(devs[0]), "%s", dev);
                }
                if (strncmp(tok, "rc", 2) == 0 || strncmp(tok, "ud", 2) == 0 ||
                    strncmp(tok, "dc", 2) == 0 || strstr(tok, "verbs") != NULL) {
                    rdma = 1;
                }
            }
            if (name != NULL && strcmp(name, "verbs") == 0) {
                rdma = 1;
            }
            /* the why names the document that gave the figure */
            if (n > paths || lanes_seen[0] == '\0') {
                snprintf(lanes_seen, sizeof(lanes_seen), "%s", lanes);
            }
            if (rdma && lanes_rdma[0] == '\0') {
                snprintf(lanes_rdma, sizeof(lanes_rdma), "%s", lanes);
            }
            paths = n > paths ? n : paths;
        }
        if (have) {
            metric(m, "paths_used", paths, 1,
                   "distinct devices among the lanes '%s'", lanes_seen);
            metric(m, "rdma_in_use", rdma, 1, "lanes '%s'%s",
                   rdma ? lanes_rdma : lanes_seen,
                   rdma ? " include an RDMA transport" : ": no RDMA transport");
        } else {
            metric(m, "paths_used", 0, 0, "no bench document names its lanes");
            metric(m, "rdma_in_use", 0, 0, "no bench document names its lanes");
        }
    }

    /* transports built, from the documents' versions */
    {
        int most = 0;
        const char *which = NULL;

        json_array_foreach(in->bench, i, doc)
        {
            const char *b = json_string_value(json_object_get(
                json_object_get(doc, "versions"), "transports_built"));
            int n = 0;

            for (const char *p = b; p != NULL && *p;) {
                while (*p == ' ') {
                    p++;
                }
                if (*p) {
                    n++;
                }
                while (*p && *p != ' ') {
                    p++;
                }
            }
            if (n > most) {
                most = n;
                which = b;
            }
        }
        if (most > 0) {
            metric(m, "transports", most, 1, "built and usable: %s", which);
        } else {
            metric(m, "transports", 0, 0, "no bench document");
        }
    }

    /* operation and application: tasks */
    {
        double ok = 0, failed = 0, retries = 0, chunks = 0;
        json_t *tl = pick(in, "task_lat", 1, NULL);
        json_t *tb = pick(in, "task_bw", 0, NULL);
        double rgood = -1;

        json_array_foreach(in->bench, i, doc)
        {
            json_array_foreach(json_object_get(doc, "results"), k, r)
            {
                const char *t = json_string_value(json_object_get(r, "test"));
                const char *s = json_string_value(json_object_get(r, "status"));

                if (strncmp(t, "task_", 5) != 0) {
                    continue;
                }
                if (strcmp(s, "ok") == 0) {
                    ok += json_number_value(json_object_get(r, "iterations"));
                } else if (strcmp(s, "failed") == 0) {
                    failed += 1;
                }
            }
        }
        json_array_foreach(in->receipts, i, rc)
        {
            double g = json_number_value(json_object_get(rc, "goodput_gbps"));

            ok += 1;
            retries += json_number_value(json_object_get(rc, "retries"));
            chunks += json_number_value(json_object_get(rc, "chunks"));
            rgood = g > rgood ? g : rgood;
        }
        if (ok + failed > 0) {
            metric(m, "task_success", ok / (ok + failed), 1,
                   "%.0f tasks delivered, %.0f failed (bench task tests and "
                   "receipts)",
                   ok, failed);
        } else {
            metric(m, "task_success", 0, 0, "no task delivered");
        }
        if (json_array_size(in->receipts) > 0) {
            metric(m, "retries_per_task",
                   retries / (double)json_array_size(in->receipts), 1,
                   "%.0f retries over %zu receipts", retries,
                   json_array_size(in->receipts));
        } else {
            metric(m, "retries_per_task", 0, 0, "no receipt given");
        }
        if (chunks > 0) {
            metric(m, "loss_ratio", retries / chunks, 1,
                   "chunks sent again after a failed check / chunks put, over "
                   "%zu receipts (%.0f / %.0f)",
                   json_array_size(in->receipts), retries, chunks);
        } else {
            metric(m, "loss_ratio", 0, 0,
                   "no receipt with chunks (loss is counted on deliveries)");
        }
        if (tl != NULL) {
            metric(m, "task_delivery_ms", lat(tl, "p50") / 1e6, 1,
                   "task_lat p50 at %" JSON_INTEGER_FORMAT " B",
                   json_integer_value(json_object_get(tl, "size")));
        } else if (json_array_size(in->receipts) > 0) {
            double best = -1;

            json_array_foreach(in->receipts, i, rc)
            {
                double e = json_number_value(json_object_get(rc, "elapsed_ns"));

                best = best < 0 || e < best ? e : best;
            }
            metric(m, "task_delivery_ms", best / 1e6, 1,
                   "fastest receipt's elapsed time");
        } else {
            metric(m, "task_delivery_ms", 0, 0, "no task_lat result or receipt");
        }
        if (tb != NULL) {
            metric(m, "task_goodput_gbps",
                   json_number_value(json_object_get(
                       json_object_get(tb, "bandwidth_GBps"), "avg")) * 8,
                   1, "task_bw at %" JSON_INTEGER_FORMAT " B",
                   json_integer_value(json_object_get(tb, "size")));
        } else if (rgood > 0) {
            metric(m, "task_goodput_gbps", rgood, 1, "best receipt goodput");
        } else {
            metric(m, "task_goodput_gbps", 0, 0, "no task_bw result or receipt");
        }
    }
    metric(m, "availability", 0, 0,
           "needs uptime over a long period; cpn does not record it");
    metric(m, "placement_ms", 0, 0, "cpn has no scheduler that places tasks");
    metric(m, "recovery_ms", 0, 0,
           "cpn does not yet time recovery after a link or site failure");
    metric(m, "autonomy_share", 0, 0,
           "cpn makes no path or site decision on its own yet");
    metric(m, "task_share", 0, 0,
           "needs the site's accounting of reserved capacity");
    return m;
}

/* ---- scoring ---------------------------------------------------------------- */

static const char *fmt_num(double v, char *buf, size_t len)
{
    if (v != 0 && (fabs(v) < 1e-3 || fabs(v) >= 1e6)) {
        snprintf(buf, len, "%.3g", v);
    } else {
        snprintf(buf, len, "%.4g", v);
    }
    return buf;
}

int cpn_assess_level(const json_t *ind, double v, char *why, size_t whylen,
                     char *next, size_t nextlen)
{
    int lower = strcmp(json_string_value(json_object_get(ind, "better")),
                       "lower") == 0;
    const char *unit = json_string_value(json_object_get(ind, "unit"));
    const json_t *levels = json_object_get(ind, "levels"), *lv, *met = NULL,
                 *up = NULL;
    char a[32], b[32];
    size_t i;
    int level = 1;

    json_array_foreach(levels, i, lv)
    {
        double t = json_number_value(json_object_get(lv, "threshold"));

        if (lower ? v <= t : v >= t) {
            level = (int)json_integer_value(json_object_get(lv, "level"));
            met = lv;
        } else if (up == NULL) {
            up = lv;
        }
    }
    /* The next level is the first one above the level reached. */
    up = NULL;
    json_array_foreach(levels, i, lv)
    {
        if (json_integer_value(json_object_get(lv, "level")) > level) {
            up = lv;
            break;
        }
    }
    if (met != NULL) {
        snprintf(why, whylen, "%s %s %s %s (L%d; %s)", fmt_num(v, a, sizeof(a)),
                 lower ? "<=" : ">=",
                 fmt_num(json_number_value(json_object_get(met, "threshold")),
                         b, sizeof(b)),
                 unit, level,
                 json_string_value(json_object_get(met, "source")));
    } else {
        lv = json_array_get(levels, 0);
        snprintf(why, whylen, "%s %s: misses L%d's %s %s (%s)",
                 fmt_num(v, a, sizeof(a)), unit,
                 (int)json_integer_value(json_object_get(lv, "level")),
                 lower ? "<=" : ">=",
                 fmt_num(json_number_value(json_object_get(lv, "threshold")),
                         b, sizeof(b)),
                 json_string_value(json_object_get(lv, "source")));
    }
    if (up != NULL) {
        snprintf(next, nextlen, "L%d: %s %s %s (%s)",
                 (int)json_integer_value(json_object_get(up, "level")),
                 lower ? "<=" : ">=",
                 fmt_num(json_number_value(json_object_get(up, "threshold")),
                         b, sizeof(b)),
                 unit, json_string_value(json_object_get(up, "source")));
    } else {
        snprintf(next, nextlen, "%s", "");
    }
    return level;
}

/* What cpn does, by acatech capability (stated from the code, not
 * measured): it delivers and it measures every delivery; it does not yet
 * attribute, predict or re-steer. */
static const struct {
    const char *capability;
    int done;
    const char *how;
} cpn_caps[] = {
    {"none", 1, ""},
    {"deliver", 1, "cpn delivers tasks between sites over its transports "
                   "(connectivity)"},
    {"measure", 1, "every delivery is timed into histograms and returned as a "
                   "receipt; the bench measures every link it runs on "
                   "(visibility)"},
    {"diagnose", 0, "cpn does not attribute a degradation to a cause"},
    {"predict", 0, "cpn does not forecast bandwidth, latency or finish time"},
    {"adapt", 0, "cpn does not re-steer deliveries on its own"},
};

static json_t *stage_json(const json_t *model)
{
    const json_t *stages = json_object_get(model, "stages"), *s;
    json_t *j = json_object();
    char why[1024] = "", next[512] = "";
    int stage = 1;
    size_t i;

    json_array_foreach(stages, i, s)
    {
        const char *cap = json_string_value(json_object_get(s, "capability"));
        int done = 0;

        for (size_t k = 0; k < CPN_ARRAY_SIZE(cpn_caps); k++) {
            if (strcmp(cpn_caps[k].capability, cap) == 0) {
                done = cpn_caps[k].done;
                if (done && cpn_caps[k].how[0]) {
                    strncat(why, cpn_caps[k].how, sizeof(why) - strlen(why) - 3);
                    strcat(why, "; ");
                } else if (!done && next[0] == '\0') {
                    snprintf(next, sizeof(next), "stage %zu (%s): %s", i + 1,
                             json_string_value(json_object_get(s, "name")),
                             cpn_caps[k].how);
                }
            }
        }
        if (!done) {
            break;
        }
        stage = (int)i + 1;
    }
    if (strlen(why) >= 2) {
        why[strlen(why) - 2] = '\0';
    }
    json_object_set_new(j, "stage", json_integer(stage));
    json_object_set_new(j, "name", json_copy(json_object_get(
                                       json_array_get(stages, (size_t)stage - 1),
                                       "name")));
    json_object_set_new(j, "why", json_string(why));
    json_object_set_new(j, "next", json_string(next));
    json_object_set_new(j, "source", json_string("S: acatech Industrie 4.0 "
                                                 "Maturity Index; stated from "
                                                 "what cpn does"));
    return j;
}

json_t *cpn_assess_score(const json_t *model, const json_t *metrics,
                         const cpn_assess_inputs_t *in)
{
    json_t *a = json_object(), *inds = json_array(), *dims = json_object();
    const json_t *ind, *d;
    size_t i;

    json_object_set_new(a, "schema", json_string(CPN_ASSESS_SCHEMA));
    json_object_set_new(a, "model",
                        json_pack("{s:O?, s:O?}", "name",
                                  json_object_get(model, "name"), "version",
                                  json_object_get(model, "version")));
    json_object_set_new(a, "inputs",
                        json_pack("{s:i, s:i}", "bench_documents",
                                  (int)json_array_size(in->bench), "receipts",
                                  (int)json_array_size(in->receipts)));
    json_object_set_new(a, "line_rate",
                        in->line_rate_gbps > 0
                            ? json_pack("{s:f, s:s}", "gbps", in->line_rate_gbps,
                                        "source", in->line_rate_source)
                            : json_null());
    json_object_set_new(a, "stage", stage_json(model));
    json_array_foreach(json_object_get(model, "dimensions"), i, d)
    {
        json_object_set_new(dims, json_string_value(d),
                            json_pack("{s:n, s:i, s:i}", "level", "measured", 0,
                                      "indicators", 0));
    }
    json_array_foreach(json_object_get(model, "indicators"), i, ind)
    {
        const char *dim = json_string_value(json_object_get(ind, "dimension"));
        const char *met = json_string_value(json_object_get(ind, "metric"));
        json_t *mv = json_object_get(metrics, met);
        json_t *v = json_object_get(mv, "value");
        json_t *o = json_object(), *dj = json_object_get(dims, dim);
        char why[768], next[512];

        json_object_set_new(o, "id", json_copy(json_object_get(ind, "id")));
        json_object_set_new(o, "dimension", json_string(dim));
        json_object_set_new(o, "name", json_copy(json_object_get(ind, "name")));
        json_object_set_new(o, "unit", json_copy(json_object_get(ind, "unit")));
        json_object_set_new(dj, "indicators",
                        json_integer(json_integer_value(
                                         json_object_get(dj, "indicators")) + 1));
        if (json_is_number(v)) {
            int level = cpn_assess_level(ind, json_number_value(v), why,
                                         sizeof(why), next, sizeof(next));
            json_t *cur = json_object_get(dj, "level");
            char full[1400];

            snprintf(full, sizeof(full), "%s; from %s", why,
                     json_string_value(json_object_get(mv, "why")));
            json_object_set_new(o, "value", json_real(json_number_value(v)));
            json_object_set_new(o, "status", json_string("measured"));
            json_object_set_new(o, "level", json_integer(level));
            json_object_set_new(o, "why", json_string(full));
            json_object_set_new(o, "next", next[0] ? json_string(next)
                                                   : json_null());
            json_object_set_new(dj, "measured",
                                json_integer(json_integer_value(json_object_get(
                                                 dj, "measured")) + 1));
            if (json_is_null(cur) || level < json_integer_value(cur)) {
                json_object_set_new(dj, "level", json_integer(level));
            }
        } else {
            json_object_set_new(o, "value", json_null());
            json_object_set_new(o, "status", json_string("not measured"));
            json_object_set_new(o, "level", json_null());
            json_object_set_new(o, "why",
                                json_string(mv ? json_string_value(json_object_get(
                                                     mv, "why"))
                                               : "cpn computes no such metric"));
            json_object_set_new(o, "next", json_string("measure it"));
        }
        json_array_append_new(inds, o);
    }
    json_object_set_new(a, "dimensions", dims);
    json_object_set_new(a, "indicators", inds);
    json_object_set_new(a, "rule",
                        json_string("indicator level: the highest level whose "
                                    "threshold is met (1 when none); dimension "
                                    "level: the lowest level among its "
                                    "measured indicators"));
    return a;
}

void cpn_assess_print_table(const json_t *a, FILE *out)
{
    const json_t *st = json_object_get(a, "stage"), *d, *ind;
    const char *name;
    size_t i;

    fprintf(out, "acatech stage %" JSON_INTEGER_FORMAT " (%s): %s\n",
            json_integer_value(json_object_get(st, "stage")),
            json_string_value(json_object_get(st, "name")),
            json_string_value(json_object_get(st, "why")));
    fprintf(out, "  next: %s\n\n", json_string_value(json_object_get(st, "next")));
    fprintf(out, "%-12s %s\n", "dimension", "level (measured indicators)");
    json_object_foreach((json_t *)json_object_get(a, "dimensions"), name, d)
    {
        if (json_is_null(json_object_get(d, "level"))) {
            fprintf(out, "%-12s not measured (0 of %" JSON_INTEGER_FORMAT ")\n",
                    name, json_integer_value(json_object_get(d, "indicators")));
        } else {
            fprintf(out, "%-12s L%" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
                    " of %" JSON_INTEGER_FORMAT ")\n",
                    name, json_integer_value(json_object_get(d, "level")),
                    json_integer_value(json_object_get(d, "measured")),
                    json_integer_value(json_object_get(d, "indicators")));
        }
    }
    fprintf(out, "\n%-26s %12s %-6s %s\n", "indicator", "value", "level",
            "why / next");
    json_array_foreach(json_object_get(a, "indicators"), i, ind)
    {
        const json_t *v = json_object_get(ind, "value");
        char val[48];

        if (json_is_number(v)) {
            char n[32];

            snprintf(val, sizeof(val), "%s %s",
                     fmt_num(json_number_value(v), n, sizeof(n)),
                     json_string_value(json_object_get(ind, "unit")));
            fprintf(out, "%-26s %12s L%-5" JSON_INTEGER_FORMAT " %s\n",
                    json_string_value(json_object_get(ind, "id")), val,
                    json_integer_value(json_object_get(ind, "level")),
                    json_string_value(json_object_get(ind, "why")));
            if (json_is_string(json_object_get(ind, "next"))) {
                fprintf(out, "%-26s %12s %-6s next %s\n", "", "", "",
                        json_string_value(json_object_get(ind, "next")));
            }
        } else {
            fprintf(out, "%-26s %12s %-6s %s\n",
                    json_string_value(json_object_get(ind, "id")),
                    "not measured", "-",
                    json_string_value(json_object_get(ind, "why")));
        }
    }
}
