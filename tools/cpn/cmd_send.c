/* SPDX-License-Identifier: Apache-2.0 */
/* `cpn send`: deliver files and directories as one task to a site that runs
 * `cpn serve`, show progress on a terminal, and print the receipt the
 * receiver signed off with (or the error, naming the peer, and an exit code
 * a script can act on). Local inputs are checked before any byte leaves. */
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define CLI_SEND_MAX_SPEC  (1u << 20) /* the library's limit, checked early */
#define CLI_SEND_RECEIPT_OBJECTS 20

static volatile sig_atomic_t cli_send_stop;

static void cli_send_help(FILE *out)
{
    fprintf(out,
            "Usage: cpn send --to HOST:PORT [OPTIONS] PATH...\n"
            "Deliver files and directories as one task (a job) to a site running\n"
            "`cpn serve`. It lands, verified, as DIR/JOB/NAME at the receiver, where\n"
            "NAME is the path relative to the PATH's parent (dir/a.bin); a directory\n"
            "given with a trailing slash (dir/) sends its contents instead (a.bin).\n"
            "\n"
            "  -T, --to HOST:PORT      the receiving site (required)\n"
            "  -J, --job NAME          job name (default: the first PATH's base name)\n"
            "  -s, --spec FILE         attach FILE as the job spec (opaque bytes)\n"
            "  -S, --spec-json JSON    attach JSON text as the job spec (checked)\n"
            "      --key FILE          this site's secret key from `cpn keygen`\n"
            "                          (default: CPN_SITE_KEY_FILE; mode 0600)\n"
            "      --peers FILE        deliver only to sites whose .pub lines are in FILE\n"
            "                          (default: CPN_SITE_PEERS_FILE)\n"
            "  -t, --transport NAME    transport (default: CPN_SITE_TRANSPORT or ucx)\n"
            "  -w, --timeout SECONDS   give up (and cancel) after this long; units\n"
            "                          ms, s, m, h allowed (default: no limit)\n"
            "  -r, --resume            when the connection is lost (receiver restarted,\n"
            "                          link cut), reconnect and offer the task again\n"
            "                          until it lands or --timeout passes; the receiver\n"
            "                          keeps the chunks it verified, so only the missing\n"
            "                          ones travel (any new offer of the same task resumes)\n"
            "  -j, --json              print the receipt as JSON on stdout\n"
            "  -q, --quiet             no progress bar, no summary (errors still show)\n"
            "  -h, --help              this help\n"
            "\n");
    cli_dpdk_help(out);
    fprintf(out,
            "\n"
            "Exit codes: 0 delivered; 1 task failed (refused, checksum, receiver error);\n"
            "2 usage; 3 peer unreachable, lost or timed out; 4 local file error.\n"
            "\n"
            "Example:\n"
            "  cpn send --to siteb:13337 --job llama-7b ./llama-7b/\n"
            "  cpn send --to 10.78.0.2:7400 --dpdk-port net_memif0@10.78.0.1 \\\n"
            "      --dpdk-vdev net_memif0,role=client,socket=/tmp/m.sock ./job/\n");
}

/* Read a spec file whole. @return 0, or -1 with errno set. */
static int cli_send_read_spec(const char *path, char **buf_p, size_t *len_p)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t len;

    if (f == NULL) {
        return -1;
    }
    buf = malloc(CLI_SEND_MAX_SPEC + 1);
    if (buf == NULL) {
        fclose(f);
        errno = ENOMEM;
        return -1;
    }
    len = fread(buf, 1, CLI_SEND_MAX_SPEC + 1, f);
    if (ferror(f)) {
        free(buf);
        fclose(f);
        errno = EIO;
        return -1;
    }
    fclose(f);
    if (len > CLI_SEND_MAX_SPEC) {
        free(buf);
        errno = EFBIG;
        return -1;
    }
    *buf_p = buf;
    *len_p = len;
    return 0;
}

/* The default job name: the base name of the first path, resolved so that
 * "." or "dir/" name the directory itself. */
