/* SPDX-License-Identifier: Apache-2.0 */
/* cpn-bench-ucx-task: the task-level benchmark of the UCX backend, written
 * against the public API, with the field's reference tool (ucx_perftest) run
 * on the same path in the same run so that every figure has a ratio beside
 * it:
 *   a. bandwidth: one large object memory to memory (zero copy at both ends,
 *      integrity on) versus ucx_perftest ucp_put_bw;
 *   b. the same object file to file, into the default landing sink;
 *   c. small tasks one after another versus ucx_perftest ucp_am_lat round
 *      trips;
 *   d. peak RSS of sender and receiver for file deliveries of growing size:
 *      memory must stay bounded by the window, whatever the object's size.
 *
 * ucx_perftest runs in cpn's environment (the reference of the targets)
 * and, as a diagnostic where that differs, with UCX_TLS narrowed to the
 * transports of cpn's lanes: the nearest path to cpn's.
 *
 * This process only orchestrates. Every cpn site runs in a child forked
 * before any UCX call in it, fresh for each measurement, so that each peak
 * RSS is that child's own; children talk to it over pipes in text lines.
 * Every child and reference process is killed and reaped on every path, and
 * every wait is bounded. It is a benchmark, not a test: targets are printed
 * beside the figures, and the exit status says only whether every
 * measurement ran (0) or something failed (1); 2 is a usage error. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <cpn/cpn.h>

#include "core/clock.h"
#include "core/compiler.h"
#include "core/config.h"

#define KIB          UINT64_C(1024)
#define MIB          (UINT64_C(1024) * KIB)
#define GIB          (UINT64_C(1024) * MIB)

#define LINE_MAX_LEN 1024
#define MAX_PROCS    16

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct bench_opts {
    uint64_t size;         /* (a), (b): object bytes */
    unsigned runs;         /* (a), (b): deliveries, median taken */
    unsigned tasks;        /* (c): small tasks */
    unsigned warmup;       /* (c): tasks before the timed ones */
    uint64_t small_size;   /* (c): bytes per small object */
    uint64_t rss_size[2];  /* (d): the two file sizes */
    unsigned pt_bw_iters;  /* ucx_perftest -n for ucp_put_bw */
    uint64_t pt_bw_size;   /* ucx_perftest -s for ucp_put_bw */
    unsigned pt_lat_iters; /* ucx_perftest -n for ucp_am_lat */
    unsigned lat_rounds;   /* (c): paired rounds of cpn then am_lat */
    int skip_bw, skip_file, skip_lat, skip_rss;
    int quick;
    const char *json_path;
    const char *tmp_base;
    const char *perftest; /* path of ucx_perftest, NULL when not found */
} bench_opts_t;

static bench_opts_t g_opt;
static char g_tmpdir[PATH_MAX - 64]; /* room for the file names below */
static volatile sig_atomic_t g_stop;
static pid_t g_main_pid;
static pid_t g_procs[MAX_PROCS]; /* every live child, for cleanup */
static int g_failed;             /* a measurement failed: exit 1 */
static cpn_site_params_t g_defaults;
static double g_busy_start = -1, g_busy_end = -1; /* cpu_busy_pct() */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "cpn-bench-ucx-task: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    g_failed = 1;
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (double)MIB;
}

/* "1 GiB", "64 MiB", "4 KiB" or bytes, for headings. */
static const char *size_str(uint64_t v, char *buf, size_t len)
{
    if (v >= GIB && v % GIB == 0) {
        snprintf(buf, len, "%" PRIu64 " GiB", v / GIB);
    } else if (v >= MIB && v % MIB == 0) {
        snprintf(buf, len, "%" PRIu64 " MiB", v / MIB);
    } else if (v >= KIB && v % KIB == 0) {
        snprintf(buf, len, "%" PRIu64 " KiB", v / KIB);
    } else {
        snprintf(buf, len, "%" PRIu64 " B", v);
    }
    return buf;
}

/* Copy @p src into @p dst[cap], cut to fit. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Median of @p n values (sorts a copy); NAN when n == 0. */
static double median(const double *v, unsigned n)
{
    double s[64];

    if (n == 0 || n > 64) {
        return NAN;
    }
    memcpy(s, v, n * sizeof(*v));
    qsort(s, n, sizeof(*s), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Nearest-rank percentile of sorted @p v. */
static uint64_t pct_sorted(const uint64_t *v, size_t n, double pct)
{
    size_t rank = (size_t)ceil(pct / 100.0 * (double)n);

    if (n == 0) {
        return 0;
    }
    if (rank < 1) {
        rank = 1;
    }
    return v[(rank > n ? n : rank) - 1];
}

/* ------------------------------------------------------------------------ */
/* Processes: spawn, line I/O, bounded reaping                               */
/* ------------------------------------------------------------------------ */

static void procs_add(pid_t pid)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (g_procs[i] == 0) {
            g_procs[i] = pid;
            return;
        }
    }
}

static void procs_del(pid_t pid)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (g_procs[i] == pid) {
            g_procs[i] = 0;
        }
    }
}

/* Kill and reap every child still registered. */
static void procs_kill_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (g_procs[i] > 0) {
            kill(g_procs[i], SIGKILL);
            while (waitpid(g_procs[i], NULL, 0) < 0 && errno == EINTR) {
            }
            g_procs[i] = 0;
        }
    }
}

/* The parent's ends of the children's pipes, closed in each new child. */
static int g_fds[MAX_PROCS]; /* -1: free (set in main) */

static int fds_add(int fd)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (g_fds[i] < 0) {
            g_fds[i] = fd;
            break;
        }
    }
    return fd;
}

static void fds_close(int *fd)
{
    if (*fd < 0) {
        return;
    }
    for (int i = 0; i < MAX_PROCS; i++) {
        if (g_fds[i] == *fd) {
            g_fds[i] = -1;
        }
    }
    close(*fd);
    *fd = -1;
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = cpn_time_ns();

    if (now >= deadline) {
        return 0;
    }
    return (int)CPN_MIN((deadline - now) / 1000000 + 1, (uint64_t)INT_MAX);
}

/* Wait up to @p timeout_ms for @p pid to exit, then SIGKILL it. Writes its
 * wait status into @p status_p (optional). @return 0 when it exited by
 * itself, -1 when it had to be killed. */
static int proc_reap(pid_t pid, int timeout_ms, int *status_p)
{
    uint64_t deadline = cpn_deadline_ns(timeout_ms);
    int status = 0, ret = 0;
    pid_t r;

    if (pid <= 0) {
        return 0;
    }
    for (;;) {
        r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) {
            break;
        }
        if (cpn_time_ns() >= deadline || g_stop) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            ret = -1;
            break;
        }
        usleep(5000);
    }
    procs_del(pid);
    if (status_p != NULL) {
        *status_p = status;
    }
    return ret;
}

static const char *wait_str(int status, char *buf, size_t len)
{
    if (WIFEXITED(status)) {
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else {
        snprintf(buf, len, "wait status 0x%x", status);
    }
    return buf;
}

/* Done in every child right after fork: die with the parent, default
 * signals, never outlive @p max_s seconds. */
static void child_setup(unsigned max_s)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != g_main_pid) {
        _exit(127); /* the parent died before prctl */
    }
    if (max_s > 0) {
        alarm(max_s);
    }
}

/* A cpn child: the role it plays and what it needs for it. */
typedef enum role {
    ROLE_RECV,       /* receiver site: memory sink when sink_size > 0,
                      * else land files under land_dir */
    ROLE_SEND_MEM,   /* sender: @count deliveries of a registered buffer */
    ROLE_SEND_FILE,  /* sender: @count deliveries of the file at @path */
    ROLE_SEND_SMALL, /* sender: @warmup + @count small tasks */
} role_t;

typedef struct child_args {
    role_t role;
    const char *tag;      /* "receiver", "sender": log prefix */
    uint64_t size;        /* object size; receiver: sink bytes (0: files) */
    unsigned count;       /* deliveries or tasks */
    unsigned warmup;      /* small tasks not timed */
    const char *addr;     /* sender: the receiver's "HOST:PORT" */
    const char *path;     /* sender: source file */
    const char *land_dir; /* receiver: landing directory; sender: cleans it */
    int task_timeout_ms;  /* one delivery */
    unsigned max_s;       /* the child's whole life */
} child_args_t;

typedef struct child {
    pid_t pid;
    int ctrl_fd; /* parent -> child */
    int rep_fd;  /* child -> parent */
    const char *tag;
    char buf[4096];
    size_t len;
} child_t;

static void child_main(const child_args_t *a, int ctrl_fd, int rep_fd);

static int child_spawn(child_t *c, const child_args_t *a)
{
    int ctrl[2], rep[2];
    pid_t pid;

    memset(c, 0, sizeof(*c));
    c->pid = -1;
    c->ctrl_fd = c->rep_fd = -1;
    c->tag = a->tag;
    if (pipe2(ctrl, O_CLOEXEC) < 0) {
        fail("pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(rep, O_CLOEXEC) < 0) {
        fail("pipe: %s", strerror(errno));
        close(ctrl[0]);
        close(ctrl[1]);
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fail("fork: %s", strerror(errno));
        close(ctrl[0]);
        close(ctrl[1]);
        close(rep[0]);
        close(rep[1]);
        return -1;
    }
    if (pid == 0) {
        /* Drop our ends and those of the other live children (only
         * those: UCX's constructors may have opened fds of their own). */
        close(ctrl[1]);
        close(rep[0]);
        for (int i = 0; i < MAX_PROCS; i++) {
            if (g_fds[i] >= 0) {
                close(g_fds[i]);
            }
        }
        child_setup(a->max_s);
        child_main(a, ctrl[0], rep[1]);
        _exit(0);
    }
    procs_add(pid);
    close(ctrl[0]);
    close(rep[1]);
    c->pid = pid;
    c->ctrl_fd = fds_add(ctrl[1]);
    c->rep_fd = fds_add(rep[0]);
    return 0;
}

/* Read one line from the child into @p line (without the newline).
 * @return 1 with a line; 0 at EOF (the child is gone); -1 on timeout. */
static int child_readline(child_t *c, char *line, size_t cap, uint64_t deadline)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        struct pollfd pfd = {.fd = c->rep_fd, .events = POLLIN};
        ssize_t n;
        int r;

        if (nl != NULL) {
            size_t l = (size_t)(nl - c->buf);
            size_t k = CPN_MIN(l, cap - 1);

            memcpy(line, c->buf, k);
            line[k] = '\0';
            memmove(c->buf, nl + 1, c->len - l - 1);
            c->len -= l + 1;
            return 1;
        }
        if (c->len == sizeof(c->buf)) {
            c->len = 0; /* an over-long line: drop it */
        }
        if (g_stop) {
            return -1;
        }
        r = poll(&pfd, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r == 0) {
            return -1;
        }
        n = read(c->rep_fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return 0;
        }
        c->len += (size_t)n;
    }
}

/* Close our ends, wait up to @p timeout_ms for the child, else kill it.
 * @return 0 when it exited with status 0 by itself. */
static int child_finish(child_t *c, int timeout_ms)
{
    char ws[64];
    int status = 0, r;

    fds_close(&c->ctrl_fd);
    r = proc_reap(c->pid, timeout_ms, &status);
    fds_close(&c->rep_fd);
    if (c->pid <= 0) {
        return 0;
    }
    c->pid = -1;
    if (r < 0) {
        fail("%s did not exit in %d ms: killed", c->tag, timeout_ms);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail("%s ended with %s", c->tag, wait_str(status, ws, sizeof(ws)));
        return -1;
    }
    return 0;
}

