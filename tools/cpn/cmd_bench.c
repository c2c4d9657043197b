/* SPDX-License-Identifier: Apache-2.0 */
/* `cpn bench`: the thin command over the bench library (bench/bench.h).
 * It parses options, picks the launch mode (local: a forked server on this
 * machine; --server / --client: two hosts; under mpirun or srun: ranks
 * paired through a rendezvous at rank 0), runs every test at every size,
 * runs the reference tools, and writes the table, CSV and JSON. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "cli.h"

enum {
    OPT_TRIALS = 256,
    OPT_OBJECTS,
    OPT_MAX_TASK,
    OPT_TIMEOUT,
    OPT_NO_REF,
    OPT_CSV,
    OPT_FORMAT,
    OPT_PATTERN,
    OPT_RDV,
    OPT_ONCE,
    OPT_LOCAL,
};

typedef struct bench_cli {
    cpn_bench_params_t p;
    int mode;            /* 'l' local, 's' server, 'c' client */
    const char *peer;    /* --client HOST:PORT */
    const char *listen;  /* --server's address */
    unsigned once;       /* --server: clients to serve (0: forever) */
    const char *json;
    const char *csv;
    const char *format;  /* stdout: table, csv, json */
    int no_ref;
    int quiet;
    const char *pattern; /* pairwise, many-to-one */
    const char *rdv;
} bench_cli_t;

static void on_stop(int sig)
{
    (void)sig;
    cpn_bench_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
"Usage: cpn bench [--local | --server [--listen HOST:PORT] | --client HOST:PORT]\n"
"                 [OPTIONS]\n"
"Measure a transport and the task runtime: put_bw, put_lat, send_lat, bibw,\n"
"task_bw, task_lat, task_many; with the reference tools of the field run in\n"
"the same run (ucx_perftest, iperf3, perftest, dpdk-testpmd) and their ratios.\n"
"Figures and the JSON schema are defined in docs/bench.md.\n"
"\n"
"Where:\n"
"      --local             both ends on this machine (the default)\n"
"      --server            serve bench clients (each in a child); every option\n"
"                          comes from the client, over the connection\n"
"  -l, --listen HOST:PORT  --server's address (default 0.0.0.0:17470)\n"
"      --once              --server: exit after one client\n"
"  -c, --client HOST:PORT  run against a `cpn bench --server` there\n"
"  Under mpirun/srun (OMPI_COMM_WORLD_*, PMI_*, SLURM_*) ranks pair up:\n"
"      --pattern P         pairwise (rank 2k -> 2k+1, default) or many-to-one\n"
"                          (every rank -> rank 0)\n"
"      --rendezvous H:P    where rank 0 listens (default $CPN_BENCH_RDV or\n"
"                          127.0.0.1:17471); JSON goes to FILE.rankN.json\n"
"\n"
"What:\n"
"  -t, --transport NAME    backend (default ucx; built: %s)\n"
"  -T, --tests LIST        comma list or all (default all)\n"
"  -s, --sizes SWEEP       4K | 1,64,4K | 8-1M (powers of two) | 1K-8K:1K |\n"
"                          8-1M*4 (default 64-1M*4)\n"
"  -n, --iters N           iterations per trial (default 1000)\n"
"  -w, --warmup N          untimed iterations first (default 100)\n"
"  -D, --duration SEC      a trial runs SEC seconds instead of N iterations\n"
"  -W, --window N          puts in flight per stream (default 16)\n"
"  -S, --streams N         endpoints at once (default 1)\n"
"      --trials N          repeated trials for the statistics (default 5)\n"
"      --objects N         task_many's objects (default 10000)\n"
"      --max-task-bytes B  task tests skip larger tasks (default 1G)\n"
"      --timeout SEC       bound on any wait (default 30)\n"
"      --no-ref            do not run the reference tools\n"
"\n"
"Output:\n"
"  -j, --json FILE         the JSON document (cpn.bench/1), valid at every\n"
"                          instant, \"failed\" with the error if the run fails\n"
"      --csv FILE          CSV rows (cpn and reference)\n"
"      --format F          stdout: table (default), csv, json\n"
"  -q, --quiet             no progress lines on stderr\n"
"  -h, --help              this help\n"
"\n"
"Exit: 0 all ran, 1 a test or reference failed, 2 usage, 3 peer unreachable.\n",
            cpn_transports());
}

