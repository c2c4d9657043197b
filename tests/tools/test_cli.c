/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the `cpn` command as a user runs it: help and usage errors, then
 * real deliveries between a `cpn serve` and a `cpn send` process over UCX
 * tcp and shared memory, JSON receipts, an unreachable peer, a receiver
 * killed half-way through a large task, and `cpn demo`. The binary comes
 * from $CPN_CLI (set by tests/meson.build). Child processes are started with
 * fork/exec and die with the test (PR_SET_PDEATHSIG). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include <cpn/config.h>

extern char **environ;

/* ---- processes ------------------------------------------------------------ */

typedef struct proc {
    pid_t pid;
    char out[PATH_MAX];   /* its stdout, in a file */
    char err[PATH_MAX];   /* its stderr, in a file */
    int status;           /* wait status once reaped */
} proc_t;

static char test_dir[PATH_MAX]; /* this test's scratch directory */
static pid_t live[8];           /* children to kill if a test fails */
static unsigned nspawned;        /* names the output files */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void teardown(void);

/* Criterion runs no .fini for a skipped test: clean up first. */
#define skip_test(...)                                                        \
    do {                                                                      \
        teardown();                                                           \
        cr_skip_test(__VA_ARGS__);                                            \
    } while (0)

static const char *cli_bin(void)
{
    const char *p = getenv("CPN_CLI");

    if (p == NULL || access(p, X_OK) != 0) {
        skip_test("CPN_CLI is not set to the built cpn binary (run the "
                     "test through `meson test`)");
    }
    return p;
}

/* environ with @p set ("NAME=value", NULL-terminated) replacing or adding. */
static char **make_env(const char *const *set)
{
    size_t n = 0, k = 0, i, j;
    char **env;

    while (environ[n] != NULL) {
        n++;
    }
    for (j = 0; set != NULL && set[j] != NULL; j++) {
    }
    env = calloc(n + j + 1, sizeof(*env));
    cr_assert_not_null(env);
    for (i = 0; i < n; i++) {
        int replaced = 0;

        for (j = 0; set != NULL && set[j] != NULL; j++) {
            size_t len = strcspn(set[j], "=");
            if (strncmp(environ[i], set[j], len + 1) == 0) {
                replaced = 1;
            }
        }
        if (!replaced) {
            env[k++] = environ[i];
        }
    }
    for (j = 0; set != NULL && set[j] != NULL; j++) {
        env[k++] = (char *)set[j];
    }
    env[k] = NULL;
    return env;
}

/*
 * Start the cpn binary with @p args (after argv[0]) and @p set added to the
 * environment; stdout and stderr go to files. @p keep_fd stays open in the
 * child (-1: none).
 */
static void spawn(proc_t *p, const char *const *args, const char *const *set,
                  int keep_fd)
{
    const char *argv[32];
    char **env = make_env(set);
    size_t n = 0;
    unsigned id = nspawned++;

    argv[n++] = cli_bin();
    while (args[n - 1] != NULL && n < 31) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    memset(p, 0, sizeof(*p));
    cr_assert((size_t)snprintf(p->out, sizeof(p->out), "%s/proc%u.out",
                               test_dir, id) < sizeof(p->out));
    cr_assert((size_t)snprintf(p->err, sizeof(p->err), "%s/proc%u.err",
                               test_dir, id) < sizeof(p->err));
    fflush(NULL);
    p->pid = fork();
    cr_assert(p->pid >= 0, "fork: %s", strerror(errno));
    if (p->pid == 0) {
        int o = open(p->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(p->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) {
            _exit(126);
        }
        if (keep_fd >= 0) {
            fcntl(keep_fd, F_SETFD, 0);
        }
        execve(argv[0], (char *const *)argv, env);
        _exit(127);
    }
    free(env);
    for (n = 0; n < sizeof(live) / sizeof(live[0]); n++) {
        if (live[n] == 0) {
            live[n] = p->pid;
            break;
        }
    }
}

static void forget(pid_t pid)
{
    size_t i;

    for (i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
        if (live[i] == pid) {
            live[i] = 0;
        }
    }
}

/* Wait for @p p to exit; kill it after @p timeout_ms. @return its exit code,
 * 128+signal if it died of one, or -1 if it had to be killed. */
static int reap(proc_t *p, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    pid_t r;

    for (;;) {
        r = waitpid(p->pid, &p->status, WNOHANG);
        if (r == p->pid) {
            break;
        }
        if (now_ms() >= end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &p->status, 0);
            forget(p->pid);
            return -1;
        }
        usleep(5000);
    }
    forget(p->pid);
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status)
                                : 128 + WTERMSIG(p->status);
}

/* A file's contents, NUL-terminated (malloc'd; "" if it cannot be read). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;

    if (f == NULL) {
        return strdup("");
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)len + 1);
    cr_assert_not_null(buf);
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        buf[0] = '\0';
    }
    fclose(f);
    return buf;
}

/* Run to completion. @return the exit code; *out_p / *err_p (optional) get
 * stdout and stderr to free(). */