/* Kill a child at once (error paths). */
static void child_kill(child_t *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
    }
    child_finish(c, 5000);
}

/* Write one line to the child's report pipe (child side). */
static void rep(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rep(int fd, const char *fmt, ...)
{
    char line[LINE_MAX_LEN];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n > sizeof(line) - 2) {
        n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(fd, line + off, (size_t)(n - off));

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            _exit(3); /* the parent is gone */
        }
        off += w;
    }
}

/* ------------------------------------------------------------------------ */
/* Files                                                                      */
/* ------------------------------------------------------------------------ */

/* A cheap non-constant pattern (xorshift64), so nothing can shortcut zeros. */
static void fill_pattern(void *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1, *p = buf;
    size_t i, n = len / 8;

    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = x;
    }
    memset((char *)buf + n * 8, 0x5a, len - n * 8);
}

/* Write @p size bytes of pattern to @p path; fdatasync when @p sync. */
static int write_file(const char *path, uint64_t size, int sync)
{
    const size_t blk = 4 * MIB;
    uint64_t off = 0;
    void *buf;
    int fd, ret = 0;

    buf = malloc(blk);
    if (buf == NULL) {
        fail("out of memory");
        return -1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail("%s: %s", path, strerror(errno));
        free(buf);
        return -1;
    }
    while (off < size && !g_stop) {
        size_t n = (size_t)CPN_MIN((uint64_t)blk, size - off);
        ssize_t w;

        fill_pattern(buf, n, off / blk + 1);
        w = pwrite(fd, buf, n, (off_t)off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            fail("%s: write: %s", path, w < 0 ? strerror(errno) : "short");
            ret = -1;
            break;
        }
        off += (uint64_t)w;
    }
    if (ret == 0 && g_stop) {
        ret = -1;
    }
    if (ret == 0 && sync && fdatasync(fd) < 0) {
        fail("%s: fdatasync: %s", path, strerror(errno));
        ret = -1;
    }
    close(fd);
    free(buf);
    return ret;
}

/* Percentage of @p path's pages in the page cache (mincore), or -1. */
static double cache_resident_pct(const char *path)
{
    long pg = sysconf(_SC_PAGESIZE);
    struct stat st;
    unsigned char *vec;
    size_t pages, in = 0;
    void *map;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) < 0 || st.st_size == 0) {
        close(fd);
        return -1;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        return -1;
    }
    pages = ((size_t)st.st_size + (size_t)pg - 1) / (size_t)pg;
    vec = malloc(pages);
    if (vec != NULL && mincore(map, (size_t)st.st_size, vec) == 0) {
        for (size_t i = 0; i < pages; i++) {
            in += vec[i] & 1;
        }
    } else {
        pages = 0;
    }
    free(vec);
    munmap(map, (size_t)st.st_size);
    return pages ? 100.0 * (double)in / (double)pages : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t disk_free(const char *dir)
{
    struct statvfs sv;

    if (statvfs(dir, &sv) < 0) {
        return 0;
    }
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

static uint64_t mem_available(void)
{
    char line[256];
    uint64_t kb = 0;
    FILE *f = fopen("/proc/meminfo", "r");

    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "MemAvailable: %" SCNu64, &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb * KIB;
}

/* Share of CPU time (all CPUs) spent busy over the next @p ms, from
 * /proc/stat; -1 when it cannot be read. Taken while no child of ours
 * runs, it says how busy the rest of the machine is. */
static double cpu_busy_pct(int ms)
{
    unsigned long long v[2][8];

    for (int k = 0; k < 2; k++) {
        FILE *f = fopen("/proc/stat", "r");
        int n;

        if (f == NULL) {
            return -1;
        }
        memset(v[k], 0, sizeof(v[k]));
        n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[k][0],
                   &v[k][1], &v[k][2], &v[k][3], &v[k][4], &v[k][5], &v[k][6],
                   &v[k][7]);
        fclose(f);
        if (n < 5) {
            return -1;
        }
        if (k == 0) {
            usleep((useconds_t)ms * 1000);
        }
    }
    {
        unsigned long long tot = 0, idle;

        for (int i = 0; i < 8; i++) {
            tot += v[1][i] - v[0][i];
        }
        idle = (v[1][3] - v[0][3]) + (v[1][4] - v[0][4]); /* idle+iowait */
        return tot ? 100.0 * (double)(tot - idle) / (double)tot : -1;
    }
}

/* ------------------------------------------------------------------------ */
/* The cpn children                                                          */
/* ------------------------------------------------------------------------ */

static long maxrss_kb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void *alloc_touched(size_t len)
{
    void *p = NULL;

    if (posix_memalign(&p, 4096, len ? len : 1) != 0) {
        return NULL;
    }
    memset(p, 0, len); /* fault every page in now, not during a delivery */
    return p;
}

/* Receiver state, shared with its hooks. */
typedef struct recv_state {
    void *sink;
    size_t sink_len;
    cpn_mem_t *mem;
    uint64_t landed, failed, offers, refused;
    cpn_status_t first_err;
} recv_state_t;

/* Route every object of the offer into the registered sink, back to back. */
static cpn_status_t recv_offer_cb(void *arg, cpn_offer_t *offer)
{
    recv_state_t *rs = arg;
    size_t off = 0;

    rs->offers++;
    if (rs->mem == NULL) {
        return CPN_OK; /* files: the site's default landing sink */
    }
    for (size_t i = 0; i < cpn_offer_count(offer); i++) {
        uint64_t sz = cpn_offer_size(offer, i);
        cpn_status_t st;

        if (sz > rs->sink_len - off) {
            rs->refused++;
            return CPN_ERR_LIMIT;
        }
        st = cpn_offer_set_sink(offer, i, (char *)rs->sink + off, rs->mem);
        if (st != CPN_OK) {
            rs->refused++;
            return st;
        }
        off += (size_t)sz;
    }
    return CPN_OK;
}

static void recv_landed_cb(void *arg, cpn_status_t status,
                           const cpn_receipt_t *receipt)
{
    recv_state_t *rs = arg;

    (void)receipt;
    if (status == CPN_OK) {
        rs->landed++;
    } else {
        if (rs->failed++ == 0) {
            rs->first_err = status;
        }
    }
}

/* Has the parent asked us to stop (a line, or EOF)? Never blocks. */
static int ctrl_stop(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    return poll(&pfd, 1, 0) > 0;
}

static void role_recv(const child_args_t *a, int ctrl_fd, int rep_fd)
{
    recv_state_t rs = {.first_err = CPN_OK};
    cpn_site_params_t p;
    cpn_site_t *site;
    char bound[128];
    cpn_status_t st;
    unsigned long it = 0;

    cpn_site_params_init(&p);
    p.name = "bench-receiver";
    p.land_dir = a->land_dir;
    if (p.max_task_bytes < a->size) {
        p.max_task_bytes = a->size;
    }
    p.offer_cb = recv_offer_cb;
    p.offer_arg = &rs;
    p.landed_cb = recv_landed_cb;
    p.landed_arg = &rs;
    st = cpn_site_open(&p, &site);
    if (st != CPN_OK) {
        rep(rep_fd, "FAIL cpn_site_open: %s", cpn_status_str(st));
        _exit(1);
    }
    if (a->size > 0) {
        rs.sink_len = (size_t)a->size;
        /* The sink is memory the transport placed (as ucx_perftest's
         * buffers are), touched now so page faults stay out of the timing. */
        st = cpn_site_mem_alloc(site, rs.sink_len, &rs.mem);
        if (st != CPN_OK) {
            rep(rep_fd, "FAIL cpn_site_mem_alloc of %" PRIu64 " bytes: %s",
                a->size, cpn_status_str(st));
            _exit(1);
        }
        rs.sink = cpn_mem_addr(rs.mem);
        memset(rs.sink, 0, rs.sink_len);
    }
    st = cpn_site_listen(site, "127.0.0.1:0", bound, sizeof(bound));
    if (st != CPN_OK) {
        rep(rep_fd, "FAIL cpn_site_listen: %s", cpn_status_str(st));
        _exit(1);
    }
    rep(rep_fd, "BASE %ld", maxrss_kb());
    rep(rep_fd, "ADDR %s", bound);

    /* Serve with busy progress; look at the control pipe every 1024 turns
     * (a poll(2) each turn would cost more than the progress call). */
    for (;;) {
        cpn_site_progress(site);
        if ((++it & 1023) == 0 && ctrl_stop(ctrl_fd)) {
            break;
        }
    }
    rep(rep_fd, "DONE %ld %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s",
        maxrss_kb(), rs.landed, rs.failed, rs.offers, rs.refused,
        cpn_status_name(rs.first_err));
    if (rs.mem != NULL) {
        cpn_site_mem_dereg(rs.mem);
    }
    cpn_site_close(site);
}

/* Drive @p site with busy progress until @p task is done or the deadline. */
static cpn_status_t busy_wait(cpn_site_t *site, cpn_task_t *task,
                              uint64_t deadline)
{
    cpn_status_t st;
    unsigned it = 0;

    while ((st = cpn_task_status(task)) == CPN_INPROGRESS) {
        cpn_site_progress(site);
        if ((++it & 255) == 0 && cpn_time_ns() > deadline) {
            cpn_task_cancel(task);
            return CPN_ERR_TIMEOUT;
        }
    }
    return st;
}

static int landed_ok(const char *land_dir, const char *job, uint64_t size)
{
    char path[PATH_MAX];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s/blob.bin", land_dir, job);
    return stat(path, &st) == 0 && (uint64_t)st.st_size == size;
}

