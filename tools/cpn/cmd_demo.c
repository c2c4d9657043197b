/* SPDX-License-Identifier: Apache-2.0 */
/* `cpn demo`: the first thing a newcomer runs. It shows the whole data path
 * on one machine: it writes a sharded model in the safetensors layout (with
 * its index file), starts a receiving site as a child process (`cpn serve`,
 * re-executed from /proc/self/exe), delivers the model to it as one task,
 * compares every landed file byte for byte with its source, and prints the
 * receipt with the measured network figures. Exit 0 only if all verified.
 * The model itself is written by demo_model.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define CLI_DEMO_JOB       "demo-model"
#define CLI_DEMO_BUF       (1u << 20)
#define CLI_DEMO_MAX_SHARDS 1000
#define CLI_DEMO_READY_MS  30000 /* the child site must listen within this */

static volatile sig_atomic_t cli_demo_stop;

typedef struct cli_demo {
    uint64_t size;          /* total bytes asked for */
    unsigned shards;
    const char *transport;  /* NULL: the default */
    int keep, json;
    FILE *say;              /* narration: stdout, or stderr with --json */
    char dir[PATH_MAX];     /* the demo's directory */
    char src[PATH_MAX];     /* dir/source: the generated model */
    char land[PATH_MAX];    /* dir/landed: the child's landing directory */
    int made_dir;           /* we created dir (mkdtemp or --dir) */
    pid_t child;            /* the receiving site */
} cli_demo_t;

static void cli_demo_help(FILE *out)
{
    fprintf(out,
            "Usage: cpn demo [OPTIONS]\n"
            "Show cpn end to end on this machine: generate a sharded model in the\n"
            "safetensors layout, start a receiving site (`cpn serve`) as a child\n"
            "process, deliver the model to it as job \"" CLI_DEMO_JOB "\", check every\n"
            "landed file byte for byte, and print the receipt with the measured\n"
            "throughput and latency.\n"
            "\n"
            "  -s, --size SIZE        model size, with units: 4096, 64M, 1G (default 256M)\n"
            "  -n, --shards N         number of shard files (default 4)\n"
            "  -d, --dir DIR          work in DIR (source/ and landed/ go there;\n"
            "                         default: a new directory under $TMPDIR or /tmp)\n"
            "  -k, --keep             keep the files afterwards (default: remove them)\n"
            "  -t, --transport NAME   transport (default: CPN_SITE_TRANSPORT or ucx)\n"
            "  -j, --json             print the receipt and results as JSON on stdout\n"
            "  -h, --help             this help\n"
            "\n"
            "Exit codes: 0 verified; 1 task failed; 2 usage; 3 peer problem;\n"
            "4 local file error; 5 a landed file differs from its source.\n"
            "\n"
            "Try also: CPN_UCX_SHM=y cpn demo --size 1G (the two sites share\n"
            "memory instead of tcp; `cpn info --config` lists every knob).\n");
}

/* ---- the receiving site, a child process ---------------------------------- */

/*
 * Start `cpn serve` as a child and read its bound address from a pipe.
 * @return 0 with @p addr filled, or -1 (the reason printed).
 */