static int run(const char *const *args, const char *const *set, int timeout_ms,
               char **out_p, char **err_p)
{
    proc_t p;
    int rc;

    spawn(&p, args, set, -1);
    rc = reap(&p, timeout_ms);
    if (out_p != NULL) {
        *out_p = slurp(p.out);
    }
    if (err_p != NULL) {
        *err_p = slurp(p.err);
    }
    return rc;
}

/* ---- files ---------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(test_dir, sizeof(test_dir), "%s/cpn-cli-test-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(test_dir), "mkdtemp: %s", strerror(errno));
}

static void teardown(void)
{
    size_t i;

    for (i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
    }
    if (test_dir[0] != '\0') {
        nftw(test_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        test_dir[0] = '\0';
    }
}

static void path_join(char *out, size_t len, const char *a, const char *b)
{
    cr_assert((size_t)snprintf(out, len, "%s/%s", a, b) < len);
}

static void mkdir_p(const char *path)
{
    char buf[PATH_MAX], *s;

    snprintf(buf, sizeof(buf), "%s", path);
    for (s = buf + 1; *s != '\0'; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(buf, 0755);
            *s = '/';
        }
    }
    cr_assert(mkdir(buf, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", buf,
              strerror(errno));
}

/* Write @p len seeded pseudo-random bytes to @p path. */
static void write_file(const char *path, size_t len, uint32_t seed)
{
    FILE *f = fopen(path, "wb");
    size_t i;

    cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
    for (i = 0; i < len; i++) {
        seed = seed * 1664525u + 1013904223u;
        fputc((int)(seed >> 24), f);
    }
    cr_assert(fclose(f) == 0);
}

/* The tree every delivery test sends: an empty file, a few MiB, nesting. */
static uint64_t make_tree(const char *root)
{
    char p[PATH_MAX];

    mkdir_p(root);
    path_join(p, sizeof(p), root, "nested/a/b");
    mkdir_p(p);
    path_join(p, sizeof(p), root, "empty.bin");
    write_file(p, 0, 1);
    path_join(p, sizeof(p), root, "big.bin");
    write_file(p, (3u << 20) + 4321, 2);
    path_join(p, sizeof(p), root, "nested/mid.bin");
    write_file(p, 100000, 3);
    path_join(p, sizeof(p), root, "nested/a/b/deep.txt");
    write_file(p, 17, 4);
    return (3u << 20) + 4321 + 100000 + 17;
}

static int files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int ca, cb, eq = fa != NULL && fb != NULL;

    while (eq) {
        ca = fgetc(fa);
        cb = fgetc(fb);
        if (ca != cb) {
            eq = 0;
        }
        if (ca == EOF) {
            break;
        }
    }
    if (fa != NULL) {
        fclose(fa);
    }
    if (fb != NULL) {
        fclose(fb);
    }
    return eq;
}

/* Every regular file under src/rel equals dst/rel; @return the count. */
static unsigned compare_tree(const char *src, const char *dst, const char *rel)
{
    char s[PATH_MAX], d[PATH_MAX], r[PATH_MAX];
    struct dirent *de;
    struct stat sb;
    unsigned n = 0;
    DIR *dir;

    snprintf(s, sizeof(s), "%s/%s", src, rel);
    dir = opendir(s);
    cr_assert_not_null(dir, "opendir %s", s);
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        path_join(s, sizeof(s), src, r);
        path_join(d, sizeof(d), dst, r);
        cr_assert(lstat(s, &sb) == 0);
        if (S_ISDIR(sb.st_mode)) {
            n += compare_tree(src, dst, r);
        } else {
            cr_assert(files_equal(s, d), "%s did not land as %s", s, d);
            n++;
        }
    }
    closedir(dir);
    return n;
}

/* Bytes in regular files anywhere under @p root (hidden ones too). */
static uint64_t bytes_under(const char *root)
{
    char p[PATH_MAX];
    struct dirent *de;
    struct stat sb;
    uint64_t n = 0;
    DIR *dir = opendir(root);

    if (dir == NULL) {
        return 0;
    }
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        snprintf(p, sizeof(p), "%s/%s", root, de->d_name);
        if (lstat(p, &sb) != 0) {
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            n += bytes_under(p);
        } else if (S_ISREG(sb.st_mode)) {
            n += (uint64_t)sb.st_blocks * 512 > (uint64_t)sb.st_size ?
                 (uint64_t)sb.st_size : (uint64_t)sb.st_blocks * 512;
        }
    }
    closedir(dir);
    return n;
}

/* ---- cpn serve ------------------------------------------------------------ */

/* Start `cpn serve` on @p listen landing in @p land, with @p extra
 * options, and learn its address through --ready-fd. */