static void role_send(const child_args_t *a, int rep_fd)
{
    const cpn_task_cbs_t cbs = {0};
    cpn_site_params_t p;
    cpn_site_t *site;
    cpn_peer_t *peer;
    cpn_mem_t *mem = NULL;
    void *buf = NULL;
    size_t buflen = 0;
    cpn_status_t st;

    cpn_site_params_init(&p);
    p.name = "bench-sender";
    p.land_dir = NULL;
    if (a->role == ROLE_SEND_MEM || a->role == ROLE_SEND_SMALL) {
        buflen = (size_t)a->size;
        buf = alloc_touched(buflen);
        if (buf == NULL) {
            rep(rep_fd, "FAIL cannot allocate %zu bytes", buflen);
            _exit(1);
        }
        fill_pattern(buf, buflen, 42);
    }
    st = cpn_site_open(&p, &site);
    if (st != CPN_OK) {
        rep(rep_fd, "FAIL cpn_site_open: %s", cpn_status_str(st));
        _exit(1);
    }
    if (buf != NULL) {
        st = cpn_site_mem_reg(site, buf, buflen, &mem);
        if (st != CPN_OK) {
            rep(rep_fd, "FAIL cpn_site_mem_reg: %s", cpn_status_str(st));
            _exit(1);
        }
    }
    st = cpn_site_connect(site, a->addr, 30000, &peer);
    if (st != CPN_OK) {
        rep(rep_fd, "FAIL cpn_site_connect %s: %s", a->addr,
            cpn_status_str(st));
        _exit(1);
    }
    rep(rep_fd, "LANES %s", cpn_peer_lanes(peer));
    rep(rep_fd, "BASE %ld", maxrss_kb());

    if (a->role == ROLE_SEND_SMALL) {
        unsigned n = a->warmup + a->count;
        uint64_t *total = calloc(a->count ? a->count : 1, sizeof(*total));
        uint64_t *flight = calloc(a->count ? a->count : 1, sizeof(*flight));

        if (total == NULL || flight == NULL) {
            rep(rep_fd, "FAIL out of memory");
            _exit(1);
        }
        for (unsigned i = 0; i < n; i++) {
            uint64_t t0, t1, t2, t3;
            cpn_task_t *task;

            t0 = cpn_time_ns();
            st = cpn_task_create(site, "small", &task);
            if (st != CPN_OK) {
                rep(rep_fd, "FAIL task %u: cpn_task_create: %s", i,
                    cpn_status_str(st));
                _exit(1);
            }
            st = cpn_task_add_mem(task, "obj", buf, buflen, mem);
            if (st != CPN_OK) {
                rep(rep_fd, "FAIL task %u: cpn_task_add_mem: %s", i,
                    cpn_status_str(st));
                _exit(1);
            }
            t1 = cpn_time_ns();
            st = cpn_task_deliver(task, peer, &cbs);
            if (st == CPN_INPROGRESS) {
                st = busy_wait(site, task,
                               t1 + (uint64_t)a->task_timeout_ms * 1000000);
            }
            t2 = cpn_time_ns();
            if (st != CPN_OK) {
                rep(rep_fd, "FAIL task %u: %s (%s)", i, cpn_status_str(st),
                    cpn_task_error(task));
                _exit(1);
            }
            cpn_task_destroy(task);
            t3 = cpn_time_ns();
            if (i >= a->warmup) {
                total[i - a->warmup] = t3 - t0;
                flight[i - a->warmup] = t2 - t1;
            }
        }
        for (int k = 0; k < 2; k++) {
            uint64_t *v = k ? flight : total;
            double sum = 0;

            qsort(v, a->count, sizeof(*v), cmp_u64);
            for (unsigned i = 0; i < a->count; i++) {
                sum += (double)v[i];
            }
            rep(rep_fd,
                "%s %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                " %" PRIu64 " %.1f",
                k ? "FLIGHT" : "TOTAL", a->count, v[0],
                pct_sorted(v, a->count, 50), pct_sorted(v, a->count, 90),
                pct_sorted(v, a->count, 99), pct_sorted(v, a->count, 99.9),
                a->count ? v[a->count - 1] : 0,
                a->count ? sum / a->count : 0.0);
        }
        free(total);
        free(flight);
    } else {
        /* a->warmup deliveries first, not reported: as ucx_perftest's -w,
         * they map the peer's memory and fault its pages in once. */
        for (unsigned r = 0; r < a->warmup + a->count; r++) {
            const cpn_receipt_t *rc;
            char job[64];
            cpn_task_t *task;
            uint64_t t0, t1;
            int landed = -1;

            snprintf(job, sizeof(job), "bench-%s%u",
                     r < a->warmup ? "warmup-" : "", r);
            st = cpn_task_create(site, job, &task);
            if (st != CPN_OK) {
                rep(rep_fd, "FAIL cpn_task_create: %s", cpn_status_str(st));
                _exit(1);
            }
            if (a->role == ROLE_SEND_MEM) {
                st = cpn_task_add_mem(task, "blob.bin", buf, buflen, mem);
            } else {
                st = cpn_task_add_file(task, "blob.bin", a->path);
            }
            if (st != CPN_OK) {
                rep(rep_fd, "FAIL adding the object: %s", cpn_status_str(st));
                _exit(1);
            }
            t0 = cpn_time_ns();
            st = cpn_task_deliver(task, peer, &cbs);
            if (st == CPN_INPROGRESS) {
                st = busy_wait(site, task,
                               t0 + (uint64_t)a->task_timeout_ms * 1000000);
            }
            t1 = cpn_time_ns();
            rc = cpn_task_receipt(task);
            if (st != CPN_OK || rc == NULL) {
                rep(rep_fd, "FAIL run %u: %s (%s)", r + 1, cpn_status_str(st),
                    cpn_task_error(task));
                _exit(1);
            }
            if (a->land_dir != NULL) {
                char dir[PATH_MAX];

                landed = landed_ok(a->land_dir, job, a->size);
                snprintf(dir, sizeof(dir), "%s/%s", a->land_dir, job);
                rm_tree(dir); /* keep the disk from filling run by run */
            }
            if (r < a->warmup) {
                cpn_task_destroy(task);
                continue;
            }
            rep(rep_fd,
                "RUN %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                " %" PRIu64 " %.3f %.3f %d",
                r - a->warmup + 1, rc->bytes, rc->elapsed_ns, t1 - t0, rc->chunks,
                rc->retries, rc->chunk_p50_us, rc->chunk_p99_us, landed);
            cpn_task_destroy(task);
        }
    }
    rep(rep_fd, "RSS %ld", maxrss_kb());
    cpn_peer_close(peer);
    if (mem != NULL) {
        cpn_site_mem_dereg(mem);
    }
    cpn_site_close(site);
    free(buf);
    rep(rep_fd, "END");
}

static void child_main(const child_args_t *a, int ctrl_fd, int rep_fd)
{
    if (a->role == ROLE_RECV) {
        role_recv(a, ctrl_fd, rep_fd);
    } else {
        role_send(a, rep_fd);
    }
}

/* ------------------------------------------------------------------------ */
/* One delivery experiment: a receiver child, a sender child                 */
/* ------------------------------------------------------------------------ */

typedef struct run_fig {
    uint64_t bytes, elapsed_ns, wall_ns, chunks, retries;
    double chunk_p50_us, chunk_p99_us;
    int landed; /* file runs: 1 ok, 0 missing, -1 n/a */
} run_fig_t;

typedef struct lat_fig {
    unsigned n;
    uint64_t min, p50, p90, p99, p999, max;
    double mean;
} lat_fig_t;

typedef struct exp_result {
    char lanes[256];
    unsigned nruns;
    run_fig_t run[64];
    lat_fig_t total, flight; /* small tasks */
    long send_base_kb, send_rss_kb;
    long recv_base_kb, recv_rss_kb;
    uint64_t recv_landed, recv_failed;
} exp_result_t;

/* Run one experiment: start a receiver (sink @p sink_size bytes, or files
 * under @p land_dir), then a sender with @p sa, collect every line, stop the
 * receiver. @return 0 when everything ran, -1 otherwise (reported). */
static int experiment(const child_args_t *sa_in, uint64_t sink_size,
                      const char *land_dir, exp_result_t *res)
{
    child_args_t ra = {
        .role = ROLE_RECV,
        .tag = "receiver",
        .size = sink_size,
        .land_dir = land_dir,
        .max_s = sa_in->max_s + 60,
    };
    child_args_t sa = *sa_in;
    char line[LINE_MAX_LEN], addr[128] = "";
    child_t rc, sc;
    uint64_t deadline;
    int r, ok = 0, got_end = 0, got_done = 0;

    memset(res, 0, sizeof(*res));
    memset(&sc, 0, sizeof(sc));
    sc.pid = -1;
    sc.ctrl_fd = sc.rep_fd = -1;
    if (child_spawn(&rc, &ra) < 0) {
        return -1;
    }
    /* The receiver allocates and touches its sink before it listens. */
    deadline = cpn_deadline_ns(60000 + (int)(sink_size / (50 * MIB)) * 1000);
    while ((r = child_readline(&rc, line, sizeof(line), deadline)) == 1) {
        if (sscanf(line, "BASE %ld", &res->recv_base_kb) == 1) {
            continue;
        }
        if (strncmp(line, "ADDR ", 5) == 0) {
            copy_str(addr, sizeof(addr), line + 5);
            break;
        }
        if (strncmp(line, "FAIL ", 5) == 0) {
            fail("receiver: %s", line + 5);
            break;
        }
    }
    if (addr[0] == '\0') {
        if (r <= 0) {
            fail("receiver: %s before it listened",
                 r < 0 ? "timed out" : "exited");
        }
        goto out;
    }

    sa.addr = addr;
    if (child_spawn(&sc, &sa) < 0) {
        goto out;
    }
    deadline = cpn_deadline_ns(
        (int)CPN_MIN((uint64_t)sa.max_s * 1000, (uint64_t)INT_MAX));
    while ((r = child_readline(&sc, line, sizeof(line), deadline)) == 1) {
        run_fig_t f;
        lat_fig_t l;
        unsigned idx;
        char kind[16];

        if (strncmp(line, "LANES ", 6) == 0) {
            copy_str(res->lanes, sizeof(res->lanes), line + 6);
        } else if (sscanf(line, "BASE %ld", &res->send_base_kb) == 1 ||
                   sscanf(line, "RSS %ld", &res->send_rss_kb) == 1) {
            continue;
        } else if (sscanf(line,
                          "RUN %u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                          " %" SCNu64 " %lf %lf %d",
                          &idx, &f.bytes, &f.elapsed_ns, &f.wall_ns, &f.chunks,
                          &f.retries, &f.chunk_p50_us, &f.chunk_p99_us,
                          &f.landed) == 9) {
            if (res->nruns < CPN_ARRAY_SIZE(res->run)) {
                res->run[res->nruns++] = f;
            }
        } else if (sscanf(line,
                          "%15s %u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                          " %" SCNu64 " %" SCNu64 " %lf",
                          kind, &l.n, &l.min, &l.p50, &l.p90, &l.p99, &l.p999,
                          &l.max, &l.mean) == 9 &&
                   (strcmp(kind, "TOTAL") == 0 ||
                    strcmp(kind, "FLIGHT") == 0)) {
            if (kind[0] == 'T') {
                res->total = l;
            } else {
                res->flight = l;
            }
        } else if (strncmp(line, "FAIL ", 5) == 0) {
            fail("sender: %s", line + 5);
            break;
        } else if (strcmp(line, "END") == 0) {
            got_end = 1;
            break;
        }
    }
    if (!got_end && r == -1) {
        fail("sender: no result within %u s: killed (a delivery hung?)",
             sa.max_s);
    } else if (!got_end && r == 0) {
        fail("sender: exited before it finished");
    }
    if (got_end) {
        ok = child_finish(&sc, 10000) == 0;
    }

    /* Stop the receiver and read its own figures. */
    if (rc.ctrl_fd >= 0 && write(rc.ctrl_fd, "STOP\n", 5) < 0) {
        /* already gone: child_readline says so below */
    }
    deadline = cpn_deadline_ns(15000);
    while ((r = child_readline(&rc, line, sizeof(line), deadline)) == 1) {
        char err[64];

        if (sscanf(line, "DONE %ld %" SCNu64 " %" SCNu64 " %*u %*u %63s",
                   &res->recv_rss_kb, &res->recv_landed, &res->recv_failed,
                   err) == 4) {
            got_done = 1;
            if (res->recv_failed > 0) {
                fail("receiver: %" PRIu64 " task(s) failed to land, first: "
                     "%s",
                     res->recv_failed, err);
                ok = 0;
            }
            break;
        }
    }
    if (!got_done) {
        fail("receiver: no final report (%s)",
             r < 0 ? "timed out" : "it exited");
        ok = 0;
    } else if (child_finish(&rc, 15000) != 0) {
        ok = 0;
    }

out:
    if (sc.pid > 0) {
        child_kill(&sc);
    }
    if (rc.pid > 0) {
        child_kill(&rc);
    }
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* ucx_perftest                                                              */
/* ------------------------------------------------------------------------ */

static const char *find_in_path(const char *name)
{
    static char found[PATH_MAX];
    const char *path = getenv("PATH");
    char *dup, *save = NULL, *dir;

    if (path == NULL) {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    dup = strdup(path);
    if (dup == NULL) {
        return NULL;
    }
    for (dir = strtok_r(dup, ":", &save); dir != NULL;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(found, sizeof(found), "%s/%s", *dir ? dir : ".", name);
        if (access(found, X_OK) == 0) {
            free(dup);
            return found;
        }
    }
    free(dup);
    return NULL;
}

/* A TCP port nothing uses now (the kernel's pick; closed before use). */
static int free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd < 0) {
        return -1;
    }
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0) {
        port = ntohs(sin.sin_port);
    }
    close(fd);
    return port;
}

