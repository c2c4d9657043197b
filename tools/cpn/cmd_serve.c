/* SPDX-License-Identifier: Apache-2.0 */
/* `cpn serve`: a receiving site. It opens a site with a landing directory,
 * listens, and reports every task that lands (a line for a person, or one
 * JSON receipt per line for a program) until SIGINT/SIGTERM or, with
 * --tasks N, until N tasks landed. --ready-fd lets a parent process (cpn
 * demo, the tests) learn the address a port-0 listener was given. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct cli_serve {
    int json;
    int quiet;
    uint64_t landed;  /* tasks landed */
    uint64_t failed;  /* tasks that failed */
} cli_serve_t;

static volatile sig_atomic_t cli_serve_stop;

static void cli_serve_help(FILE *out)
{
    fprintf(out,
            "Usage: cpn serve --listen HOST:PORT --land DIR [OPTIONS]\n"
            "Run a receiving site: accept tasks from `cpn send` and land each one,\n"
            "verified, in DIR/JOB/. Stops on Ctrl-C (SIGINT) or SIGTERM.\n"
            "\n"
            "  -l, --listen HOST:PORT  address to listen on (port 0 picks a free one)\n"
            "  -d, --land DIR          landing directory (created if missing)\n"
            "      --key FILE          this site's secret key from `cpn keygen`\n"
            "                          (default: CPN_SITE_KEY_FILE; mode 0600)\n"
            "      --peers FILE        accept only the sites whose .pub lines are in FILE\n"
            "                          (default: CPN_SITE_PEERS_FILE)\n"
            "  -t, --transport NAME    transport (default: CPN_SITE_TRANSPORT or ucx;\n"
            "                          `cpn info` lists those built)\n"
            "  -n, --name NAME         site name sent to peers (default: host name)\n"
            "  -j, --json              print one JSON receipt per landed task on stdout\n"
            "  -N, --tasks N           exit after N tasks landed\n"
            "      --ready-fd FD       once listening, write the bound address and a\n"
            "                          newline to file descriptor FD, then close it\n"
            "  -q, --quiet             no banner, no per-task lines (errors still show)\n"
            "  -h, --help              this help\n"
            "\n");
    cli_dpdk_help(out);
    fprintf(out,
            "\n"
            "Examples:\n"
            "  cpn serve --listen 0.0.0.0:13337 --land /data/landed\n"
            "  cpn serve --listen 10.78.0.2:7400 --land /data/landed \\\n"
            "      --dpdk-vdev net_memif0,role=server,socket=/tmp/m.sock \\\n"
            "      --dpdk-port net_memif0 --dpdk-file-prefix siteb\n");
}

/* Called by the site for every task that finished landing, or failed. */
static void cli_serve_landed(void *arg, cpn_status_t status,
                             const cpn_receipt_t *r)
{
    cli_serve_t *s = arg;
    char b1[32], b2[32];

    if (status != CPN_OK) {
        s->failed++;
        fprintf(stderr, "cpn serve: task %s%s%s failed: %s (%s)\n",
                r != NULL && r->job != NULL ? r->job : "?",
                r != NULL && r->sender != NULL ? " from " : "",
                r != NULL && r->sender != NULL ? r->sender : "",
                cpn_status_str(status), cpn_status_name(status));
        return;
    }
    s->landed++;
    if (s->json) {
        char *text = NULL;

        if (cpn_receipt_to_json(r, 0, &text) == CPN_OK) {
            printf("%s\n", text);
            fflush(stdout);
            free(text);
        } else {
            fprintf(stderr, "cpn serve: out of memory formatting a receipt\n");
        }
    }
    if (!s->quiet) {
        double secs = (double)r->elapsed_ns / 1e9;
        fprintf(stderr,
                "cpn serve: landed %s: %llu object%s, %s in %s (%.2f Gb/s) "
                "from %s (%s)\n",
                r->job, (unsigned long long)r->objects,
                r->objects == 1 ? "" : "s",
                cli_fmt_bytes(r->bytes, b1, sizeof(b1)),
                cli_fmt_ns((double)r->elapsed_ns, b2, sizeof(b2)),
                secs > 0 ? r->goodput_gbps : 0.0, r->sender, r->peer_addr);
    }
}

