/* SPDX-License-Identifier: Apache-2.0 */
/* The cpn command's shared declarations: the subcommands' entry points, the
 * exit codes every command uses, and the helpers of util.c (units, messages,
 * status-to-exit-code mapping, the progress bar, receipt printing). The
 * command uses the public API in include/cpn/, and the bench library
 * (bench/bench.h, bench/assess.h) for bench, assess and report. */
#ifndef CPN_TOOLS_CLI_H
#define CPN_TOOLS_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cpn/cpn.h>

/* Exit codes of every command (listed in main.c and in `cpn --help`). */
enum {
    CLI_EXIT_OK = 0,     /* success */
    CLI_EXIT_TASK = 1,   /* the task failed: refused, checksum, receiver error */
    CLI_EXIT_USAGE = 2,  /* bad option or argument */
    CLI_EXIT_PEER = 3,   /* peer unreachable or lost, timeout, version mismatch */
    CLI_EXIT_LOCAL = 4,  /* local file error (unreadable path or spec) */
    CLI_EXIT_VERIFY = 5, /* demo: a landed file differs from its source */
};

/* ---- subcommands: argv[0] is the subcommand's name; return an exit code */

/** `cpn serve`: receive tasks into a landing directory (cmd_serve.c). */
int cli_cmd_serve(int argc, char **argv);
/** `cpn send`: deliver files and directories to a site (cmd_send.c). */
int cli_cmd_send(int argc, char **argv);
/** `cpn demo`: generate a model, deliver it to a child site, verify it
 * (cmd_demo.c). */
int cli_cmd_demo(int argc, char **argv);
/** `cpn info`: version, transports, configuration (cmd_info.c). */
int cli_cmd_info(int argc, char **argv);
/** `cpn bench`: transport and task benchmarks (cmd_bench.c). */
int cli_cmd_bench(int argc, char **argv);
/** `cpn assess`: maturity assessment of bench results (cmd_assess.c). */
int cli_cmd_assess(int argc, char **argv);
/** `cpn report`: HTML and Markdown report with charts (cmd_report.c). */
int cli_cmd_report(int argc, char **argv);
/** `cpn keygen`: write a site key pair (cmd_keygen.c). */
int cli_cmd_keygen(int argc, char **argv);

/** The whole of file @p path, NUL-terminated, to free(); NULL when it cannot
 *  be opened or memory runs out (errno says which). */
char *cli_read_file(const char *path);

/* ---- --dpdk-* options of serve and send (dpdk_opts.c) ------------------ */

/** First getopt code of the --dpdk-* options (CLI_DPDK_OPTIONS). */
#define CLI_OPT_DPDK 0x400

/** The --dpdk-* entries of a struct option table (codes from CLI_OPT_DPDK). */
#define CLI_DPDK_OPTIONS                                                      \
    {"dpdk-vdev", required_argument, NULL, CLI_OPT_DPDK + 0},                 \
    {"dpdk-port", required_argument, NULL, CLI_OPT_DPDK + 1},                 \
    {"dpdk-ip", required_argument, NULL, CLI_OPT_DPDK + 2},                   \
    {"dpdk-lcores", required_argument, NULL, CLI_OPT_DPDK + 3},               \
    {"dpdk-hugepages", required_argument, NULL, CLI_OPT_DPDK + 4},            \
    {"dpdk-file-prefix", required_argument, NULL, CLI_OPT_DPDK + 5},          \
    {"dpdk-mem", required_argument, NULL, CLI_OPT_DPDK + 6},                  \
    {"dpdk-mtu", required_argument, NULL, CLI_OPT_DPDK + 7},                  \
    {"dpdk-neigh", required_argument, NULL, CLI_OPT_DPDK + 8},                \
    {"dpdk-pci", no_argument, NULL, CLI_OPT_DPDK + 9},                        \
    {"dpdk-eal-args", required_argument, NULL, CLI_OPT_DPDK + 10}

/** The --dpdk-* options seen so far; zero-initialise. */
typedef struct cli_dpdk_opts {
    int given;               /* any --dpdk-* option */
    char vdevs[2048];        /* ';'-separated, as CPN_DPDK_VDEVS */
    char ports[1024];        /* ';'-separated SPEC[@IP] */
    char neigh[1024];        /* ';'-separated IP=MAC */
    char ip[64];             /* --dpdk-ip */
    const char *lcores, *huge, *file_prefix, *mem, *mtu, *eal_args;
    int pci;
} cli_dpdk_opts_t;

/** Print the --dpdk-* options' help lines to @p out. */
void cli_dpdk_help(FILE *out);

/** Is getopt code @p c one of the --dpdk-* options? */
int cli_dpdk_is_option(int c);

/**
 * Record --dpdk-* option @p c with argument @p arg into @p d.
 * @return 0, or CLI_EXIT_USAGE (printed, naming command @p cmd).
 */
int cli_dpdk_option(cli_dpdk_opts_t *d, const char *cmd, int c,
                    const char *arg);

/**
 * After parsing: when any --dpdk-* option was given, make the transport
 * dpdk (*@p transport_p, refusing another one) and set the CPN_DPDK_*
 * variables they name, overriding the environment. A --dpdk-port without
 * @IP takes --dpdk-ip, else the IPv4 host of @p listen_addr (may be NULL).
 * @return 0, CLI_EXIT_USAGE or CLI_EXIT_LOCAL (printed).
 */
