/* SPDX-License-Identifier: Apache-2.0 */
/* The reference tools of the field, run on the same path in the same run as
 * cpn's tests, and parsers for their outputs:
 *   ucx_perftest  (UCX)  ucp_put_bw, ucp_put_lat, ucp_am_lat, ucp_am_bw
 *   iperf3        (kernel TCP, -J)
 *   ib_write_bw, ib_write_lat, ib_send_lat  (perftest, RDMA verbs)
 *   dpdk-testpmd  (the DPDK path's raw packet rate: port statistics)
 * Each result is a JSON object {"tool", "test", "compare", "size",
 * "status", "error", "cmd", figures...}; out.c adds the ratio to cpn's
 * figure. A tool that is not installed is recorded as skipped, never
 * silently left out. The parsers are tested on recorded outputs
 * (tests/bench/fixtures). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/lib/boot.h"
#include "core/clock.h"
#include "core/compiler.h"

#define MIB_D 1048576.0

/* ---- parsers --------------------------------------------------------------- */

json_t *cpn_bench_parse_ucx_perftest(const char *out)
{
    double v[8];
    const char *f = NULL, *p = out;
    json_t *j, *l;

    while ((p = strstr(p, "Final:")) != NULL) {
        f = p;
        p += 6;
    }
    if (f == NULL || sscanf(f + 6, "%lf %lf %lf %lf %lf %lf %lf %lf", &v[0],
                            &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                            &v[7]) != 8) {
        return NULL;
    }
    /* iterations; latency typical (percentile), average, overall (us);
     * bandwidth average and overall (MB/s = 2^20 B/s); message rates. */
    j = json_object();
    l = json_object();
    json_object_set_new(j, "iterations", json_integer((json_int_t)v[0]));
    json_object_set_new(l, "p50", json_real(v[1]));
    json_object_set_new(l, "avg", json_real(v[2]));
    json_object_set_new(l, "overall", json_real(v[3]));
    json_object_set_new(j, "latency_us", l);
    json_object_set_new(j, "bandwidth_GBps", json_real(v[5] * MIB_D / 1e9));
    json_object_set_new(j, "msg_rate", json_real(v[7]));
    return j;
}

json_t *cpn_bench_parse_iperf3(const char *out)
{
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr), *end, *recv, *sent, *j;
    double bps;

    if (root == NULL) {
        return NULL;
    }
    end = json_object_get(root, "end");
    recv = json_object_get(end, "sum_received");
    sent = json_object_get(end, "sum_sent");
    if (json_object_get(root, "error") != NULL || !json_is_object(recv)) {
        json_decref(root);
        return NULL;
    }
    bps = json_number_value(json_object_get(recv, "bits_per_second"));
    j = json_object();
    json_object_set_new(j, "goodput_Gbps", json_real(bps / 1e9));
    json_object_set_new(j, "bandwidth_GBps", json_real(bps / 8e9));
    json_object_set_new(j, "bytes",
                        json_integer((json_int_t)json_number_value(
                            json_object_get(recv, "bytes"))));
    json_object_set_new(j, "seconds",
                        json_real(json_number_value(
                            json_object_get(recv, "seconds"))));
    json_object_set_new(
        j, "retransmits",
        json_integer(json_integer_value(json_object_get(sent, "retransmits"))));
    json_object_set_new(j, "msg_rate", json_real(0));
    json_decref(root);
    return j;
}

/* perftest prints a header line starting " #bytes" whose units say MB/sec
 * or Gb/sec, then one row per size, between dashed lines; lines between
 * (warnings) are skipped. */