static int cli_send_default_job(const char *path, char *job, size_t len)
{
    char *real = realpath(path, NULL);
    const char *base;

    if (real == NULL) {
        return -1;
    }
    base = strrchr(real, '/');
    base = base != NULL ? base + 1 : real;
    if (base[0] == '\0') {
        free(real);
        errno = EINVAL;
        return -1;
    }
    snprintf(job, len, "%s", base);
    free(real);
    return 0;
}

/* Add one PATH argument: a file, a directory (named with its own base
 * name), or "dir/" (its entries, named relative to dir). */
static cpn_status_t cli_send_add(cpn_task_t *task, const char *path)
{
    size_t len = strlen(path);
    struct stat sb;
    cpn_status_t st;
    char *real;

    if (stat(path, &sb) != 0) {
        fprintf(stderr, "cpn send: cannot read %s: %s\n", path,
                strerror(errno));
        return CPN_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "cpn send: %s is neither a file nor a directory\n",
                path);
        return CPN_ERR_IO;
    }
    if (S_ISDIR(sb.st_mode) && access(path, R_OK | X_OK) != 0) {
        fprintf(stderr, "cpn send: cannot read directory %s: %s\n", path,
                strerror(errno));
        return CPN_ERR_IO;
    }
    if (S_ISREG(sb.st_mode) && access(path, R_OK) != 0) {
        fprintf(stderr, "cpn send: cannot read %s: %s\n", path,
                strerror(errno));
        return CPN_ERR_IO;
    }

    /* A resolved path has a parent to name objects from, even for "." */
    real = realpath(path, NULL);
    if (real == NULL) {
        fprintf(stderr, "cpn send: cannot resolve %s: %s\n", path,
                strerror(errno));
        return CPN_ERR_IO;
    }
    if (S_ISDIR(sb.st_mode) && len > 1 && path[len - 1] == '/') {
        struct dirent **ent = NULL;
        char child[PATH_MAX + 256];
        int i, n = scandir(real, &ent, NULL, alphasort);

        if (n < 0) {
            fprintf(stderr, "cpn send: cannot read directory %s: %s\n", path,
                    strerror(errno));
            free(real);
            return CPN_ERR_IO;
        }
        st = CPN_OK;
        for (i = 0; i < n; i++) {
            const char *e = ent[i]->d_name;

            if (st == CPN_OK && strcmp(e, ".") != 0 && strcmp(e, "..") != 0) {
                snprintf(child, sizeof(child), "%s/%s",
                         strcmp(real, "/") == 0 ? "" : real, e);
                st = cpn_task_add_path(task, child);
                if (st != CPN_OK) {
                    fprintf(stderr, "cpn send: cannot add %s: %s\n", child,
                            cpn_status_str(st));
                }
            }
            free(ent[i]);
        }
        free(ent);
    } else {
        st = cpn_task_add_path(task, real);
        if (st != CPN_OK) {
            fprintf(stderr, "cpn send: cannot add %s: %s\n", path,
                    cpn_status_str(st));
        }
    }
    free(real);
    return st;
}

/* Drive the task to its end, honouring --timeout and Ctrl-C, which cancel
 * it (so the receiver drops what it staged). */
static cpn_status_t cli_send_wait(cpn_task_t *task, int timeout_ms,
                                  int *timed_out_p, int *interrupted_p)
{
    uint64_t deadline = timeout_ms > 0 ?
        cli_now_ns() + (uint64_t)timeout_ms * 1000000ull : 0;

    for (;;) {
        cpn_task_wait(task, 100);
        if (cpn_task_status(task) != CPN_INPROGRESS) {
            return cpn_task_status(task);
        }
        if (cli_send_stop) {
            *interrupted_p = 1;
            break;
        }
        if (deadline != 0 && cli_now_ns() >= deadline) {
            *timed_out_p = 1;
            break;
        }
    }
    if (cpn_task_cancel(task) == CPN_ERR_BUSY) {
        /* too late: committed, the receiver is landing it; its receipt (or
         * the peer's silence, within CPN_SITE_PEER_TIMEOUT) decides */
        cpn_task_wait(task, -1);
        if (cpn_task_status(task) == CPN_OK) {
            *timed_out_p = 0;
            *interrupted_p = 0;
            return CPN_OK;
        }
        return cpn_task_status(task);
    }
    cpn_task_wait(task, 2000); /* let the receiver hear of it */
    return *timed_out_p ? CPN_ERR_TIMEOUT : CPN_ERR_CANCELED;
}