static void start_serve_at(proc_t *p, const char *listen, const char *land,
                           const char *const *extra, const char *const *set,
                           char *addr, size_t addr_len)
{
    const char *args[24];
    char fdarg[16];
    int pfd[2], n = 0;
    size_t got = 0;
    ssize_t r;
    uint64_t end = now_ms() + 30000;
    struct pollfd pf;

    cr_assert(pipe2(pfd, O_CLOEXEC) == 0);
    snprintf(fdarg, sizeof(fdarg), "%d", pfd[1]);
    args[n++] = "serve";
    args[n++] = "--listen";
    args[n++] = listen;
    args[n++] = "--land";
    args[n++] = land;
    args[n++] = "--ready-fd";
    args[n++] = fdarg;
    while (extra != NULL && *extra != NULL) {
        args[n++] = *extra++;
    }
    args[n] = NULL;
    spawn(p, args, set, pfd[1]);
    close(pfd[1]);
    while (got + 1 < addr_len && now_ms() < end) {
        pf.fd = pfd[0];
        pf.events = POLLIN;
        if (poll(&pf, 1, 100) <= 0) {
            continue;
        }
        r = read(pfd[0], addr + got, addr_len - 1 - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
        if (addr[got - 1] == '\n') {
            break;
        }
    }
    close(pfd[0]);
    addr[got] = '\0';
    if (got > 0 && addr[got - 1] == '\n') {
        addr[got - 1] = '\0';
        return;
    }
    {
        char *err = slurp(p->err);
        cr_assert_fail("cpn serve gave no address on --ready-fd; stderr:\n%s",
                       err);
    }
}

/* Start `cpn serve` on a port it picks. */
static void start_serve(proc_t *p, const char *land, const char *const *extra,
                        const char *const *set, char *addr, size_t addr_len)
{
    start_serve_at(p, "127.0.0.1:0", land, extra, set, addr, addr_len);
}

/* Stop `cpn serve` with SIGTERM; it must exit 0 promptly. */
static void stop_serve(proc_t *p)
{
    int rc;

    kill(p->pid, SIGTERM);
    rc = reap(p, 10000);
    cr_expect_eq(rc, 0, "cpn serve exited with %d after SIGTERM", rc);
}

static json_int_t json_int_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    cr_assert(json_is_integer(v), "receipt has no integer \"%s\"", key);
    return json_integer_value(v);
}

/*
 * The delivery test, on one UCX transport: send a tree as a job, with
 * --json, check the receipt's figures and that every file landed equal.
 * @return the lanes the receipt names (free() them).
 */
static char *deliver_tree(const char *tls, const char *extra_env)
{
    char src[PATH_MAX], srcroot[PATH_MAX], land[PATH_MAX], addr[256];
    char dst[PATH_MAX], tlsvar[64], lanes[256] = "";
    const char *set[] = {tlsvar, extra_env, NULL};
    const char *serve_opts[] = {"--json", "--tasks", "2", NULL};
    char *out, *err, *sout, *line;
    json_t *doc;
    json_error_t jerr;
    uint64_t total;
    proc_t serve;
    int rc;

    snprintf(tlsvar, sizeof(tlsvar), "UCX_TLS=%s", tls);
    path_join(src, sizeof(src), test_dir, "src/payload");
    path_join(land, sizeof(land), test_dir, "land");
    total = make_tree(src);
    start_serve(&serve, land, serve_opts, set, addr, sizeof(addr));

    /* 1: the directory, as job "treejob", JSON receipt */
    {
        const char *args[] = {"send", "--to", addr, "--job", "treejob",
                              "--spec-json", "{\"kind\":\"train\",\"gpus\":8}",
                              "--json", "--timeout", "60", src, NULL};
        rc = run(args, set, 90000, &out, &err);
    }
    cr_assert_eq(rc, 0, "cpn send (UCX_TLS=%s) exited %d; stderr:\n%s", tls,
                 rc, err);
    doc = json_loads(out, 0, &jerr);
    cr_assert_not_null(doc, "send --json is not JSON (%s):\n%s", jerr.text, out);
    cr_expect_eq(json_int_field(doc, "bytes"), (json_int_t)total);
    if (json_is_string(json_object_get(doc, "lanes"))) {
        snprintf(lanes, sizeof(lanes), "%s",
                 json_string_value(json_object_get(doc, "lanes")));
    }
    cr_expect(json_is_number(json_object_get(doc, "goodput_gbps")),
              "receipt has no goodput_gbps:\n%s", out);
    {
        json_t *objs = json_object_get(doc, "objects");
        cr_expect(json_is_integer(objs) ? json_integer_value(objs) == 4 :
                  json_is_array(objs) && json_array_size(objs) == 4,
                  "receipt does not count 4 objects:\n%s", out);
    }
    json_decref(doc);
    free(out);
    free(err);

    path_join(dst, sizeof(dst), land, "treejob");
    path_join(srcroot, sizeof(srcroot), test_dir, "src");
    cr_expect_eq(compare_tree(srcroot, dst, "payload"), 4);

    /* 2: "dir/" sends the contents; the default job name is the base name */
    {
        char slash[PATH_MAX + 2];
        const char *args[] = {"send", "--to", addr, "--quiet", slash, NULL};

        snprintf(slash, sizeof(slash), "%s/", src);
        rc = run(args, set, 90000, &out, &err);
        cr_assert_eq(rc, 0, "cpn send dir/ exited %d; stderr:\n%s", rc, err);
        cr_expect_str_empty(out, "--quiet printed: %s", out);
        free(out);
        free(err);
    }
    path_join(dst, sizeof(dst), land, "payload");
    cr_expect_eq(compare_tree(src, dst, ""), 4);

    /* serve --tasks 2 exits by itself, one JSON receipt per line */
    rc = reap(&serve, 15000);
    cr_expect_eq(rc, 0, "cpn serve --tasks 2 exited %d", rc);
    sout = slurp(serve.out);
    line = strtok(sout, "\n");
    cr_assert_not_null(line, "cpn serve --json printed nothing");
    doc = json_loads(line, 0, &jerr);
    cr_assert_not_null(doc, "cpn serve --json line is not JSON: %s", line);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "job")), "treejob");
    json_decref(doc);
    line = strtok(NULL, "\n");
    cr_expect_not_null(line, "cpn serve --json printed one receipt, not two");
    free(sout);
    return strdup(lanes);
}

