/* SPDX-License-Identifier: Apache-2.0 */
/* `cpn report`: one self-contained HTML page (and a Markdown twin) from
 * bench documents, receipts and an assessment: the environment, bandwidth
 * against size per transport with the reference tools beside it, latency
 * percentiles against size, task figures, loss and retransmissions, and the
 * maturity per dimension and indicator. Charts are drawn by gnuplot's SVG
 * terminal and inlined (HTML) or embedded as data: URIs (Markdown), so
 * each file stands alone. With no assessment given, one is computed with
 * the default model (bench/assess.h). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/assess.h"
#include "bench/bench.h"
#include "cli.h"

enum { OPT_MD = 256, OPT_ASSESSMENT, OPT_LINE_RATE, OPT_TITLE };

static void usage(FILE *out)
{
    fprintf(out,
"Usage: cpn report [OPTIONS] FILE...\n"
"Make one self-contained HTML page (and Markdown) from bench documents\n"
"(cpn bench -j), receipts (cpn send --json) and an assessment (cpn assess\n"
"-j): charts drawn by gnuplot, tables, maturity per dimension.\n"
"\n"
"  -o, --output FILE      the HTML page (default report.html)\n"
"      --md FILE          also write Markdown (charts as data: URIs)\n"
"      --assessment FILE  use this assessment (default: computed now with\n"
"                         the default model)\n"
"  -m, --model FILE       the model for a computed assessment\n"
"      --line-rate GBPS   line rate for a computed assessment\n"
"      --title TEXT       the page's title\n"
"  -h, --help             this help\n"
"\n"
"Exit: 0 written, 2 usage, 4 an input cannot be read or written. Without\n"
"gnuplot (apt-get install gnuplot-nox) the page says so where each chart\n"
"would be.\n");
}

/* ---- small helpers ----------------------------------------------------------- */

/* HTML-escape @p s into @p out. */
static void esc(FILE *out, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
    }
}

/* Markdown table cell: no pipes, no newlines. */
static void mdc(FILE *out, const char *s)
{
    for (; s != NULL && *s; s++) {
        fputc(*s == '|' ? '/' : *s == '\n' ? ' ' : *s, out);
    }
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* ---- charts ------------------------------------------------------------------ */

typedef struct chart {
    char title[128];
    char *svg;  /* malloc'ed, without the XML prolog; NULL when none */
    char note[256];
} chart_t;

typedef struct report {
    json_t *bench;     /* array of documents */
    json_t *receipts;
    json_t *assessment;
    char tmpdir[64];
    int have_gnuplot;
    chart_t charts[8];
    int ncharts;
} report_t;

/* Run gnuplot on @p script; the SVG it wrote to @p svg_path into @p c. */
static void gnuplot(report_t *r, chart_t *c, const char *script,
                    const char *svg_path)
{
    char spath[128], cmd[512], *svg, *start;
    FILE *f;
    int rc;

    snprintf(spath, sizeof(spath), "%s/chart.gp", r->tmpdir);
    f = fopen(spath, "w");
    if (f == NULL) {
        snprintf(c->note, sizeof(c->note), "cannot write %s", spath);
        return;
    }
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "gnuplot %s 2> %s/gnuplot.err", spath,
             r->tmpdir);
    rc = system(cmd);
    svg = rc == 0 ? cli_read_file(svg_path) : NULL;
    if (svg == NULL) {
        char epath[128], *e;

        snprintf(epath, sizeof(epath), "%s/gnuplot.err", r->tmpdir);
        e = cli_read_file(epath);
        snprintf(c->note, sizeof(c->note), "gnuplot failed: %.200s",
                 e ? e : "?");
        free(e);
        return;
    }
    start = strstr(svg, "<svg");
    if (start == NULL) {
        free(svg);
        snprintf(c->note, sizeof(c->note), "gnuplot wrote no SVG");
        return;
    }
    memmove(svg, start, strlen(start) + 1);
    c->svg = svg;
}

/* @p in with '_' escaped for gnuplot's enhanced text ("put\\_bw"). */
static const char *gp_esc(const char *in, char *buf, size_t len)
{
    size_t o = 0;

    for (; *in && o + 3 < len; in++) {
        if (*in == '_') {
            buf[o++] = '\\';
        }
        buf[o++] = *in;
    }
    buf[o] = '\0';
    return buf;
}

static const char *const g_head =
    "set terminal svg size 1000,520 dynamic enhanced font 'sans,11' "
    "background '#ffffff'\n"
    "set output '%s'\n"
    "set title '%s'\n"
    "set grid lc rgb '#dddddd'\n"
    "set format y '%%g'\n"
    "set xtics rotate by -30\n"
    "set key below maxrows 4 font ',10'\n";