/* Is something listening on TCP @p port? (/proc/net/tcp{,6}: a probe
 * connection would be taken by ucx_perftest's server as its client.) */
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
            char local[128];
            unsigned st;
            char *colon;

            if (sscanf(line, " %*s %127s %*s %x", local, &st) != 2) {
                continue;
            }
            colon = strrchr(local, ':');
            if (colon != NULL && st == 0x0A &&
                strtol(colon + 1, NULL, 16) == port) {
                fclose(f);
                return 1;
            }
        }
        fclose(f);
    }
    return 0;
}

/* fork + exec @p argv with stdin from /dev/null and stdout+stderr into
 * @p out_fd (or /dev/null when -1), with UCX_TLS=@p tls when not NULL.
 * @return the pid or -1. */
static pid_t proc_start(char *const argv[], int out_fd, const char *tls)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fail("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        int out = out_fd >= 0 ? out_fd : null;

        child_setup(0);
        if (tls != NULL) {
            setenv("UCX_TLS", tls, 1);
        }
        dup2(null, 0);
        dup2(out, 1);
        dup2(out, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    procs_add(pid);
    return pid;
}

/* The figures of a "Final:" line: iterations, then three latency (or
 * overhead) columns in usec, two bandwidth columns in MB/s (2^20 B/s), two
 * message rates. */
typedef struct pt_final {
    double iters, lat_p50_us, lat_avg_us, lat_all_us, bw_avg_mbs, bw_all_mbs,
        rate_avg, rate_all;
} pt_final_t;

/* Run one ucx_perftest test (server + client on 127.0.0.1, a fresh port),
 * both with UCX_TLS=@p tls (NULL: the environment as it is).
 * @return 0 with @p fin filled, -1 (reported) otherwise. */
static int perftest_run(const char *test, uint64_t size, unsigned iters,
                        unsigned warmup, int timeout_ms, const char *tls,
                        pt_final_t *fin)
{
    char port_s[16], size_s[32], iters_s[32], warm_s[32], out[65536];
    char *srv_argv[] = {(char *)g_opt.perftest, "-p", port_s, NULL};
    char *cli_argv[] = {(char *)g_opt.perftest,
                        "127.0.0.1",
                        "-p",
                        port_s,
                        "-t",
                        (char *)test,
                        "-s",
                        size_s,
                        "-n",
                        iters_s,
                        "-w",
                        warm_s,
                        NULL};
    uint64_t deadline = cpn_deadline_ns(timeout_ms);
    pid_t srv, cli = -1;
    int port, pfd[2] = {-1, -1}, status = 0, ret = -1, found = 0;
    size_t len = 0;
    char *line;

    port = free_port();
    if (port < 0) {
        fail("ucx_perftest: no free TCP port");
        return -1;
    }
    snprintf(port_s, sizeof(port_s), "%d", port);
    snprintf(size_s, sizeof(size_s), "%" PRIu64, size);
    snprintf(iters_s, sizeof(iters_s), "%u", iters);
    snprintf(warm_s, sizeof(warm_s), "%u", warmup);

    srv = proc_start(srv_argv, -1, tls);
    if (srv < 0) {
        return -1;
    }
    while (!port_listening(port) && cpn_time_ns() < deadline && !g_stop) {
        int st;

        if (waitpid(srv, &st, WNOHANG) == srv) {
            procs_del(srv);
            srv = -1;
            fail("ucx_perftest server (port %d) exited at once", port);
            return -1;
        }
        usleep(10000);
    }
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        fail("pipe: %s", strerror(errno));
        goto out;
    }
    cli = proc_start(cli_argv, pfd[1], tls);
    close(pfd[1]);
    if (cli < 0) {
        goto out;
    }
    for (;;) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        ssize_t n;
        int r = poll(&p, 1, remaining_ms(deadline));

        if (r < 0 && errno == EINTR && !g_stop) {
            continue;
        }
        if (r <= 0) {
            fail("ucx_perftest %s -s %" PRIu64 ": no result in %d ms: "
                 "killed",
                 test, size, timeout_ms);
            goto out;
        }
        n = read(pfd[0], out + len, sizeof(out) - 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        if (len == sizeof(out) - 1) {
            /* keep the tail: "Final:" comes last */
            memmove(out, out + len / 2, len - len / 2);
            len -= len / 2;
        }
    }
    out[len] = '\0';
    proc_reap(cli, remaining_ms(deadline) + 1000, &status);
    cli = -1;
    for (line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        const char *f = strstr(line, "Final:");

        if (f != NULL &&
            sscanf(f + 6, "%lf %lf %lf %lf %lf %lf %lf %lf", &fin->iters,
                   &fin->lat_p50_us, &fin->lat_avg_us, &fin->lat_all_us,
                   &fin->bw_avg_mbs, &fin->bw_all_mbs, &fin->rate_avg,
                   &fin->rate_all) == 8) {
            found = 1;
        }
    }
    if (!found) {
        char ws[64];

        fail("ucx_perftest -t %s -s %" PRIu64 " (UCX_TLS=%s) printed no "
             "Final line (%s); its output ends with:\n%s",
             test, size,
             tls                 ? tls
             : getenv("UCX_TLS") ? getenv("UCX_TLS")
                                 : "unset",
             wait_str(status, ws, sizeof(ws)),
             len > 2000 ? out + len - 2000 : out);
        goto out;
    }
    ret = 0;

out:
    if (pfd[0] >= 0) {
        close(pfd[0]);
    }
    if (cli > 0) {
        proc_reap(cli, 0, NULL);
    }
    /* The server exits after its one test; give it a moment, then kill. */
    proc_reap(srv, ret == 0 ? 5000 : 0, NULL);
    return ret;
}

static double mbs_to_gbs(double mbs)
{
    return mbs * (double)MIB / 1e9;
}

/* The environments ucx_perftest runs in, beside cpn. The first is the
 * environment as it is (cpn's own): the reference the targets are judged
 * against, what UCX reaches on this machine. The second, a diagnostic, keeps
 * ucx_perftest to the transports of cpn's lanes (UCX_TLS from "tcp/lo
 * tcp/eth0" is "tcp") when that differs: UCX picks transports differently
 * for cpn's client-server endpoints (a connection manager, peer error
 * handling) than for ucx_perftest's worker-address ones, so the environment
 * alone does not put both on one path. UCX may still give those transports
 * other roles, so it is the nearest path, not always the same one.
 * @p lanes_ref: the lane transports are the target's reference instead,
 * and the environment as it is the diagnostic (small tasks whose messages
 * go over tcp: the same path is ucx_perftest over tcp). */
typedef struct ref_env {
    char tls[128]; /* UCX_TLS for ucx_perftest; "" = as in the env */
    char label[96];
    int diag; /* 1: the narrowed diagnostic, not the target's ref */
} ref_env_t;