/* ---- the tests ------------------------------------------------------------ */

TestSuite(cli, .init = setup, .fini = teardown);
TestSuite(cli_loopback, .init = setup, .fini = teardown);

Test(cli, help, .timeout = 30)
{
    static const struct {
        const char *cmd;
        const char *opts[8];
    } sub[] = {
        {"serve", {"--listen", "--land", "--transport", "--json", "--tasks",
                   "--ready-fd", "--dpdk-vdev", "--dpdk-port"}},
        {"send", {"--to", "--job", "--spec", "--spec-json", "--timeout",
                  "--quiet", "--dpdk-vdev", "--dpdk-file-prefix"}},
        {"demo", {"--size", "--shards", "--dir", "--keep", "--transport",
                  "--json"}},
        {"info", {"--config", "--json", "--help", NULL, NULL, NULL}},
    };
    const char *args[3] = {"--help", NULL, NULL};
    char *out, *err;
    size_t i, j;

    cr_assert_eq(run(args, NULL, 10000, &out, &err), 0);
    for (i = 0; i < 4; i++) {
        cr_expect(strstr(out, sub[i].cmd) != NULL, "cpn --help lacks %s",
                  sub[i].cmd);
    }
    cr_expect(strstr(out, "Exit codes") != NULL, "cpn --help lists no exit codes");
    free(out);
    free(err);

    for (i = 0; i < 4; i++) {
        args[0] = sub[i].cmd;
        args[1] = "--help";
        cr_assert_eq(run(args, NULL, 10000, &out, &err), 0, "cpn %s --help",
                     sub[i].cmd);
        for (j = 0; j < 8 && sub[i].opts[j] != NULL; j++) {
            cr_expect(strstr(out, sub[i].opts[j]) != NULL,
                      "cpn %s --help does not mention %s", sub[i].cmd,
                      sub[i].opts[j]);
        }
        free(out);
        free(err);
    }
    args[0] = "help";
    args[1] = "send";
    cr_assert_eq(run(args, NULL, 10000, &out, &err), 0);
    cr_expect(strstr(out, "--spec-json") != NULL);
    free(out);
    free(err);
}

Test(cli, usage_errors, .timeout = 60)
{
    static const char *const cases[][8] = {
        {NULL},
        {"bogus", NULL},
        {"--bogus", NULL},
        {"send", NULL},
        {"send", "--to", "127.0.0.1:1", NULL},
        {"send", "--to", "no-port", "x", NULL},
        {"send", "--to", "127.0.0.1:1", "--timeout", "soon", "x", NULL},
        {"send", "--to", "127.0.0.1:1", "--spec-json", "{bad", "/etc/hostname", NULL},
        {"send", "--to", NULL},
        {"serve", "--land", "/tmp/x", NULL},
        {"serve", "--listen", "127.0.0.1:0", NULL},
        {"serve", "--listen", "127.0.0.1:0", "--land", "/tmp/x", "--tasks", "0", NULL},
        {"serve", "--listen", "127.0.0.1:0", "--land", "/tmp/x", "--ready-fd", "999", NULL},
        {"send", "--to", "127.0.0.1:1", "--dpdk-port", "p0", "x", NULL},
        {"send", "-t", "ucx", "--to", "127.0.0.1:1", "--dpdk-pci", "x", NULL},
        {"send", "--to", "127.0.0.1:1", "--dpdk-mtu", "99999", "x", NULL},
        {"serve", "--listen", "0.0.0.0:0", "--land", "/tmp/x", "--dpdk-port", "p0", NULL},
        {"serve", "--listen", "1.2.3.4:0", "--land", "/tmp/x", "--dpdk-hugepages", "maybe", NULL},
        {"demo", "--size", "12Q", NULL},
        {"demo", "--shards", "0", NULL},
        {"demo", "extra", NULL},
        {"info", "--nope", NULL},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out, *err;
        int rc = run(cases[i], NULL, 10000, &out, &err);

        cr_expect_eq(rc, 2, "case %zu (cpn %s %s ...) exited %d, not 2:\n%s",
                     i, cases[i][0] ? cases[i][0] : "",
                     cases[i][0] && cases[i][1] ? cases[i][1] : "", rc, err);
        cr_expect(strstr(err, "Try 'cpn") != NULL,
                  "case %zu: no hint in stderr:\n%s", i, err);
        cr_expect(strchr(err, '\n') != NULL && strlen(err) < 300,
                  "case %zu: not a short reason:\n%s", i, err);
        free(out);
        free(err);
    }
}