/* Append printf-formatted text to the growing script @p s. */
static void sp(char **s, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sp(char **s, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    *s = realloc(*s, *len + (size_t)n + 1);
    if (*s == NULL) {
        abort();
    }
    va_start(ap, fmt);
    vsnprintf(*s + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
}

/* A datablock of (size, a, b, c) for @p test of document @p doc; returns
 * the number of rows. @p what: "bw" (avg, ci_lo, ci_hi in GB/s) or "lat"
 * (p50, p99, p999 in us). */
static int block(char **s, size_t *len, const char *name, const json_t *doc,
                 const char *test, const char *what)
{
    const json_t *res;
    size_t i;
    int rows = 0;

    sp(s, len, "$%s << EOD\n", name);
    json_array_foreach(json_object_get(doc, "results"), i, res)
    {
        const json_t *bw = json_object_get(res, "bandwidth_GBps");
        const json_t *l = json_object_get(res, "latency_ns");

        if (strcmp(str(res, "test"), test) != 0 ||
            strcmp(str(res, "status"), "ok") != 0) {
            continue;
        }
        if (strcmp(what, "bw") == 0 && json_is_object(bw)) {
            /* bars: the trials' min..max (a CI can reach below 0 with few
             * trials, which a log axis cannot show) */
            sp(s, len, "%lld %g %g %g\n",
               (long long)json_integer_value(json_object_get(res, "size")),
               num(bw, "avg"), num(bw, "min"), num(bw, "max"));
            rows++;
        } else if (strcmp(what, "lat") == 0 && json_is_object(l)) {
            sp(s, len, "%lld %g %g %g\n",
               (long long)json_integer_value(json_object_get(res, "size")),
               num(l, "p50") / 1e3, num(l, "p99") / 1e3, num(l, "p999") / 1e3);
            rows++;
        }
    }
    sp(s, len, "EOD\n");
    return rows;
}

/* Reference rows for @p tool_test (and UCX_TLS @p tls, "" = as is):
 * size, bandwidth GB/s, p50 us. */
static int ref_block(char **s, size_t *len, const char *name, const json_t *doc,
                     const char *tool_test, const char *tls)
{
    const json_t *ref;
    size_t i;
    int rows = 0;

    sp(s, len, "$%s << EOD\n", name);
    json_array_foreach(json_object_get(doc, "reference"), i, ref)
    {
        const char *t = json_string_value(json_object_get(ref, "env_UCX_TLS"));

        if (strcmp(str(ref, "test"), tool_test) != 0 ||
            strcmp(str(ref, "status"), "ok") != 0 ||
            strcmp(t ? t : "", tls) != 0) {
            continue;
        }
        sp(s, len, "%lld %g %g\n",
           (long long)json_integer_value(json_object_get(ref, "size")),
           num(ref, "bandwidth_GBps"),
           num(json_object_get(ref, "latency_us"), "p50"));
        rows++;
    }
    sp(s, len, "EOD\n");
    return rows;
}

/* The UCX_TLS values the references of @p doc ran with ("" first). */
static int ref_envs(const json_t *doc, char envs[2][64])
{
    const json_t *ref;
    size_t i;
    int n = 1;

    envs[0][0] = '\0';
    json_array_foreach(json_object_get(doc, "reference"), i, ref)
    {
        const char *t = json_string_value(json_object_get(ref, "env_UCX_TLS"));

        if (t != NULL && n < 2 && strcmp(t, envs[0]) != 0) {
            snprintf(envs[n++], 64, "%s", t);
        }
    }
    return n;
}

static void chart_bw(report_t *r)
{
    chart_t *c = &r->charts[r->ncharts++];
    char *s = NULL, out[128], name[48], envs[2][64];
    size_t len = 0, i;
    const json_t *doc;
    int series = 0;
    static const char *const tests[] = {"put_bw", "bibw", "task_bw"};
    char plot[4096] = "";

    snprintf(c->title, sizeof(c->title), "Bandwidth against size");
    snprintf(out, sizeof(out), "%s/bw.svg", r->tmpdir);
    sp(&s, &len, g_head, out, "Bandwidth (GB/s = 1e9 B/s) against message size");
    sp(&s, &len, "set logscale x 2\nset format x '%%.0b%%BB'\n"
                 "set xlabel 'size (bytes)'\nset ylabel 'GB/s'\n"
                 "set logscale y\n");
    json_array_foreach(r->bench, i, doc)
    {
        const char *tp = str(json_object_get(doc, "transport"), "name");
        int ne = ref_envs(doc, envs);

        for (size_t t = 0; t < 3; t++) {
            snprintf(name, sizeof(name), "d%zu_%s", i, tests[t]);
            if (block(&s, &len, name, doc, tests[t], "bw") > 0) {
                char e[32];

                snprintf(plot + strlen(plot), sizeof(plot) - strlen(plot),
                         "%s$%s using 1:2:3:4 with yerrorlines lw 2 pt 7 "
                         "title 'run %zu: cpn %s %s (bars: min..max)'",
                         series++ ? ", " : "", name, i + 1, tp,
                         gp_esc(tests[t], e, sizeof(e)));
            }
        }
        for (int e = 0; e < ne; e++) {
            snprintf(name, sizeof(name), "r%zu_%d", i, e);
            if (ref_block(&s, &len, name, doc, "ucp_put_bw", envs[e]) > 0) {
                snprintf(plot + strlen(plot), sizeof(plot) - strlen(plot),
                         "%s$%s using 1:2 with linespoints dt 2 pt 6 title "
                         "'run %zu: ucx\\_perftest ucp\\_put\\_bw%s%s'",
                         series++ ? ", " : "", name, i + 1,
                         envs[e][0] ? " UCX\\_TLS=" : "", envs[e]);
            }
        }
        /* perftest (verbs) and testpmd's raw frame rate (dpdk) */
        snprintf(name, sizeof(name), "p%zu", i);
        if (ref_block(&s, &len, name, doc, "ib_write_bw", "") > 0) {
            snprintf(plot + strlen(plot), sizeof(plot) - strlen(plot),
                     "%s$%s using 1:2 with linespoints dt 2 pt 6 title "
                     "'run %zu: ib\\_write\\_bw'", series++ ? ", " : "", name,
                     i + 1);
        }
        snprintf(name, sizeof(name), "t%zu", i);
        if (ref_block(&s, &len, name, doc, "txonly_memif", "") > 0) {
            snprintf(plot + strlen(plot), sizeof(plot) - strlen(plot),
                     "%s$%s using 1:2 with points pt 13 ps 1.5 title 'run %zu: "
                     "dpdk-testpmd txonly (frames, memif)'",
                     series++ ? ", " : "", name, i + 1);
        }
        snprintf(name, sizeof(name), "i%zu", i);
        if (ref_block(&s, &len, name, doc, "tcp_stream", "") > 0) {
            snprintf(plot + strlen(plot), sizeof(plot) - strlen(plot),
                     "%s$%s using 1:2 with points pt 5 ps 1.5 title 'run %zu: "
                     "iperf3 (kernel TCP)'",
                     series++ ? ", " : "", name, i + 1);
        }
    }
    if (series == 0) {
        snprintf(c->note, sizeof(c->note), "no bandwidth result to draw");
        free(s);
        return;
    }
    sp(&s, &len, "plot %s\n", plot);
    gnuplot(r, c, s, out);
    free(s);
}

static void chart_lat(report_t *r, const char *test, const char *ref_test)
{
    chart_t *c = &r->charts[r->ncharts++];
    char *s = NULL, out[128], name[48], envs[2][64], title[128];
    size_t len = 0, i;
    const json_t *doc;
    int series = 0;
    char plot[4096] = "";
    const char *pt_test = strcmp(test, "put_lat") == 0    ? "ib_write_lat"
                          : strcmp(test, "send_lat") == 0 ? "ib_send_lat"
                                                          : NULL;

    snprintf(c->title, sizeof(c->title), "%s percentiles against size", test);
    snprintf(out, sizeof(out), "%s/lat_%s.svg", r->tmpdir, test);
    snprintf(title, sizeof(title), "%s: latency percentiles (us)", test);
    for (char *p = title; *p; p++) {
        if (*p == '_') {
            *p = '-';
        }
    }
    sp(&s, &len, g_head, out, title);
    sp(&s, &len, "set logscale x 2\nset format x '%%.0b%%BB'\n"
                 "set logscale y\nset xlabel 'size (bytes)'\n"
                 "set ylabel '%s (us)'\n",
       strncmp(test, "task", 4) == 0 ? "delivery time" : "one-way latency");
    json_array_foreach(r->bench, i, doc)
    {
        const char *tp = str(json_object_get(doc, "transport"), "name");
        int ne = ref_envs(doc, envs);

        snprintf(name, sizeof(name), "d%zu", i);
        if (block(&s, &len, name, doc, test, "lat") > 0) {
            snprintf(plot + strlen(plot), sizeof(plot) - strlen(plot),
                     "%s$%s using 1:2 with linespoints lw 2 pt 7 title 'run %zu: "
                     "cpn %s p50', $%s using 1:3 with linespoints pt 9 title "
                     "'p99', $%s using 1:4 with linespoints pt 11 title 'p99.9'",
                     series++ ? ", " : "", name, i + 1, tp, name, name);
        }
        for (int e = 0; ref_test != NULL && e < ne; e++) {
            snprintf(name, sizeof(name), "r%zu_%d", i, e);
            if (ref_block(&s, &len, name, doc, ref_test, envs[e]) > 0) {
                snprintf(plot + strlen(plot), sizeof(plot) - strlen(plot),
                         "%s$%s using 1:3 with linespoints dt 2 pt 6 title "
                         "'run %zu: ucx\\_perftest p50%s%s'",
                         series++ ? ", " : "", name, i + 1,
                         envs[e][0] ? " UCX\\_TLS=" : "", envs[e]);
            }
        }
        /* perftest's latency beside the verbs runs */
        snprintf(name, sizeof(name), "p%zu", i);
        if (pt_test != NULL && ref_block(&s, &len, name, doc, pt_test, "") > 0) {
            snprintf(plot + strlen(plot), sizeof(plot) - strlen(plot),
                     "%s$%s using 1:3 with linespoints dt 2 pt 4 title "
                     "'run %zu: %s p50'", series++ ? ", " : "", name, i + 1,
                     strcmp(pt_test, "ib_write_lat") == 0
                         ? "ib\\_write\\_lat"
                         : "ib\\_send\\_lat");
        }
    }
    if (series == 0) {
        snprintf(c->note, sizeof(c->note), "no %s result to draw", test);
        free(s);
        r->ncharts--;
        return;
    }
    sp(&s, &len, "plot %s\n", plot);
    gnuplot(r, c, s, out);
    free(s);
}

/* Retransmissions and loss, from receipts and reference tools. */
static void chart_loss(report_t *r)
{
    chart_t *c = &r->charts[r->ncharts++];
    char *s = NULL, out[128];
    size_t len = 0, i, k;
    const json_t *doc, *x;
    double retries = 0, chunks = 0;
    int rows = 0;

    snprintf(c->title, sizeof(c->title), "Loss and retransmissions");
    snprintf(out, sizeof(out), "%s/loss.svg", r->tmpdir);
    sp(&s, &len, g_head, out, "Retransmissions (count) by source");
    sp(&s, &len, "set style data histograms\nset style fill solid 0.7\n"
                 "set boxwidth 0.6\nset ylabel 'count'\nset yrange [0:*]\n"
                 "unset key\n$L << EOD\n");
    json_array_foreach(r->receipts, i, x)
    {
        retries += num(x, "retries");
        chunks += num(x, "chunks");
    }
    if (json_array_size(r->receipts) > 0) {
        sp(&s, &len, "\"cpn chunks sent again (%zu receipts, %.0f chunks)\" %g\n",
           json_array_size(r->receipts), chunks, retries);
        rows++;
    }
    json_array_foreach(r->bench, i, doc)
    {
        json_array_foreach(json_object_get(doc, "reference"), k, x)
        {
            if (strcmp(str(x, "tool"), "iperf3") == 0 &&
                strcmp(str(x, "status"), "ok") == 0) {
                sp(&s, &len, "\"run %zu: iperf3 TCP retransmits\" %g\n",
                   i + 1, num(x, "retransmits"));
                rows++;
            }
            if (strcmp(str(x, "tool"), "dpdk-testpmd") == 0 &&
                strcmp(str(x, "status"), "ok") == 0) {
                sp(&s, &len, "\"run %zu: testpmd missed + tx errors\" %g\n",
                   i + 1, num(json_object_get(x, "total"), "rx_missed") +
                       num(json_object_get(x, "total"), "tx_errors"));
                rows++;
            }
        }
    }
    sp(&s, &len, "EOD\nplot $L using 2:xtic(1) lc rgb '#c0504d'\n");
    if (rows == 0) {
        snprintf(c->note, sizeof(c->note),
                 "not measured: no receipt and no iperf3 or testpmd result");
        free(s);
        return;
    }
    gnuplot(r, c, s, out);
    free(s);
}

static void chart_maturity(report_t *r)
{
    chart_t *c = &r->charts[r->ncharts++];
    char *s = NULL, out[128];
    size_t len = 0;
    const char *name;
    const json_t *d;

    snprintf(c->title, sizeof(c->title), "Maturity per dimension");
    if (r->assessment == NULL) {
        snprintf(c->note, sizeof(c->note), "no assessment");
        return;
    }
    snprintf(out, sizeof(out), "%s/maturity.svg", r->tmpdir);
    sp(&s, &len, g_head, out,
       "Maturity level per dimension (0 = not measured)");
    sp(&s, &len, "set style data histograms\nset style fill solid 0.7\n"
                 "set boxwidth 0.6\nset yrange [0:5.5]\nset ytics 1\n"
                 "set ylabel 'level'\nunset key\n$M << EOD\n");
    json_object_foreach(json_object_get(r->assessment, "dimensions"), name, d)
    {
        sp(&s, &len, "%s %lld\n", name,
           (long long)json_integer_value(json_object_get(d, "level")));
    }
    sp(&s, &len, "EOD\nplot $M using 2:xtic(1) lc rgb '#4f81bd'\n");
    gnuplot(r, c, s, out);
    free(s);
}

/* ---- writing --------------------------------------------------------------- */

static const char *const css =
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
    "th{background:#f0f0f0}td.l,th.l{text-align:left}"
    "figure{margin:1.5em 0}figcaption{font-weight:bold}"
    ".note{color:#a00}.muted{color:#777}";

static void html_env(FILE *o, const json_t *doc)
{
    const json_t *h = json_object_get(doc, "host");
    const json_t *tp = json_object_get(doc, "transport");
    char *cfg = json_dumps(json_object_get(doc, "config"), JSON_COMPACT);

    fprintf(o, "<table class=\"env\"><tr><th class=l>host</th><td class=l>");
    esc(o, str(h, "hostname"));
    fprintf(o, " (kernel ");
    esc(o, str(h, "kernel"));
    fprintf(o, ", %s, %lld CPUs)</td></tr><tr><th class=l>transport</th>"
               "<td class=l>",
            str(h, "cpu"), (long long)json_integer_value(json_object_get(h, "cpus")));
    esc(o, str(tp, "name"));
    fprintf(o, ", lanes: ");
    esc(o, str(tp, "lanes"));
    fprintf(o, "</td></tr><tr><th class=l>versions</th><td class=l>cpn ");
    esc(o, str(json_object_get(doc, "versions"), "cpn"));
    fprintf(o, ", ");
    esc(o, str(json_object_get(doc, "versions"), "ucx"));
    fprintf(o, "</td></tr><tr><th class=l>run</th><td class=l>");
    esc(o, str(doc, "started"));
    fprintf(o, " .. ");
    esc(o, str(doc, "finished"));
    fprintf(o, ", status ");
    esc(o, str(doc, "status"));
    if (json_is_string(json_object_get(doc, "error"))) {
        fprintf(o, ": <span class=note>");
        esc(o, str(doc, "error"));
        fprintf(o, "</span>");
    }
    fprintf(o, "</td></tr><tr><th class=l>config</th><td class=l><code>");
    esc(o, cfg);
    fprintf(o, "</code></td></tr></table>\n");
    free(cfg);
}

static void html_results(FILE *o, const json_t *doc)
{
    const json_t *res;
    size_t i;

    fprintf(o, "<table class=results><tr><th class=l>test</th><th>size</th>"
               "<th>status</th><th>p50 us</th><th>p99 us</th><th>p99.9 us</th>"
               "<th>max us</th><th>GB/s avg</th><th>95%% CI</th><th>min</th>"
               "<th>max</th><th>msg/s</th></tr>\n");
    json_array_foreach(json_object_get(doc, "results"), i, res)
    {
        const json_t *l = json_object_get(res, "latency_ns");
        const json_t *bw = json_object_get(res, "bandwidth_GBps");

        fprintf(o, "<tr><td class=l>%s</td><td>%lld</td><td>%s</td>",
                str(res, "test"),
                (long long)json_integer_value(json_object_get(res, "size")),
                str(res, "status"));
        if (json_is_object(l)) {
            fprintf(o, "<td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td>",
                    num(l, "p50") / 1e3, num(l, "p99") / 1e3,
                    num(l, "p999") / 1e3, num(l, "max") / 1e3);
        } else {
            fprintf(o, "<td>-</td><td>-</td><td>-</td><td>-</td>");
        }
        if (json_is_object(bw)) {
            const json_t *ci = json_object_get(bw, "ci95");

            fprintf(o, "<td>%.4f</td><td>%.4f..%.4f</td><td>%.4f</td>"
                       "<td>%.4f</td><td>%.0f</td></tr>\n",
                    num(bw, "avg"), json_number_value(json_array_get(ci, 0)),
                    json_number_value(json_array_get(ci, 1)), num(bw, "min"),
                    num(bw, "max"),
                    num(json_object_get(res, "msg_rate"), "avg"));
        } else {
            fprintf(o, "<td colspan=5 class=l>");
            esc(o, str(res, "error"));
            fprintf(o, "</td></tr>\n");
        }
    }
    fprintf(o, "</table>\n");
}

static void html_refs(FILE *o, const json_t *doc)
{
    const json_t *ref;
    size_t i;

    if (json_array_size(json_object_get(doc, "reference")) == 0) {
        fprintf(o, "<p class=muted>No reference tool ran in this run.</p>\n");
        return;
    }
    fprintf(o, "<table class=refs><tr><th class=l>tool</th><th class=l>test"
               "</th><th class=l>UCX_TLS</th><th>size</th><th>status</th>"
               "<th>p50 us</th><th>GB/s</th><th>cpn/ref bw</th>"
               "<th>cpn/ref p50</th></tr>\n");
    json_array_foreach(json_object_get(doc, "reference"), i, ref)
    {
        const json_t *ratio = json_object_get(ref, "ratio");
        const char *tls = json_string_value(json_object_get(ref, "env_UCX_TLS"));

        fprintf(o, "<tr><td class=l>%s</td><td class=l>%s</td><td class=l>%s"
                   "</td><td>%lld</td><td>%s</td>",
                str(ref, "tool"), str(ref, "test"), tls ? tls : "(as is)",
                (long long)json_integer_value(json_object_get(ref, "size")),
                str(ref, "status"));
        if (strcmp(str(ref, "status"), "ok") == 0) {
            fprintf(o, "<td>%.2f</td><td>%.4f</td>",
                    num(json_object_get(ref, "latency_us"), "p50"),
                    num(ref, "bandwidth_GBps"));
            if (json_object_get(ratio, "bandwidth")) {
                fprintf(o, "<td>%.2f</td>", num(ratio, "bandwidth"));
            } else {
                fprintf(o, "<td>-</td>");
            }
            if (json_object_get(ratio, "latency_p50")) {
                fprintf(o, "<td>%.2f</td></tr>\n", num(ratio, "latency_p50"));
            } else {
                fprintf(o, "<td>-</td></tr>\n");
            }
        } else {
            fprintf(o, "<td colspan=4 class=l>");
            esc(o, str(ref, "error"));
            fprintf(o, "</td></tr>\n");
        }
    }
    fprintf(o, "</table>\n");
}

static void html_assessment(FILE *o, const json_t *a)
{
    const json_t *st = json_object_get(a, "stage"), *x;
    size_t i;

    fprintf(o, "<p><b>acatech stage %lld (%s)</b>: ",
            (long long)json_integer_value(json_object_get(st, "stage")),
            str(st, "name"));
    esc(o, str(st, "why"));
    fprintf(o, ".<br>Next: ");
    esc(o, str(st, "next"));
    fprintf(o, ".</p>\n<table class=assess><tr><th class=l>indicator</th>"
               "<th>value</th><th>level</th><th class=l>why</th>"
               "<th class=l>next level</th></tr>\n");
    json_array_foreach(json_object_get(a, "indicators"), i, x)
    {
        fprintf(o, "<tr><td class=l>%s</td>", str(x, "id"));
        if (json_is_number(json_object_get(x, "value"))) {
            fprintf(o, "<td>%.4g %s</td><td>L%lld</td>", num(x, "value"),
                    str(x, "unit"),
                    (long long)json_integer_value(json_object_get(x, "level")));
        } else {
            fprintf(o, "<td class=muted>not measured</td><td>-</td>");
        }
        fprintf(o, "<td class=l>");
        esc(o, str(x, "why"));
        fprintf(o, "</td><td class=l>");
        esc(o, str(x, "next"));
        fprintf(o, "</td></tr>\n");
    }
    fprintf(o, "</table>\n<p class=muted>");
    esc(o, str(a, "rule"));
    fprintf(o, ".</p>\n");
}

static int write_html(report_t *r, const char *path, const char *title)
{
    FILE *o = fopen(path, "w");
    const json_t *doc;
    size_t i;

    if (o == NULL) {
        fprintf(stderr, "cpn report: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    fprintf(o, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
               "<title>");
    esc(o, title);
    fprintf(o, "</title><style>%s</style></head><body>\n<h1>", css);
    esc(o, title);
    fprintf(o, "</h1>\n<p class=muted>Made by <code>cpn report</code> (cpn %s) "
               "from %zu bench document(s), %zu receipt(s)%s. Figures are "
               "defined in docs/bench.md; ratios are cpn / reference.</p>\n",
            cpn_version(), json_array_size(r->bench),
            json_array_size(r->receipts),
            r->assessment ? " and an assessment" : "");
    fprintf(o, "<h2>Charts</h2>\n");
    for (int k = 0; k < r->ncharts; k++) {
        fprintf(o, "<figure class=chart><figcaption>%s</figcaption>\n",
                r->charts[k].title);
        if (r->charts[k].svg != NULL) {
            fputs(r->charts[k].svg, o);
        } else {
            fprintf(o, "<p class=note>");
            esc(o, r->charts[k].note);
            fprintf(o, "</p>");
        }
        fprintf(o, "</figure>\n");
    }
    json_array_foreach(r->bench, i, doc)
    {
        fprintf(o, "<h2>Run %zu: %s</h2>\n", i + 1,
                str(json_object_get(doc, "transport"), "name"));
        html_env(o, doc);
        fprintf(o, "<h3>Results</h3>\n");
        html_results(o, doc);
        fprintf(o, "<h3>Reference tools</h3>\n");
        html_refs(o, doc);
    }
    if (json_array_size(r->receipts) > 0) {
        const json_t *x;

        fprintf(o, "<h2>Deliveries (receipts)</h2>\n<table class=receipts><tr>"
                   "<th class=l>job</th><th>bytes</th><th>objects</th>"
                   "<th>chunks</th><th>retries</th><th>ms</th><th>Gb/s</th>"
                   "<th class=l>lanes</th></tr>\n");
        json_array_foreach(r->receipts, i, x)
        {
            fprintf(o, "<tr><td class=l>");
            esc(o, str(x, "job"));
            fprintf(o, "</td><td>%.0f</td><td>%.0f</td><td>%.0f</td><td>%.0f"
                       "</td><td>%.3f</td><td>%.3f</td><td class=l>",
                    num(x, "bytes"), num(x, "objects"), num(x, "chunks"),
                    num(x, "retries"), num(x, "elapsed_ns") / 1e6,
                    num(x, "goodput_gbps"));
            esc(o, str(x, "lanes"));
            fprintf(o, "</td></tr>\n");
        }
        fprintf(o, "</table>\n");
    }
    if (r->assessment != NULL) {
        fprintf(o, "<h2>Maturity assessment</h2>\n");
        html_assessment(o, r->assessment);
    }
    fprintf(o, "</body></html>\n");
    return fclose(o) == 0 ? 0 : -1;
}

static void b64(FILE *o, const char *s)
{
    static const char t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)s[i] << 16;

        v |= i + 1 < n ? (unsigned)(unsigned char)s[i + 1] << 8 : 0;
        v |= i + 2 < n ? (unsigned)(unsigned char)s[i + 2] : 0;
        fputc(t[(v >> 18) & 63], o);
        fputc(t[(v >> 12) & 63], o);
        fputc(i + 1 < n ? t[(v >> 6) & 63] : '=', o);
        fputc(i + 2 < n ? t[v & 63] : '=', o);
    }
}

static int write_md(report_t *r, const char *path, const char *title)
{
    FILE *o = fopen(path, "w");
    const json_t *doc, *x;
    size_t i, k;

    if (o == NULL) {
        fprintf(stderr, "cpn report: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    fprintf(o, "# %s\n\nMade by `cpn report` (cpn %s). Figures: docs/bench.md;"
               " ratios are cpn / reference.\n\n",
            title, cpn_version());
    for (int c = 0; c < r->ncharts; c++) {
        fprintf(o, "## %s\n\n", r->charts[c].title);
        if (r->charts[c].svg != NULL) {
            fprintf(o, "![%s](data:image/svg+xml;base64,", r->charts[c].title);
            b64(o, r->charts[c].svg);
            fprintf(o, ")\n\n");
        } else {
            fprintf(o, "_%s_\n\n", r->charts[c].note);
        }
    }
    json_array_foreach(r->bench, i, doc)
    {
        const json_t *h = json_object_get(doc, "host");

        fprintf(o, "## Run %zu: %s on %s (kernel %s, %s)\n\nlanes: `%s`, "
                   "status %s\n\n",
                i + 1, str(json_object_get(doc, "transport"), "name"),
                str(h, "hostname"), str(h, "kernel"), str(h, "cpu"),
                str(json_object_get(doc, "transport"), "lanes"),
                str(doc, "status"));
        fprintf(o, "| test | size | status | p50 us | p99 us | p99.9 us | GB/s "
                   "avg | 95%% CI | msg/s |\n|---|---|---|---|---|---|---|---|"
                   "---|\n");
        json_array_foreach(json_object_get(doc, "results"), k, x)
        {
            const json_t *l = json_object_get(x, "latency_ns");
            const json_t *bw = json_object_get(x, "bandwidth_GBps");

            fprintf(o, "| %s | %lld | %s |", str(x, "test"),
                    (long long)json_integer_value(json_object_get(x, "size")),
                    str(x, "status"));
            if (json_is_object(l)) {
                fprintf(o, " %.2f | %.2f | %.2f |", num(l, "p50") / 1e3,
                        num(l, "p99") / 1e3, num(l, "p999") / 1e3);
            } else {
                fprintf(o, " - | - | - |");
            }
            if (json_is_object(bw)) {
                const json_t *ci = json_object_get(bw, "ci95");

                fprintf(o, " %.4f | %.4f..%.4f | %.0f |\n", num(bw, "avg"),
                        json_number_value(json_array_get(ci, 0)),
                        json_number_value(json_array_get(ci, 1)),
                        num(json_object_get(x, "msg_rate"), "avg"));
            } else {
                fprintf(o, " - | - | ");
                mdc(o, str(x, "error"));
                fprintf(o, " |\n");
            }
        }
        fprintf(o, "\n| tool | test | UCX_TLS | size | status | p50 us | GB/s "
                   "| cpn/ref bw | cpn/ref p50 |\n|---|---|---|---|---|---|---|"
                   "---|---|\n");
        json_array_foreach(json_object_get(doc, "reference"), k, x)
        {
            const json_t *ratio = json_object_get(x, "ratio");
            const char *tls = json_string_value(json_object_get(x, "env_UCX_TLS"));

            fprintf(o, "| %s | %s | %s | %lld | %s | %.2f | %.4f | ",
                    str(x, "tool"), str(x, "test"), tls ? tls : "(as is)",
                    (long long)json_integer_value(json_object_get(x, "size")),
                    str(x, "status"),
                    num(json_object_get(x, "latency_us"), "p50"),
                    num(x, "bandwidth_GBps"));
            if (json_object_get(ratio, "bandwidth")) {
                fprintf(o, "%.2f | ", num(ratio, "bandwidth"));
            } else {
                fprintf(o, "- | ");
            }
            if (json_object_get(ratio, "latency_p50")) {
                fprintf(o, "%.2f |\n", num(ratio, "latency_p50"));
            } else {
                fprintf(o, "- |\n");
            }
        }
        fprintf(o, "\n");
    }
    if (r->assessment != NULL) {
        const json_t *st = json_object_get(r->assessment, "stage");

        fprintf(o, "## Maturity assessment\n\n**acatech stage %lld (%s)**: %s. "
                   "Next: %s.\n\n| indicator | value | level | why | next |\n"
                   "|---|---|---|---|---|\n",
                (long long)json_integer_value(json_object_get(st, "stage")),
                str(st, "name"), str(st, "why"), str(st, "next"));
        json_array_foreach(json_object_get(r->assessment, "indicators"), i, x)
        {
            fprintf(o, "| %s | ", str(x, "id"));
            if (json_is_number(json_object_get(x, "value"))) {
                fprintf(o, "%.4g %s | L%lld | ", num(x, "value"), str(x, "unit"),
                        (long long)json_integer_value(json_object_get(x, "level")));
            } else {
                fprintf(o, "not measured | - | ");
            }
            mdc(o, str(x, "why"));
            fprintf(o, " | ");
            mdc(o, str(x, "next"));
            fprintf(o, " |\n");
        }
    }
    return fclose(o) == 0 ? 0 : -1;
}

/* ---- the command -------------------------------------------------------------- */

static int add_file(report_t *r, cpn_assess_inputs_t *in, const char *path)
{
    char *text = cli_read_file(path), err[512];
    json_t *j;

    if (text == NULL) {
        fprintf(stderr, "cpn report: cannot read %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    j = json_loads(text, 0, NULL);
    if (j != NULL && json_is_string(json_object_get(j, "schema")) &&
        strcmp(str(j, "schema"), CPN_ASSESS_SCHEMA) == 0) {
        json_decref(r->assessment);
        r->assessment = j;
        free(text);
        return 0;
    }
    json_decref(j);
    if (cpn_assess_add_input(in, path, text, err, sizeof(err)) != CPN_OK) {
        fprintf(stderr, "cpn report: %s\n", err);
        free(text);
        return -1;
    }
    free(text);
    return 0;
}

int cli_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"md", required_argument, NULL, OPT_MD},
        {"assessment", required_argument, NULL, OPT_ASSESSMENT},
        {"model", required_argument, NULL, 'm'},
        {"line-rate", required_argument, NULL, OPT_LINE_RATE},
        {"title", required_argument, NULL, OPT_TITLE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = "report.html", *md = NULL, *apath = NULL, *title = NULL;
    const char *model_path = NULL;
    cpn_assess_inputs_t in = {0};
    report_t r = {0};
    char err[512], cmd[128];
    int c, rc = CLI_EXIT_OK;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":o:m:h", opts, NULL)) != -1) {
        char *end;

        switch (c) {
        case 'o': out = optarg; break;
        case OPT_MD: md = optarg; break;
        case OPT_ASSESSMENT: apath = optarg; break;
        case 'm': model_path = optarg; break;
        case OPT_LINE_RATE:
            in.line_rate_gbps = strtod(optarg, &end);
            if (*end != '\0' || in.line_rate_gbps <= 0) {
                return cli_usage("report", "--line-rate: Gb/s > 0");
            }
            snprintf(in.line_rate_source, sizeof(in.line_rate_source),
                     "--line-rate %s", optarg);
            break;
        case OPT_TITLE: title = optarg; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_getopt_error("report", c, argv);
        }
    }
    if (optind >= argc && apath == NULL) {
        return cli_usage("report", "no input: give bench JSON files, receipts "
                         "or an assessment");
    }
    in.bench = json_array();
    in.receipts = json_array();
    for (int i = optind; i < argc; i++) {
        if (add_file(&r, &in, argv[i]) != 0) {
            rc = CLI_EXIT_LOCAL;
            goto out;
        }
    }
    if (apath != NULL && add_file(&r, &in, apath) != 0) {
        rc = CLI_EXIT_LOCAL;
        goto out;
    }
    r.bench = in.bench;
    r.receipts = in.receipts;
    if (r.assessment == NULL) {
        json_t *model = NULL, *metrics;

        if (model_path == NULL) {
            model_path = access(CPN_MODEL_INSTALLED, R_OK) == 0
                             ? CPN_MODEL_INSTALLED
                             : CPN_MODEL_SOURCE;
        }
        if (cpn_assess_model_load(model_path, &model, err, sizeof(err)) !=
            CPN_OK) {
            fprintf(stderr, "cpn report: %s\n", err);
            rc = CLI_EXIT_LOCAL;
            goto out;
        }
        metrics = cpn_assess_metrics(&in);
        r.assessment = cpn_assess_score(model, metrics, &in);
        json_decref(metrics);
        json_decref(model);
    }
    snprintf(r.tmpdir, sizeof(r.tmpdir), "/tmp/cpn-report.XXXXXX");
    if (mkdtemp(r.tmpdir) == NULL) {
        fprintf(stderr, "cpn report: cannot make a temporary directory: %s\n",
                strerror(errno));
        rc = CLI_EXIT_LOCAL;
        goto out;
    }
    r.have_gnuplot = system("gnuplot --version > /dev/null 2>&1") == 0;
    if (r.have_gnuplot) {
        chart_bw(&r);
        chart_lat(&r, "put_lat", "ucp_put_lat");
        chart_lat(&r, "send_lat", "ucp_am_lat");
        chart_lat(&r, "task_lat", NULL);
        chart_loss(&r);
        chart_maturity(&r);
    } else {
        chart_t *ch = &r.charts[r.ncharts++];

        snprintf(ch->title, sizeof(ch->title), "Charts");
        snprintf(ch->note, sizeof(ch->note),
                 "gnuplot is not installed (apt-get install gnuplot-nox): no "
                 "charts");
        fprintf(stderr, "cpn report: %s\n", ch->note);
    }
    if (title == NULL) {
        title = "cpn benchmark and maturity report";
    }
    if (write_html(&r, out, title) != 0 ||
        (md != NULL && write_md(&r, md, title) != 0)) {
        rc = CLI_EXIT_LOCAL;
    } else {
        int drawn = 0;

        for (int k = 0; k < r.ncharts; k++) {
            drawn += r.charts[k].svg != NULL;
        }
        fprintf(stderr, "cpn report: wrote %s%s%s (%d charts)\n", out,
                md ? " and " : "", md ? md : "", drawn);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", r.tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cpn report: could not remove %s\n", r.tmpdir);
    }
out:
    for (int k = 0; k < r.ncharts; k++) {
        free(r.charts[k].svg);
    }
    json_decref(r.assessment);
    json_decref(in.bench);
    json_decref(in.receipts);
    return rc;
}