/* Make the task: the job, its spec and every PATH, checked locally.
 * @return CLI_EXIT_OK with *task_p set, or the exit code (words printed). */
static int cli_send_make_task(cpn_site_t *site, const char *job,
                              const char *spec_json, const char *spec,
                              size_t spec_len, int argc, char **argv,
                              int first, cpn_task_t **task_p)
{
    cpn_task_t *task;
    cpn_status_t st;
    int i;

    st = cpn_task_create(site, job, &task);
    if (st != CPN_OK) {
        return cli_usage("send", "invalid job name '%s' (%s): pick one with "
                         "--job", job, cpn_status_str(st));
    }
    if (spec_json != NULL || spec != NULL) {
        st = cpn_task_set_spec(task, spec_json != NULL ? spec_json : spec,
                               spec_json != NULL ? strlen(spec_json) : spec_len);
        if (st != CPN_OK) {
            fprintf(stderr, "cpn send: cannot attach the spec: %s\n",
                    cpn_status_str(st));
            cpn_task_destroy(task);
            return cli_exit_code(st, 1);
        }
    }
    for (i = first; i < argc; i++) {
        st = cli_send_add(task, argv[i]);
        if (st != CPN_OK) {
            cpn_task_destroy(task);
            return cli_exit_code(st, 1);
        }
    }
    *task_p = task;
    return CLI_EXIT_OK;
}

/* --resume: worth another try after this status? */
static int cli_send_retryable(cpn_status_t st)
{
    return st == CPN_ERR_CONN_RESET || st == CPN_ERR_UNREACHABLE ||
           st == CPN_ERR_TIMEOUT || st == CPN_ERR_TRANSPORT;
}

