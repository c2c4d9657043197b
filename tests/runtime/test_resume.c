/* SPDX-License-Identifier: Apache-2.0 */
/* Resume: a task cut off by a killed sender, and separately by a killed
 * receiver, at 20 seeded random points each, is resumed by offering it
 * again, and only the missing chunks travel. Every site runs in its own
 * child process, killed with SIGKILL (no clean-up of any kind runs). The
 * kill points are byte positions in the task (seed 0x5eed0006, sorted):
 * the sending child kills itself, or the receiving child, when the chunks
 * the receiver held at the offer plus those placed since reach the point.
 * After every kill nothing exists under the job's final name; after the
 * last try the landed file is byte-exact, the last try sent only what the
 * receiver did not hold, and no resume state is left behind.
 * The issue asks for a 1 GiB task: CI runs 128 MiB (2 cores, shared disk);
 * CPN_RESUME_MB=1024 runs the full size. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cpn/cpn.h>

#include "core/clock.h"
#include "runtime/site_int.h"

#define MiB (1024ull * 1024)
#define CHUNK (1 * MiB)
#define KILLS 20

static char dir[128], land[256], src[300];
static uint64_t size;
static pid_t rx_pid;
static char addr[80];

/* What a sending child reports when it was not killed. */
typedef struct tx_report {
    int status;
    uint64_t sent, skipped, total_chunks;
    char err[512];
} tx_report_t;

static int rm_cb(const char *p, const struct stat *sb, int f, struct FTW *w)
{
    (void)sb; (void)f; (void)w;
    return remove(p);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* ---- the receiving child ---- */

static void rx_child(int out)
{
    cpn_site_params_t p;
    cpn_site_t *site;
    char a[80] = "";

    if (cpn_site_params_init(&p) != CPN_OK) {
        _exit(2);
    }
    p.name = "site-rx";
    p.land_dir = land;
    p.pool_size = 8 * MiB;
    p.chunk_size = CHUNK;
    p.window = 4;
    if (cpn_site_open(&p, &site) != CPN_OK ||
        cpn_site_listen(site, "127.0.0.1:0", a, sizeof(a)) != CPN_OK) {
        _exit(3);
    }
    if (write(out, a, sizeof(a)) != (ssize_t)sizeof(a)) {
        _exit(4);
    }
    for (;;) {
        cpn_site_wait(site, 50);   /* until killed */
    }
}

static void rx_start(void)
{
    int fds[2];

    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    rx_pid = fork();
    cr_assert_geq(rx_pid, 0);
    if (rx_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(fds[0]);
        rx_child(fds[1]);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], addr, sizeof(addr)), (ssize_t)sizeof(addr),
                 "the receiving site did not start");
    close(fds[0]);
}

static void rx_kill(void)
{
    if (rx_pid > 0) {
        kill(rx_pid, SIGKILL);
        waitpid(rx_pid, NULL, 0);
        rx_pid = 0;
    }
}

/* ---- the sending child ---- */

typedef struct tx_ctl {
    uint64_t kill_at;     /* byte position; 0: none */
    int kill_rx;          /* kill the receiver there, not this process */
} tx_ctl_t;

static void on_progress(void *arg, cpn_task_t *task, uint64_t done,
                        uint64_t total)
{
    tx_ctl_t *c = arg;

    (void)total;
    if (c->kill_at == 0 || task->bytes_skipped + done < c->kill_at) {
        return;
    }
    if (c->kill_rx) {
        kill(rx_pid, SIGKILL);
        c->kill_at = 0;
    } else {
        raise(SIGKILL);
    }
}

