/* SPDX-License-Identifier: Apache-2.0 */
/* The bench's outputs: the JSON document ("cpn.bench/1", described in
 * docs/bench.md), rewritten whole and atomically (temporary file, fsync,
 * rename) at every change so that it is valid JSON at every instant, even
 * when the run is killed; its validator; and the human table and CSV made
 * from it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cpn/config.h>

#include "bench/bench.h"
#include "transport/transport.h"

struct cpn_bench_doc {
    json_t *root;
    char *path;
};

static void now_iso(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *cpu_model(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];

    if (f == NULL) {
        return json_null();
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *colon = strchr(line, ':');

        if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
            colon += 2;
            colon[strcspn(colon, "\n")] = '\0';
            fclose(f);
            return json_string(colon);
        }
    }
    fclose(f);
    return json_null();
}

/* The first line a command prints, or null (versions of tools). */
static json_t *cmd_line(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    char line[256] = "";

    if (f == NULL) {
        return json_null();
    }
    if (fgets(line, sizeof(line), f) == NULL) {
        line[0] = '\0';
    }
    pclose(f);
    line[strcspn(line, "\n")] = '\0';
    return line[0] ? json_string(line) : json_null();
}

static json_t *host_json(void)
{
    json_t *h = json_object();
    struct utsname u;
    struct sysinfo si;

    if (uname(&u) == 0) {
        json_object_set_new(h, "hostname", json_string(u.nodename));
        json_object_set_new(h, "kernel", json_string(u.release));
        json_object_set_new(h, "machine", json_string(u.machine));
    }
    json_object_set_new(h, "cpu", cpu_model());
    json_object_set_new(h, "cpus", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    if (sysinfo(&si) == 0) {
        json_object_set_new(h, "mem_bytes",
                            json_integer((json_int_t)si.totalram *
                                         (json_int_t)si.mem_unit));
    }
    return h;
}

static int doc_write(cpn_bench_doc_t *doc)
{
    char tmp[4096];
    FILE *f;
    int ok;

    if (doc->path == NULL) {
        return 0;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", doc->path, (int)getpid());
    f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "cpn bench: cannot write %s: %s\n", tmp,
                strerror(errno));
        return -1;
    }
    ok = json_dumpf(doc->root, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER) == 0;
    ok = fputc('\n', f) != EOF && ok;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, doc->path) != 0) {
        fprintf(stderr, "cpn bench: cannot write %s: %s\n", doc->path,
                strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

cpn_status_t cpn_bench_doc_open(const char *path, const cpn_bench_params_t *p,
                                const char *mode, cpn_bench_doc_t **doc_p)
{
    cpn_bench_doc_t *doc = calloc(1, sizeof(*doc));
    json_t *r, *v, *tp;
    char when[32];

    if (doc == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    doc->root = r = json_object();
    if (path != NULL) {
        doc->path = strdup(path);
    }
    now_iso(when, sizeof(when));
    json_object_set_new(r, "schema", json_string(CPN_BENCH_SCHEMA));
    json_object_set_new(r, "status", json_string("running"));
    json_object_set_new(r, "error", json_null());
    json_object_set_new(r, "started", json_string(when));
    json_object_set_new(r, "finished", json_null());
    json_object_set_new(r, "host", host_json());
    v = json_object();
    json_object_set_new(v, "cpn", json_string(cpn_version()));
    json_object_set_new(v, "transports_built", json_string(cpn_transports()));
    if (strcmp(p->transport, "ucx") == 0) {
        json_object_set_new(v, "ucx", cmd_line("ucx_info -v 2>/dev/null | "
                                               "sed -n 's/^# *//p' | head -1"));
    }
    json_object_set_new(r, "versions", v);
    tp = json_object();
    json_object_set_new(tp, "name", json_string(p->transport));
    json_object_set_new(tp, "lanes", json_null());
    json_object_set_new(tp, "env_UCX_TLS", getenv("UCX_TLS")
                                               ? json_string(getenv("UCX_TLS"))
                                               : json_null());
    json_object_set_new(r, "transport", tp);
    v = json_object();
    json_object_set_new(v, "mode", json_string(mode));
    json_object_set_new(r, "launch", v);
    json_object_set_new(r, "peer", json_null());
    json_object_set_new(r, "config", cpn_bench_params_to_json(p));
    json_object_set_new(r, "results", json_array());
    json_object_set_new(r, "reference", json_array());
    if (doc_write(doc) != 0) {
        json_decref(doc->root);
        free(doc->path);
        free(doc);
        return CPN_ERR_IO;
    }
    *doc_p = doc;
    return CPN_OK;
}

/* One line of a sysfs file, or NULL. */
static json_t *sysfs_line(const char *fmt, const char *dev)
{
    char path[512], buf[256] = "";
    FILE *f;

    snprintf(path, sizeof(path), fmt, dev);
    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    if (fgets(buf, sizeof(buf), f) == NULL) {
        buf[0] = '\0';
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return buf[0] ? json_string(buf) : NULL;
}

/* Device, driver, speed and firmware of each device among @p lanes
 * ("tcp/eth0 rc_mlx5/mlx5_0:1"), where sysfs says. */
static json_t *devices_json(const char *lanes)
{
    json_t *devs = json_object();
    char copy[256], *save = NULL, *tok;

    snprintf(copy, sizeof(copy), "%s", lanes);
    for (tok = strtok_r(copy, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        char name[64], path[512], link[512];
        const char *dev = strchr(tok, '/') ? strchr(tok, '/') + 1 : tok;
        json_t *d, *v;
        ssize_t n;

        snprintf(name, sizeof(name), "%.*s", (int)strcspn(dev, ":"), dev);
        if (json_object_get(devs, name) != NULL || name[0] == '\0') {
            continue;
        }
        if (dev == tok) {
            /* a word describing the lane before ("mtu 1500", "port 1"):
             * a device only where sysfs knows the name (verbs' "rxe0") */
            struct stat st;

            snprintf(path, sizeof(path), "/sys/class/infiniband/%s", name);
            snprintf(link, sizeof(link), "/sys/class/net/%s", name);
            if (stat(path, &st) != 0 && stat(link, &st) != 0) {
                continue;
            }
        }
        d = json_object();
        snprintf(path, sizeof(path), "/sys/class/net/%s/device/driver", name);
        if ((n = readlink(path, link, sizeof(link) - 1)) > 0) {
            link[n] = '\0';
            json_object_set_new(d, "driver", json_string(strrchr(link, '/')
                                                             ? strrchr(link, '/') + 1
                                                             : link));
        }
        if ((v = sysfs_line("/sys/class/net/%s/speed", name)) != NULL) {
            json_object_set_new(d, "speed_mbps", v);
        }
        if ((v = sysfs_line("/sys/class/infiniband/%s/fw_ver", name)) != NULL) {
            json_object_set_new(d, "firmware", v);
        }
        if ((v = sysfs_line("/sys/class/infiniband/%s/ports/1/rate", name)) !=
            NULL) {
            json_object_set_new(d, "rate", v);
        }
        json_object_set_new(devs, name, d);
    }
    return devs;
}

void cpn_bench_doc_set_peer(cpn_bench_doc_t *doc, json_t *info)
{
    json_t *lanes = json_object_get(info, "lanes");

    if (lanes != NULL) {
        json_object_set(json_object_get(doc->root, "transport"), "lanes",
                        lanes);
        json_object_set_new(json_object_get(doc->root, "transport"), "devices",
                            devices_json(json_string_value(lanes)
                                             ? json_string_value(lanes)
                                             : ""));
    }
    json_object_set(doc->root, "peer", info);
    doc_write(doc);
}

void cpn_bench_doc_set_launch(cpn_bench_doc_t *doc, const char *key,
                              json_t *value)
{
    json_object_set_new(json_object_get(doc->root, "launch"), key, value);
    doc_write(doc);
}

static json_t *stats_json(const cpn_bench_stats_t *s)
{
    json_t *j = json_object(), *ci = json_array();

    json_object_set_new(j, "avg", json_real(s->avg));
    json_object_set_new(j, "min", json_real(s->min));
    json_object_set_new(j, "max", json_real(s->max));
    json_object_set_new(j, "stddev", json_real(s->stddev));
    json_array_append_new(ci, json_real(s->ci_lo));
    json_array_append_new(ci, json_real(s->ci_hi));
    json_object_set_new(j, "ci95", ci);
    json_object_set_new(j, "n", json_integer(s->n));
    return j;
}

json_t *cpn_bench_result_to_json(const cpn_bench_result_t *r)
{
    json_t *j = json_object();

    json_object_set_new(j, "test", json_string(cpn_bench_test_name(r->test)));
    json_object_set_new(j, "size", json_integer((json_int_t)r->size));
    json_object_set_new(j, "status",
                        json_string(r->skipped           ? "skipped"
                                    : r->status == CPN_OK ? "ok"
                                                          : "failed"));
    json_object_set_new(j, "error", r->error[0] ? json_string(r->error)
                                                : json_null());
    json_object_set_new(j, "iterations", json_integer((json_int_t)r->iterations));
    json_object_set_new(j, "messages", json_integer((json_int_t)r->messages));
    json_object_set_new(j, "bytes", json_integer((json_int_t)r->bytes));
    if (r->has_lat) {
        json_t *l = json_object();

        json_object_set_new(l, "count", json_integer((json_int_t)r->lat.count));
        json_object_set_new(l, "min", json_integer((json_int_t)r->lat.min));
        json_object_set_new(l, "p50", json_integer((json_int_t)r->lat.p50));
        json_object_set_new(l, "p90", json_integer((json_int_t)r->lat.p90));
        json_object_set_new(l, "p99", json_integer((json_int_t)r->lat.p99));
        json_object_set_new(l, "p999", json_integer((json_int_t)r->lat.p999));
        json_object_set_new(l, "max", json_integer((json_int_t)r->lat.max));
        json_object_set_new(l, "mean", json_real(r->lat.mean));
        json_object_set_new(j, "latency_ns", l);
    } else {
        json_object_set_new(j, "latency_ns", json_null());
    }
    if (r->ntrials > 0) {
        json_t *bw = stats_json(&r->bw), *tr = json_array();

        for (unsigned i = 0; i < r->ntrials; i++) {
            json_array_append_new(tr, json_real(r->trial_gbps[i]));
        }
        json_object_set_new(bw, "trials", tr);
        json_object_set_new(j, "bandwidth_GBps", bw);
        json_object_set_new(j, "msg_rate", stats_json(&r->rate));
    } else {
        json_object_set_new(j, "bandwidth_GBps", json_null());
        json_object_set_new(j, "msg_rate", json_null());
    }
    json_object_set_new(j, "lanes", r->lanes[0] ? json_string(r->lanes)
                                                : json_null());
    return j;
}

void cpn_bench_doc_add(cpn_bench_doc_t *doc, const cpn_bench_result_t *r)
{
    json_array_append_new(json_object_get(doc->root, "results"),
                          cpn_bench_result_to_json(r));
    if (r->lanes[0] &&
        json_is_null(json_object_get(json_object_get(doc->root, "transport"),
                                     "lanes"))) {
        json_object_set_new(json_object_get(doc->root, "transport"), "lanes",
                            json_string(r->lanes));
    }
    doc_write(doc);
}

/* cpn's result for (test, size), or NULL. */
static json_t *find_result(json_t *root, const char *test, json_int_t size)
{
    json_t *res = json_object_get(root, "results"), *r;
    size_t i;

    json_array_foreach(res, i, r)
    {
        const char *t = json_string_value(json_object_get(r, "test"));

        if (t != NULL && strcmp(t, test) == 0 &&
            json_integer_value(json_object_get(r, "size")) == size &&
            strcmp(json_string_value(json_object_get(r, "status")), "ok") == 0) {
            return r;
        }
    }
    return NULL;
}

void cpn_bench_doc_add_ref(cpn_bench_doc_t *doc, json_t *ref)
{
    const char *cmp = json_string_value(json_object_get(ref, "compare"));
    json_int_t size = json_integer_value(json_object_get(ref, "size"));
    json_t *mine = cmp ? find_result(doc->root, cmp, size) : NULL;
    json_t *ratio = json_object();

    /* ratio = cpn / reference, for bandwidth and for latency alike:
     * above 1 means cpn moves more (bandwidth) or takes longer (latency). */
    if (mine != NULL) {
        double rbw = json_number_value(json_object_get(ref, "bandwidth_GBps"));
        double rlat = json_number_value(
            json_object_get(json_object_get(ref, "latency_us"), "p50"));
        json_t *bw = json_object_get(mine, "bandwidth_GBps");
        json_t *lat = json_object_get(mine, "latency_ns");

        if (rbw > 0 && json_is_object(bw) &&
            strstr(cmp, "lat") == NULL) {
            json_object_set_new(
                ratio, "bandwidth",
                json_real(json_number_value(json_object_get(bw, "avg")) / rbw));
        }
        if (rlat > 0 && json_is_object(lat)) {
            json_object_set_new(
                ratio, "latency_p50",
                json_real(json_number_value(json_object_get(lat, "p50")) /
                          1e3 / rlat));
        }
    }
    json_object_set_new(ref, "ratio", ratio);
    json_array_append_new(json_object_get(doc->root, "reference"), ref);
    doc_write(doc);
}

cpn_status_t cpn_bench_doc_close(cpn_bench_doc_t *doc, const char *error)
{
    char when[32];
    int w;

    now_iso(when, sizeof(when));
    json_object_set_new(doc->root, "status",
                        json_string(error ? "failed" : "ok"));
    json_object_set_new(doc->root, "error",
                        error ? json_string(error) : json_null());
    json_object_set_new(doc->root, "finished", json_string(when));
    w = doc_write(doc);
    json_decref(doc->root);
    free(doc->path);
    free(doc);
    return w == 0 ? CPN_OK : CPN_ERR_IO;
}

json_t *cpn_bench_doc_json(cpn_bench_doc_t *doc)
{
    return doc->root;
}

/* ---- table and CSV ------------------------------------------------------ */

static double jnum(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

void cpn_bench_print_table(json_t *doc, FILE *out)
{
    json_t *res = json_object_get(doc, "results"), *r, *ref;
    size_t i;

    fprintf(out, "%-9s %9s %7s %9s %9s %9s %9s %9s %9s %9s %9s %9s %11s\n",
            "test", "size", "status", "lat_min", "p50", "p90", "p99", "p99.9",
            "max(us)", "GB/s avg", "min", "max", "msg/s");
    json_array_foreach(res, i, r)
    {
        json_t *l = json_object_get(r, "latency_ns");
        json_t *bw = json_object_get(r, "bandwidth_GBps");
        json_t *mr = json_object_get(r, "msg_rate");

        fprintf(out, "%-9s %9" JSON_INTEGER_FORMAT " %7s",
                json_string_value(json_object_get(r, "test")),
                json_integer_value(json_object_get(r, "size")),
                json_string_value(json_object_get(r, "status")));
        if (json_is_object(l)) {
            fprintf(out, " %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f",
                    jnum(l, "min") / 1e3, jnum(l, "p50") / 1e3,
                    jnum(l, "p90") / 1e3, jnum(l, "p99") / 1e3,
                    jnum(l, "p999") / 1e3, jnum(l, "max") / 1e3);
        } else {
            fprintf(out, " %9s %9s %9s %9s %9s %9s", "-", "-", "-", "-", "-",
                    "-");
        }
        if (json_is_object(bw)) {
            fprintf(out, " %9.3f %9.3f %9.3f %11.0f", jnum(bw, "avg"),
                    jnum(bw, "min"), jnum(bw, "max"), jnum(mr, "avg"));
        } else {
            fprintf(out, " %9s %9s %9s %11s", "-", "-", "-", "-");
        }
        fputc('\n', out);
        if (json_string_value(json_object_get(r, "error")) != NULL) {
            fprintf(out, "          %s\n",
                    json_string_value(json_object_get(r, "error")));
        }
    }
    res = json_object_get(doc, "reference");
    if (json_array_size(res) > 0) {
        fprintf(out, "\nreference tools (ratio = cpn / reference)\n");
        fprintf(out, "%-18s %-12s %9s %7s %10s %10s %9s %9s\n", "tool[UCX_TLS]", "test",
                "size", "status", "p50(us)", "GB/s", "bw ratio", "lat ratio");
    }
    json_array_foreach(res, i, ref)
    {
        json_t *ratio = json_object_get(ref, "ratio");
        json_t *l = json_object_get(ref, "latency_us");

        char tool[64];
        const char *tls = json_string_value(json_object_get(ref, "env_UCX_TLS"));

        snprintf(tool, sizeof(tool), "%s%s%s%s",
                 json_string_value(json_object_get(ref, "tool")),
                 tls ? "[" : "", tls ? tls : "", tls ? "]" : "");
        fprintf(out, "%-18s %-12s %9" JSON_INTEGER_FORMAT " %7s", tool,
                json_string_value(json_object_get(ref, "test")),
                json_integer_value(json_object_get(ref, "size")),
                json_string_value(json_object_get(ref, "status")));
        fprintf(out, " %10.2f %10.3f", json_is_object(l) ? jnum(l, "p50") : 0,
                jnum(ref, "bandwidth_GBps"));
        if (json_object_get(ratio, "bandwidth") != NULL) {
            fprintf(out, " %9.2f", jnum(ratio, "bandwidth"));
        } else {
            fprintf(out, " %9s", "-");
        }
        if (json_object_get(ratio, "latency_p50") != NULL) {
            fprintf(out, " %9.2f", jnum(ratio, "latency_p50"));
        } else {
            fprintf(out, " %9s", "-");
        }
        fputc('\n', out);
        if (json_string_value(json_object_get(ref, "error")) != NULL) {
            fprintf(out, "          %s\n",
                    json_string_value(json_object_get(ref, "error")));
        }
    }
}

void cpn_bench_print_csv(json_t *doc, FILE *out)
{
    json_t *res = json_object_get(doc, "results"), *r;
    const char *tp = json_string_value(
        json_object_get(json_object_get(doc, "transport"), "name"));
    size_t i;

    fprintf(out, "source,transport,test,size,status,iterations,bytes,"
                 "lat_min_ns,lat_p50_ns,lat_p90_ns,lat_p99_ns,lat_p999_ns,"
                 "lat_max_ns,bw_avg_GBps,bw_min_GBps,bw_max_GBps,"
                 "bw_ci95_lo,bw_ci95_hi,msg_rate_avg,ratio_bw,ratio_lat\n");
    json_array_foreach(res, i, r)
    {
        json_t *l = json_object_get(r, "latency_ns");
        json_t *bw = json_object_get(r, "bandwidth_GBps");
        json_t *mr = json_object_get(r, "msg_rate");

        fprintf(out, "cpn,%s,%s,%" JSON_INTEGER_FORMAT ",%s,%" JSON_INTEGER_FORMAT
                ",%" JSON_INTEGER_FORMAT,
                tp ? tp : "", json_string_value(json_object_get(r, "test")),
                json_integer_value(json_object_get(r, "size")),
                json_string_value(json_object_get(r, "status")),
                json_integer_value(json_object_get(r, "iterations")),
                json_integer_value(json_object_get(r, "bytes")));
        if (json_is_object(l)) {
            fprintf(out, ",%.0f,%.0f,%.0f,%.0f,%.0f,%.0f", jnum(l, "min"),
                    jnum(l, "p50"), jnum(l, "p90"), jnum(l, "p99"),
                    jnum(l, "p999"), jnum(l, "max"));
        } else {
            fprintf(out, ",,,,,,");
        }
        if (json_is_object(bw)) {
            json_t *ci = json_object_get(bw, "ci95");

            fprintf(out, ",%.6f,%.6f,%.6f,%.6f,%.6f,%.1f", jnum(bw, "avg"),
                    jnum(bw, "min"), jnum(bw, "max"),
                    json_number_value(json_array_get(ci, 0)),
                    json_number_value(json_array_get(ci, 1)), jnum(mr, "avg"));
        } else {
            fprintf(out, ",,,,,,");
        }
        fprintf(out, ",,\n");
    }
    res = json_object_get(doc, "reference");
    json_array_foreach(res, i, r)
    {
        json_t *l = json_object_get(r, "latency_us");
        json_t *ratio = json_object_get(r, "ratio");

        fprintf(out, "%s,%s,%s,%" JSON_INTEGER_FORMAT ",%s,,,",
                json_string_value(json_object_get(r, "tool")), tp ? tp : "",
                json_string_value(json_object_get(r, "test")),
                json_integer_value(json_object_get(r, "size")),
                json_string_value(json_object_get(r, "status")));
        if (json_is_object(l)) {
            fprintf(out, ",%.0f,,,,", jnum(l, "p50") * 1e3);
        } else {
            fprintf(out, ",,,,,");
        }
        fprintf(out, ",%.6f,,,,,%.1f", jnum(r, "bandwidth_GBps"),
                jnum(r, "msg_rate"));
        if (json_object_get(ratio, "bandwidth")) {
            fprintf(out, ",%.4f", jnum(ratio, "bandwidth"));
        } else {
            fprintf(out, ",");
        }
        if (json_object_get(ratio, "latency_p50")) {
            fprintf(out, ",%.4f\n", jnum(ratio, "latency_p50"));
        } else {
            fprintf(out, ",\n");
        }
    }
}

/* ---- validation --------------------------------------------------------- */

#define NEED(cond, ...)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            snprintf(err, errlen, __VA_ARGS__);                                \
            return CPN_ERR_INVALID;                                            \
        }                                                                      \
    } while (0)

static cpn_status_t check_stats(const json_t *s, const char *where, char *err,
                                size_t errlen)
{
    static const char *const keys[] = {"avg", "min", "max", "stddev"};

    NEED(json_is_object(s), "%s: not an object", where);
    for (size_t i = 0; i < 4; i++) {
        NEED(json_is_number(json_object_get(s, keys[i])), "%s.%s: not a number",
             where, keys[i]);
    }
    NEED(json_array_size(json_object_get(s, "ci95")) == 2,
         "%s.ci95: not a pair", where);
    NEED(json_number_value(json_object_get(s, "min")) <=
             json_number_value(json_object_get(s, "max")) + 1e-12,
         "%s: min above max", where);
    return CPN_OK;
}

cpn_status_t cpn_bench_doc_validate(const json_t *doc, char *err,
                                    size_t errlen)
{
    static const char *const lat_keys[] = {"count", "min", "p50", "p90",
                                           "p99", "p999", "max"};
    const char *status;
    json_t *res, *r;
    size_t i;

    NEED(json_is_object(doc), "document: not a JSON object");
    NEED(json_is_string(json_object_get(doc, "schema")) &&
             strcmp(json_string_value(json_object_get(doc, "schema")),
                    CPN_BENCH_SCHEMA) == 0,
         "schema: not \"%s\"", CPN_BENCH_SCHEMA);
    status = json_string_value(json_object_get(doc, "status"));
    NEED(status != NULL && (strcmp(status, "running") == 0 ||
                            strcmp(status, "ok") == 0 ||
                            strcmp(status, "failed") == 0),
         "status: not running/ok/failed");
    NEED(strcmp(status, "failed") != 0 ||
             json_is_string(json_object_get(doc, "error")),
         "error: a failed document must say why");
    NEED(json_is_string(json_object_get(doc, "started")), "started: missing");
    NEED(json_is_object(json_object_get(doc, "host")), "host: missing");
    NEED(json_is_string(
             json_object_get(json_object_get(doc, "host"), "hostname")),
         "host.hostname: missing");
    NEED(json_is_object(json_object_get(doc, "versions")), "versions: missing");
    NEED(json_is_string(
             json_object_get(json_object_get(doc, "transport"), "name")),
         "transport.name: missing");
    NEED(json_is_object(json_object_get(doc, "config")), "config: missing");
    NEED(json_is_object(json_object_get(doc, "launch")), "launch: missing");
    res = json_object_get(doc, "results");
    NEED(json_is_array(res), "results: not an array");
    NEED(json_is_array(json_object_get(doc, "reference")),
         "reference: not an array");
    json_array_foreach(res, i, r)
    {
        const char *t = json_string_value(json_object_get(r, "test"));
        const char *s = json_string_value(json_object_get(r, "status"));
        cpn_bench_test_t tt;
        json_t *l = json_object_get(r, "latency_ns");
        char where[64];

        NEED(t != NULL && cpn_bench_test_parse(t, &tt) == CPN_OK,
             "results[%zu].test: unknown", i);
        NEED(json_integer_value(json_object_get(r, "size")) >= 1,
             "results[%zu].size: not >= 1", i);
        NEED(s != NULL && (strcmp(s, "ok") == 0 || strcmp(s, "failed") == 0 ||
                           strcmp(s, "skipped") == 0),
             "results[%zu].status: not ok/failed/skipped", i);
        NEED(strcmp(s, "ok") == 0 ||
                 json_is_string(json_object_get(r, "error")),
             "results[%zu].error: a failed or skipped result must say why", i);
        if (!json_is_null(l)) {
            NEED(json_is_object(l), "results[%zu].latency_ns: not an object", i);
            for (size_t k = 0; k < 7; k++) {
                NEED(json_is_integer(json_object_get(l, lat_keys[k])),
                     "results[%zu].latency_ns.%s: not an integer", i,
                     lat_keys[k]);
            }
            for (size_t k = 2; k < 7; k++) {
                NEED(json_integer_value(json_object_get(l, lat_keys[k - 1])) <=
                         json_integer_value(json_object_get(l, lat_keys[k])),
                     "results[%zu].latency_ns: %s above %s", i,
                     lat_keys[k - 1], lat_keys[k]);
            }
        }
        if (!json_is_null(json_object_get(r, "bandwidth_GBps"))) {
            snprintf(where, sizeof(where), "results[%zu].bandwidth_GBps", i);
            if (check_stats(json_object_get(r, "bandwidth_GBps"), where, err,
                            errlen) != CPN_OK) {
                return CPN_ERR_INVALID;
            }
        }
        NEED(strcmp(s, "ok") != 0 ||
                 !json_is_null(json_object_get(r, "bandwidth_GBps")) ||
                 !json_is_null(l),
             "results[%zu]: ok but no figure", i);
    }
    json_array_foreach(json_object_get(doc, "reference"), i, r)
    {
        NEED(json_is_string(json_object_get(r, "tool")),
             "reference[%zu].tool: missing", i);
        NEED(json_is_string(json_object_get(r, "status")),
             "reference[%zu].status: missing", i);
    }
    return CPN_OK;
}
