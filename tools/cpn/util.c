/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the cpn subcommands: the one place that maps a
 * cpn_status_t to an exit code, usage messages, size and time parsing with
 * units, human formatting of bytes, rates and durations, the stderr
 * progress bar, and a person's view of a receipt. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_exit_code(cpn_status_t status, int local)
{
    if (status == CPN_OK || status == CPN_INPROGRESS) {
        return CLI_EXIT_OK;
    }
    if (local) {
        return CLI_EXIT_LOCAL;
    }
    if (CPN_STATUS_IS_ENDPOINT(status)) {
        return CLI_EXIT_PEER; /* unreachable, connection lost, transport */
    }
    switch (status) {
    case CPN_ERR_TIMEOUT:
    case CPN_ERR_VERSION:
    case CPN_ERR_AUTH:
        return CLI_EXIT_PEER;
    default:
        /* refused, checksum, limits, the receiver's storage, canceled... */
        return CLI_EXIT_TASK;
    }
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "cpn%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'cpn%s%s --help'.\n", cmd ? " " : "",
            cmd ? cmd : "");
    return CLI_EXIT_USAGE;
}

int cli_getopt_error(const char *cmd, int c, char **argv)
{
    const char *opt = argv[optind - 1];

    if (c == ':') {
        return cli_usage(cmd, "option '%s' needs an argument", opt);
    }
    if (optopt != 0) {
        return cli_usage(cmd, "unknown option '-%c'", optopt);
    }
    return cli_usage(cmd, "unknown option '%s'", opt);
}

static volatile sig_atomic_t *cli_stop_flag;

static void cli_stop_handler(int sig)
{
    (void)sig;
    if (cli_stop_flag != NULL) {
        *cli_stop_flag = 1;
    }
}

void cli_catch_stop_signals(volatile sig_atomic_t *stop_flag)
{
    struct sigaction sa;

    cli_stop_flag = stop_flag;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = cli_stop_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- parsing ------------------------------------------------------------ */

int cli_parse_size(const char *s, uint64_t *value_p)
{
    char *end;
    double v, mult = 1;

    if (s == NULL || !isdigit((unsigned char)s[0])) {
        return -1;
    }
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s) {
        return -1;
    }
    switch (*end) {
    case '\0':
        break;
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    case 'b': case 'B': break;
    default:
        return -1;
    }
    if (mult > 1 && *end == 'i') {
        end++;
    }
    if (*end == 'B' || *end == 'b') {
        end++;
    }
    if (*end != '\0') {
        return -1;
    }
    v *= mult;
    /* a fraction of a byte is not a size; 2^64 does not fit */
    if (v != floor(v) || v >= 18446744073709551616.0) {
        return -1;
    }
    *value_p = (uint64_t)v;
    return 0;
}

int cli_parse_uint(const char *s, uint64_t min, uint64_t max,
                   uint64_t *value_p)
{
    char *end;
    unsigned long long v;

    if (s == NULL || !isdigit((unsigned char)s[0])) {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *value_p = v;
    return 0;
}

int cli_parse_seconds(const char *s, int *ms_p)
{
    char *end;
    double v, ms;

    if (s == NULL || !(isdigit((unsigned char)s[0]) || s[0] == '.')) {
        return -1;
    }
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s) {
        return -1;
    }
    if (*end == '\0' || strcmp(end, "s") == 0) {
        ms = v * 1e3;
    } else if (strcmp(end, "ms") == 0) {
        ms = v;
    } else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) {
        ms = v * 60e3;
    } else if (strcmp(end, "h") == 0) {
        ms = v * 3600e3;
    } else {
        return -1;
    }
    if (!(ms >= 1) || ms > INT_MAX) {
        return -1;
    }
    *ms_p = (int)ms;
    return 0;
}

int cli_check_addr(const char *addr)
{
    const char *colon, *p;
    uint64_t port;

    if (addr == NULL || addr[0] == '\0') {
        return -1;
    }
    if (addr[0] == '[') {
        p = strchr(addr, ']');
        if (p == NULL || p == addr + 1 || p[1] != ':') {
            return -1;
        }
        colon = p + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL || colon == addr) {
            return -1;
        }
    }
    return cli_parse_uint(colon + 1, 0, 65535, &port);
}