static int parse(int argc, char **argv, bench_cli_t *b)
{
    static const struct option opts[] = {
        {"local", no_argument, NULL, OPT_LOCAL},
        {"server", no_argument, NULL, 'L'},
        {"listen", required_argument, NULL, 'l'},
        {"once", no_argument, NULL, OPT_ONCE},
        {"client", required_argument, NULL, 'c'},
        {"pattern", required_argument, NULL, OPT_PATTERN},
        {"rendezvous", required_argument, NULL, OPT_RDV},
        {"transport", required_argument, NULL, 't'},
        {"tests", required_argument, NULL, 'T'},
        {"sizes", required_argument, NULL, 's'},
        {"iters", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},
        {"duration", required_argument, NULL, 'D'},
        {"window", required_argument, NULL, 'W'},
        {"streams", required_argument, NULL, 'S'},
        {"trials", required_argument, NULL, OPT_TRIALS},
        {"objects", required_argument, NULL, OPT_OBJECTS},
        {"max-task-bytes", required_argument, NULL, OPT_MAX_TASK},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"no-ref", no_argument, NULL, OPT_NO_REF},
        {"json", required_argument, NULL, 'j'},
        {"csv", required_argument, NULL, OPT_CSV},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char err[256];
    uint64_t v;
    int c, ms;

    cpn_bench_params_init(&b->p);
    b->mode = 'l';
    b->listen = "0.0.0.0:17470";
    b->format = "table";
    b->pattern = "pairwise";
    b->rdv = getenv("CPN_BENCH_RDV") ? getenv("CPN_BENCH_RDV")
                                     : "127.0.0.1:17471";
    optind = 1;
    while ((c = getopt_long(argc, argv, ":Ll:c:t:T:s:n:w:D:W:S:j:qh", opts,
                            NULL)) != -1) {
        switch (c) {
        case OPT_LOCAL: b->mode = 'l'; break;
        case 'L': b->mode = 's'; break;
        case 'l': b->listen = optarg; break;
        case OPT_ONCE: b->once = 1; break;
        case 'c': b->mode = 'c'; b->peer = optarg; break;
        case OPT_PATTERN:
            if (strcmp(optarg, "pairwise") != 0 &&
                strcmp(optarg, "many-to-one") != 0) {
                return cli_usage("bench", "--pattern: pairwise or many-to-one, "
                                 "not '%s'", optarg);
            }
            b->pattern = optarg;
            break;
        case OPT_RDV: b->rdv = optarg; break;
        case 't':
            if (strlen(optarg) >= sizeof(b->p.transport)) {
                return cli_usage("bench", "--transport: name too long");
            }
            snprintf(b->p.transport, sizeof(b->p.transport), "%s", optarg);
            break;
        case 'T':
            if (cpn_bench_parse_tests(optarg, &b->p.tests, err, sizeof(err))) {
                return cli_usage("bench", "--tests: %s", err);
            }
            break;
        case 's':
            if (cpn_bench_parse_sizes(optarg, &b->p, err, sizeof(err))) {
                return cli_usage("bench", "--sizes: %s", err);
            }
            break;
        case 'n': case 'w': case 'W': case 'S': case OPT_TRIALS:
        case OPT_OBJECTS: {
            static const struct {
                int opt;
                uint64_t lo, hi;
                const char *name;
            } lim[] = {{'n', 1, 100000000, "--iters"},
                       {'w', 0, 100000000, "--warmup"},
                       {'W', 1, 4096, "--window"},
                       {'S', 1, CPN_BENCH_MAX_STREAMS, "--streams"},
                       {OPT_TRIALS, 1, CPN_BENCH_MAX_TRIALS, "--trials"},
                       {OPT_OBJECTS, 1, 1000000, "--objects"}};
            size_t k = 0;

            while (lim[k].opt != c) {
                k++;
            }
            if (cli_parse_uint(optarg, lim[k].lo, lim[k].hi, &v) != 0) {
                return cli_usage("bench", "%s: a number from %" PRIu64
                                 " to %" PRIu64 ", not '%s'", lim[k].name,
                                 lim[k].lo, lim[k].hi, optarg);
            }
            *(c == 'n'          ? &b->p.iters
              : c == 'w'        ? &b->p.warmup
              : c == 'W'        ? &b->p.window
              : c == 'S'        ? &b->p.streams
              : c == OPT_TRIALS ? &b->p.trials
                                : &b->p.objects) = (unsigned)v;
            break;
        }
        case 'D': {
            char *end;
            double d = strtod(optarg, &end);

            if (*end != '\0' || d <= 0 || d > 3600) {
                return cli_usage("bench", "--duration: seconds in (0, 3600], "
                                 "not '%s'", optarg);
            }
            b->p.duration_s = d;
            break;
        }
        case OPT_MAX_TASK:
            if (cpn_bench_parse_size(optarg, &v) != CPN_OK || v == 0) {
                return cli_usage("bench", "--max-task-bytes: a size, not '%s'",
                                 optarg);
            }
            b->p.max_task_bytes = v;
            break;
        case OPT_TIMEOUT:
            if (cli_parse_seconds(optarg, &ms) != 0 || ms <= 0) {
                return cli_usage("bench", "--timeout: seconds, not '%s'",
                                 optarg);
            }
            b->p.timeout_ms = ms;
            break;
        case OPT_NO_REF: b->no_ref = 1; break;
        case 'j': b->json = optarg; break;
        case OPT_CSV: b->csv = optarg; break;
        case OPT_FORMAT:
            if (strcmp(optarg, "table") != 0 && strcmp(optarg, "csv") != 0 &&
                strcmp(optarg, "json") != 0) {
                return cli_usage("bench", "--format: table, csv or json, not "
                                 "'%s'", optarg);
            }
            b->format = optarg;
            break;
        case 'q': b->quiet = 1; break;
        case 'h': usage(stdout); return -1;
        default: return cli_getopt_error("bench", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage("bench", "unexpected argument '%s'", argv[optind]);
    }
    return 0;
}

/* ---- the client side of a run ------------------------------------------- */

static int run_client(bench_cli_t *b, const char *peer, int fd,
                      const char *json_path, const char *mode, json_t *launch)
{
    cpn_bench_client_t *cli = NULL;
    cpn_bench_doc_t *doc;
    json_t *info = NULL;
    char err[512] = "", failure[600] = "";
    cpn_status_t st;
    int rc = CLI_EXIT_OK;

    if (cpn_bench_doc_open(json_path, &b->p, mode, &doc) != CPN_OK) {
        fprintf(stderr, "cpn bench: cannot write %s\n", json_path);
        if (fd >= 0) {
            close(fd);
        }
        return CLI_EXIT_LOCAL;
    }
    if (launch != NULL) {
        const char *k;
        json_t *v;

        json_object_foreach(launch, k, v)
        {
            cpn_bench_doc_set_launch(doc, k, json_incref(v));
        }
    }
    st = cpn_bench_client_open(peer, fd, &b->p, &cli, &info, err, sizeof(err));
    if (st != CPN_OK) {
        fprintf(stderr, "cpn bench: %s\n", err);
        cpn_bench_doc_close(doc, err);
        return st == CPN_ERR_UNREACHABLE || st == CPN_ERR_TIMEOUT
                   ? CLI_EXIT_PEER
                   : CLI_EXIT_TASK;
    }
    cpn_bench_doc_set_peer(doc, info);
    if (!b->quiet) {
        fprintf(stderr, "cpn bench: %s to %s, lanes: %s\n", b->p.transport,
                json_string_value(json_object_get(info, "addr")),
                json_string_value(json_object_get(info, "lanes")));
    }
    json_decref(info);
    /* A failed test is recorded and the run goes on to the next (the
     * document ends "failed" with the first error); an interrupt ends it. */
    for (unsigned t = 0; t < CPN_BENCH_NTESTS && !cpn_bench_stop; t++) {
        if (!(b->p.tests & (1u << t))) {
            continue;
        }
        for (unsigned i = 0; i < b->p.nsizes && !cpn_bench_stop; i++) {
            cpn_bench_result_t r;

            cpn_bench_client_run(cli, (cpn_bench_test_t)t, b->p.sizes[i], &r);
            cpn_bench_doc_add(doc, &r);
            if (!b->quiet) {
                fprintf(stderr, "  %-9s %8" PRIu64 " B  %s%s%s\n",
                        cpn_bench_test_name(r.test), r.size,
                        r.skipped ? "skipped" : r.status == CPN_OK ? "ok" : "FAILED",
                        r.error[0] && !r.skipped ? ": " : "",
                        r.skipped ? "" : r.error);
            }
            if (!r.skipped && r.status != CPN_OK && !failure[0]) {
                snprintf(failure, sizeof(failure), "%s at %" PRIu64 " B: %s",
                         cpn_bench_test_name(r.test), r.size, r.error);
            }
        }
    }
    cpn_bench_client_close(cli);
    if (!cpn_bench_stop && !b->no_ref && fd >= 0 && strcmp(mode, "local") == 0) {
        /* Reference tools run where both ends are here (local mode). */
        const char *lanes = json_string_value(json_object_get(
            json_object_get(cpn_bench_doc_json(doc), "transport"), "lanes"));

        if (cpn_bench_run_refs(doc, &b->p, lanes) > 0) {
            rc = CLI_EXIT_TASK;
        }
    }
    if (failure[0]) {
        rc = CLI_EXIT_TASK;
    }
    {
        json_t *root = json_incref(cpn_bench_doc_json(doc));

        if (b->csv != NULL) {
            FILE *f = fopen(b->csv, "w");

            if (f == NULL) {
                fprintf(stderr, "cpn bench: cannot write %s\n", b->csv);
                rc = CLI_EXIT_LOCAL;
            } else {
                cpn_bench_print_csv(root, f);
                fclose(f);
            }
        }
        if (strcmp(b->format, "csv") == 0) {
            cpn_bench_print_csv(root, stdout);
        } else if (strcmp(b->format, "table") == 0) {
            cpn_bench_print_table(root, stdout);
        }
        cpn_bench_doc_close(doc, failure[0] ? failure : NULL);
        if (strcmp(b->format, "json") == 0) {
            /* the closed document: status and finish time filled */
            json_object_set_new(root, "status",
                                json_string(failure[0] ? "failed" : "ok"));
            json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
            fputc('\n', stdout);
        }
        json_decref(root);
    }
    return rc;
}

static int run_local(bench_cli_t *b)
{
    int sv[2], status = 0, rc;
    char tag[32], host[64], err[256];
    pid_t pid;

    /* Each end's environment (local.c: a memif pair per side for dpdk). */
    cpn_bench_local_tag(tag, sizeof(tag));
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("cpn bench: socketpair");
        return CLI_EXIT_LOCAL;
    }
    /* Fork before any transport is opened here: the child is the server. */
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("cpn bench: fork");
        return CLI_EXIT_LOCAL;
    }
    if (pid == 0) {
        close(sv[0]);
        if (cpn_bench_local_side(b->p.transport, 1, tag, host, sizeof(host),
                                 err, sizeof(err)) != CPN_OK) {
            fprintf(stderr, "cpn bench: local server: %s\n", err);
            _exit(1);
        }
        _exit(cpn_bench_serve_fd(sv[1], host) == CPN_OK ? 0 : 1);
    }
    close(sv[1]);
    if (cpn_bench_local_side(b->p.transport, 0, tag, host, sizeof(host), err,
                             sizeof(err)) != CPN_OK) {
        fprintf(stderr, "cpn bench: %s\n", err);
        close(sv[0]);
        waitpid(pid, &status, 0);
        return CLI_EXIT_USAGE;
    }
    rc = run_client(b, NULL, sv[0], b->json, "local", NULL);
    if (waitpid(pid, &status, 0) == pid && rc == CLI_EXIT_OK &&
        !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "cpn bench: the local server exited badly (status "
                        "%d)\n", status);
        rc = CLI_EXIT_TASK;
    }
    cpn_bench_local_cleanup(tag);
    return rc;
}