static void tx_child(int out, const char *job, tx_ctl_t ctl)
{
    cpn_site_params_t p;
    cpn_site_t *site;
    cpn_peer_t *peer;
    cpn_task_t *task;
    cpn_task_cbs_t cbs = { .progress = on_progress, .arg = &ctl };
    tx_report_t r;
    size_t i;

    memset(&r, 0, sizeof(r));
    r.status = CPN_ERR_INVALID;
    if (cpn_site_params_init(&p) != CPN_OK) {
        _exit(2);
    }
    p.name = "site-tx";
    p.pool_size = 4 * MiB;
    p.chunk_size = CHUNK;
    p.window = 4;
    if (cpn_site_open(&p, &site) != CPN_OK) {
        _exit(3);
    }
    if (cpn_site_connect(site, addr, 10000, &peer) != CPN_OK) {
        snprintf(r.err, sizeof(r.err), "cannot connect to %s", addr);
    } else if (cpn_task_create(site, job, &task) != CPN_OK ||
               cpn_task_add_file(task, "model.bin", src) != CPN_OK ||
               cpn_task_deliver(task, peer, &cbs) != CPN_INPROGRESS) {
        snprintf(r.err, sizeof(r.err), "task did not start");
    } else {
        r.status = cpn_task_wait(task, 120000);
        snprintf(r.err, sizeof(r.err), "%s", cpn_task_error(task));
        r.sent = task->chunks_sent;
        r.skipped = task->chunks_skipped;
        for (i = 0; i < task->nobj; i++) {
            r.total_chunks += task->obj[i].nchunks;
        }
        /* as `cpn send` does: close in order, so that a CANCEL (a changed
         * source) reaches the receiver */
        cpn_task_destroy(task);
        cpn_peer_close(peer);
        cpn_site_close(site);
    }
    if (write(out, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
        _exit(4);
    }
    _exit(0);
}

/* Run one sending try; @return 1 with @p r filled when it ended on its
 * own, 0 when it was killed. */
static int tx_try(const char *job, tx_ctl_t ctl, tx_report_t *r)
{
    int fds[2], status;
    pid_t pid;
    ssize_t n;

    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(fds[0]);
        tx_child(fds[1], job, ctl);
    }
    close(fds[1]);
    n = read(fds[0], r, sizeof(*r));
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        cr_assert_eq(WTERMSIG(status), SIGKILL);
        return 0;
    }
    cr_assert_eq(n, (ssize_t)sizeof(*r), "sending child exit %d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 1;
}

/* ---- checks ---- */

static void assert_same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    static uint8_t ba[1 << 20], bb[1 << 20];
    uint64_t off = 0;

    cr_assert_not_null(fa, "%s missing", a);
    cr_assert_not_null(fb, "%s missing", b);
    for (;;) {
        size_t na = fread(ba, 1, sizeof(ba), fa);
        size_t nb = fread(bb, 1, sizeof(bb), fb);

        cr_assert_eq(na, nb, "%s and %s differ in size near %llu", a, b,
                     (unsigned long long)off);
        cr_assert_eq(memcmp(ba, bb, na), 0, "%s differs from %s near %llu",
                     b, a, (unsigned long long)off);
        if (na == 0) {
            break;
        }
        off += na;
    }
    fclose(fa);
    fclose(fb);
}

static int count_prefix(const char *prefix)
{
    DIR *d = opendir(land);
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    }
    closedir(d);
    return n;
}

static void setup(void)
{
    const char *mb = getenv("CPN_RESUME_MB");
    static uint8_t buf[1 << 20];
    uint64_t s = 0x9e3779b97f4a7c15ull, off;
    FILE *f;
    size_t i;

    size = (uint64_t)(mb ? atoi(mb) : 128) * MiB + 12345; /* a short tail */
    snprintf(dir, sizeof(dir), "/tmp/cpn-resume-test.%d", getpid());
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(land, sizeof(land), "%s/land", dir);
    snprintf(src, sizeof(src), "%s/src.bin", dir);
    f = fopen(src, "wb");
    cr_assert_not_null(f);
    for (off = 0; off < size; off += sizeof(buf)) {
        size_t n = (size_t)(size - off < sizeof(buf) ? size - off : sizeof(buf));

        for (i = 0; i < n; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            buf[i] = (uint8_t)(s >> 24);
        }
        cr_assert_eq(fwrite(buf, 1, n, f), n);
    }
    cr_assert_eq(fclose(f), 0);
}