int cli_dpdk_apply(cli_dpdk_opts_t *d, const char *cmd,
                   const char **transport_p, const char *listen_addr);

/* ---- exit codes and messages (util.c) ---------------------------------- */

/**
 * The exit code for a failed (or successful) call. @p local is nonzero when
 * the status came from preparing local inputs (adding files, reading a
 * spec): any error there is CLI_EXIT_LOCAL. Otherwise endpoint errors,
 * timeouts and version mismatches are CLI_EXIT_PEER and the rest of the
 * errors CLI_EXIT_TASK. CPN_OK gives CLI_EXIT_OK.
 */
int cli_exit_code(cpn_status_t status, int local);

/**
 * Print "cpn CMD: REASON" and the hint "Try 'cpn CMD --help'." to stderr.
 * @return CLI_EXIT_USAGE, so a caller can `return cli_usage(...)`.
 */
int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * Report a getopt_long() error (@p c is '?' or ':', the option string must
 * start with ':') as a usage error of @p cmd. @return CLI_EXIT_USAGE.
 */
int cli_getopt_error(const char *cmd, int c, char **argv);

/**
 * Set *@p stop_flag to 1 on SIGINT and SIGTERM (the handler does nothing
 * else, so the loops that poll the flag decide how to stop), and ignore
 * SIGPIPE. Only one flag is active at a time.
 */
void cli_catch_stop_signals(volatile sig_atomic_t *stop_flag);

/* ---- parsing ------------------------------------------------------------ */

/**
 * Parse a size with an optional unit: "4096", "256M", "1G", "64KiB",
 * "1.5G" (k/K, M, G, T with optional "i" and "B"; powers of 1024).
 * @return 0 with *@p value_p set, or -1 when @p s is not a size.
 */
int cli_parse_size(const char *s, uint64_t *value_p);

/** Parse an unsigned decimal in [@p min, @p max]. @return 0 or -1. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max,
                   uint64_t *value_p);

/**
 * Parse a duration in seconds: "30", "2.5", or with a unit "500ms", "10s",
 * "2m", "1h". @return 0 with *@p ms_p in milliseconds (at most INT_MAX), or
 * -1 when it does not parse or is not positive.
 */
int cli_parse_seconds(const char *s, int *ms_p);

/**
 * Check that @p addr looks like "HOST:PORT" (a non-empty host, or
 * "[v6]"; a port 0..65535). @return 0 or -1.
 */
int cli_check_addr(const char *addr);

/* ---- formatting --------------------------------------------------------- */

/** Monotonic clock in nanoseconds. */
uint64_t cli_now_ns(void);

/** "0 B", "512 B", "1.50 KiB", "256 MiB", "1.00 GiB" into @p buf. */
const char *cli_fmt_bytes(uint64_t bytes, char *buf, size_t len);

/** A rate in bytes/s as "850 MB/s" or "1.23 GB/s" (decimal) into @p buf. */
const char *cli_fmt_rate(double bytes_per_s, char *buf, size_t len);

/** A duration: "850 ns", "12.3 us", "45.2 ms", "3.21 s", "2m05s". */
const char *cli_fmt_ns(double ns, char *buf, size_t len);

/**
 * Print a receipt for a person to @p out: job, peer, objects, bytes,
 * elapsed, goodput, chunk latency, transport and lanes, where it landed,
 * and the first @p max_objects objects with their digests.
 */
void cli_print_receipt(FILE *out, const cpn_receipt_t *r, size_t max_objects);

/* ---- the demo's model (demo_model.c) ------------------------------------ */

/**
 * Write a model of about @p size bytes in @p shards safetensors files,
 * model-0000K-of-0000N.safetensors, and model.safetensors.index.json, into
 * the existing directory @p dir. Errors are printed with the file's name.
 * @return 0 with *@p bytes_p the bytes written, or -1.
 */
int cli_model_write(const char *dir, uint64_t size, unsigned shards,
                    uint64_t *bytes_p);

/* ---- the progress bar (stderr) ------------------------------------------ */

/** State of one progress bar; fill with cli_progress_init(). */
typedef struct cli_progress {
    int enabled;           /* draw at all (a terminal, not --quiet) */
    int drawn;             /* something is on the line now */
    uint64_t t0_ns;        /* when the transfer started */
    uint64_t last_draw_ns; /* when the line was last drawn */
    uint64_t last_done;    /* bytes done at the last rate sample */
    double rate;           /* smoothed bytes/s */
} cli_progress_t;

/**
 * Start a progress bar. It draws only when @p enabled and stderr is a
 * terminal.
 */
void cli_progress_init(cli_progress_t *p, int enabled);

/**
 * Report @p done of @p total bytes; redraws at most ten times a second
 * (and once at 100%): a bar, percent, done/total, rate and time left.
 */
void cli_progress_update(cli_progress_t *p, uint64_t done, uint64_t total);

/** Erase the bar's line, so what follows starts on a clean line. */
void cli_progress_end(cli_progress_t *p);

/**
 * A task progress callback (cpn_task_progress_cb_t) whose @p arg is a
 * cli_progress_t.
 */
void cli_progress_cb(void *arg, cpn_task_t *task, uint64_t done,
                     uint64_t total);

#endif /* CPN_TOOLS_CLI_H */