Test(cli, local_file_error, .timeout = 30)
{
    /* local inputs are checked before the peer: no one listens at :1 */
    const char *args[] = {"send", "--to", "127.0.0.1:1", "/nonexistent/cpn/x",
                          NULL};
    const char *args2[] = {"send", "--to", "127.0.0.1:1", "--spec",
                           "/nonexistent/spec.json", "/etc/hostname", NULL};
    char *out, *err;

    cr_expect_eq(run(args, NULL, 20000, &out, &err), 4, "stderr:\n%s", err);
    cr_expect(strstr(err, "/nonexistent/cpn/x") != NULL, "%s", err);
    free(out);
    free(err);
    cr_expect_eq(run(args2, NULL, 20000, &out, &err), 4, "stderr:\n%s", err);
    free(out);
    free(err);
    {
        /* a landing directory that cannot be created */
        const char *args3[] = {"serve", "--listen", "127.0.0.1:0", "--land",
                               "/proc/cpn-cannot-be-here", NULL};
        int rc = run(args3, NULL, 20000, &out, &err);

        cr_expect_eq(rc, 4, "serve with an impossible --land exited %d:\n%s",
                     rc, err);
        free(out);
        free(err);
    }
}

Test(cli, info, .timeout = 30)
{
    const char *a1[] = {"info", NULL}, *a2[] = {"info", "--json", NULL};
    const char *a3[] = {"info", "--config", NULL};
    char *out, *err;
    json_t *doc;

    cr_assert_eq(run(a1, NULL, 10000, &out, &err), 0);
    cr_expect(strstr(out, "transports:") != NULL && strstr(out, "ucx") != NULL,
              "%s", out);
    free(out);
    free(err);
    cr_assert_eq(run(a2, NULL, 10000, &out, &err), 0);
    doc = json_loads(out, 0, NULL);
    cr_assert_not_null(doc, "info --json:\n%s", out);
    cr_expect(json_is_string(json_object_get(doc, "version")));
    cr_expect(json_is_array(json_object_get(doc, "transports")));
    json_decref(doc);
    free(out);
    free(err);
    cr_assert_eq(run(a3, NULL, 10000, &out, &err), 0);
    cr_expect(strstr(out, "CPN_SITE_CHUNK_SIZE") != NULL,
              "info --config lacks CPN_SITE_CHUNK_SIZE:\n%s", out);
    free(out);
    free(err);
}

/* `cpn info` lists the ports DPDK finds: a net_null vdev here. */
Test(cli, info_dpdk_ports, .timeout = 60)
{
    const char *a1[] = {"info", NULL};
    const char *set[] = {"CPN_DPDK_VDEVS=net_null0", "CPN_DPDK_HUGE=n",
                         "CPN_DPDK_FILE_PREFIX=cpntestinfo", NULL};
    char *out, *err;

    if (strstr(cpn_transports(), "dpdk") == NULL) {
        cr_skip_test("dpdk is not built in");
    }
    cr_assert_eq(run(a1, set, 30000, &out, &err), 0, "%s", err);
    cr_expect(strstr(out, "dpdk ports") != NULL &&
                  strstr(out, "net_null0") != NULL,
              "no net_null0 port in:\n%s\n%s", out, err);
    free(out);
    free(err);
}

Test(cli_loopback, send_tree_tcp, .timeout = 120)
{
    char *lanes = deliver_tree("tcp", NULL);

    cr_expect(strstr(lanes, "tcp") != NULL, "UCX_TLS=tcp but lanes: %s", lanes);
    free(lanes);
}

Test(cli_loopback, send_tree_sm, .timeout = 120)
{
    /* UCX's client-server connection manager is its tcp component, so
     * UCX_TLS=sm alone cannot connect through a listener: add tcp, let cpn
     * use shared memory (CPN_UCX_SHM=y; it is off by default), and check
     * which lanes UCX picked for the data. */
    static const char *const shm[] = {"posix", "sysv", "cma", "xpmem", "knem"};
    char *lanes = deliver_tree("sm,tcp", "CPN_UCX_SHM=y");
    size_t i;

    for (i = 0; i < sizeof(shm) / sizeof(shm[0]); i++) {
        if (strstr(lanes, shm[i]) != NULL) {
            free(lanes);
            return;
        }
    }
    skip_test("the delivery with UCX_TLS=sm,tcp CPN_UCX_SHM=y verified, "
                 "but UCX chose "
                 "no shared-memory lane (lanes: %s), so shared memory is not "
                 "exercised on this host", lanes);
}