static void teardown(void)
{
    rx_kill();
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(resume, .init = setup, .fini = teardown, .timeout = 900);

/* 20 kills of one side, then a try that runs to the end. */
static void kill_and_resume(const char *job, int kill_rx, uint64_t seed)
{
    uint64_t points[KILLS], chunks = (size + CHUNK - 1) / CHUNK;
    char final[600];
    tx_report_t r;
    int k, killed = 0;

    rng_state = seed;
    for (k = 0; k < KILLS; k++) {
        /* inside the task, past its first chunk, before its last */
        points[k] = CHUNK + rng() % (size - 2 * CHUNK);
    }
    qsort(points, KILLS, sizeof(points[0]), cmp_u64);
    snprintf(final, sizeof(final), "%s/%s", land, job);
    rx_start();
    for (k = 0; k < KILLS; k++) {
        tx_ctl_t ctl = { .kill_at = points[k], .kill_rx = kill_rx };

        if (tx_try(job, ctl, &r)) {
            /* the sender outlived the try: it lost its receiver */
            int rs;

            cr_assert(kill_rx, "try %d was not killed: %s", k, r.err);
            if (waitpid(rx_pid, &rs, WNOHANG) == 0) {
                /* The connection went before the kill point (seen about
                 * once in 20 tries at 1 GiB under load): a cut link, which
                 * the resume must survive as well; the receiver is killed
                 * there. Anything else fails the test. */
                rx_kill();
                cr_assert_eq(r.status, CPN_ERR_CONN_RESET, "try %d ended "
                             "(%s: %s) before its kill point %llu", k,
                             cpn_status_name(r.status), r.err,
                             (unsigned long long)points[k]);
                cr_log_warn("try %d: connection lost before the kill point "
                            "%llu (%s); receiver killed there", k,
                            (unsigned long long)points[k], r.err);
            }
            rx_pid = 0;
            cr_assert_neq(r.status, CPN_OK, "try %d ended OK after the "
                          "receiver was killed", k);
            killed++;
            /* nothing under the final name, state kept for the resume */
            cr_assert_neq(access(final, F_OK), 0, "kill %d at %llu: %s is "
                          "visible", k, (unsigned long long)points[k], final);
            rx_start();
        } else {
            cr_assert(!kill_rx, "try %d: the sender died", k);
            killed++;
            cr_assert_neq(access(final, F_OK), 0, "kill %d at %llu: %s is "
                          "visible", k, (unsigned long long)points[k], final);
        }
        cr_assert_eq(count_prefix(".cpn-partial."), 0);
    }
    cr_assert_eq(killed, KILLS);
    /* the last try runs to the end: only the missing chunks travel */
    {
        tx_ctl_t ctl = { 0 };

        cr_assert(tx_try(job, ctl, &r));
    }
    cr_assert_eq(r.status, CPN_OK, "%s", r.err);
    cr_assert_eq(r.total_chunks, chunks);
    cr_assert_gt(r.skipped, 0, "nothing was resumed");
    cr_assert_eq(r.sent + r.skipped, chunks, "sent %llu + skipped %llu of "
                 "%llu chunks", (unsigned long long)r.sent,
                 (unsigned long long)r.skipped, (unsigned long long)chunks);
    /* the receiver held all it verified before the last kill, less what
     * was in flight and the last journal batch */
    cr_assert_geq(r.skipped * CHUNK + 32 * CHUNK, points[KILLS - 1],
                  "skipped %llu chunks; the last kill was at %llu",
                  (unsigned long long)r.skipped,
                  (unsigned long long)points[KILLS - 1]);
    cr_log_info("%s: %d kills (%s), the last try sent %llu of %llu chunks",
                job, killed, kill_rx ? "receiver" : "sender",
                (unsigned long long)r.sent, (unsigned long long)chunks);
    {
        char landed[700];

        snprintf(landed, sizeof(landed), "%s/model.bin", final);
        assert_same_file(src, landed);
    }
    cr_assert_eq(count_prefix(".cpn-resume."), 0, "resume state left over");
    cr_assert_eq(count_prefix(".cpn-partial."), 0);
    rx_kill();
}

/* The sender is killed with SIGKILL at 20 seeded points of one task, and
 * offers it again each time: the file lands byte-exact, never visible
 * before, and the last try sends only the chunks the receiver lacked. */
Test(resume, sender_killed_twenty_times)
{
    kill_and_resume("resume-tx-kills", 0, 0x5eed0006ull);
}

/* The receiver is killed with SIGKILL at 20 seeded points of one task and
 * started again on the same landing directory each time: the file lands
 * byte-exact, never visible before, and the last try sends only the chunks
 * the receiver's journal lacked. */
Test(resume, receiver_killed_twenty_times)
{
    kill_and_resume("resume-rx-kills", 1, 0x5eed0007ull);
}

/* The source changed between two tries: the sender finds the receiver's
 * kept chunks differ, the receiver's digest check fails the task and drops
 * them, the error says so; the next try delivers the new content in full. */
Test(resume, changed_source_is_not_mixed)
{
    tx_ctl_t ctl = { .kill_at = size / 2 };
    char final[600], landed[700];
    tx_report_t r;
    int fd;

    snprintf(final, sizeof(final), "%s/changed", land);
    rx_start();
    cr_assert_eq(tx_try("changed", ctl, &r), 0);
    /* rewrite the first chunk */
    fd = open(src, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, "changed!", 8, 100), 8);
    close(fd);
    ctl.kill_at = 0;
    cr_assert(tx_try("changed", ctl, &r));
    cr_assert_eq(r.status, CPN_ERR_CHECKSUM, "%s", r.err);
    cr_assert(strstr(r.err, "source changed") != NULL, "%s", r.err);
    cr_assert(strstr(r.err, "site-rx") != NULL, "%s", r.err);
    cr_assert_neq(access(final, F_OK), 0, "mixed content landed");
    cr_assert(tx_try("changed", ctl, &r));
    cr_assert_eq(r.status, CPN_OK, "%s", r.err);
    cr_assert_eq(r.skipped, 0);
    snprintf(landed, sizeof(landed), "%s/model.bin", final);
    assert_same_file(src, landed);
    cr_assert_eq(count_prefix(".cpn-resume."), 0, "resume state left over");
    rx_kill();
}