/* ---- formatting --------------------------------------------------------- */

uint64_t cli_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *cli_fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB",
                                       "PiB", "EiB"};
    double v = (double)bytes;
    unsigned u = 0;

    while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    } else if (v >= 99.95) {
        snprintf(buf, len, "%.0f %s", v, unit[u]);
    } else if (v >= 9.995) {
        snprintf(buf, len, "%.1f %s", v, unit[u]);
    } else {
        snprintf(buf, len, "%.2f %s", v, unit[u]);
    }
    return buf;
}

const char *cli_fmt_rate(double bytes_per_s, char *buf, size_t len)
{
    if (!(bytes_per_s > 0)) {
        snprintf(buf, len, "-- MB/s");
    } else if (bytes_per_s >= 1e9) {
        snprintf(buf, len, "%.2f GB/s", bytes_per_s / 1e9);
    } else if (bytes_per_s >= 100e6) {
        snprintf(buf, len, "%.0f MB/s", bytes_per_s / 1e6);
    } else {
        snprintf(buf, len, "%.1f MB/s", bytes_per_s / 1e6);
    }
    return buf;
}

const char *cli_fmt_ns(double ns, char *buf, size_t len)
{
    if (ns < 1e3) {
        snprintf(buf, len, "%.0f ns", ns);
    } else if (ns < 1e6) {
        snprintf(buf, len, "%.1f us", ns / 1e3);
    } else if (ns < 1e9) {
        snprintf(buf, len, "%.1f ms", ns / 1e6);
    } else if (ns < 100e9) {
        snprintf(buf, len, "%.2f s", ns / 1e9);
    } else {
        unsigned long s = (unsigned long)(ns / 1e9 + 0.5);
        snprintf(buf, len, "%lum%02lus", s / 60, s % 60);
    }
    return buf;
}

void cli_print_receipt(FILE *out, const cpn_receipt_t *r, size_t max_objects)
{
    char b1[32], b2[32], b3[32], digest[33];
    double secs = (double)r->elapsed_ns / 1e9;
    size_t i, width = 0, shown;

    fprintf(out, "job         %s (task %llu)\n", r->job,
            (unsigned long long)r->task_id);
    fprintf(out, "route       %s -> %s (%s)\n", r->sender, r->receiver,
            r->peer_addr);
    fprintf(out, "landed at   %s\n", r->landed_at);
    fprintf(out, "objects     %llu", (unsigned long long)r->objects);
    if (r->inline_objects > 0) {
        fprintf(out, " (%llu inline)", (unsigned long long)r->inline_objects);
    }
    fprintf(out, "\nbytes       %s (%llu)\n",
            cli_fmt_bytes(r->bytes, b1, sizeof(b1)),
            (unsigned long long)r->bytes);
    fprintf(out, "elapsed     %s\n", cli_fmt_ns((double)r->elapsed_ns, b1,
                                                sizeof(b1)));
    fprintf(out, "goodput     %.2f Gb/s (%s)\n", r->goodput_gbps,
            cli_fmt_rate(secs > 0 ? (double)r->bytes / secs : 0, b1,
                         sizeof(b1)));
    fprintf(out, "chunks      %llu, latency p50 %s, p99 %s",
            (unsigned long long)r->chunks,
            cli_fmt_ns(r->chunk_p50_us * 1e3, b2, sizeof(b2)),
            cli_fmt_ns(r->chunk_p99_us * 1e3, b3, sizeof(b3)));
    if (r->mapped_chunks > 0) {
        fprintf(out, ", %llu copied into the peer's mapped memory",
                (unsigned long long)r->mapped_chunks);
    }
    if (r->retries > 0) {
        fprintf(out, ", %llu retried", (unsigned long long)r->retries);
    }
    if (r->resumed_chunks > 0) {
        fprintf(out, ", %llu resumed (%s held by the receiver from an "
                "earlier try)", (unsigned long long)r->resumed_chunks,
                cli_fmt_bytes(r->resumed_bytes, b1, sizeof(b1)));
    }
    fprintf(out, "\ntransport   %s, lanes: %s\n", r->transport,
            r->lanes[0] != '\0' ? r->lanes : "-");

    shown = r->nobjects < max_objects ? r->nobjects : max_objects;
    for (i = 0; i < shown; i++) {
        size_t n = strlen(r->object[i].name);
        width = n > width ? n : width;
    }
    width = width > 48 ? 48 : width;
    for (i = 0; i < shown; i++) {
        const cpn_receipt_object_t *o = &r->object[i];
        cpn_digest_hex(o->digest_hi, o->digest_lo, digest);
        fprintf(out, "  %-*s  %10s  xxh3-128 %s%s\n", (int)width, o->name,
                cli_fmt_bytes(o->size, b1, sizeof(b1)), digest,
                o->inlined ? "  (inline)" : "");
    }
    if (r->nobjects > shown) {
        fprintf(out, "  ... and %zu more objects (--json lists them all)\n",
                r->nobjects - shown);
    }
}