Test(cli_loopback, serve_sigterm, .timeout = 60)
{
    char land[PATH_MAX], addr[256], *err;
    const char *set[] = {"UCX_TLS=tcp", NULL};
    proc_t serve;

    path_join(land, sizeof(land), test_dir, "land");
    start_serve(&serve, land, NULL, set, addr, sizeof(addr));
    stop_serve(&serve);
    err = slurp(serve.err);
    cr_expect(strstr(err, "listening on") != NULL && strstr(err, addr) != NULL,
              "no banner naming %s:\n%s", addr, err);
    free(err);
}

Test(cli_loopback, unreachable, .timeout = 60)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    char to[64], *out, *err;
    const char *args[] = {"send", "--to", to, "/etc/hostname", NULL};
    const char *set[] = {"UCX_TLS=tcp", NULL};
    uint64_t t0;
    int fd, rc;

    /* a port bound but not listening: connecting there is refused, and no
     * one else can take it while the test runs */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
    snprintf(to, sizeof(to), "127.0.0.1:%u", ntohs(sin.sin_port));

    t0 = now_ms();
    rc = run(args, set, 30000, &out, &err);
    close(fd);
    cr_expect_eq(rc, 3, "cpn send to %s exited %d, not 3; stderr:\n%s", to, rc,
                 err);
    cr_expect_lt(now_ms() - t0, 10000, "took %llu ms to give up",
                 (unsigned long long)(now_ms() - t0));
    cr_expect(strstr(err, to) != NULL, "the error does not name %s:\n%s", to,
              err);
    free(out);
    free(err);
}

Test(cli_loopback, receiver_killed, .timeout = 120)
{
    char src[PATH_MAX], land[PATH_MAX], addr[256], final[PATH_MAX];
    const char *set[] = {"UCX_TLS=tcp", NULL};
    const char *serve_opts[] = {"--quiet", NULL};
    const uint64_t size = 512ull << 20;
    proc_t serve, send;
    uint64_t t0, staged = 0;
    char *err;
    int fd, rc;

    path_join(src, sizeof(src), test_dir, "huge.bin");
    path_join(land, sizeof(land), test_dir, "land");
    /* sparse: reads as zeros at memory speed, costs no disk */
    fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
    close(fd);

    start_serve(&serve, land, serve_opts, set, addr, sizeof(addr));
    {
        const char *args[] = {"send", "--to", addr, "--job", "bigjob",
                              "--timeout", "60", src, NULL};
        spawn(&send, args, set, -1);
    }
    /* kill the receiver once part of the task has been staged */
    t0 = now_ms();
    while (now_ms() - t0 < 10000) {
        staged = bytes_under(land);
        if (staged > 0 || waitpid(send.pid, NULL, WNOHANG) != 0) {
            break;
        }
        usleep(1000);
    }
    cr_assert_eq(waitpid(send.pid, &send.status, WNOHANG), 0,
                 "cpn send finished before the receiver could be killed "
                 "(staged %llu bytes)", (unsigned long long)staged);
    kill(serve.pid, SIGKILL);
    reap(&serve, 5000);

    rc = reap(&send, 60000);
    err = slurp(send.err);
    cr_expect(rc != 0 && rc != -1, "cpn send exited %d after its receiver "
              "was killed (staged %llu of %llu bytes); stderr:\n%s", rc,
              (unsigned long long)staged, (unsigned long long)size, err);
    cr_expect(strstr(err, addr) != NULL, "the error does not name the peer "
              "%s:\n%s", addr, err);
    path_join(final, sizeof(final), land, "bigjob/huge.bin");
    cr_expect(access(final, F_OK) != 0, "%s exists although the task never "
              "completed", final);
    free(err);
}

/* Wait (20 s at most) until 24 MiB of @p send's task are on the receiver's
 * disk under @p land; fail if `cpn send` ended first, before @p what. */
static void wait_staged(proc_t *send, const char *land, const char *what)
{
    uint64_t t0 = now_ms();

    while (now_ms() - t0 < 20000 && bytes_under(land) < (24ull << 20) &&
           waitpid(send->pid, NULL, WNOHANG) == 0) {
        usleep(1000);
    }
    cr_assert_eq(waitpid(send->pid, &send->status, WNOHANG), 0,
                 "cpn send finished before %s", what);
}

/* `cpn send --resume` after a killed sender: `cpn send` is killed with
 * SIGKILL half-way; the receiver keeps the chunks it verified out of
 * sight; `cpn send --resume` offers the task again and it lands
 * byte-exact, never visible under its final name before, with no resume
 * state left. (Only the missing chunks travel: the counts are checked in
 * tests/runtime/test_resume.c.) */