/* A task cut off and never offered again: what the receiver kept for its
 * resume stays for CPN_SITE_RESUME_KEEP, then the running site removes it
 * (journal and directory), and nothing else in the landing directory. */
Test(resume, unclaimed_state_is_removed)
{
    tx_ctl_t ctl = { .kill_at = size / 4 };
    char other[400];
    uint64_t t0;
    tx_report_t r;
    FILE *f;

    cr_assert_eq(setenv("CPN_SITE_RESUME_KEEP", "2s", 1), 0);
    rx_start();
    unsetenv("CPN_SITE_RESUME_KEEP");
    snprintf(other, sizeof(other), "%s/unrelated.txt", land);
    f = fopen(other, "w");
    cr_assert_not_null(f);
    fputs("not cpn's\n", f);
    fclose(f);
    cr_assert_eq(tx_try("unclaimed", ctl, &r), 0, "the sender was not killed");
    cr_assert_eq(count_prefix(".cpn-resume."), 2, "no resume state kept");
    t0 = cpn_time_ns();
    while (count_prefix(".cpn-resume.") > 0 &&
           cpn_time_ns() - t0 < 10000000000ull) {
        usleep(50000);
    }
    cr_assert_eq(count_prefix(".cpn-resume."), 0, "resume state still there "
                 "%.1f s after the sender died (keep: 2 s)",
                 (double)(cpn_time_ns() - t0) / 1e9);
    cr_assert_geq(cpn_time_ns() - t0, 1500000000ull, "removed before its "
                  "keep time");
    cr_assert_eq(access(other, F_OK), 0, "the sweep removed %s", other);
    rx_kill();
}