/* ---- under a launcher ------------------------------------------------------ */

typedef struct mpi_ctx {
    bench_cli_t *b;
    cpn_bench_launch_t l;
    json_t *table;
    int rc;
} mpi_ctx_t;

static void mpi_server_ready(void *arg, uint16_t port)
{
    mpi_ctx_t *m = arg;
    char mine[300], host[256], err[256];

    if (gethostname(host, sizeof(host)) != 0 || getenv("CPN_BENCH_HOST")) {
        snprintf(host, sizeof(host), "%s",
                 getenv("CPN_BENCH_HOST") ? getenv("CPN_BENCH_HOST")
                                          : "127.0.0.1");
    }
    snprintf(mine, sizeof(mine), "%s:%u", host, port);
    if (cpn_bench_rendezvous(&m->l, m->b->rdv, mine, m->b->p.timeout_ms,
                             &m->table, err, sizeof(err)) != CPN_OK) {
        fprintf(stderr, "cpn bench: rank %d: %s\n", m->l.rank, err);
        m->rc = CLI_EXIT_PEER;
        cpn_bench_stop = 1;
    }
}

static int run_mpi(bench_cli_t *b, const cpn_bench_launch_t *l)
{
    mpi_ctx_t m = {.b = b, .l = *l};
    int many = strcmp(b->pattern, "many-to-one") == 0;
    int server = many ? l->rank == 0 : (l->rank & 1) == 1;
    int peer = many ? 0 : l->rank ^ 1;
    char err[256], path[4096];
    json_t *launch;
    int rc;

    if (server || (!many && peer >= l->size)) {
        unsigned clients = many ? (unsigned)(l->size - 1) : 1;

        if (!server) {
            /* the odd rank out of a pairwise run: only meets the others */
            if (cpn_bench_rendezvous(l, b->rdv, "-", b->p.timeout_ms,
                                     &m.table, err, sizeof(err)) != CPN_OK) {
                fprintf(stderr, "cpn bench: rank %d: %s\n", l->rank, err);
                return CLI_EXIT_PEER;
            }
            json_decref(m.table);
            return CLI_EXIT_OK;
        }
        if (cpn_bench_serve("0.0.0.0:0", clients, &cpn_bench_stop,
                            mpi_server_ready, &m) != CPN_OK) {
            return CLI_EXIT_PEER;
        }
        json_decref(m.table);
        return m.rc;
    }
    if (cpn_bench_rendezvous(l, b->rdv, "-", b->p.timeout_ms, &m.table, err,
                             sizeof(err)) != CPN_OK) {
        fprintf(stderr, "cpn bench: rank %d: %s\n", l->rank, err);
        return CLI_EXIT_PEER;
    }
    if (b->json != NULL) {
        const char *dot = strrchr(b->json, '.');
        int stem = dot && strcmp(dot, ".json") == 0 ? (int)(dot - b->json)
                                                    : (int)strlen(b->json);

        snprintf(path, sizeof(path), "%.*s.rank%d.json", stem, b->json,
                 l->rank);
    }
    launch = json_pack("{s:i, s:i, s:s, s:s, s:i, s:s}", "rank", l->rank,
                       "size", l->size, "launcher", l->source, "pattern",
                       b->pattern, "peer_rank", peer, "peer",
                       json_string_value(json_array_get(m.table, (size_t)peer)));
    rc = run_client(b, json_string_value(json_array_get(m.table, (size_t)peer)),
                    -1, b->json ? path : NULL, "mpi", launch);
    json_decref(launch);
    json_decref(m.table);
    return rc;
}

int cli_cmd_bench(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_stop};
    cpn_bench_launch_t l;
    bench_cli_t b = {0};
    int r = parse(argc, argv, &b);

    if (r != 0) {
        return r < 0 ? CLI_EXIT_OK : r;
    }
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (cpn_bench_launch_detect(&l) && l.size > 1 && b.mode == 'l') {
        return run_mpi(&b, &l);
    }
    switch (b.mode) {
    case 's':
        if (!b.quiet) {
            fprintf(stderr, "cpn bench: serving on %s (options come from "
                            "each client)\n", b.listen);
        }
        return cpn_bench_serve(b.listen, b.once, &cpn_bench_stop, NULL, NULL) ==
                       CPN_OK
                   ? CLI_EXIT_OK
                   : CLI_EXIT_PEER;
    case 'c':
        return run_client(&b, b.peer, -1, b.json, "client", NULL);
    default:
        return run_local(&b);
    }
}