static unsigned ref_envs(const char *lanes, int lanes_ref, ref_env_t env[2])
{
    const char *tls = getenv("UCX_TLS");
    char set[128] = "", copy[256], *save = NULL, *tok;
    unsigned n = 0;

    copy_str(copy, sizeof(copy), lanes);
    for (tok = strtok_r(copy, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        char name[32], pad[34];
        size_t k = strcspn(tok, "/");

        if (k == 0 || k >= sizeof(name)) {
            continue;
        }
        memcpy(name, tok, k);
        name[k] = '\0';
        snprintf(pad, sizeof(pad), ",%s,", name);
        {
            char have[132];

            snprintf(have, sizeof(have), ",%s,", set);
            if (strstr(have, pad) != NULL) {
                continue;
            }
        }
        if (strlen(set) + k + 2 < sizeof(set)) {
            if (set[0] != '\0') {
                strcat(set, ",");
            }
            strcat(set, name);
        }
    }
    env[n].tls[0] = '\0';
    env[n].diag = 0;
    snprintf(env[n].label, sizeof(env[n].label), "UCX_TLS=%s%s",
             tls ? tls : "unset", tls ? " (as set)" : " (UCX's own pick)");
    n++;
    if (set[0] != '\0' && (tls == NULL || strcmp(tls, set) != 0)) {
        copy_str(env[n].tls, sizeof(env[n].tls), set);
        env[n].diag = 1;
        snprintf(env[n].label, sizeof(env[n].label),
                 "UCX_TLS=%s (cpn's lane transports)", set);
        n++;
        if (lanes_ref) {
            env[0].diag = 1;
            env[1].diag = 0;
        }
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

static json_t *g_json;

static json_t *jnum_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static const char *verdict(double ratio, double target, int higher_better)
{
    if (isnan(ratio)) {
        return "n/a";
    }
    return (higher_better ? ratio >= target : ratio <= target) ? "met"
                                                               : "MISSED";
}

typedef struct summary_row {
    char what[64];
    char cpn[32];
    char ref[48];
    char ratio[16];
    char target[16];
    char verdict[8];
} summary_row_t;

static summary_row_t g_rows[16];
static unsigned g_nrows;

static void summary_add(const char *what, const char *cpn, const char *ref,
                        double ratio, const char *target, const char *v)
{
    summary_row_t *r;

    if (g_nrows >= CPN_ARRAY_SIZE(g_rows)) {
        return;
    }
    r = &g_rows[g_nrows++];
    snprintf(r->what, sizeof(r->what), "%s", what);
    snprintf(r->cpn, sizeof(r->cpn), "%s", cpn);
    snprintf(r->ref, sizeof(r->ref), "%s", ref);
    if (isnan(ratio)) {
        snprintf(r->ratio, sizeof(r->ratio), "n/a");
    } else {
        snprintf(r->ratio, sizeof(r->ratio), "%.2f", ratio);
    }
    snprintf(r->target, sizeof(r->target), "%s", target);
    snprintf(r->verdict, sizeof(r->verdict), "%s", v);
}

static json_t *runs_json(const exp_result_t *res, double *gbps)
{
    json_t *arr = json_array();

    for (unsigned i = 0; i < res->nruns; i++) {
        const run_fig_t *f = &res->run[i];

        /* clang-format off */
        json_array_append_new(arr, json_pack(
            "{s:I, s:I, s:I, s:f, s:I, s:I, s:f, s:f}",
            "bytes", (json_int_t)f->bytes,
            "elapsed_ns", (json_int_t)f->elapsed_ns,
            "wall_ns", (json_int_t)f->wall_ns,
            "goodput_GBps", gbps[i],
            "chunks", (json_int_t)f->chunks,
            "retries", (json_int_t)f->retries,
            "chunk_p50_us", f->chunk_p50_us,
            "chunk_p99_us", f->chunk_p99_us));
        /* clang-format on */
    }
    return arr;
}

/* Print the runs of a bandwidth-type experiment; fill @p gbps. */
static double print_runs(const exp_result_t *res, double *gbps)
{
    say("    %-4s %10s %12s %10s %8s %14s\n", "run", "GB/s", "elapsed ms",
        "wall ms", "chunks", "chunk p50/p99");
    for (unsigned i = 0; i < res->nruns; i++) {
        const run_fig_t *f = &res->run[i];

        gbps[i] =
            f->elapsed_ns ? (double)f->bytes / (double)f->elapsed_ns : NAN;
        say("    %-4u %10.2f %12.1f %10.1f %8" PRIu64 " %6.0f/%-6.0f us%s\n",
            i + 1, gbps[i], (double)f->elapsed_ns / 1e6,
            (double)f->wall_ns / 1e6, f->chunks, f->chunk_p50_us,
            f->chunk_p99_us, f->landed == 0 ? "  (landed file missing!)" : "");
    }
    return median(gbps, res->nruns);
}

static int task_timeout_ms(uint64_t size)
{
    /* 30 s, plus 20 MB/s worth of bytes: generous even under sanitizers. */
    return (int)CPN_MIN(30000 + size / 20000, (uint64_t)INT_MAX / 2);
}

/* ------------------------------------------------------------------------ */
/* (a) bandwidth                                                             */
/* ------------------------------------------------------------------------ */

static double g_bw_cpn_gbps = NAN;

static void phase_bw(void)
{
    char sz[32], szp[32];
    child_args_t sa = {
        .role = ROLE_SEND_MEM,
        .tag = "sender",
        .size = g_opt.size,
        .count = g_opt.runs,
        .warmup = 1,
        .task_timeout_ms = task_timeout_ms(g_opt.size),
    };
    double gbps[64], cpn_med;
    exp_result_t *res = calloc(1, sizeof(*res));
    json_t *j = json_object(), *jrefs = json_array();
    uint64_t need = 2 * g_opt.size + 512 * MIB, avail = mem_available();
    ref_env_t env[2];
    unsigned nenv;

    sa.max_s = (unsigned)((g_opt.runs + 1) * (uint64_t)sa.task_timeout_ms /
                              1000 + 120);
    say("\n[a] bandwidth: one %s object, memory to memory (registered "
        "buffers), integrity on, %u runs after 1 warm-up delivery (as "
        "ucx_perftest's -w)\n",
        size_str(g_opt.size, sz, sizeof(sz)), g_opt.runs);
    json_object_set_new(g_json, "bandwidth", j);
    json_object_set_new(j, "size", json_integer((json_int_t)g_opt.size));
    if (avail != 0 && avail < need) {
        say("    skipped: it needs %.0f MiB of memory (sender + receiver "
            "buffers), %.0f MiB available\n",
            mib(need), mib(avail));
        json_object_set_new(j, "skipped", json_string("not enough memory"));
        free(res);
        return;
    }
    if (res == NULL || experiment(&sa, g_opt.size, NULL, res) < 0 ||
        res->nruns != g_opt.runs) {
        say("    FAILED (see above)\n");
        json_object_set_new(j, "error", json_string("delivery failed"));
        free(res);
        return;
    }
    say("    cpn lanes: %s\n", res->lanes);
    cpn_med = print_runs(res, gbps);
    g_bw_cpn_gbps = cpn_med;
    say("    cpn median goodput: %.2f GB/s (receipt bytes / elapsed; "
        "GB = 1e9 B)\n",
        cpn_med);
    say("    peak RSS: sender %.0f MiB, receiver %.0f MiB (each holds the "
        "%s buffer)\n",
        res->send_rss_kb / 1024.0, res->recv_rss_kb / 1024.0, sz);

    json_object_set_new(j, "lanes", json_string(res->lanes));
    json_object_set_new(j, "runs", runs_json(res, gbps));
    json_object_set_new(j, "median_GBps", jnum_or_null(cpn_med));
    json_object_set_new(j, "target_ratio", json_real(0.9));
    json_object_set_new(j, "sender_maxrss_kb", json_integer(res->send_rss_kb));
    json_object_set_new(j, "receiver_maxrss_kb",
                        json_integer(res->recv_rss_kb));
    json_object_set_new(j, "ucx_perftest", jrefs);

    size_str(g_opt.pt_bw_size, szp, sizeof(szp));
    if (g_opt.perftest == NULL) {
        char what[64], c[32];

        say("    ucx_perftest not found on PATH: no reference, ratio n/a\n");
        snprintf(what, sizeof(what), "bandwidth mem->mem %s (GB/s)", sz);
        snprintf(c, sizeof(c), "%.2f", cpn_med);
        summary_add(what, c, "n/a (no ucx_perftest)", NAN, ">= 0.90", "n/a");
        json_object_set_new(j, "ratio", json_null());
        free(res);
        return;
    }
    nenv = ref_envs(res->lanes, 0, env);
    say("    reference: ucx_perftest -t ucp_put_bw -s %" PRIu64 " (%s puts) "
        "-n %u -w 2, %u runs, median; MB/s as printed there is 2^20 B/s\n",
        g_opt.pt_bw_size, szp, g_opt.pt_bw_iters, g_opt.runs);
    say("    %-50s %8s %8s  %s\n", "", "GB/s", "cpn/ref", "target >= 0.90");
    say("    %-50s %8.2f\n", "cpn (median)", cpn_med);
    for (unsigned e = 0; e < nenv && !g_stop; e++) {
        const char *tls = env[e].tls[0] ? env[e].tls : NULL;
        /* The diagnostic puts cpn's chunks, once: UCX 1.13's tcp put falls
         * to ~25 MB/s with 256 MiB messages (587 MB/s with 1 MiB ones),
         * which would say nothing about cpn and take many minutes. */
        uint64_t psize = env[e].diag ? CPN_MIN((uint64_t)g_defaults.chunk_size,
                                               g_opt.pt_bw_size)
                                     : g_opt.pt_bw_size;
        unsigned iters =
            env[e].diag
                ? (unsigned)CPN_MAX(16, CPN_MIN(1024, g_opt.size / psize))
                : g_opt.pt_bw_iters;
        unsigned runs = env[e].diag ? 1 : g_opt.runs;
        /* Bounded: at least 100 MB/s, else it is killed and reported. */
        int tmo = (int)CPN_MAX(60000, (iters + 2) * psize / 100000);
        double pt[64], pt_med, ratio;
        unsigned npt = 0;
        json_t *jr = json_object(), *jruns = json_array();
        char line[256] = "", label[160], what[64], c[32], r[96], ps[32];

        for (unsigned i = 0; i < runs && !g_stop; i++) {
            pt_final_t fin;
            size_t l = strlen(line);

            if (perftest_run("ucp_put_bw", psize, iters, 2, tmo, tls, &fin) <
                0) {
                break;
            }
            pt[npt] = mbs_to_gbs(fin.bw_all_mbs);
            json_array_append_new(jruns, json_real(pt[npt]));
            snprintf(line + l, sizeof(line) - l, " %.2f", pt[npt]);
            npt++;
        }
        pt_med = median(pt, npt);
        ratio = cpn_med / pt_med;
        size_str(psize, ps, sizeof(ps));
        if (env[e].diag) {
            snprintf(label, sizeof(label), "%s, -s %s -n %u, 1 run",
                     env[e].label, ps, iters);
        } else {
            snprintf(label, sizeof(label), "%s", env[e].label);
        }
        say("    %-50s %8.2f %8.2f  %s   (runs:%s)\n", label, pt_med, ratio,
            env[e].diag ? "diagnostic" : verdict(ratio, 0.9, 1), line);
        json_object_set_new(jr, "label", json_string(label));
        json_object_set_new(jr, "diagnostic", json_boolean(env[e].diag));
        json_object_set_new(jr, "ucx_tls",
                            tls ? json_string(tls) : json_null());
        json_object_set_new(jr, "test", json_string("ucp_put_bw"));
        json_object_set_new(jr, "size", json_integer((json_int_t)psize));
        json_object_set_new(jr, "iters", json_integer(iters));
        json_object_set_new(jr, "runs_GBps", jruns);
        json_object_set_new(jr, "median_GBps", jnum_or_null(pt_med));
        json_object_set_new(jr, "ratio", jnum_or_null(ratio));
        json_array_append_new(jrefs, jr);
        if (!env[e].diag) {
            json_object_set_new(j, "ratio", jnum_or_null(ratio));
        }

        snprintf(what, sizeof(what), "bandwidth mem->mem %s (GB/s)", sz);
        snprintf(c, sizeof(c), "%.2f", cpn_med);
        snprintf(r, sizeof(r), "%.2f put_bw %s %.32s", pt_med, ps,
                 tls ? tls : "env TLS");
        summary_add(what, c, r, ratio, env[e].diag ? "(diag)" : ">= 0.90",
                    env[e].diag ? "-" : verdict(ratio, 0.9, 1));
    }
    free(res);
}

/* ------------------------------------------------------------------------ */
/* (b) file to file                                                          */
/* ------------------------------------------------------------------------ */

static void phase_file(void)
{
    char sz[32], src[PATH_MAX], land[PATH_MAX];
    child_args_t sa = {
        .role = ROLE_SEND_FILE,
        .tag = "sender",
        .size = g_opt.size,
        .count = g_opt.runs,
        .path = src,
        .task_timeout_ms = task_timeout_ms(g_opt.size),
    };
    double gbps[64], med, resident;
    exp_result_t *res = calloc(1, sizeof(*res));
    json_t *j = json_object();
    uint64_t need = 2 * g_opt.size + 256 * MIB, avail;

    sa.max_s =
        (unsigned)(g_opt.runs * (uint64_t)sa.task_timeout_ms / 1000 + 120);
    snprintf(src, sizeof(src), "%s/src-file.bin", g_tmpdir);
    snprintf(land, sizeof(land), "%s/land-file", g_tmpdir);
    sa.land_dir = land;
    say("\n[b] file to file: one %s file into the landing directory "
        "(default sink), %u runs\n",
        size_str(g_opt.size, sz, sizeof(sz)), g_opt.runs);
    json_object_set_new(g_json, "file", j);
    json_object_set_new(j, "size", json_integer((json_int_t)g_opt.size));
    avail = disk_free(g_tmpdir);
    if (avail < need) {
        say("    skipped: it needs %.0f MiB free in %s, %.0f MiB free\n",
            mib(need), g_tmpdir, mib(avail));
        json_object_set_new(j, "skipped", json_string("not enough disk"));
        free(res);
        return;
    }
    if (res == NULL || write_file(src, g_opt.size, 1) < 0) {
        free(res);
        return;
    }
    resident = cache_resident_pct(src);
    say("    source %s (written and fdatasync'ed just now): %.0f%% in the "
        "page cache, so reads are warm; landing files are not fsync'ed "
        "(CPN_SITE_FSYNC=%s)\n",
        src, resident, g_defaults.fsync ? "y" : "n");
    if (experiment(&sa, 0, land, res) < 0 || res->nruns != g_opt.runs) {
        say("    FAILED (see above)\n");
        json_object_set_new(j, "error", json_string("delivery failed"));
        unlink(src);
        rm_tree(land);
        free(res);
        return;
    }
    unlink(src);
    rm_tree(land);
    say("    cpn lanes: %s\n", res->lanes);
    med = print_runs(res, gbps);
    say("    cpn median goodput file->file: %.2f GB/s", med);
    if (!isnan(g_bw_cpn_gbps)) {
        say("  (%.2f of memory->memory)", med / g_bw_cpn_gbps);
    }
    say("\n");
    json_object_set_new(j, "lanes", json_string(res->lanes));
    json_object_set_new(j, "runs", runs_json(res, gbps));
    json_object_set_new(j, "median_GBps", jnum_or_null(med));
    json_object_set_new(j, "page_cache_resident_pct", json_real(resident));
    json_object_set_new(j, "page_cache",
                        json_string(resident >= 99  ? "warm"
                                    : resident <= 1 ? "cold"
                                                    : "partly warm"));
    json_object_set_new(j, "fsync", json_boolean(g_defaults.fsync));
    {
        char c[32], r[48], what[64];

        snprintf(what, sizeof(what), "file->file %s (GB/s)", sz);
        snprintf(c, sizeof(c), "%.2f", med);
        snprintf(r, sizeof(r), "%s cache, no fsync",
                 resident >= 99 ? "warm" : "part-warm");
        summary_add(what, c, r,
                    isnan(g_bw_cpn_gbps) ? NAN : med / g_bw_cpn_gbps,
                    "(vs mem)", "-");
    }
    free(res);
}

/* ------------------------------------------------------------------------ */
/* (c) small tasks                                                           */
/* ------------------------------------------------------------------------ */

static json_t *lat_json(const lat_fig_t *l)
{
    /* clang-format off */
    return json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:f}",
                     "count", (int)l->n,
                     "min_ns", (json_int_t)l->min,
                     "p50_ns", (json_int_t)l->p50,
                     "p90_ns", (json_int_t)l->p90,
                     "p99_ns", (json_int_t)l->p99,
                     "p999_ns", (json_int_t)l->p999,
                     "max_ns", (json_int_t)l->max,
                     "mean_ns", l->mean);
    /* clang-format on */
}

/* Small tasks with the UCX configuration as given (@p shm NULL), or again
 * with CPN_UCX_SHM=y for the children (@p shm "y"): cpn's control messages
 * then travel over shared memory, the path ucx_perftest takes by default.
 * The target is checked against ucx_perftest on the same path: UCX's own
 * pick when cpn's lanes are shared memory, else cpn's lane transports. */
/* Paired rounds of the small-task figure. Here the two vCPUs sit on cores
 * that share a cache or not, as the hypervisor places them, and that
 * changes within a second: ucp_am_lat's 8 B round trip reads 0.18 us in
 * one placement and 1.2 us in the other. A cpn figure and a reference
 * taken a minute apart may see different placements; so each round runs
 * its share of the tasks, then ucp_am_lat on the same path (the target's,
 * not the diagnostic), and takes their ratio; the verdict is the median of
 * the rounds' ratios. */
static void lat_paired(const child_args_t *sa_in, const char *shm,
                       const ref_env_t *env, unsigned nenv, json_t *j)
{
    static const uint64_t pt_sizes[2] = {8, 4096};
    const unsigned rounds = g_opt.lat_rounds;
    const ref_env_t *ref = NULL;
    double ratio[2][64], cpn_us[64];
    unsigned n = 0, e, k;
    child_args_t sa = *sa_in;
    exp_result_t *res = calloc(1, sizeof(*res));
    json_t *jr = json_array(), *jp = json_object();
    char sz[32], what[80], c[32], r[96];

    for (e = 0; e < nenv; e++) {
        if (!env[e].diag) {
            ref = &env[e];
        }
    }
    if (ref == NULL || res == NULL) {
        free(res);
        json_decref(jr);
        json_decref(jp);
        return;
    }
    size_str(g_opt.small_size, sz, sizeof(sz));
    sa.count = CPN_MAX(1u, g_opt.tasks / rounds);
    sa.warmup = CPN_MIN(g_opt.warmup, sa.count);
    say("    paired: %u rounds, each %u tasks then ucp_am_lat -n %u (8 B and "
        "4096 B) on %s; ratio = the round's task median / its RTT\n",
        rounds, sa.count, CPN_MAX(1000u, g_opt.pt_lat_iters / rounds),
        ref->label);
    say("    %-8s %12s %12s %12s %10s %10s\n", "round", "task us",
        "RTT 8B us", "RTT 4KB us", "ratio 8B", "ratio 4KB");
    if (shm != NULL) {
        setenv("CPN_UCX_SHM", shm, 1);
    }
    for (unsigned rd = 0; rd < rounds && !g_stop; rd++) {
        double rtt[2] = {NAN, NAN};
        pt_final_t fin;

        if (experiment(&sa, g_opt.small_size, NULL, res) < 0) {
            break;
        }
        for (k = 0; k < 2; k++) {
            unsigned it = CPN_MAX(1000u, g_opt.pt_lat_iters / rounds);

            if (perftest_run("ucp_am_lat", pt_sizes[k], it, it / 10 + 1,
                             180000, ref->tls[0] ? ref->tls : NULL,
                             &fin) == 0) {
                rtt[k] = 2 * fin.lat_p50_us;
            }
        }
        if (isnan(rtt[0]) || isnan(rtt[1])) {
            break;
        }
        cpn_us[n] = res->total.p50 / 1e3;
        ratio[0][n] = cpn_us[n] / rtt[0];
        ratio[1][n] = cpn_us[n] / rtt[1];
        say("    %-8u %12.2f %12.3f %12.3f %10.2f %10.2f\n", rd + 1,
            cpn_us[n], rtt[0], rtt[1], ratio[0][n], ratio[1][n]);
        json_array_append_new(jr, json_pack("{s:f, s:f, s:f, s:f, s:f}",
                                            "task_p50_us", cpn_us[n],
                                            "rtt_8_us", rtt[0],
                                            "rtt_4096_us", rtt[1],
                                            "ratio_8", ratio[0][n],
                                            "ratio_4096", ratio[1][n]));
        n++;
    }
    if (shm != NULL) {
        unsetenv("CPN_UCX_SHM");
    }
    free(res);
    json_object_set_new(j, "paired", jp);
    json_object_set_new(jp, "ucx_tls",
                        ref->tls[0] ? json_string(ref->tls) : json_null());
    json_object_set_new(jp, "rounds", jr);
    if (n == 0) {
        say("    paired rounds FAILED (see above)\n");
        return;
    }
    for (k = 0; k < 2; k++) {
        double m = median(ratio[k], n);

        say("    %-48s %9.2f  %s\n",
            k == 0 ? "median ratio, task / am_lat 8 B RTT"
                   : "median ratio, task / am_lat 4096 B RTT",
            m, verdict(m, 2.5, 0));
        json_object_set_new(jp, k == 0 ? "median_ratio_8" : "median_ratio_4096",
                            json_real(m));
        snprintf(what, sizeof(what), "small task %s%s paired (%u rounds)", sz,
                 shm ? " shm" : "", n);
        snprintf(c, sizeof(c), "%.2f", median(cpn_us, n));
        snprintf(r, sizeof(r), "am_lat %" PRIu64 "B same round, %.30s",
                 pt_sizes[k], ref->tls[0] ? ref->tls : "env TLS");
        summary_add(what, c, r, m, "<= 2.5", verdict(m, 2.5, 0));
    }
}

static void phase_lat(const char *shm)
{
    char sz[32];
    child_args_t sa = {
        .role = ROLE_SEND_SMALL,
        .tag = "sender",
        .size = g_opt.small_size,
        .count = g_opt.tasks,
        .warmup = g_opt.warmup,
        .task_timeout_ms = 30000,
    };
    static const uint64_t pt_sizes[2] = {8, 4096};
    double med_us;
    exp_result_t *res = calloc(1, sizeof(*res));
    json_t *j = json_object(), *jpt = json_array();
    char what[64], c[32];
    ref_env_t env[2];
    unsigned nenv = 0;

    int shm_lanes;

    /* 10,000 tasks at even 1 ms each fit well inside this. */
    sa.max_s = 120 + (g_opt.tasks + g_opt.warmup) / 50;
    size_str(g_opt.small_size, sz, sizeof(sz));
    say("\n[c%s] small tasks%s: %u tasks of one %s object each, memory to "
        "memory, one after another (create, add_mem, deliver, busy wait, "
        "destroy); %u more first as warm-up, not counted\n",
        shm ? "'" : "", shm ? ", again with CPN_UCX_SHM=y" : "", g_opt.tasks,
        sz, g_opt.warmup);
    json_object_set_new(g_json, shm ? "small_tasks_shm" : "small_tasks", j);
    json_object_set_new(j, "cpn_ucx_shm",
                        json_string(shm ? shm : getenv("CPN_UCX_SHM")
                                                    ? getenv("CPN_UCX_SHM")
                                                    : "default"));
    if (shm != NULL) {
        setenv("CPN_UCX_SHM", shm, 1);
    }
    json_object_set_new(j, "tasks", json_integer(g_opt.tasks));
    json_object_set_new(j, "warmup", json_integer(g_opt.warmup));
    json_object_set_new(j, "object_size",
                        json_integer((json_int_t)g_opt.small_size));
    if (res == NULL || experiment(&sa, g_opt.small_size, NULL, res) < 0) {
        say("    FAILED (see above)\n");
        json_object_set_new(j, "error", json_string("delivery failed"));
        free(res);
        if (shm != NULL) {
            unsetenv("CPN_UCX_SHM");
        }
        return;
    }
    if (shm != NULL) {
        unsetenv("CPN_UCX_SHM");
    }
    say("    cpn lanes: %s\n", res->lanes);
    shm_lanes = strstr(res->lanes, "sysv") != NULL ||
                strstr(res->lanes, "posix") != NULL;
    say("    %-34s %9s %9s %9s %9s %9s\n", "per task (us)", "min", "median",
        "p90", "p99", "max");
    say("    %-34s %9.2f %9.2f %9.2f %9.2f %9.2f\n",
        "create..destroy (task time)", res->total.min / 1e3,
        res->total.p50 / 1e3, res->total.p90 / 1e3, res->total.p99 / 1e3,
        res->total.max / 1e3);
    say("    %-34s %9.2f %9.2f %9.2f %9.2f %9.2f\n",
        "deliver..done (in flight)", res->flight.min / 1e3,
        res->flight.p50 / 1e3, res->flight.p90 / 1e3, res->flight.p99 / 1e3,
        res->flight.max / 1e3);
    med_us = res->total.p50 / 1e3;
    json_object_set_new(j, "lanes", json_string(res->lanes));
    json_object_set_new(j, "task", lat_json(&res->total));
    json_object_set_new(j, "in_flight", lat_json(&res->flight));

    json_object_set_new(j, "ucx_perftest", jpt);
    if (g_opt.perftest == NULL) {
        say("    ucx_perftest not found on PATH: no reference, ratios n/a\n");
        snprintf(what, sizeof(what), "small task %s median (us)", sz);
        snprintf(c, sizeof(c), "%.2f", med_us);
        summary_add(what, c, "n/a (no ucx_perftest)", NAN, "<= 2.5", "n/a");
    } else {
        /* cpn's messages over tcp: ucx_perftest over tcp is the path */
        nenv = ref_envs(res->lanes, !shm_lanes, env);
        say("    reference: ucx_perftest -t ucp_am_lat -n %u; its median "
            "one-way latency x 2 = round trip (RTT)\n",
            g_opt.pt_lat_iters);
        say("    %-50s %6s %10s %9s  %s\n", "", "-s", "RTT us", "cpn/RTT",
            "target <= 2.5");
    }
    for (unsigned e = 0; g_opt.perftest != NULL && e < nenv && !g_stop; e++) {
        const char *tls = env[e].tls[0] ? env[e].tls : NULL;

        for (int k = 0; k < 2 && !g_stop; k++) {
            pt_final_t fin;
            double rtt_us, ratio;
            char r[96];

            if (perftest_run("ucp_am_lat", pt_sizes[k], g_opt.pt_lat_iters,
                             CPN_MIN(10000u, g_opt.pt_lat_iters / 10 + 1),
                             180000, tls, &fin) < 0) {
                continue;
            }
            rtt_us = 2 * fin.lat_p50_us;
            ratio = med_us / rtt_us;
            say("    %-50s %6" PRIu64 " %10.3f %9.1f  %s\n", env[e].label,
                pt_sizes[k], rtt_us, ratio,
                env[e].diag       ? "diagnostic"
                : g_opt.lat_rounds ? "unpaired: see paired below"
                                   : verdict(ratio, 2.5, 0));
            /* clang-format off */
            json_array_append_new(jpt, json_pack(
                "{s:s, s:b, s:o, s:s, s:I, s:i, s:f, s:f, s:f}",
                "label", env[e].label,
                "diagnostic", env[e].diag,
                "ucx_tls", tls ? json_string(tls) : json_null(),
                "test", "ucp_am_lat",
                "size", (json_int_t)pt_sizes[k],
                "iters", (int)g_opt.pt_lat_iters,
                "one_way_p50_us", fin.lat_p50_us,
                "rtt_us", rtt_us,
                "ratio", ratio));
            /* clang-format on */
            snprintf(what, sizeof(what), "small task %s%s median (us)", sz,
                     shm ? " shm" : "");
            snprintf(c, sizeof(c), "%.2f", med_us);
            snprintf(r, sizeof(r), "%.3f am_lat %" PRIu64 "B %.40s", rtt_us,
                     pt_sizes[k], tls ? tls : "env TLS");
            summary_add(what, c, r, ratio,
                        env[e].diag       ? "(diag)"
                        : g_opt.lat_rounds ? "(unpaired)"
                                           : "<= 2.5",
                        env[e].diag || g_opt.lat_rounds ? "-"
                                                        : verdict(ratio, 2.5, 0));
        }
    }
    if (g_opt.perftest != NULL && g_opt.lat_rounds > 0 && !g_stop) {
        lat_paired(&sa, shm, env, nenv, j);
    }
    snprintf(c, sizeof(c), "%.2f", res->total.p99 / 1e3);
    summary_add(shm ? "small task shm p99 (us)" : "small task p99 (us)", c, "",
                NAN, "", "-");
    free(res);
}

/* ------------------------------------------------------------------------ */
/* (d) memory                                                                */
/* ------------------------------------------------------------------------ */

static void phase_rss(void)
{
    uint64_t window = (uint64_t)g_defaults.window * g_defaults.chunk_size;
    uint64_t budget = window + 64 * MIB;
    json_t *j = json_object(), *arr = json_array();
    long send_kb[2] = {-1, -1}, recv_kb[2] = {-1, -1};
    char sz[2][32], w[32], c[32], pool[32];

    say("\n[d] memory: peak RSS (getrusage ru_maxrss) of fresh sender and "
        "receiver processes, file to file\n");
    say("    configured: window %u x chunk %s = %.0f MiB; staging pool %s; "
        "target per process <= window + 64 MiB = %.0f MiB, flat as the "
        "object grows\n",
        g_defaults.window, size_str(g_defaults.chunk_size, c, sizeof(c)),
        mib(window), size_str(g_defaults.pool_size, pool, sizeof(pool)),
        mib(budget));
    json_object_set_new(g_json, "memory", j);
    json_object_set_new(j, "window", json_integer(g_defaults.window));
    json_object_set_new(j, "chunk_size",
                        json_integer((json_int_t)g_defaults.chunk_size));
    json_object_set_new(j, "pool_size",
                        json_integer((json_int_t)g_defaults.pool_size));
    json_object_set_new(j, "budget_bytes", json_integer((json_int_t)budget));
    json_object_set_new(j, "runs", arr);
    say("    %-8s %14s %14s %16s %16s %8s\n", "object", "sender MiB",
        "receiver MiB", "sender at open", "receiver at open", "verdict");
    for (int k = 0; k < 2 && !g_stop; k++) {
        uint64_t size = g_opt.rss_size[k], need = 2 * size + 256 * MIB;
        char src[PATH_MAX], land[PATH_MAX];
        child_args_t sa = {
            .role = ROLE_SEND_FILE,
            .tag = "sender",
            .size = size,
            .count = 1,
            .path = src,
            .land_dir = land,
            .task_timeout_ms = task_timeout_ms(size),
        };
        exp_result_t *res;
        uint64_t avail = disk_free(g_tmpdir);
        int ok;

        size_str(size, sz[k], sizeof(sz[k]));
        if (avail < need) {
            say("    %-8s skipped: needs %.0f MiB free in %s, %.0f MiB free\n",
                sz[k], mib(need), g_tmpdir, mib(avail));
            /* clang-format off */
            json_array_append_new(arr, json_pack(
                "{s:I, s:s}",
                "size", (json_int_t)size,
                "skipped", "not enough disk"));
            /* clang-format on */
            continue;
        }
        sa.max_s = (unsigned)(sa.task_timeout_ms / 1000 + 120);
        snprintf(src, sizeof(src), "%s/src-rss.bin", g_tmpdir);
        snprintf(land, sizeof(land), "%s/land-rss", g_tmpdir);
        res = calloc(1, sizeof(*res));
        if (res == NULL || write_file(src, size, 0) < 0) {
            free(res);
            unlink(src);
            break;
        }
        ok = experiment(&sa, 0, land, res) == 0 && res->nruns == 1;
        unlink(src);
        rm_tree(land);
        if (!ok) {
            say("    %-8s FAILED (see above)\n", sz[k]);
            free(res);
            continue;
        }
        send_kb[k] = res->send_rss_kb;
        recv_kb[k] = res->recv_rss_kb;
        say("    %-8s %14.1f %14.1f %16.1f %16.1f %8s\n", sz[k],
            send_kb[k] / 1024.0, recv_kb[k] / 1024.0,
            res->send_base_kb / 1024.0, res->recv_base_kb / 1024.0,
            (uint64_t)CPN_MAX(send_kb[k], recv_kb[k]) * KIB <= budget
                ? "met"
                : "MISSED");
        /* clang-format off */
        json_array_append_new(arr, json_pack(
            "{s:I, s:i, s:i, s:i, s:i}",
            "size", (json_int_t)size,
            "sender_maxrss_kb", (int)send_kb[k],
            "receiver_maxrss_kb", (int)recv_kb[k],
            "sender_at_open_kb", (int)res->send_base_kb,
            "receiver_at_open_kb", (int)res->recv_base_kb));
        /* clang-format on */
        free(res);
    }
    for (int k = 0; k < 2; k++) {
        char what[64], cc[32], r[48];
        long peak = CPN_MAX(send_kb[k], recv_kb[k]);

        if (peak < 0) {
            continue;
        }
        snprintf(what, sizeof(what), "peak RSS file %s (MiB, max s/r)", sz[k]);
        snprintf(cc, sizeof(cc), "%.1f", peak / 1024.0);
        snprintf(r, sizeof(r), "s %.1f / r %.1f", send_kb[k] / 1024.0,
                 recv_kb[k] / 1024.0);
        snprintf(w, sizeof(w), "<= %.0f MiB", mib(budget));
        summary_add(what, cc, r, NAN, w,
                    (uint64_t)peak * KIB <= budget ? "met" : "MISSED");
    }
    if (send_kb[0] >= 0 && send_kb[1] >= 0) {
        /* Flat: the larger object may not cost more than 8 MiB (or 5%). */
        long ds = send_kb[1] - send_kb[0], dr = recv_kb[1] - recv_kb[0];
        long lim_s = CPN_MAX(8 * 1024L, send_kb[0] / 20);
        long lim_r = CPN_MAX(8 * 1024L, recv_kb[0] / 20);
        int flat = ds <= lim_s && dr <= lim_r;
        char what[96], cc[32];

        say("    growth %s -> %s: sender %+.1f MiB, receiver %+.1f MiB: %s "
            "(flat = at most +8 MiB or +5%%)\n",
            sz[0], sz[1], ds / 1024.0, dr / 1024.0,
            flat ? "flat" : "GROWS with the object");
        json_object_set_new(j, "growth_sender_kb", json_integer(ds));
        json_object_set_new(j, "growth_receiver_kb", json_integer(dr));
        json_object_set_new(j, "flat", json_boolean(flat));
        snprintf(what, sizeof(what), "RSS growth %s->%s (MiB)", sz[0], sz[1]);
        snprintf(cc, sizeof(cc), "%+.1f/%+.1f", ds / 1024.0, dr / 1024.0);
        summary_add(what, cc, "sender/receiver", NAN, "flat",
                    flat ? "met" : "MISSED");
    }
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

/* The help text is laid out as printed. */
/* clang-format off */
static void usage(FILE *out)
{
    fprintf(out,
"usage: cpn-bench-ucx-task [options]\n"
"Task-level benchmark of cpn over UCX on this machine, beside ucx_perftest.\n"
"  --size SIZE        object size for bandwidth and file runs (1G)\n"
"  --runs N           deliveries per figure, median reported (5)\n"
"  --tasks N          small tasks (10000)\n"
"  --small-size SIZE  object size of a small task (4K)\n"
"  --rss-sizes A,B    file sizes of the memory runs (1G,4G)\n"
"  --perftest-iters N ucx_perftest ucp_put_bw iterations per run (16)\n"
"  --lat-iters N      ucx_perftest ucp_am_lat iterations (100000)\n"
"  --lat-rounds N     small tasks again in N paired rounds, each a share of\n"
"                     the tasks then ucp_am_lat on the same path, so both\n"
"                     see the same CPU placement; the verdict is the median\n"
"                     of the per-round ratios (5; 0: unpaired only)\n"
"  --skip-bw --skip-file --skip-lat --skip-rss   leave a part out\n"
"  --quick            small sizes for CI: 64M, 2 runs, 500 tasks, RSS with\n"
"                     64M and 128M (figures are not meaningful)\n"
"  --json FILE        write every figure to FILE as JSON\n"
"  --tmpdir DIR       where the temporary files go ($TMPDIR or /tmp)\n"
"  --ucx-perftest P   the ucx_perftest to run (default: from PATH)\n"
"Sizes take units: 4K, 64M, 1G (powers of 1024). UCX_TLS and the CPN_SITE_*\n"
"variables apply to cpn and ucx_perftest alike.\n");
}
/* clang-format on */

static int parse_size_opt(const char *opt, const char *s, uint64_t *v)
{
    if (cpn__config_parse_size(s, v) != CPN_OK || *v == 0) {
        fprintf(stderr, "cpn-bench-ucx-task: %s: bad size '%s'\n", opt, s);
        return -1;
    }
    return 0;
}

static int parse_uint_opt(const char *opt, const char *s, unsigned lo,
                          unsigned hi, unsigned *v)
{
    char *end;
    unsigned long x;

    errno = 0;
    x = strtoul(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "cpn-bench-ucx-task: %s: expected %u..%u, got '%s'\n",
                opt, lo, hi, s);
        return -1;
    }
    *v = (unsigned)x;
    return 0;
}

enum {
    OPT_SIZE = 256,
    OPT_RUNS,
    OPT_TASKS,
    OPT_SMALL,
    OPT_RSS,
    OPT_PT_ITERS,
    OPT_LAT_ITERS,
    OPT_LAT_ROUNDS,
    OPT_SKIP_BW,
    OPT_SKIP_FILE,
    OPT_SKIP_LAT,
    OPT_SKIP_RSS,
    OPT_QUICK,
    OPT_JSON,
    OPT_TMPDIR,
    OPT_PERFTEST,
};

static int parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"size", required_argument, NULL, OPT_SIZE},
        {"runs", required_argument, NULL, OPT_RUNS},
        {"tasks", required_argument, NULL, OPT_TASKS},
        {"small-size", required_argument, NULL, OPT_SMALL},
        {"rss-sizes", required_argument, NULL, OPT_RSS},
        {"perftest-iters", required_argument, NULL, OPT_PT_ITERS},
        {"lat-iters", required_argument, NULL, OPT_LAT_ITERS},
        {"lat-rounds", required_argument, NULL, OPT_LAT_ROUNDS},
        {"skip-bw", no_argument, NULL, OPT_SKIP_BW},
        {"skip-file", no_argument, NULL, OPT_SKIP_FILE},
        {"skip-lat", no_argument, NULL, OPT_SKIP_LAT},
        {"skip-rss", no_argument, NULL, OPT_SKIP_RSS},
        {"quick", no_argument, NULL, OPT_QUICK},
        {"json", required_argument, NULL, OPT_JSON},
        {"tmpdir", required_argument, NULL, OPT_TMPDIR},
        {"ucx-perftest", required_argument, NULL, OPT_PERFTEST},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* Set by an option given explicitly, so --quick does not override it. */
    int set_size = 0, set_runs = 0, set_tasks = 0, set_rss = 0, set_pt = 0;
    int set_lat = 0, set_rounds = 0, c;
    const char *perftest = NULL;

    g_opt.size = GIB;
    g_opt.runs = 5;
    g_opt.tasks = 10000;
    g_opt.small_size = 4 * KIB;
    g_opt.rss_size[0] = GIB;
    g_opt.rss_size[1] = 4 * GIB;
    g_opt.pt_bw_iters = 16;
    g_opt.pt_lat_iters = 100000;
    g_opt.lat_rounds = 5;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SIZE:
            if (parse_size_opt("--size", optarg, &g_opt.size) < 0) {
                return -1;
            }
            set_size = 1;
            break;
        case OPT_RUNS:
            if (parse_uint_opt("--runs", optarg, 1, 64, &g_opt.runs) < 0) {
                return -1;
            }
            set_runs = 1;
            break;
        case OPT_TASKS:
            if (parse_uint_opt("--tasks", optarg, 1, 100000000, &g_opt.tasks) <
                0) {
                return -1;
            }
            set_tasks = 1;
            break;
        case OPT_SMALL:
            if (parse_size_opt("--small-size", optarg, &g_opt.small_size) < 0) {
                return -1;
            }
            break;
        case OPT_RSS: {
            char a[64], *comma;

            snprintf(a, sizeof(a), "%s", optarg);
            comma = strchr(a, ',');
            if (comma == NULL) {
                fprintf(stderr, "cpn-bench-ucx-task: --rss-sizes: expected "
                                "A,B\n");
                return -1;
            }
            *comma = '\0';
            if (parse_size_opt("--rss-sizes", a, &g_opt.rss_size[0]) < 0 ||
                parse_size_opt("--rss-sizes", comma + 1, &g_opt.rss_size[1]) <
                    0) {
                return -1;
            }
            set_rss = 1;
            break;
        }
        case OPT_PT_ITERS:
            if (parse_uint_opt("--perftest-iters", optarg, 1, 100000,
                               &g_opt.pt_bw_iters) < 0) {
                return -1;
            }
            set_pt = 1;
            break;
        case OPT_LAT_ITERS:
            if (parse_uint_opt("--lat-iters", optarg, 1, 100000000,
                               &g_opt.pt_lat_iters) < 0) {
                return -1;
            }
            set_lat = 1;
            break;
        case OPT_LAT_ROUNDS:
            if (parse_uint_opt("--lat-rounds", optarg, 0, 64,
                               &g_opt.lat_rounds) < 0) {
                return -1;
            }
            set_rounds = 1;
            break;
        case OPT_SKIP_BW:
            g_opt.skip_bw = 1;
            break;
        case OPT_SKIP_FILE:
            g_opt.skip_file = 1;
            break;
        case OPT_SKIP_LAT:
            g_opt.skip_lat = 1;
            break;
        case OPT_SKIP_RSS:
            g_opt.skip_rss = 1;
            break;
        case OPT_QUICK:
            g_opt.quick = 1;
            break;
        case OPT_JSON:
            g_opt.json_path = optarg;
            break;
        case OPT_TMPDIR:
            g_opt.tmp_base = optarg;
            break;
        case OPT_PERFTEST:
            perftest = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cpn-bench-ucx-task: unexpected argument '%s'\n",
                argv[optind]);
        usage(stderr);
        return -1;
    }
    if (g_opt.quick) {
        g_opt.size = set_size ? g_opt.size : 64 * MIB;
        g_opt.runs = set_runs ? g_opt.runs : 2;
        g_opt.tasks = set_tasks ? g_opt.tasks : 500;
        if (!set_rss) {
            g_opt.rss_size[0] = 64 * MIB;
            g_opt.rss_size[1] = 128 * MIB;
        }
        g_opt.pt_bw_iters = set_pt ? g_opt.pt_bw_iters : 4;
        g_opt.pt_lat_iters = set_lat ? g_opt.pt_lat_iters : 10000;
        g_opt.lat_rounds = set_rounds ? g_opt.lat_rounds : 2;
    }
    g_opt.warmup = CPN_MIN(100u, g_opt.tasks / 10);
    g_opt.pt_bw_size = CPN_MIN(256 * MIB, g_opt.size);
    if (perftest != NULL) {
        g_opt.perftest = access(perftest, X_OK) == 0 ? perftest : NULL;
        if (g_opt.perftest == NULL) {
            fprintf(stderr, "cpn-bench-ucx-task: %s is not executable\n",
                    perftest);
            return -1;
        }
    } else {
        g_opt.perftest = find_in_path("ucx_perftest");
    }
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void cleanup(void)
{
    if (getpid() != g_main_pid) {
        return;
    }
    procs_kill_all();
    if (g_tmpdir[0] != '\0') {
        rm_tree(g_tmpdir);
        g_tmpdir[0] = '\0';
    }
}