static json_t *perftest_rows(const char *out, int lat)
{
    const char *h = strstr(out, "#bytes");
    json_t *rows;
    int gbits;
    char line[1024];

    if (h == NULL) {
        return NULL;
    }
    gbits = strstr(h, "Gb/sec") != NULL &&
            (strchr(h, '\n') == NULL || strstr(h, "Gb/sec") < strchr(h, '\n'));
    h = strchr(h, '\n');
    rows = json_array();
    while (h != NULL && *h) {
        const char *e = strchr(++h, '\n');
        size_t n = e ? (size_t)(e - h) : strlen(h);
        double v[9];
        int k;

        if (n >= sizeof(line)) {
            n = sizeof(line) - 1;
        }
        memcpy(line, h, n);
        line[n] = '\0';
        h = e;
        if (strstr(line, "-----") != NULL && json_array_size(rows) > 0) {
            break;
        }
        k = sscanf(line, "%lf %lf %lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]);
        if (lat ? k < 5 : k < 5) {
            continue;
        }
        {
            json_t *r = json_object();

            json_object_set_new(r, "size", json_integer((json_int_t)v[0]));
            json_object_set_new(r, "iterations",
                                json_integer((json_int_t)v[1]));
            if (lat) {
                json_t *l = json_object();

                json_object_set_new(l, "min", json_real(v[2]));
                json_object_set_new(l, "max", json_real(v[3]));
                json_object_set_new(l, "p50", json_real(v[4]));
                if (k >= 6) {
                    json_object_set_new(l, "avg", json_real(v[5]));
                }
                if (k >= 7) {
                    json_object_set_new(l, "stdev", json_real(v[6]));
                }
                if (k >= 9) {
                    json_object_set_new(l, "p99", json_real(v[7]));
                    json_object_set_new(l, "p999", json_real(v[8]));
                }
                json_object_set_new(r, "latency_us", l);
            } else {
                double f = gbits ? 1e9 / 8 : MIB_D;

                json_object_set_new(r, "bw_peak_GBps", json_real(v[2] * f / 1e9));
                json_object_set_new(r, "bandwidth_GBps",
                                    json_real(v[3] * f / 1e9));
                json_object_set_new(r, "msg_rate", json_real(v[4] * 1e6));
            }
            json_array_append_new(rows, r);
        }
    }
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

json_t *cpn_bench_parse_perftest_bw(const char *out)
{
    return perftest_rows(out, 0);
}

json_t *cpn_bench_parse_perftest_lat(const char *out)
{
    return perftest_rows(out, 1);
}

/* Value after "key:" within @p line, or -1. */
static double field(const char *line, const char *key)
{
    const char *p = strstr(line, key);

    if (p == NULL) {
        return -1;
    }
    p += strlen(key);
    while (*p == ' ' || *p == ':') {
        p++;
    }
    return strtod(p, NULL);
}

json_t *cpn_bench_parse_testpmd(const char *out)
{
    json_t *ports = json_object(), *j, *tot;
    const char *p = out;
    double rx_pps = 0, tx_pps = 0, rx_bps = 0, tx_bps = 0, rx_pk = 0, tx_pk = 0,
           miss = 0, err = 0;

    /* The last block of each port wins (testpmd prints them repeatedly). */
    while ((p = strstr(p, "NIC statistics for port")) != NULL) {
        int port = atoi(p + strlen("NIC statistics for port"));
        /* the block ends at the next line of '#' (after its own header) */
        const char *body = strchr(p, '\n') ? strchr(p, '\n') : p;
        const char *end = strstr(body, "####");
        char key[16];
        char blk[2048];
        size_t n;
        json_t *o = json_object();

        n = end ? (size_t)(end - p) : strlen(p);
        if (n >= sizeof(blk)) {
            n = sizeof(blk) - 1;
        }
        memcpy(blk, p, n);
        blk[n] = '\0';
        json_object_set_new(o, "rx_packets", json_real(field(blk, "RX-packets")));
        json_object_set_new(o, "rx_missed", json_real(field(blk, "RX-missed")));
        json_object_set_new(o, "rx_bytes", json_real(field(blk, "RX-bytes")));
        json_object_set_new(o, "rx_errors", json_real(field(blk, "RX-errors")));
        json_object_set_new(o, "tx_packets", json_real(field(blk, "TX-packets")));
        json_object_set_new(o, "tx_errors", json_real(field(blk, "TX-errors")));
        json_object_set_new(o, "tx_bytes", json_real(field(blk, "TX-bytes")));
        json_object_set_new(o, "rx_pps", json_real(field(blk, "Rx-pps")));
        json_object_set_new(o, "tx_pps", json_real(field(blk, "Tx-pps")));
        json_object_set_new(o, "rx_bps", json_real(field(blk, "Rx-bps")));
        json_object_set_new(o, "tx_bps", json_real(field(blk, "Tx-bps")));
        snprintf(key, sizeof(key), "%d", port);
        json_object_set_new(ports, key, o);
        p += 10;
    }
    if (json_object_size(ports) == 0) {
        json_decref(ports);
        return NULL;
    }
    {
        const char *k;
        json_t *o;

        json_object_foreach(ports, k, o)
        {
#define ADD(var, name)                                                         \
    do {                                                                       \
        double _v = json_real_value(json_object_get(o, name));                 \
        var += _v > 0 ? _v : 0;                                                \
    } while (0)
            ADD(rx_pps, "rx_pps");
            ADD(tx_pps, "tx_pps");
            ADD(rx_bps, "rx_bps");
            ADD(tx_bps, "tx_bps");
            ADD(rx_pk, "rx_packets");
            ADD(tx_pk, "tx_packets");
            ADD(miss, "rx_missed");
            ADD(err, "tx_errors");
#undef ADD
        }
    }
    j = json_object();
    tot = json_object();
    json_object_set_new(tot, "rx_pps", json_real(rx_pps));
    json_object_set_new(tot, "tx_pps", json_real(tx_pps));
    json_object_set_new(tot, "rx_bps", json_real(rx_bps));
    json_object_set_new(tot, "tx_bps", json_real(tx_bps));
    json_object_set_new(tot, "rx_packets", json_real(rx_pk));
    json_object_set_new(tot, "tx_packets", json_real(tx_pk));
    json_object_set_new(tot, "rx_missed", json_real(miss));
    json_object_set_new(tot, "tx_errors", json_real(err));
    json_object_set_new(tot, "loss",
                        json_real(tx_pk > 0 ? (miss + err) / (tx_pk + miss)
                                            : 0));
    json_object_set_new(j, "ports", ports);
    json_object_set_new(j, "total", tot);
    json_object_set_new(j, "msg_rate", json_real(rx_pps));
    json_object_set_new(j, "bandwidth_GBps", json_real(rx_bps / 8e9));
    return j;
}

/* ---- running tools ----------------------------------------------------------- */

static const char *which(const char *name, char *buf, size_t len)
{
    const char *path = getenv("PATH");
    char *dup, *save = NULL, *dir;

    dup = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
    if (dup == NULL) {
        return NULL;
    }
    for (dir = strtok_r(dup, ":", &save); dir != NULL;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(buf, len, "%s/%s", *dir ? dir : ".", name);
        if (access(buf, X_OK) == 0) {
            free(dup);
            return buf;
        }
    }
    free(dup);
    return NULL;
}

/* UCX_TLS for the reference's children; "" = the environment as it is. */
static char g_tls[128];

static pid_t spawn(char *const argv[], int out_fd)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        if (g_tls[0]) {
            setenv("UCX_TLS", g_tls, 1);
        }

        dup2(null, 0);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        dup2(out_fd >= 0 ? out_fd : null, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void reap(pid_t pid, int timeout_ms)
{
    uint64_t dl = cpn_deadline_ns(timeout_ms);

    if (pid <= 0) {
        return;
    }
    while (waitpid(pid, NULL, WNOHANG) == 0) {
        if (cpn_time_ns() > dl) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return;
        }
        usleep(10000);
    }
}

/* Is something listening on TCP @p port (/proc/net/tcp{,6})? */
static int port_listening(int port)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    char line[512];

    for (size_t i = 0; i < CPN_ARRAY_SIZE(files); i++) {
        FILE *f = fopen(files[i], "r");

        if (f == NULL) {
            continue;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
            char local[128], *colon;
            unsigned st;

            if (sscanf(line, " %*s %127s %*s %x", local, &st) == 2 &&
                (colon = strrchr(local, ':')) != NULL && st == 0x0A &&
                strtol(colon + 1, NULL, 16) == port) {
                fclose(f);
                return 1;
            }
        }
        fclose(f);
    }
    return 0;
}

/* Run client @p cli (after server @p srv, when not NULL, is listening on
 * @p port) and collect the client's output into a malloc'ed string. */
static char *run_pair(char *const srv[], char *const cli[], int port,
                      int timeout_ms)
{
    uint64_t dl = cpn_deadline_ns(timeout_ms);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    pid_t s = -1, c;
    int pfd[2];

    if (out == NULL || pipe2(pfd, O_CLOEXEC) < 0) {
        free(out);
        return NULL;
    }
    if (srv != NULL) {
        /* Wait until the server listens. Not by connecting: ucx_perftest's
         * server would take a probe connection as its client. */
        s = spawn(srv, -1);
        while (!port_listening(port) && cpn_time_ns() < dl) {
            usleep(10000);
        }
    }
    c = spawn(cli, pfd[1]);
    close(pfd[1]);
    for (;;) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int r = poll(&p, 1, 100);
        ssize_t n;

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (cpn_time_ns() > dl) {
            break;
        }
        if (r == 0) {
            continue;
        }
        if (len + 4096 > cap) {
            char *bigger = realloc(out, cap * 2);

            if (bigger == NULL) {
                break;
            }
            out = bigger;
            cap *= 2;
        }
        n = read(pfd[0], out + len, cap - len - 1);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    out[len] = '\0';
    close(pfd[0]);
    reap(c, 1000);
    reap(s, 3000);
    return out;
}

/* A port for a reference server: free now (the kernel's pick). */
static int pick_port(void)
{
    char err[64];
    uint16_t port = 0;
    int fd = cpn__bench_tcp_listen("127.0.0.1:0", &port, err, sizeof(err));

    if (fd >= 0) {
        close(fd);
    }
    return fd >= 0 ? port : -1;
}

/* A reference run that printed no result is run once more, on a port
 * picked again: the one picked can be taken by then (pick_port closes it
 * before the tool binds it), or a loaded machine can make the server miss
 * the client's start. Records the first run's output in @p j's "retried"
 * and frees @p out. Returns 1 to run again, 0 when it was the second run. */
static int retry_once(json_t *j, char *out)
{
    size_t n = strlen(out);

    if (json_object_get(j, "retried") != NULL) {
        return 0;
    }
    json_object_set_new(j, "retried",
                        json_string(n > 300 ? out + n - 300 : out));
    free(out);
    return 1;
}

static json_t *ref_new(const char *tool, const char *test, const char *compare,
                       uint64_t size)
{
    json_t *j = json_object();

    json_object_set_new(j, "tool", json_string(tool));
    json_object_set_new(j, "test", json_string(test));
    json_object_set_new(j, "compare", compare ? json_string(compare)
                                              : json_null());
    json_object_set_new(j, "size", json_integer((json_int_t)size));
    json_object_set_new(j, "status", json_string("ok"));
    json_object_set_new(j, "error", json_null());
    return j;
}

static void ref_fail(json_t *j, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ref_fail(json_t *j, const char *status, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_object_set_new(j, "status", json_string(status));
    json_object_set_new(j, "error", json_string(buf));
}

static void merge(json_t *dst, json_t *src)
{
    json_object_update(dst, src);
    json_decref(src);
}

/* UCX_TLS from cpn's lanes ("tcp/lo tcp/eth0" -> "tcp"): the transports
 * cpn's endpoints chose, so that ucx_perftest runs on the nearest path. */
static void lanes_tls(const char *lanes, char *tls, size_t len)
{
    char copy[256], *save = NULL, *tok;

    tls[0] = '\0';
    snprintf(copy, sizeof(copy), "%s", lanes ? lanes : "");
    for (tok = strtok_r(copy, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        char *slash = strchr(tok, '/');
        char word[64];

        if (slash != NULL) {
            *slash = '\0';
        }
        snprintf(word, sizeof(word), ",%s,", tok);
        {
            char have[160];

            snprintf(have, sizeof(have), ",%s,", tls);
            if (strstr(have, word) != NULL) {
                continue;
            }
        }
        if (strlen(tls) + strlen(tok) + 2 < len) {
            if (tls[0]) {
                strcat(tls, ",");
            }
            strcat(tls, tok);
        }
    }
}

static int run_ucx_perftest_env(cpn_bench_doc_t *doc,
                                const cpn_bench_params_t *p, const char *env);

static int run_ucx_perftest(cpn_bench_doc_t *doc, const cpn_bench_params_t *p,
                            const char *lanes)
{
    char tls[128];
    const char *cur = getenv("UCX_TLS");
    int failed;

    /* 1. the environment as it is: what UCX reaches on this machine. */
    g_tls[0] = '\0';
    failed = run_ucx_perftest_env(doc, p, cur ? cur : "");
    /* 2. narrowed to cpn's lanes, when that differs: the same path. */
    lanes_tls(lanes, tls, sizeof(tls));
    if (tls[0] && (cur == NULL || strcmp(cur, tls) != 0)) {
        snprintf(g_tls, sizeof(g_tls), "%s", tls);
        failed += run_ucx_perftest_env(doc, p, tls);
        g_tls[0] = '\0';
    }
    return failed;
}

static int run_ucx_perftest_env(cpn_bench_doc_t *doc,
                                const cpn_bench_params_t *p, const char *env)
{
    static const struct {
        const char *tool_test;
        cpn_bench_test_t cmp;
    } map[] = {
        {"ucp_put_bw", CPN_BENCH_PUT_BW},
        {"ucp_put_lat", CPN_BENCH_PUT_LAT},
        {"ucp_am_lat", CPN_BENCH_SEND_LAT},
    };
    char exe[512], port_s[16], size_s[32], iters_s[32], warm_s[32];
    int failed = 0;

    for (size_t t = 0; t < CPN_ARRAY_SIZE(map); t++) {
        if (!(p->tests & (1u << map[t].cmp))) {
            continue;
        }
        for (unsigned i = 0; i < p->nsizes; i++) {
            json_t *j = ref_new("ucx_perftest", map[t].tool_test,
                                cpn_bench_test_name(map[t].cmp), p->sizes[i]);
            char *out, cmd[512];
            unsigned iters = p->iters;
            int port;

            if (which("ucx_perftest", exe, sizeof(exe)) == NULL) {
                ref_fail(j, "skipped", "ucx_perftest is not installed "
                         "(apt-get install ucx-utils)");
                cpn_bench_doc_add_ref(doc, j);
                return 0;
            }
        again:
            port = pick_port();
            snprintf(port_s, sizeof(port_s), "%d", port);
            snprintf(size_s, sizeof(size_s), "%" PRIu64, p->sizes[i]);
            snprintf(iters_s, sizeof(iters_s), "%u", iters * p->trials);
            snprintf(warm_s, sizeof(warm_s), "%u", p->warmup);
            {
                char *srv[] = {exe, "-p", port_s, NULL};
                char *cli[] = {exe, "127.0.0.1", "-p", port_s, "-t",
                               (char *)map[t].tool_test, "-s", size_s, "-n",
                               iters_s, "-w", warm_s, NULL};

                snprintf(cmd, sizeof(cmd), "ucx_perftest 127.0.0.1 -p %s -t %s "
                         "-s %s -n %s -w %s", port_s, map[t].tool_test, size_s,
                         iters_s, warm_s);
                json_object_set_new(j, "cmd", json_string(cmd));
                json_object_set_new(j, "env_UCX_TLS", env[0] ? json_string(env)
                                                             : json_null());
                out = run_pair(srv, cli, port, p->timeout_ms);
            }
            if (out != NULL) {
                json_t *f = cpn_bench_parse_ucx_perftest(out);

                if (f != NULL) {
                    merge(j, f);
                } else if (retry_once(j, out)) {
                    goto again;
                } else {
                    size_t n = strlen(out);

                    ref_fail(j, "failed", "no Final line; output ends: %s",
                             n > 300 ? out + n - 300 : out);
                    failed++;
                }
                free(out);
            }
            cpn_bench_doc_add_ref(doc, j);
        }
    }
    return failed;
}

static int run_iperf3(cpn_bench_doc_t *doc, const cpn_bench_params_t *p)
{
    uint64_t blk = p->sizes[p->nsizes - 1];
    json_t *j;
    char exe[512], port_s[16], dur_s[16], par_s[16], len_s[32], *out;
    int port;
    char cmd[256];

    for (unsigned i = 0; i < p->nsizes; i++) {
        blk = p->sizes[i] > blk ? p->sizes[i] : blk;
    }
    if (blk > (UINT64_C(1) << 20)) {
        blk = UINT64_C(1) << 20; /* iperf3's largest -l for TCP */
    }
    j = ref_new("iperf3", "tcp_stream", "put_bw", blk);
    snprintf(len_s, sizeof(len_s), "%" PRIu64, blk);
    if (which("iperf3", exe, sizeof(exe)) == NULL) {
        ref_fail(j, "skipped", "iperf3 is not installed (apt-get install "
                 "iperf3)");
        cpn_bench_doc_add_ref(doc, j);
        return 0;
    }
    /* Kernel TCP over loopback, as many streams as cpn's, writes of the
     * sweep's largest size: compared to cpn's put_bw at that size. */
again:
    port = pick_port();
    snprintf(port_s, sizeof(port_s), "%d", port);
    snprintf(dur_s, sizeof(dur_s), "%d", p->duration_s >= 1 ? (int)p->duration_s : 2);
    snprintf(par_s, sizeof(par_s), "%u", p->streams);
    {
        char *srv[] = {exe, "-s", "-1", "-p", port_s, NULL};
        char *cli[] = {exe, "-c", "127.0.0.1", "-p", port_s, "-J", "-t",
                       dur_s, "-P", par_s, "-l", len_s, NULL};

        snprintf(cmd, sizeof(cmd), "iperf3 -c 127.0.0.1 -p %s -J -t %s -P %s "
                 "-l %s", port_s, dur_s, par_s, len_s);
        json_object_set_new(j, "cmd", json_string(cmd));
        out = run_pair(srv, cli, port, p->timeout_ms + 10000);
    }
    if (out != NULL) {
        json_t *f = cpn_bench_parse_iperf3(out);

        if (f != NULL) {
            merge(j, f);
        } else if (retry_once(j, out)) {
            goto again;
        } else {
            ref_fail(j, "failed", "iperf3 printed no result: %.300s", out);
        }
        free(out);
    }
    cpn_bench_doc_add_ref(doc, j);
    return strcmp(json_string_value(json_object_get(j, "status")), "failed") == 0;
}

/* perftest and testpmd need an RDMA device or a DPDK port this machine may
 * not have: they run only for those transports, and say why when not. */
static int run_missing(cpn_bench_doc_t *doc, const char *tool, const char *test,
                       const char *cmp, const char *why)
{
    json_t *j = ref_new(tool, test, cmp, 0);

    ref_fail(j, "skipped", "%s", why);
    cpn_bench_doc_add_ref(doc, j);
    return 0;
}

static int run_perftest(cpn_bench_doc_t *doc, const cpn_bench_params_t *p)
{
    static const struct {
        const char *tool;
        cpn_bench_test_t cmp;
        int lat;
    } map[] = {{"ib_write_bw", CPN_BENCH_PUT_BW, 0},
               {"ib_write_lat", CPN_BENCH_PUT_LAT, 1},
               {"ib_send_lat", CPN_BENCH_SEND_LAT, 1}};
    const char *dev = getenv("CPN_BENCH_IB_DEV");
    char exe[512];
    int failed = 0;

    for (size_t t = 0; t < CPN_ARRAY_SIZE(map); t++) {
        if (!(p->tests & (1u << map[t].cmp))) {
            continue;
        }
        if (which(map[t].tool, exe, sizeof(exe)) == NULL) {
            run_missing(doc, map[t].tool, map[t].tool,
                        cpn_bench_test_name(map[t].cmp),
                        "perftest is not installed (apt-get install perftest)");
            continue;
        }
        for (unsigned i = 0; i < p->nsizes; i++) {
            json_t *j = ref_new(map[t].tool, map[t].tool,
                                cpn_bench_test_name(map[t].cmp), p->sizes[i]);
            char size_s[32], iters_s[32], port_s[16], *out, cmd[256];
            int port = pick_port();
            json_t *rows;

            snprintf(size_s, sizeof(size_s), "%" PRIu64, p->sizes[i]);
            snprintf(iters_s, sizeof(iters_s), "%u", p->iters);
            snprintf(port_s, sizeof(port_s), "%d", port);
            {
                /* -F: no CPU-frequency check (it fails a run outright
                 * where the clock cannot be measured, as in a VM) */
                char *srv[] = {exe, "-p", port_s, "-s", size_s, "-n", iters_s,
                               "-d", (char *)(dev ? dev : "rxe0"), "-F", NULL};
                char *cli[] = {exe, "-p", port_s, "-s", size_s, "-n", iters_s,
                               "-d", (char *)(dev ? dev : "rxe0"), "-F",
                               "127.0.0.1", NULL};

                snprintf(cmd, sizeof(cmd), "%s -p %s -s %s -n %s -d %s -F "
                         "127.0.0.1", map[t].tool, port_s, size_s, iters_s,
                         dev ? dev : "rxe0");
                json_object_set_new(j, "cmd", json_string(cmd));
                out = run_pair(srv, cli, port, p->timeout_ms);
            }
            rows = out ? (map[t].lat ? cpn_bench_parse_perftest_lat(out)
                                     : cpn_bench_parse_perftest_bw(out))
                       : NULL;
            if (rows != NULL) {
                merge(j, json_incref(json_array_get(rows, 0)));
                json_decref(rows);
            } else {
                ref_fail(j, "failed", "%s printed no result row: %.300s",
                         map[t].tool, out ? out : "");
                failed++;
            }
            free(out);
            cpn_bench_doc_add_ref(doc, j);
        }
    }
    return failed;
}

/* The median of testpmd's nonzero per-second Rx-bps samples after the first
 * (the first straddles the start), in bit/s; 0 when none. */
/* The whole of what was written to @p fd so far, NUL-terminated, to
 * free(); NULL when empty or out of memory. */
static char *fd_slurp(int fd)
{
    off_t n = lseek(fd, 0, SEEK_END);
    char *out = n > 0 ? malloc((size_t)n + 1) : NULL;

    if (out != NULL) {
        ssize_t got = pread(fd, out, (size_t)n, 0);

        out[got > 0 ? got : 0] = '\0';
    }
    return out;
}

static double testpmd_rx_bps(const char *out)
{
    double v[512];
    int n = 0;
    const char *q = out;

    while ((q = strstr(q, "Rx-bps:")) != NULL && n < 512) {
        double x = strtod(q + 7, NULL);

        if (x > 0) {
            v[n++] = x;
        }
        q += 7;
    }
    if (n > 1) {
        memmove(v, v + 1, (size_t)(n - 1) * sizeof(v[0]));
        n--;
    }
    for (int i = 1; i < n; i++) {
        for (int k = i; k > 0 && v[k - 1] > v[k]; k--) {
            double t = v[k];

            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    }
    return n ? v[(n - 1) / 2] : 0;
}

/* dpdk-testpmd txonly -> rxonly over a net_memif pair (the path local mode
 * gives cpn's dpdk ends), frames of CPN_DPDK_MTU + 14 bytes, --no-huge as
 * cpn's ends; one CPU per side. Compared with put_bw at the sweep's largest
 * size: cpn's payload bytes against testpmd's frame bytes per second. */
static int run_testpmd(cpn_bench_doc_t *doc, const cpn_bench_params_t *p)
{
    uint64_t big = p->sizes[p->nsizes ? p->nsizes - 1 : 0];
    const char *mtu_s = getenv("CPN_DPDK_MTU");
    unsigned mtu = mtu_s ? (unsigned)strtoul(mtu_s, NULL, 10) : 1500;
    unsigned frame = (mtu ? mtu : 1500) + 14;
    int secs = p->duration_s >= 3 ? (int)p->duration_s : 3;
    int multi = sysconf(_SC_NPROCESSORS_ONLN) > 1;
    json_t *j = ref_new("dpdk-testpmd", "txonly_memif",
                        (p->tests & (1u << CPN_BENCH_PUT_BW)) ? "put_bw" : NULL,
                        big);
    char exe[512], sock[96], vrx[192], vtx[192], prx[48], ptx[48], txpkts[48],
         maxlen[48], logp[64], *out = NULL;
    int fd;

    if (which("dpdk-testpmd", exe, sizeof(exe)) == NULL) {
        ref_fail(j, "skipped", "dpdk-testpmd is not installed (apt-get "
                 "install dpdk)");
        cpn_bench_doc_add_ref(doc, j);
        return 0;
    }
    snprintf(sock, sizeof(sock), "/tmp/cpnbtp%d.sock", (int)getpid());
    snprintf(vrx, sizeof(vrx), "--vdev=net_memif0,role=server,socket=%s,"
             "socket-abstract=no", sock);
    snprintf(vtx, sizeof(vtx), "--vdev=net_memif0,role=client,socket=%s,"
             "socket-abstract=no", sock);
    snprintf(prx, sizeof(prx), "--file-prefix=cpnbtp%dr", (int)getpid());
    snprintf(ptx, sizeof(ptx), "--file-prefix=cpnbtp%dt", (int)getpid());
    snprintf(txpkts, sizeof(txpkts), "--txpkts=%u", frame);
    snprintf(maxlen, sizeof(maxlen), "--max-pkt-len=%u", frame + 4);
    snprintf(logp, sizeof(logp), "/tmp/cpnbtp%d.log", (int)getpid());
    {
        char *rx[] = {exe, "--lcores", "0@0,1@0",
                      prx, "--no-huge", "--no-shconf", "--no-telemetry",
                      "-m", "512", "--no-pci", vrx, "--",
                      "--forward-mode=rxonly", "--stats-period=1",
                      "--mbuf-size=2176", maxlen, "--nb-cores=1",
                      "--total-num-mbufs=16384", NULL};
        char *tx[] = {exe, "--lcores", (char *)(multi ? "0@1,1@1" : "0@0,1@0"),
                      ptx, "--no-huge", "--no-shconf", "--no-telemetry",
                      "-m", "512", "--no-pci", vtx, "--",
                      "--forward-mode=txonly", txpkts, "--stats-period=1",
                      "--mbuf-size=2176", maxlen, "--nb-cores=1",
                      "--total-num-mbufs=16384", NULL};
        char cmd[512];
        pid_t r, t;

        snprintf(cmd, sizeof(cmd), "dpdk-testpmd --lcores 0@0,1@0 --no-huge "
                 "--no-shconf --no-telemetry -m 512 --no-pci "
                 "--vdev=net_memif0,role=server,... -- "
                 "--forward-mode=rxonly --stats-period=1  |  dpdk-testpmd "
                 "--lcores 0@1,1@1 ... role=client -- --forward-mode=txonly "
                 "%s (%d s; Rx-bps median)", txpkts, secs);
        json_object_set_new(j, "cmd", json_string(cmd));
        json_object_set_new(j, "frame_bytes", json_integer(frame));
        unlink(sock);
        fd = open(logp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            ref_fail(j, "failed", "cannot write %s", logp);
            cpn_bench_doc_add_ref(doc, j);
            return 1;
        }
        r = spawn(rx, fd);
        /* Start the sender once the receiver's port is up (EAL start-up
         * takes seconds on a loaded machine), up to 30 s. */
        for (int i = 0; i < 300 && !cpn_bench_stop; i++) {
            char *log = fd_slurp(fd);
            int up = log != NULL && (strstr(log, "Checking link statuses") ||
                                     strstr(log, "Port 0: link state"));

            free(log);
            if (up) {
                break;
            }
            usleep(100000);
        }
        t = spawn(tx, -1);
        /* The duration, then up to 15 s more until the receiver has
         * reported a rate (the memif link comes up in its own time). */
        for (int i = 0; i < (secs + 17) * 10 && !cpn_bench_stop; i++) {
            usleep(100000);
            if (i >= (secs + 2) * 10 && i % 10 == 0) {
                char *log = fd_slurp(fd);
                int have = log != NULL && testpmd_rx_bps(log) > 0;

                free(log);
                if (have) {
                    break;
                }
            }
        }
        /* The receiver first: its last figures are still under load. */
        kill(r, SIGINT);
        reap(r, 5000);
        kill(t, SIGINT);
        reap(t, 5000);
        unlink(sock);
        out = fd_slurp(fd);
        close(fd);
        unlink(logp);
    }
    if (out != NULL) {
        json_t *f = cpn_bench_parse_testpmd(out);
        double bps = testpmd_rx_bps(out);

        if (f != NULL && bps > 0) {
            json_object_set_new(f, "bandwidth_GBps", json_real(bps / 8e9));
            json_object_set_new(f, "msg_rate", json_real(bps / 8 / frame));
            merge(j, f);
        } else {
            json_decref(f);
            ref_fail(j, "failed", "no Rx-bps from the rxonly side: %.300s",
                     out);
        }
        free(out);
    } else {
        ref_fail(j, "failed", "dpdk-testpmd printed nothing");
    }
    cpn_bench_doc_add_ref(doc, j);
    return strcmp(json_string_value(json_object_get(j, "status")), "failed") == 0;
}

unsigned cpn_bench_run_refs(cpn_bench_doc_t *doc, const cpn_bench_params_t *p,
                            const char *lanes)
{
    unsigned failed = 0;

    if (strcmp(p->transport, "ucx") == 0) {
        failed += (unsigned)run_ucx_perftest(doc, p, lanes);
    }
    if (strcmp(p->transport, "verbs") == 0) {
        failed += (unsigned)run_perftest(doc, p);
    }
    if (strcmp(p->transport, "dpdk") == 0) {
        failed += (unsigned)run_testpmd(doc, p);
    }
    /* Kernel TCP, the floor every transport should beat. */
    if (p->tests & (1u << CPN_BENCH_PUT_BW)) {
        failed += (unsigned)run_iperf3(doc, p);
    }
    return failed;
}