int cli_cmd_send(int argc, char **argv)
{
    enum { OPT_KEY = 256, OPT_PEERS };
    static const struct option opts[] = {
        {"to", required_argument, NULL, 'T'},
        {"job", required_argument, NULL, 'J'},
        {"spec", required_argument, NULL, 's'},
        {"spec-json", required_argument, NULL, 'S'},
        {"transport", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'j'},
        {"resume", no_argument, NULL, 'r'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"key", required_argument, NULL, OPT_KEY},
        {"peers", required_argument, NULL, OPT_PEERS},
        CLI_DPDK_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    cli_dpdk_opts_t dpdk = {0};
    const char *key = NULL, *peers = NULL;
    const char *to = NULL, *job = NULL, *spec_file = NULL, *spec_json = NULL;
    const char *transport = NULL, *timeout_arg = NULL;
    int c, as_json = 0, quiet = 0, timeout_ms = -1, rc, resume = 0, tries;
    uint64_t deadline = 0;
    int timed_out = 0, interrupted = 0;
    char *spec = NULL, job_buf[256];
    size_t spec_len = 0;
    cpn_site_params_t params;
    cpn_site_t *site = NULL;
    cpn_peer_t *peer = NULL;
    cpn_task_t *task = NULL;
    cpn_task_cbs_t cbs;
    cli_progress_t progress;
    cpn_status_t st;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":T:J:s:S:t:w:jqrh", opts, NULL)) != -1) {
        switch (c) {
        case 'T': to = optarg; break;
        case 'J': job = optarg; break;
        case 's': spec_file = optarg; break;
        case 'S': spec_json = optarg; break;
        case 't': transport = optarg; break;
        case 'w': timeout_arg = optarg; break;
        case 'j': as_json = 1; break;
        case 'r': resume = 1; break;
        case 'q': quiet = 1; break;
        case OPT_KEY: key = optarg; break;
        case OPT_PEERS: peers = optarg; break;
        case 'h':
            cli_send_help(stdout);
            return CLI_EXIT_OK;
        default:
            if (cli_dpdk_is_option(c)) {
                if (cli_dpdk_option(&dpdk, "send", c, optarg) != 0) {
                    return CLI_EXIT_USAGE;
                }
                break;
            }
            return cli_getopt_error("send", c, argv);
        }
    }
    if (to == NULL) {
        return cli_usage("send", "missing --to HOST:PORT");
    }
    if (cli_check_addr(to) != 0) {
        return cli_usage("send", "--to wants HOST:PORT, not '%s'", to);
    }
    if (optind >= argc) {
        return cli_usage("send", "nothing to send: give one or more PATHs");
    }
    rc = cli_dpdk_apply(&dpdk, "send", &transport, NULL);
    if (rc != 0) {
        return rc;
    }
    if (timeout_arg != NULL && cli_parse_seconds(timeout_arg, &timeout_ms) != 0) {
        return cli_usage("send", "--timeout wants seconds (30, 2.5, 500ms, 2m), "
                         "not '%s'", timeout_arg);
    }
    if (spec_file != NULL && spec_json != NULL) {
        return cli_usage("send", "--spec and --spec-json exclude each other");
    }
    if (spec_json != NULL) {
        json_error_t jerr;
        json_t *doc = json_loads(spec_json, JSON_DECODE_ANY, &jerr);

        if (doc == NULL) {
            return cli_usage("send", "--spec-json is not JSON: %s (column %d)",
                             jerr.text, jerr.column);
        }
        json_decref(doc);
        if (strlen(spec_json) > CLI_SEND_MAX_SPEC) {
            return cli_usage("send", "--spec-json is over 1 MiB");
        }
    }
    if (spec_file != NULL && cli_send_read_spec(spec_file, &spec, &spec_len) != 0) {
        fprintf(stderr, "cpn send: cannot read spec file %s: %s\n", spec_file,
                errno == EFBIG ? "over 1 MiB" : strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    if (job == NULL) {
        if (cli_send_default_job(argv[optind], job_buf, sizeof(job_buf)) != 0) {
            if (errno == EINVAL) {
                free(spec);
                return cli_usage("send", "no job name from '%s': give --job NAME",
                                 argv[optind]);
            }
            fprintf(stderr, "cpn send: cannot read %s: %s\n", argv[optind],
                    strerror(errno));
            free(spec);
            return CLI_EXIT_LOCAL;
        }
        job = job_buf;
    }

    /* ---- a site, and the task with every local input checked ---- */
    st = cpn_site_params_init(&params);
    if (st != CPN_OK) {
        fprintf(stderr, "cpn send: warning: a CPN_* variable did not parse "
                "(%s); using its default\n", cpn_status_str(st));
    }
    if (transport != NULL) {
        params.transport = transport;
    }
    params.land_dir = NULL;
    if (key != NULL) {
        params.key_file = key;
    }
    if (peers != NULL) {
        params.peers_file = peers;
    }
    cli_catch_stop_signals(&cli_send_stop);
    st = cpn_site_open(&params, &site);
    if (st != CPN_OK) {
        fprintf(stderr, "cpn send: cannot open a site (transport %s): %s\n",
                params.transport ? params.transport : "?", cpn_status_str(st));
        if (st == CPN_ERR_NOT_FOUND) {
            fprintf(stderr, "Transports built: %s (see `cpn info`).\n",
                    cpn_transports());
            rc = CLI_EXIT_USAGE;
        } else {
            rc = cli_exit_code(st, 0);
        }
        goto out_free;
    }
    if (timeout_ms > 0) {
        deadline = cli_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    }
    for (tries = 1;; tries++) {
        int left_ms = timeout_ms;

        if (deadline != 0) {
            uint64_t now = cli_now_ns();

            left_ms = now >= deadline ? 1 : (int)((deadline - now) / 1000000ull);
        }
        rc = cli_send_make_task(site, job, spec_json, spec, spec_len, argc,
                                argv, optind, &task);
        if (rc != CLI_EXIT_OK) {
            goto out_site;
        }

        /* ---- the peer ---- */
        st = cpn_site_connect(site, to, left_ms, &peer);
        if (st != CPN_OK) {
            peer = NULL;
            fprintf(stderr, "cpn send: cannot reach %s: %s\n", to,
                    cpn_status_str(st));
            rc = cli_exit_code(st, 0);
        } else {
            /* ---- deliver and wait ---- */
            cli_progress_init(&progress, !quiet);
            memset(&cbs, 0, sizeof(cbs));
            cbs.progress = cli_progress_cb;
            cbs.arg = &progress;
            st = cpn_task_deliver(task, peer, &cbs);
            if (st == CPN_INPROGRESS) {
                st = cli_send_wait(task, left_ms, &timed_out, &interrupted);
            }
            cli_progress_end(&progress);
            if (st == CPN_OK) {
                break;
            }
            {
                const char *why = cpn_task_error(task);

                if (timed_out) {
                    fprintf(stderr, "cpn send: job %s to %s (%s) not done "
                            "within --timeout %s; canceled\n", job,
                            cpn_peer_name(peer), to, timeout_arg);
                } else if (interrupted) {
                    fprintf(stderr, "cpn send: interrupted; job %s to %s (%s) "
                            "canceled\n", job, cpn_peer_name(peer), to);
                } else if (why[0] == '\0' ||
                           strstr(why, cpn_status_str(st)) != NULL) {
                    fprintf(stderr, "cpn send: job %s to %s (%s) failed: %s\n",
                            job, cpn_peer_name(peer), to,
                            why[0] != '\0' ? why : cpn_status_str(st));
                } else {
                    fprintf(stderr, "cpn send: job %s to %s (%s) failed: %s "
                            "(%s)\n", job, cpn_peer_name(peer), to, why,
                            cpn_status_str(st));
                }
            }
            rc = cli_exit_code(st, 0);
        }
        if (!resume || timed_out || interrupted || cli_send_stop ||
            !cli_send_retryable(st) ||
            (deadline != 0 && cli_now_ns() >= deadline)) {
            goto out_peer;
        }
        fprintf(stderr, "cpn send: --resume: reconnecting to %s to resume "
                "job %s (try %d)\n", to, job, tries + 1);
        cpn_task_destroy(task);
        task = NULL;
        if (peer != NULL) {
            cpn_peer_close(peer);
            peer = NULL;
        }
        usleep(500000);
    }

    rc = CLI_EXIT_OK;
    if (cpn_task_receipt(task) == NULL) {
        fprintf(stderr, "cpn send: job %s delivered to %s (%s), but no "
                "receipt came back\n", job, cpn_peer_name(peer), to);
    } else if (as_json) {
        char *text = NULL;

        if (cpn_receipt_to_json(cpn_task_receipt(task), 0, &text) != CPN_OK) {
            fprintf(stderr, "cpn send: out of memory formatting the receipt\n");
            rc = CLI_EXIT_TASK;
        } else {
            printf("%s\n", text);
            free(text);
        }
    } else if (!quiet) {
        printf("cpn send: delivered %s to %s (%s)\n", job, cpn_peer_name(peer),
               to);
        cli_print_receipt(stdout, cpn_task_receipt(task),
                          CLI_SEND_RECEIPT_OBJECTS);
    }
    fflush(stdout);

out_peer:
    cpn_task_destroy(task);
    task = NULL;
    if (peer != NULL) {
        cpn_peer_close(peer);
    }
out_site:
    cpn_site_close(site);
out_free:
    free(spec);
    return rc;
}