/* Tell the parent where we listen: the address and a newline, then close. */
static int cli_serve_ready(int fd, const char *bound)
{
    size_t len = strlen(bound), off = 0;
    char line[300];
    ssize_t n;

    snprintf(line, sizeof(line), "%s\n", bound);
    len = strlen(line);
    while (off < len) {
        n = write(fd, line + off, len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, "cpn serve: --ready-fd %d: write failed: %s\n",
                    fd, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    close(fd);
    return 0;
}

int cli_cmd_serve(int argc, char **argv)
{
    enum { OPT_READY_FD = 256, OPT_KEY, OPT_PEERS };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"land", required_argument, NULL, 'd'},
        {"transport", required_argument, NULL, 't'},
        {"name", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"tasks", required_argument, NULL, 'N'},
        {"ready-fd", required_argument, NULL, OPT_READY_FD},
        {"key", required_argument, NULL, OPT_KEY},
        {"peers", required_argument, NULL, OPT_PEERS},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        CLI_DPDK_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *listen_addr = NULL, *land = NULL, *transport = NULL;
    cli_dpdk_opts_t dpdk = {0};
    const char *name = NULL, *key = NULL, *peers = NULL;
    uint64_t max_tasks = 0, v;
    int c, ready_fd = -1, rc = CLI_EXIT_OK;
    cli_serve_t s = {0};
    cpn_site_params_t params;
    cpn_site_t *site = NULL;
    cpn_status_t st;
    char bound[256];

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":l:d:t:n:jN:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen_addr = optarg;
            break;
        case 'd':
            land = optarg;
            break;
        case 't':
            transport = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'j':
            s.json = 1;
            break;
        case 'N':
            if (cli_parse_uint(optarg, 1, UINT64_MAX, &max_tasks) != 0) {
                return cli_usage("serve", "--tasks wants a count >= 1, not '%s'",
                                 optarg);
            }
            break;
        case OPT_READY_FD:
            if (cli_parse_uint(optarg, 0, 65535, &v) != 0 ||
                fcntl((int)v, F_GETFD) < 0) {
                return cli_usage("serve", "--ready-fd '%s' is not an open file "
                                 "descriptor", optarg);
            }
            ready_fd = (int)v;
            break;
        case 'q':
            s.quiet = 1;
            break;
        case OPT_KEY:
            key = optarg;
            break;
        case OPT_PEERS:
            peers = optarg;
            break;
        case 'h':
            cli_serve_help(stdout);
            return CLI_EXIT_OK;
        default:
            if (cli_dpdk_is_option(c)) {
                if (cli_dpdk_option(&dpdk, "serve", c, optarg) != 0) {
                    return CLI_EXIT_USAGE;
                }
                break;
            }
            return cli_getopt_error("serve", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage("serve", "unexpected argument '%s'", argv[optind]);
    }
    if (listen_addr == NULL) {
        return cli_usage("serve", "missing --listen HOST:PORT");
    }
    if (cli_check_addr(listen_addr) != 0) {
        return cli_usage("serve", "--listen wants HOST:PORT, not '%s'",
                         listen_addr);
    }
    if (land == NULL) {
        return cli_usage("serve", "missing --land DIR");
    }
    rc = cli_dpdk_apply(&dpdk, "serve", &transport, listen_addr);
    if (rc != 0) {
        return rc;
    }

    st = cpn_site_params_init(&params);
    if (st != CPN_OK) {
        /* the library logged which variable; the defaults stand in */
        fprintf(stderr, "cpn serve: warning: a CPN_* variable did not parse "
                "(%s); using its default\n", cpn_status_str(st));
    }
    if (transport != NULL) {
        params.transport = transport;
    }
    if (name != NULL) {
        params.name = name;
    }
    if (key != NULL) {
        params.key_file = key;
    }
    if (peers != NULL) {
        params.peers_file = peers;
    }
    params.land_dir = land;
    params.landed_cb = cli_serve_landed;
    params.landed_arg = &s;

    cli_catch_stop_signals(&cli_serve_stop);
    st = cpn_site_open(&params, &site);
    if (st != CPN_OK) {
        fprintf(stderr, "cpn serve: cannot open a site (transport %s, land "
                "dir %s): %s\n", params.transport ? params.transport : "?",
                land, cpn_status_str(st));
        if (st == CPN_ERR_NOT_FOUND) {
            fprintf(stderr, "Transports built: %s (see `cpn info`).\n",
                    cpn_transports());
            return CLI_EXIT_USAGE;
        }
        return st == CPN_ERR_IO ? CLI_EXIT_LOCAL : CLI_EXIT_TASK;
    }
    /* Refuse to listen for tasks that could never land. */
    if (access(land, W_OK | X_OK) != 0) {
        fprintf(stderr, "cpn serve: cannot land in %s: %s\n", land,
                strerror(errno));
        cpn_site_close(site);
        return CLI_EXIT_LOCAL;
    }
    st = cpn_site_listen(site, listen_addr, bound, sizeof(bound));
    if (st != CPN_OK) {
        fprintf(stderr, "cpn serve: cannot listen on %s: %s%s\n", listen_addr,
                cpn_status_str(st),
                st == CPN_ERR_ADDR_IN_USE ? " (stop it, or pick another port "
                                            "with --listen)"
                                          : "");
        cpn_site_close(site);
        return st == CPN_ERR_INVALID ? CLI_EXIT_USAGE : CLI_EXIT_TASK;
    }
    if (!s.quiet) {
        fprintf(stderr, "cpn serve: site %s listening on %s (transport %s), "
                "landing in %s\n", cpn_site_name(site), bound,
                cpn_site_transport(site), land);
    }
    if (ready_fd >= 0 && cli_serve_ready(ready_fd, bound) != 0) {
        cpn_site_close(site);
        return CLI_EXIT_LOCAL;
    }

    while (!cli_serve_stop && (max_tasks == 0 || s.landed < max_tasks)) {
        cpn_site_wait(site, 100);
    }

    /* The receipt of the last task may still be on its way to the sender:
     * keep progressing until the site has been idle a little while (at most
     * a second) before closing, so the sender does not see a reset. */
    if (!cli_serve_stop) {
        uint64_t end = cli_now_ns() + 1000000000ull;
        unsigned idle = 0;

        while (idle < 5 && cli_now_ns() < end) {
            idle = cpn_site_wait(site, 10) == CPN_OK ? 0 : idle + 1;
        }
    }
    if (!s.quiet) {
        fprintf(stderr, "cpn serve: %s after %llu landed, %llu failed tasks\n",
                cli_serve_stop ? "stopping" : "done",
                (unsigned long long)s.landed, (unsigned long long)s.failed);
    }
    cpn_site_close(site);
    return rc;
}