/* ---- the progress bar --------------------------------------------------- */

#define CLI_PROGRESS_PERIOD_NS 100000000ull /* redraw at most 10 times/s */

void cli_progress_init(cli_progress_t *p, int enabled)
{
    memset(p, 0, sizeof(*p));
    p->enabled = enabled && isatty(STDERR_FILENO);
    p->t0_ns = cli_now_ns();
    p->last_draw_ns = p->t0_ns;
}

static unsigned cli_term_width(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) {
        return ws.ws_col;
    }
    return 80;
}

static void cli_fmt_eta(double secs, char *buf, size_t len)
{
    unsigned long s;

    if (!(secs >= 0) || secs > 359999) {
        snprintf(buf, len, "--:--");
        return;
    }
    s = (unsigned long)(secs + 0.5);
    if (s >= 3600) {
        snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    } else {
        snprintf(buf, len, "%lu:%02lu", s / 60, s % 60);
    }
}

void cli_progress_update(cli_progress_t *p, uint64_t done, uint64_t total)
{
    char sdone[32], stotal[32], srate[32], seta[32], text[160], bar[128];
    uint64_t now;
    double dt, pct, inst;
    unsigned i, width, fill;

    if (!p->enabled) {
        return;
    }
    now = cli_now_ns();
    if (now - p->last_draw_ns < CLI_PROGRESS_PERIOD_NS && done < total) {
        return;
    }
    /* The rate is smoothed over redraws, so a burst of acks does not make
     * the estimate jump; the first sample seeds it. */
    dt = (double)(now - p->last_draw_ns) / 1e9;
    if (dt > 0 && done >= p->last_done) {
        inst = (double)(done - p->last_done) / dt;
        p->rate = p->rate == 0 ? inst : 0.7 * p->rate + 0.3 * inst;
    }
    p->last_draw_ns = now;
    p->last_done = done;

    pct = total > 0 ? 100.0 * (double)done / (double)total : 100.0;
    cli_fmt_eta(p->rate > 0 ? (double)(total - done) / p->rate : -1, seta,
                sizeof(seta));
    snprintf(text, sizeof(text), " %5.1f%%  %s / %s  %s  %s left", pct,
             cli_fmt_bytes(done, sdone, sizeof(sdone)),
             cli_fmt_bytes(total, stotal, sizeof(stotal)),
             cli_fmt_rate(p->rate, srate, sizeof(srate)), seta);

    /* a fixed width (the text varies by a few characters) that leaves the
     * text room on narrow terminals */
    width = cli_term_width() > 62 ? cli_term_width() - 62 : 10;
    width = width > 30 ? 30 : width < 10 ? 10 : width;
    fill = (unsigned)(pct / 100.0 * width);
    for (i = 0; i < width; i++) {
        bar[i] = i < fill ? '#' : '.';
    }
    bar[width] = '\0';
    fprintf(stderr, "\r[%s]%s\033[K", bar, text);
    fflush(stderr);
    p->drawn = 1;
}

void cli_progress_end(cli_progress_t *p)
{
    if (p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
        p->drawn = 0;
    }
}

void cli_progress_cb(void *arg, cpn_task_t *task, uint64_t done,
                     uint64_t total)
{
    (void)task;
    cli_progress_update(arg, done, total);
}

char *cli_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (f == NULL) {
        return NULL;
    }
    do {
        if (cap - len < 4096) {
            char *b = realloc(buf, cap * 2 + 65536);

            if (b == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
            cap = cap * 2 + 65536;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}