static int cli_demo_start_child(cli_demo_t *d, char *addr, size_t addr_len)
{
    char fdarg[16], *args[20];
    int pfd[2], n = 0, status;
    size_t got = 0;
    ssize_t r;
    struct pollfd pf;
    uint64_t deadline = cli_now_ns() + CLI_DEMO_READY_MS * 1000000ull;

    /* the read end must not leak into the child; the write end must */
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        fprintf(stderr, "cpn demo: pipe: %s\n", strerror(errno));
        return -1;
    }
    snprintf(fdarg, sizeof(fdarg), "%d", pfd[1]);
    args[n++] = "cpn";
    args[n++] = "serve";
    args[n++] = "--listen";
    args[n++] = "127.0.0.1:0";
    args[n++] = "--land";
    args[n++] = d->land;
    args[n++] = "--name";
    args[n++] = "demo-receiver";
    args[n++] = "--tasks";
    args[n++] = "1";
    args[n++] = "--ready-fd";
    args[n++] = fdarg;
    args[n++] = "--quiet";
    if (d->transport != NULL) {
        args[n++] = "--transport";
        args[n++] = (char *)d->transport;
    }
    args[n] = NULL;

    fflush(NULL);
    d->child = fork();
    if (d->child < 0) {
        fprintf(stderr, "cpn demo: fork: %s\n", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (d->child == 0) {
        /* the receiving site goes away with us, even if we are killed */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        fcntl(pfd[1], F_SETFD, 0);
        execv("/proc/self/exe", args);
        fprintf(stderr, "cpn demo: cannot run /proc/self/exe: %s\n",
                strerror(errno));
        _exit(127);
    }
    close(pfd[1]);

    /* the address and a newline; EOF first means the child failed */
    while (got + 1 < addr_len) {
        int left_ms = (int)((deadline - cli_now_ns()) / 1000000ull);

        if (cli_now_ns() >= deadline || cli_demo_stop) {
            fprintf(stderr, "cpn demo: the receiving site did not start "
                    "listening within %d s\n", CLI_DEMO_READY_MS / 1000);
            close(pfd[0]);
            return -1;
        }
        pf.fd = pfd[0];
        pf.events = POLLIN;
        if (poll(&pf, 1, left_ms < 100 ? left_ms : 100) <= 0) {
            continue;
        }
        r = read(pfd[0], addr + got, addr_len - 1 - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
        if (memchr(addr, '\n', got) != NULL) {
            break;
        }
    }
    close(pfd[0]);
    addr[got] = '\0';
    if (got == 0 || addr[got - 1] != '\n') {
        if (waitpid(d->child, &status, WNOHANG) == d->child) {
            d->child = 0;
            fprintf(stderr, "cpn demo: the receiving site exited (%s %d) "
                    "before listening\n", WIFEXITED(status) ? "status" :
                    "signal", WIFEXITED(status) ? WEXITSTATUS(status) :
                    WTERMSIG(status));
        } else {
            fprintf(stderr, "cpn demo: the receiving site sent no address\n");
        }
        return -1;
    }
    addr[got - 1] = '\0';
    return 0;
}

/*
 * Wait up to @p grace_ms for the child to exit by itself (it does after one
 * task), then SIGTERM it, then SIGKILL it. @return its exit status or -1.
 */
static int cli_demo_stop_child(cli_demo_t *d, int grace_ms)
{
    uint64_t t0 = cli_now_ns();
    int status, sent = 0;

    if (d->child <= 0) {
        return -1;
    }
    for (;;) {
        pid_t r = waitpid(d->child, &status, WNOHANG);
        uint64_t ms = (cli_now_ns() - t0) / 1000000ull;

        if (r == d->child || (r < 0 && errno != EINTR)) {
            d->child = 0;
            return r < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (sent == 0 && ms >= (uint64_t)grace_ms) {
            kill(d->child, SIGTERM);
            sent = 1;
        } else if (sent == 1 && ms >= (uint64_t)grace_ms + 3000) {
            kill(d->child, SIGKILL);
            sent = 2;
        }
        usleep(10000);
    }
}

/* ---- verifying ------------------------------------------------------------ */

/* Compare two files byte for byte, streaming. @return 0 equal, 1 differ
 * (@p why says how), -1 on a read error (errno). */
static int cli_demo_cmp(const char *a, const char *b, char *bufa, char *bufb,
                        const char **why)
{
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = -1, rc = -1;
    struct stat sa, sb;
    ssize_t na, nb;

    if (fa < 0) {
        *why = "source unreadable";
        return -1;
    }
    fb = open(b, O_RDONLY | O_CLOEXEC);
    if (fb < 0) {
        *why = errno == ENOENT ? "missing at the receiver" : "unreadable";
        rc = errno == ENOENT ? 1 : -1;
        goto out;
    }
    if (fstat(fa, &sa) != 0 || fstat(fb, &sb) != 0) {
        *why = "cannot stat";
        goto out;
    }
    if (sa.st_size != sb.st_size) {
        *why = "sizes differ";
        rc = 1;
        goto out;
    }
    for (;;) {
        na = read(fa, bufa, CLI_DEMO_BUF);
        nb = read(fb, bufb, CLI_DEMO_BUF);
        if (na < 0 || nb < 0) {
            *why = "read error";
            goto out;
        }
        if (na != nb) {
            /* regular files read in full; a short read means it changed */
            *why = "length changed while reading";
            rc = 1;
            goto out;
        }
        if (na == 0) {
            rc = 0;
            break;
        }
        if (memcmp(bufa, bufb, (size_t)na) != 0) {
            *why = "contents differ";
            rc = 1;
            goto out;
        }
    }
out:
    close(fa);
    if (fb >= 0) {
        close(fb);
    }
    return rc;
}

typedef struct cli_verify {
    const char *src_root, *dst_root;
    char *bufa, *bufb;
    uint64_t files, bytes, bad;
    FILE *say;
} cli_verify_t;

/* Walk the tree under root/rel; compare (or, when v is NULL, count) every
 * regular file. @return 0, or -1 when a directory cannot be read. */
static int cli_demo_walk(const char *root, const char *rel, cli_verify_t *v,
                         uint64_t *count_p)
{
    char dpath[PATH_MAX], child[PATH_MAX];
    struct dirent *de;
    struct stat sb;
    DIR *dir;
    int rc = 0;

    snprintf(dpath, sizeof(dpath), "%s%s%s", root, rel[0] ? "/" : "", rel);
    dir = opendir(dpath);
    if (dir == NULL) {
        return -1;
    }
    while (rc == 0 && (de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        if ((size_t)snprintf(child, sizeof(child), "%s%s%s", rel,
                             rel[0] ? "/" : "", de->d_name) >= sizeof(child) ||
            (size_t)snprintf(dpath, sizeof(dpath), "%s/%s", root, child) >=
                sizeof(dpath)) {
            errno = ENAMETOOLONG;
            rc = -1;
        } else if (lstat(dpath, &sb) != 0) {
            rc = -1;
        } else if (S_ISDIR(sb.st_mode)) {
            rc = cli_demo_walk(root, child, v, count_p);
        } else if (S_ISREG(sb.st_mode)) {
            (*count_p)++;
            if (v != NULL) {
                char a[PATH_MAX * 2], b[PATH_MAX * 2];
                const char *why = "";
                int r;

                snprintf(a, sizeof(a), "%s/%s", v->src_root, child);
                snprintf(b, sizeof(b), "%s/%s", v->dst_root, child);
                r = cli_demo_cmp(a, b, v->bufa, v->bufb, &why);
                if (r != 0) {
                    fprintf(stderr, "cpn demo: %s: %s\n", child, why);
                    v->bad++;
                } else {
                    v->files++;
                    v->bytes += (uint64_t)sb.st_size;
                }
            }
        }
    }
    closedir(dir);
    return rc;
}

/* Every source file landed byte-exact, and nothing else landed.
 * @return CLI_EXIT_OK or CLI_EXIT_VERIFY. */
static int cli_demo_verify(cli_demo_t *d, uint64_t *files_p, uint64_t *bytes_p)
{
    char dst[PATH_MAX + 32];
    cli_verify_t v;
    uint64_t nsrc = 0, ndst = 0;
    int rc = CLI_EXIT_VERIFY;

    snprintf(dst, sizeof(dst), "%s/%s", d->land, CLI_DEMO_JOB);
    memset(&v, 0, sizeof(v));
    v.src_root = d->src;
    v.dst_root = dst;
    v.say = d->say;
    v.bufa = malloc(CLI_DEMO_BUF);
    v.bufb = malloc(CLI_DEMO_BUF);
    if (v.bufa == NULL || v.bufb == NULL) {
        fprintf(stderr, "cpn demo: out of memory\n");
        goto out;
    }
    if (cli_demo_walk(dst, "", NULL, &ndst) != 0) {
        fprintf(stderr, "cpn demo: %s is missing or unreadable: %s\n", dst,
                strerror(errno));
        goto out;
    }
    if (cli_demo_walk(d->src, "", &v, &nsrc) != 0) {
        fprintf(stderr, "cpn demo: cannot read %s\n", d->src);
        goto out;
    }
    if (ndst != nsrc) {
        fprintf(stderr, "cpn demo: %llu files landed for %llu sent\n",
                (unsigned long long)ndst, (unsigned long long)nsrc);
        goto out;
    }
    if (v.bad == 0 && v.files == nsrc) {
        rc = CLI_EXIT_OK;
    }
    *files_p = v.files;
    *bytes_p = v.bytes;
out:
    free(v.bufa);
    free(v.bufb);
    return rc;
}

/* ---- setting up and tearing down the directory ---------------------------- */

static int cli_demo_rm_one(const char *path, const struct stat *sb, int flag,
                           struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int cli_demo_rm_tree(const char *path)
{
    struct stat sb;

    if (lstat(path, &sb) != 0) {
        return errno == ENOENT ? 0 : -1;
    }
    return nftw(path, cli_demo_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int cli_demo_setup_dir(cli_demo_t *d, const char *dir_opt)
{
    struct stat sb;

    if (dir_opt == NULL) {
        const char *tmp = getenv("TMPDIR");

        snprintf(d->dir, sizeof(d->dir), "%s/cpn-demo-XXXXXX",
                 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
        if (mkdtemp(d->dir) == NULL) {
            fprintf(stderr, "cpn demo: cannot create %s: %s\n", d->dir,
                    strerror(errno));
            return -1;
        }
        d->made_dir = 1;
    } else {
        if (realpath(dir_opt, d->dir) == NULL) {
            if (errno != ENOENT || mkdir(dir_opt, 0755) != 0 ||
                realpath(dir_opt, d->dir) == NULL) {
                fprintf(stderr, "cpn demo: cannot create %s: %s\n", dir_opt,
                        strerror(errno));
                return -1;
            }
            d->made_dir = 1;
        }
    }
    if ((size_t)snprintf(d->src, sizeof(d->src), "%s/source", d->dir) >=
            sizeof(d->src) ||
        (size_t)snprintf(d->land, sizeof(d->land), "%s/landed", d->dir) >=
            sizeof(d->land)) {
        fprintf(stderr, "cpn demo: %s: path too long\n", d->dir);
        d->src[0] = '\0';
        return -1;
    }
    /* never write over, nor later remove, what someone else put there */
    if (lstat(d->src, &sb) == 0 || lstat(d->land, &sb) == 0) {
        fprintf(stderr, "cpn demo: %s already holds source/ or landed/; "
                "remove them or pick another --dir\n", d->dir);
        return -1;
    }
    if (mkdir(d->src, 0755) != 0) {
        fprintf(stderr, "cpn demo: cannot create %s: %s\n", d->src,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Remove what the demo created: source/ and landed/, and the directory
 * itself when the demo made it. */
static void cli_demo_cleanup(cli_demo_t *d)
{
    int rc = 0;

    if (d->src[0] != '\0') {
        rc |= cli_demo_rm_tree(d->src);
        rc |= cli_demo_rm_tree(d->land);
    }
    if (d->made_dir && rmdir(d->dir) != 0 && errno != ENOENT) {
        rc = -1;
    }
    if (rc != 0) {
        fprintf(stderr, "cpn demo: could not remove all of %s: %s\n", d->dir,
                strerror(errno));
    }
}

/* ---- reporting ------------------------------------------------------------ */

static void cli_demo_print_network(FILE *out, const cpn_receipt_t *r)
{
    char b1[32], b2[32], b3[32];
    double secs = (double)r->elapsed_ns / 1e9;

    fprintf(out, "\nnetwork, as measured by the sender (deliver to receipt):\n");
    fprintf(out, "  bytes       %llu (%s)\n", (unsigned long long)r->bytes,
            cli_fmt_bytes(r->bytes, b1, sizeof(b1)));
    fprintf(out, "  elapsed     %s\n", cli_fmt_ns((double)r->elapsed_ns, b1,
                                                  sizeof(b1)));
    fprintf(out, "  goodput     %.2f Gb/s = %.3f GB/s\n", r->goodput_gbps,
            secs > 0 ? (double)r->bytes / secs / 1e9 : 0.0);
    fprintf(out, "  chunks      %llu, put-to-verified latency p50 %s, p99 %s\n",
            (unsigned long long)r->chunks,
            cli_fmt_ns(r->chunk_p50_us * 1e3, b2, sizeof(b2)),
            cli_fmt_ns(r->chunk_p99_us * 1e3, b3, sizeof(b3)));
    if (r->mapped_chunks > 0) {
        fprintf(out, "              %llu of them copied by the CPU into the "
                "receiver's memory, mapped here (shared memory)\n",
                (unsigned long long)r->mapped_chunks);
    }
    fprintf(out, "  transport   %s, lanes: %s\n", r->transport,
            r->lanes[0] != '\0' ? r->lanes : "-");
}

static void cli_demo_print_json(const cli_demo_t *d, const cpn_receipt_t *r,
                                int verified, uint64_t files, uint64_t bytes)
{
    json_t *out = json_object(), *ver = json_object(), *receipt = NULL;
    char *text = NULL;

    if (r != NULL && cpn_receipt_to_json(r, 0, &text) == CPN_OK) {
        receipt = json_loads(text, 0, NULL);
        free(text);
    }
    json_object_set_new(out, "receipt", receipt != NULL ? receipt : json_null());
    json_object_set_new(ver, "byte_exact", json_boolean(verified));
    json_object_set_new(ver, "files", json_integer((json_int_t)files));
    json_object_set_new(ver, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(out, "verified", ver);
    json_object_set_new(out, "dir", d->keep ? json_string(d->dir) : json_null());
    text = json_dumps(out, JSON_INDENT(2));
    json_decref(out);
    if (text != NULL) {
        printf("%s\n", text);
        free(text);
    }
}

/* ---- the demo -------------------------------------------------------------- */

/* Add every entry of the source directory, so objects are named relative
 * to it ("model-00001-of-00004.safetensors") and the tree lands as is. */
static cpn_status_t cli_demo_add_source(cli_demo_t *d, cpn_task_t *task)
{
    char path[PATH_MAX * 2];
    struct dirent **ent = NULL;
    cpn_status_t st = CPN_OK;
    int i, n = scandir(d->src, &ent, NULL, alphasort);

    if (n < 0) {
        return CPN_ERR_IO;
    }
    for (i = 0; i < n; i++) {
        if (st == CPN_OK && strcmp(ent[i]->d_name, ".") != 0 &&
            strcmp(ent[i]->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", d->src, ent[i]->d_name);
            st = cpn_task_add_path(task, path);
        }
        free(ent[i]);
    }
    free(ent);
    return st;
}

static int cli_demo_run(cli_demo_t *d)
{
    char addr[256], b1[32], *spec;
    uint64_t gen_bytes = 0, files = 0, bytes = 0, t0;
    cpn_site_params_t params;
    cpn_site_t *site = NULL;
    cpn_peer_t *peer = NULL;
    cpn_task_t *task = NULL;
    cpn_task_cbs_t cbs;
    cli_progress_t progress;
    const cpn_receipt_t *r = NULL;
    json_t *jspec;
    cpn_status_t st;
    int rc, child_rc;

    fprintf(d->say, "cpn demo: writing a %u-shard model (%s, safetensors) "
            "to %s\n", d->shards, cli_fmt_bytes(d->size, b1, sizeof(b1)),
            d->src);
    fflush(d->say);
    t0 = cli_now_ns();
    if (cli_model_write(d->src, d->size, d->shards, &gen_bytes) != 0) {
        return CLI_EXIT_LOCAL;
    }
    fprintf(d->say, "cpn demo: wrote %u files, %s in %s\n", d->shards + 1,
            cli_fmt_bytes(gen_bytes, b1, sizeof(b1)),
            cli_fmt_ns((double)(cli_now_ns() - t0), addr, sizeof(addr)));

    if (cli_demo_start_child(d, addr, sizeof(addr)) != 0) {
        return CLI_EXIT_TASK;
    }
    fprintf(d->say, "cpn demo: receiving site (pid %d) listening on %s, "
            "landing in %s\n", (int)d->child, addr, d->land);
    fflush(d->say);

    st = cpn_site_params_init(&params);
    if (d->transport != NULL) {
        params.transport = d->transport;
    }
    params.name = "demo-sender";
    params.land_dir = NULL;
    st = cpn_site_open(&params, &site);
    if (st != CPN_OK) {
        fprintf(stderr, "cpn demo: cannot open the sending site: %s\n",
                cpn_status_str(st));
        return cli_exit_code(st, 0);
    }
    rc = CLI_EXIT_TASK;
    st = cpn_task_create(site, CLI_DEMO_JOB, &task);
    if (st != CPN_OK) {
        fprintf(stderr, "cpn demo: cannot create the task: %s\n",
                cpn_status_str(st));
        goto out_site;
    }
    jspec = json_pack("{s:s, s:s, s:s, s:i, s:I}", "kind", "inference",
                      "model", CLI_DEMO_JOB, "format", "safetensors",
                      "shards", (int)d->shards, "bytes", (json_int_t)d->size);
    spec = jspec != NULL ? json_dumps(jspec, JSON_COMPACT) : NULL;
    json_decref(jspec);
    st = spec != NULL ? cpn_task_set_spec(task, spec, strlen(spec)) :
                        CPN_ERR_NO_MEMORY;
    free(spec);
    if (st == CPN_OK) {
        st = cli_demo_add_source(d, task);
    }
    if (st != CPN_OK) {
        fprintf(stderr, "cpn demo: cannot prepare the task: %s\n",
                cpn_status_str(st));
        rc = CLI_EXIT_LOCAL;
        goto out_task;
    }

    st = cpn_site_connect(site, addr, -1, &peer);
    if (st != CPN_OK) {
        fprintf(stderr, "cpn demo: cannot reach the receiving site at %s: %s\n",
                addr, cpn_status_str(st));
        rc = cli_exit_code(st, 0);
        goto out_task;
    }
    fprintf(d->say, "cpn demo: delivering job %s (%s) to %s over %s (%s)\n",
            CLI_DEMO_JOB, cli_fmt_bytes(cpn_task_bytes(task), b1, sizeof(b1)),
            cpn_peer_name(peer), cpn_site_transport(site), cpn_peer_lanes(peer));
    fflush(d->say);

    cli_progress_init(&progress, 1);
    memset(&cbs, 0, sizeof(cbs));
    cbs.progress = cli_progress_cb;
    cbs.arg = &progress;
    st = cpn_task_deliver(task, peer, &cbs);
    while (st == CPN_INPROGRESS) {
        cpn_task_wait(task, 100);
        st = cpn_task_status(task);
        if (st == CPN_INPROGRESS && cli_demo_stop &&
            cpn_task_cancel(task) != CPN_ERR_BUSY) {
            /* (BUSY: committed, the receipt is on its way: wait for it) */
            cpn_task_wait(task, 2000);
            st = CPN_ERR_CANCELED;
        }
    }
    cli_progress_end(&progress);
    if (st != CPN_OK) {
        const char *why = cpn_task_error(task);
        fprintf(stderr, "cpn demo: delivery to %s (%s) failed: %s\n",
                cpn_peer_name(peer), addr,
                why[0] != '\0' ? why : cpn_status_str(st));
        rc = cli_exit_code(st, 0);
        goto out_peer;
    }
    r = cpn_task_receipt(task);

    /* the child exits by itself after its one task; then check its work */
    child_rc = cli_demo_stop_child(d, 5000);
    if (child_rc != 0) {
        fprintf(stderr, "cpn demo: the receiving site exited with %d\n",
                child_rc);
    }
    rc = cli_demo_verify(d, &files, &bytes);

    if (d->json) {
        cli_demo_print_json(d, r, rc == CLI_EXIT_OK, files, bytes);
    } else {
        if (r != NULL) {
            printf("\nreceipt (signed off by %s):\n", r->receiver);
            cli_print_receipt(stdout, r, 20);
            cli_demo_print_network(stdout, r);
        }
        if (rc == CLI_EXIT_OK) {
            printf("\nverified: %llu files, byte-exact (%s compared with "
                   "their sources)\n", (unsigned long long)files,
                   cli_fmt_bytes(bytes, b1, sizeof(b1)));
        } else {
            printf("\nverification FAILED: see the messages above\n");
        }
    }
    fflush(stdout);

out_peer:
    cpn_task_destroy(task);
    task = NULL;
    cpn_peer_close(peer);
out_task:
    if (task != NULL) {
        cpn_task_destroy(task);
    }
out_site:
    cpn_site_close(site);
    return rc;
}

int cli_cmd_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"size", required_argument, NULL, 's'},
        {"shards", required_argument, NULL, 'n'},
        {"dir", required_argument, NULL, 'd'},
        {"keep", no_argument, NULL, 'k'},
        {"transport", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir_opt = NULL;
    uint64_t v;
    int c, rc;
    cli_demo_t d;

    memset(&d, 0, sizeof(d));
    d.size = 256ull << 20;
    d.shards = 4;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:n:d:kt:jh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cli_parse_size(optarg, &d.size) != 0) {
                return cli_usage("demo", "--size wants a size like 4096, 64M "
                                 "or 1G, not '%s'", optarg);
            }
            break;
        case 'n':
            if (cli_parse_uint(optarg, 1, CLI_DEMO_MAX_SHARDS, &v) != 0) {
                return cli_usage("demo", "--shards wants 1..%d, not '%s'",
                                 CLI_DEMO_MAX_SHARDS, optarg);
            }
            d.shards = (unsigned)v;
            break;
        case 'd': dir_opt = optarg; break;
        case 'k': d.keep = 1; break;
        case 't': d.transport = optarg; break;
        case 'j': d.json = 1; break;
        case 'h':
            cli_demo_help(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_getopt_error("demo", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage("demo", "unexpected argument '%s'", argv[optind]);
    }
    if (d.size < 64ull * d.shards || d.size < 4096) {
        return cli_usage("demo", "--size must be at least 4096 and 64 bytes "
                         "per shard");
    }
    d.say = d.json ? stderr : stdout;

    cli_catch_stop_signals(&cli_demo_stop);
    if (cli_demo_setup_dir(&d, dir_opt) != 0) {
        if (d.made_dir) {
            rmdir(d.dir);
        }
        return CLI_EXIT_LOCAL;
    }
    rc = cli_demo_run(&d);
    cli_demo_stop_child(&d, 0);
    if (d.keep) {
        fprintf(d.say, "cpn demo: kept %s (source/ and landed/)\n", d.dir);
    } else {
        cli_demo_cleanup(&d);
    }
    return rc;
}