Test(cli_loopback, send_resume_after_sender_killed, .timeout = 120)
{
    char src[PATH_MAX], land[PATH_MAX], addr[256];
    char final[PATH_MAX], landed[PATH_MAX];
    const char *set[] = {"UCX_TLS=tcp", NULL};
    const char *serve_opts[] = {"--quiet", NULL};
    const uint64_t size = 128ull << 20;
    proc_t serve, send;
    struct dirent *de;
    DIR *dir;
    char *out, *err;
    int rc, kept = 0;

    path_join(src, sizeof(src), test_dir, "resume.bin");
    path_join(land, sizeof(land), test_dir, "land");
    write_file(src, size, 21);
    start_serve(&serve, land, serve_opts, set, addr, sizeof(addr));
    {
        const char *args[] = {"send", "--quiet", "--to", addr, "--job",
                              "resumejob", src, NULL};
        spawn(&send, args, set, -1);
    }
    wait_staged(&send, land, "it could be killed");
    kill(send.pid, SIGKILL);
    reap(&send, 5000);
    usleep(300000);
    path_join(final, sizeof(final), land, "resumejob");
    cr_assert_neq(access(final, F_OK), 0, "%s visible before the task "
                  "verified", final);
    dir = opendir(land);
    cr_assert_not_null(dir);
    while ((de = readdir(dir)) != NULL) {
        kept += strncmp(de->d_name, ".cpn-resume.", 12) == 0;
    }
    closedir(dir);
    cr_assert_eq(kept, 2, "the receiver kept no resume state");
    {
        const char *args[] = {"send", "--resume", "--quiet", "--to", addr,
                              "--job", "resumejob", "--timeout", "90", src,
                              NULL};

        rc = run(args, set, 95000, &out, &err);
    }
    cr_assert_eq(rc, 0, "cpn send --resume exited %d:\n%s", rc, err);
    free(out);
    free(err);
    path_join(landed, sizeof(landed), final, "resume.bin");
    cr_assert(files_equal(src, landed), "%s is not byte-exact", landed);
    dir = opendir(land);
    cr_assert_not_null(dir);
    while ((de = readdir(dir)) != NULL) {
        cr_expect(strncmp(de->d_name, ".cpn-", 5) != 0, "%s left in %s",
                  de->d_name, land);
    }
    closedir(dir);
    stop_serve(&serve);
}

/* Reconnection: the receiving `cpn serve` is killed with SIGKILL half-way
 * through a task and started again on the same address, while
 * `cpn send --resume` keeps running. The restarted site must listen again
 * at once although its previous life's connections still hold the port
 * (a plain TCP connection this test keeps open leaves one of them in
 * FIN_WAIT2, as a peer that has not noticed yet does), and the sender
 * reconnects and resumes: only the missing chunks travel, and the file
 * lands byte-exact. */
Test(cli_loopback, receiver_restarted_same_port, .timeout = 120)
{
    char src[PATH_MAX], land[PATH_MAX], addr[256], addr2[256];
    char landed[PATH_MAX];
    const char *set[] = {"UCX_TLS=tcp", NULL};
    const char *serve_opts[] = {"--quiet", NULL};
    const uint64_t size = 128ull << 20;
    struct sockaddr_in sin = { .sin_family = AF_INET };
    proc_t serve, send;
    json_error_t jerr;
    json_t *receipt;
    char *out, *err, *colon;
    int rc, holder;

    path_join(src, sizeof(src), test_dir, "restart.bin");
    path_join(land, sizeof(land), test_dir, "land");
    write_file(src, size, 23);
    start_serve(&serve, land, serve_opts, set, addr, sizeof(addr));
    colon = strrchr(addr, ':');
    cr_assert_not_null(colon, "no port in %s", addr);
    sin.sin_port = htons((uint16_t)atoi(colon + 1));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    holder = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(holder, 0);
    cr_assert_eq(connect(holder, (struct sockaddr *)&sin, sizeof(sin)), 0,
                 "cannot connect to %s: %s", addr, strerror(errno));
    {
        const char *args[] = {"send", "--resume", "--json", "--to", addr,
                              "--job", "restartjob", "--timeout", "90", src,
                              NULL};
        spawn(&send, args, set, -1);
    }
    wait_staged(&send, land, "the receiver could be killed");
    kill(serve.pid, SIGKILL);
    reap(&serve, 5000);
    /* at once, on the same address, the holder's connection still open */
    start_serve_at(&serve, addr, land, serve_opts, set, addr2, sizeof(addr2));
    cr_assert_str_eq(addr2, addr);
    close(holder);
    rc = reap(&send, 95000);
    out = slurp(send.out);
    err = slurp(send.err);
    cr_assert_eq(rc, 0, "cpn send --resume exited %d:\n%s", rc, err);
    cr_expect(strstr(err, "reconnecting") != NULL, "no reconnection:\n%s",
              err);
    receipt = json_loads(out, 0, &jerr);
    cr_assert_not_null(receipt, "the receipt is not JSON (%s):\n%s",
                       jerr.text, out);
    cr_expect_gt(json_int_field(receipt, "resumed_chunks"), 0,
                 "nothing was resumed:\n%s", out);
    /* 1 MiB chunks (CPN_SITE_CHUNK_SIZE's default): each sent or resumed */
    cr_expect_eq(json_int_field(receipt, "resumed_chunks") +
                 json_int_field(receipt, "chunks"), (json_int_t)(size >> 20),
                 "%s", out);
    cr_expect_eq(json_int_field(receipt, "bytes"), (json_int_t)size);
    json_decref(receipt);
    path_join(landed, sizeof(landed), land, "restartjob/restart.bin");
    cr_assert(files_equal(src, landed), "%s is not byte-exact", landed);
    free(out);
    free(err);
    stop_serve(&serve);
}