static void print_summary(void)
{
    char before[16] = "n/a", after[16] = "n/a";

    if (g_busy_start >= 0) {
        snprintf(before, sizeof(before), "%.0f%%", g_busy_start);
    }
    if (g_busy_end >= 0) {
        snprintf(after, sizeof(after), "%.0f%%", g_busy_end);
    }
    say("\nsummary (cpn %s, UCX_TLS=%s, %ld CPUs; machine busy %s before, "
        "%s after%s)\n",
        cpn_version(), getenv("UCX_TLS") ? getenv("UCX_TLS") : "unset",
        sysconf(_SC_NPROCESSORS_ONLN), before, after,
        g_busy_start > 10 || g_busy_end > 10 ? ": figures disturbed" : "");
    say("  %-36s %10s  %-32s %7s %10s  %s\n", "figure", "cpn", "reference",
        "ratio", "target", "");
    for (unsigned i = 0; i < g_nrows; i++) {
        const summary_row_t *r = &g_rows[i];

        say("  %-36s %10s  %-32s %7s %10s  %s\n", r->what, r->cpn, r->ref,
            r->ratio, r->target, r->verdict);
    }
}

int main(int argc, char **argv)
{
    const char *tls = getenv("UCX_TLS");
    const char *base;
    struct sigaction sa;
    char hostname[256] = "";
    int ret = 0;

    if (parse_args(argc, argv) < 0) {
        return 2;
    }
    g_main_pid = getpid();
    for (int i = 0; i < MAX_PROCS; i++) {
        g_fds[i] = -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: waits see EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    atexit(cleanup);

    /* Only the configuration is read here: no site, no UCX in this
     * process, so every child starts clean. */
    if (cpn_site_params_init(&g_defaults) != CPN_OK) {
        fail("a CPN_SITE_* variable does not parse (see the log above)");
        return 1;
    }
    base = g_opt.tmp_base     ? g_opt.tmp_base
           : getenv("TMPDIR") ? getenv("TMPDIR")
                              : "/tmp";
    snprintf(g_tmpdir, sizeof(g_tmpdir), "%s/cpn-bench-XXXXXX", base);
    if (mkdtemp(g_tmpdir) == NULL) {
        fail("mkdtemp %s: %s", g_tmpdir, strerror(errno));
        g_tmpdir[0] = '\0';
        return 1;
    }
    gethostname(hostname, sizeof(hostname) - 1);

    say("cpn-bench-ucx-task: cpn %s, transports: %s, host %s, %ld CPUs%s\n",
        cpn_version(), cpn_transports(), hostname,
        sysconf(_SC_NPROCESSORS_ONLN),
        g_opt.quick ? "  [--quick: small sizes, figures not meaningful]" : "");
    say("  UCX_TLS=%s: cpn runs with it; ucx_perftest with it and again "
        "with UCX_TLS set to the transports of cpn's lanes\n",
        tls ? tls : "unset (UCX picks: all)");
    say("  ucx_perftest: %s\n", g_opt.perftest ? g_opt.perftest
                                               : "not found on PATH (ratios "
                                                 "n/a)");
    say("  site: transport %s, chunk %" PRIu64 " B, window %u, pool %" PRIu64
        " B, inline_max %" PRIu64 " B, fsync %s; temp dir %s\n",
        g_defaults.transport ? g_defaults.transport : "?",
        (uint64_t)g_defaults.chunk_size, g_defaults.window,
        (uint64_t)g_defaults.pool_size, (uint64_t)g_defaults.inline_max,
        g_defaults.fsync ? "y" : "n", g_tmpdir);

    g_json = json_object();
    json_object_set_new(g_json, "schema", json_string("cpn.bench.ucx_task/1"));
    json_object_set_new(g_json, "cpn_version", json_string(cpn_version()));
    json_object_set_new(g_json, "host", json_string(hostname));
    json_object_set_new(g_json, "cpus",
                        json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_set_new(g_json, "quick", json_boolean(g_opt.quick));
    json_object_set_new(g_json, "ucx_tls",
                        tls ? json_string(tls) : json_null());
    json_object_set_new(g_json, "ucx_perftest",
                        g_opt.perftest ? json_string(g_opt.perftest)
                                       : json_null());
    /* clang-format off */
    json_object_set_new(g_json, "site", json_pack(
        "{s:s, s:I, s:i, s:I, s:I, s:b}",
        "transport", g_defaults.transport ? g_defaults.transport : "",
        "chunk_size", (json_int_t)g_defaults.chunk_size,
        "window", (int)g_defaults.window,
        "pool_size", (json_int_t)g_defaults.pool_size,
        "inline_max", (json_int_t)g_defaults.inline_max,
        "fsync", g_defaults.fsync));
    /* clang-format on */

    g_busy_start = cpu_busy_pct(1000);
    say("  machine: %.0f%% of CPU time busy over 1 s before starting%s\n",
        g_busy_start,
        g_busy_start > 10 ? "  -- WARNING: other work is "
                            "running here; figures will be low and noisy"
                          : " (quiet)");
    json_object_set_new(g_json, "cpu_busy_pct_before", json_real(g_busy_start));

    if (!g_opt.skip_bw && !g_stop) {
        phase_bw();
    }
    if (!g_opt.skip_file && !g_stop) {
        phase_file();
    }
    if (!g_opt.skip_lat && !g_stop) {
        phase_lat(NULL);
        if (getenv("CPN_UCX_SHM") == NULL) {
            phase_lat("y");
        }
    }
    if (!g_opt.skip_rss && !g_stop) {
        phase_rss();
    }
    if (g_stop) {
        fail("interrupted");
    } else {
        g_busy_end = cpu_busy_pct(1000);
        json_object_set_new(g_json, "cpu_busy_pct_after",
                            json_real(g_busy_end));
    }
    print_summary();
    json_object_set_new(g_json, "ok", json_boolean(!g_failed));
    if (g_opt.json_path != NULL) {
        if (json_dump_file(g_json, g_opt.json_path,
                           JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
            fail("cannot write %s", g_opt.json_path);
        } else {
            say("figures written to %s\n", g_opt.json_path);
        }
    }
    json_decref(g_json);
    cleanup();
    if (g_failed) {
        say("cpn-bench-ucx-task: some measurements FAILED (see above)\n");
        ret = 1;
    }
    return ret;
}