/* Kill the sender once part of a large task has been staged. */
static void send_and_kill_sender(const char *addr, const char *src,
                                 const char *land, const char *job,
                                 const char *const *set, unsigned delay_ms)
{
    const char *args[] = {"send", "--to", addr, "--job", job, src, NULL};
    uint64_t t0 = now_ms(), before = bytes_under(land);
    proc_t send;

    spawn(&send, args, set, -1);
    while (now_ms() - t0 < 10000 && bytes_under(land) <= before &&
           waitpid(send.pid, NULL, WNOHANG) == 0) {
        usleep(1000);
    }
    usleep(delay_ms * 1000); /* with a window of chunks in flight */
    kill(send.pid, SIGKILL);
    reap(&send, 5000);
}

Test(cli_loopback, sender_killed, .timeout = 120)
{
    char src[PATH_MAX], small[PATH_MAX], land[PATH_MAX], addr[256], job[16];
    const char *set[] = {"UCX_TLS=tcp", NULL};
    const char *serve_opts[] = {"--quiet", NULL};
    char *out, *err;
    proc_t serve;
    int fd, i;

    path_join(src, sizeof(src), test_dir, "huge.bin");
    path_join(small, sizeof(small), test_dir, "small.bin");
    path_join(land, sizeof(land), test_dir, "land");
    fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0 && ftruncate(fd, (off_t)(512ull << 20)) == 0);
    close(fd);
    write_file(small, 200000, 9);

    /* a receiver outlives senders that die half-way, and still serves */
    start_serve(&serve, land, serve_opts, set, addr, sizeof(addr));
    for (i = 0; i < 4; i++) {
        snprintf(job, sizeof(job), "killed%d", i);
        send_and_kill_sender(addr, src, land, job, set, 100 + 100 * i);
        usleep(300000);
        if (waitpid(serve.pid, &serve.status, WNOHANG) != 0) {
            forget(serve.pid);
            err = slurp(serve.err);
            cr_assert_fail("cpn serve died (%s %d) after sender %d was "
                           "killed half-way; its stderr:\n%s",
                           WIFSIGNALED(serve.status) ? "signal" : "status",
                           WIFSIGNALED(serve.status) ? WTERMSIG(serve.status) :
                           WEXITSTATUS(serve.status), i + 1, err);
        }
    }
    {
        const char *args[] = {"send", "--to", addr, "--job", "after", small,
                              NULL};
        int rc = run(args, set, 60000, &out, &err);

        cr_expect_eq(rc, 0, "send after the killed ones exited %d:\n%s", rc,
                     err);
        free(out);
        free(err);
    }
    path_join(src, sizeof(src), land, "after/small.bin");
    cr_expect(files_equal(small, src), "small.bin did not land");
    for (i = 0; i < 4; i++) {
        snprintf(job, sizeof(job), "killed%d", i);
        path_join(src, sizeof(src), land, job);
        cr_expect(access(src, F_OK) != 0, "%s landed although its sender "
                  "was killed", src);
    }
    stop_serve(&serve);
}

Test(cli_loopback, demo, .timeout = 120)
{
    const char *args[] = {"demo", "--size", "32M", NULL};
    char tmpvar[PATH_MAX + 8], *out, *err;
    const char *set[] = {tmpvar, NULL};
    struct dirent *de;
    DIR *dir;
    int rc;

    snprintf(tmpvar, sizeof(tmpvar), "TMPDIR=%s", test_dir);
    rc = run(args, set, 110000, &out, &err);
    cr_assert_eq(rc, 0, "cpn demo exited %d; stdout:\n%s\nstderr:\n%s", rc,
                 out, err);
    cr_expect(strstr(out, "byte-exact") != NULL, "%s", out);
    cr_expect(strstr(out, "Gb/s") != NULL, "%s", out);
    /* and it cleaned up after itself */
    dir = opendir(test_dir);
    cr_assert_not_null(dir);
    while ((de = readdir(dir)) != NULL) {
        cr_expect(strncmp(de->d_name, "cpn-demo-", 9) != 0,
                  "cpn demo left %s behind", de->d_name);
    }
    closedir(dir);
    free(out);
    free(err);
}
