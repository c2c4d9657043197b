/* SPDX-License-Identifier: Apache-2.0 */
/* The bench library (internal): the tests `cpn bench` runs, their options,
 * their statistics, their outputs and the reference tools run beside them.
 *
 *   transport tests  put_bw, put_lat, send_lat, bibw: driven straight on the
 *                    transport ops table (transport/transport.h), so every
 *                    built backend runs them;
 *   task tests       task_bw, task_lat, task_many: deliveries through the
 *                    public API (cpn_site, cpn_task) over the same backend.
 *
 * Two processes take part: a client that owns every option, and a server
 * that learns them from the client. They meet over a small TCP bootstrap
 * (bench/lib/boot.c): the client sends its whole configuration as JSON, the
 * server opens the transport it names and answers with its address; from
 * then on all traffic is on the transport under test. `--local` forks the
 * server on this machine; `--server`/`--client` put them on two hosts; under
 * mpirun or srun ranks pair up through a rendezvous at rank 0 (launch.c).
 *
 * What each figure means is written down in docs/bench.md; the JSON schema
 * ("cpn.bench/1") in the same place. Nothing here is thread-safe: one bench
 * per process. */
#ifndef CPN_BENCH_H
#define CPN_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <cpn/status.h>

#include "core/histogram.h"

/** The JSON schema every bench document carries. */
#define CPN_BENCH_SCHEMA "cpn.bench/1"

#define CPN_BENCH_MAX_SIZES  64
#define CPN_BENCH_MAX_TRIALS 64
#define CPN_BENCH_MAX_STREAMS 64

typedef enum cpn_bench_test {
    CPN_BENCH_PUT_BW,
    CPN_BENCH_PUT_LAT,
    CPN_BENCH_SEND_LAT,
    CPN_BENCH_BIBW,
    CPN_BENCH_TASK_BW,
    CPN_BENCH_TASK_LAT,
    CPN_BENCH_TASK_MANY,
    CPN_BENCH_NTESTS
} cpn_bench_test_t;

/** Everything a run depends on. The client's copy is sent to the server. */
typedef struct cpn_bench_params {
    char transport[32];  /**< backend name ("ucx") */
    unsigned tests;      /**< bit (1u << cpn_bench_test_t) per test */
    uint64_t sizes[CPN_BENCH_MAX_SIZES]; /**< message / object sizes, bytes */
    unsigned nsizes;
    unsigned iters;      /**< per trial: messages (bw) or round trips (lat) */
    unsigned warmup;     /**< untimed iterations before the first trial */
    double duration_s;   /**< > 0: a trial runs this long instead of iters */
    unsigned window;     /**< outstanding puts per stream (bw tests) */
    unsigned streams;    /**< endpoints (connections) run at once */
    unsigned trials;     /**< repeated timed trials (bandwidth statistics) */
    unsigned objects;    /**< task_many: objects in the one task */
    uint64_t max_task_bytes; /**< task tests skip sizes whose task exceeds it */
    int timeout_ms;      /**< bound on any single wait */
} cpn_bench_params_t;

/** Statistics over repeated trials (bandwidth or rate). */
typedef struct cpn_bench_stats {
    unsigned n;
    double avg, min, max, stddev;
    double ci_lo, ci_hi; /**< 95% confidence interval of the mean (Student t) */
} cpn_bench_stats_t;

/** The outcome of one test at one size. */
typedef struct cpn_bench_result {
    cpn_bench_test_t test;
    uint64_t size;
    cpn_status_t status;     /**< CPN_OK, or why it failed */
    char error[256];         /**< what failed, naming the peer; "" if none */
    int skipped;             /**< 1: not run (reason in error) */
    uint64_t iterations;     /**< timed iterations (all trials) */
    uint64_t messages;       /**< timed messages (puts, sends, objects) */
    uint64_t bytes;          /**< timed payload bytes (both ways for bibw) */
    int has_lat;
    cpn_hist_summary_t lat;  /**< ns; see docs/bench.md for each test */
    unsigned ntrials;
    double trial_gbps[CPN_BENCH_MAX_TRIALS]; /**< GB/s (1e9 B/s) per trial */
    double trial_rate[CPN_BENCH_MAX_TRIALS]; /**< messages/s per trial */
    cpn_bench_stats_t bw;    /**< over trial_gbps */
    cpn_bench_stats_t rate;  /**< over trial_rate */
    char lanes[256];         /**< what the transport chose underneath */
} cpn_bench_result_t;

/* ---- names and options (params.c) ---------------------------------------- */

/** "put_bw" ... for a test; NULL for an out-of-range value. */
const char *cpn_bench_test_name(cpn_bench_test_t test);

/** Parse a test name. @return CPN_OK or CPN_ERR_INVALID. */
cpn_status_t cpn_bench_test_parse(const char *name, cpn_bench_test_t *test_p);

/** Is @p test a latency test (one round trip at a time)? */
int cpn_bench_test_is_lat(cpn_bench_test_t test);

/** Is @p test a task test (public API) rather than a transport test? */
int cpn_bench_test_is_task(cpn_bench_test_t test);

/** Defaults: every test, 64 B..1 MiB by powers of four, 1000 iterations,
 *  100 warm-up, window 16, one stream, 5 trials, 10,000 objects. */
void cpn_bench_params_init(cpn_bench_params_t *p);

/** Parse "put_bw,send_lat" or "all" into a test mask. @return CPN_OK or
 *  CPN_ERR_INVALID (@p err names the bad word). */
cpn_status_t cpn_bench_parse_tests(const char *s, unsigned *mask_p,
                                   char *err, size_t errlen);

/** Parse a size with an optional K/M/G suffix (powers of 1024) into @p v_p.
 *  @return CPN_OK or CPN_ERR_INVALID. */
cpn_status_t cpn_bench_parse_size(const char *s, uint64_t *v_p);

/**
 * Parse a size sweep into @p p->sizes:
 *   "4K"           one size;
 *   "1,64,4K"      a list;
 *   "8-1M"         every power of two from 8 to 1 MiB (ends included; a
 *                  bound that is no power of two is kept as it is);
 *   "1K-8K:1K"     a range with a step (1K, 2K, ... 8K);
 *   "8-1M*4"       a geometric range with a factor (8, 32, 128, ...).
 * Sizes are >= 1, at most CPN_BENCH_MAX_SIZES of them.
 * @return CPN_OK or CPN_ERR_INVALID with @p err saying why.
 */
cpn_status_t cpn_bench_parse_sizes(const char *s, cpn_bench_params_t *p,
                                   char *err, size_t errlen);

/** The parameters as a JSON object (the "config" of a document and what
 *  the client sends to the server). New reference. */
json_t *cpn_bench_params_to_json(const cpn_bench_params_t *p);

/** Read back what cpn_bench_params_to_json wrote (missing keys keep
 *  defaults). @return CPN_OK or CPN_ERR_INVALID with @p err naming the
 *  field. */
cpn_status_t cpn_bench_params_from_json(const json_t *j, cpn_bench_params_t *p,
                                        char *err, size_t errlen);

/* ---- statistics (stats.c) ------------------------------------------------ */

/** Mean, min, max, sample standard deviation and the 95% confidence
 *  interval of the mean of @p v[0..n) (n = 1: the interval is the value). */
void cpn_bench_stats(const double *v, unsigned n, cpn_bench_stats_t *s);

/** Two-sided 95% Student t quantile for @p df degrees of freedom. */
double cpn_bench_t95(unsigned df);

/** Fill r->bw and r->rate from the trials recorded in @p r. */
void cpn_bench_result_finish(cpn_bench_result_t *r);

/* ---- running (tp.c, task.c, boot.c) --------------------------------------- */

/** Client side of a run: one connection to a bench server. */
typedef struct cpn_bench_client cpn_bench_client_t;

/**
 * Connect to the bench server at @p addr ("HOST:PORT", TCP bootstrap) or,
 * when @p fd >= 0, over that already connected socket; send @p p; wait for
 * the server to open the transport. @p info_p (may be NULL) receives a new
 * reference to the server's answer (its address, host, versions).
 * @return CPN_OK; CPN_ERR_UNREACHABLE, CPN_ERR_TIMEOUT, CPN_ERR_PROTO, or
 *         the server's error; @p err says what, naming the peer.
 */
cpn_status_t cpn_bench_client_open(const char *addr, int fd,
                                   const cpn_bench_params_t *p,
                                   cpn_bench_client_t **client_p,
                                   json_t **info_p, char *err, size_t errlen);

/** Run one test at one size; @p r is filled in every case (status). */
void cpn_bench_client_run(cpn_bench_client_t *c, cpn_bench_test_t test,
                          uint64_t size, cpn_bench_result_t *r);

/** Tell the server we are done (BYE on the bootstrap socket) and free
 *  everything. */
void cpn_bench_client_close(cpn_bench_client_t *c);

/**
 * Serve one client on the connected bootstrap socket @p fd: read its
 * parameters, open the transport (and a cpn site for task tests) on
 * @p host, answer, and serve until the client says BYE or the socket
 * closes. Closes @p fd. @return CPN_OK or what ended it.
 */
cpn_status_t cpn_bench_serve_fd(int fd, const char *host);

/** A tag unique to this run on this host ("cpnb<pid>"), for the names of
 *  local mode's sockets and DPDK file prefixes; made before the fork. */
void cpn_bench_local_tag(char *tag, size_t len);

/**
 * Prepare this process to be one end of a local-mode run of @p transport:
 * the server end when @p server, else the client. For dpdk with no
 * CPN_DPDK_PORTS set, a net_memif pair per side (two: the transport's and
 * the task site's) named after @p tag; then CPN_BENCH_SERVER_ENV or
 * CPN_BENCH_CLIENT_ENV ("NAME=VALUE ...") on top. Call after the fork,
 * before the transport opens. @p host receives the address the server
 * listens on ($CPN_BENCH_LOCAL_HOST, else 127.0.0.1; for dpdk its first
 * port's IP).
 * @return CPN_OK, or CPN_ERR_CONFIG with @p err saying which setting.
 */
cpn_status_t cpn_bench_local_side(const char *transport, int server,
                                  const char *tag, char *host, size_t hostlen,
                                  char *err, size_t errlen);

/** Remove what local mode left under @p tag (memif sockets). */
void cpn_bench_local_cleanup(const char *tag);

/**
 * Listen for bench clients on @p addr ("HOST:PORT"; port 0 = any), write
 * the bound port to @p port_p (before serving, with @p ready called when
 * not NULL), and serve each client in a forked child. Returns after
 * @p max_clients clients (0 = never) or when *stop becomes nonzero.
 */
cpn_status_t cpn_bench_serve(const char *addr, unsigned max_clients,
                             volatile int *stop,
                             void (*ready)(void *arg, uint16_t port),
                             void *ready_arg);

/** Set by a signal handler to end waits early: runs then fail with
 *  CPN_ERR_CANCELED. */
extern volatile int cpn_bench_stop;

/* ---- output (out.c) ------------------------------------------------------ */

/** A bench document being written: always a whole, valid JSON file. */
typedef struct cpn_bench_doc cpn_bench_doc_t;

/**
 * Start a document: header (schema, host, kernel, CPU, versions, launch,
 * config) with "status": "running". When @p path is not NULL it is written
 * at once, and rewritten atomically (temporary file, rename) at every
 * change, so a reader always sees valid JSON: a run cut short stays
 * "running" or becomes "failed" with its error.
 */
cpn_status_t cpn_bench_doc_open(const char *path, const cpn_bench_params_t *p,
                                const char *mode, cpn_bench_doc_t **doc_p);

/** Record the server's answer (its host, the transport's lanes). */
void cpn_bench_doc_set_peer(cpn_bench_doc_t *doc, json_t *info);

/** Record launch facts ("rank", "size", "pattern", "peer") under "launch". */
void cpn_bench_doc_set_launch(cpn_bench_doc_t *doc, const char *key,
                              json_t *value);

/** Append one result and rewrite the file. */
void cpn_bench_doc_add(cpn_bench_doc_t *doc, const cpn_bench_result_t *r);

/** Append one reference-tool result (a JSON object made by ref.c); the
 *  ratio to cpn's matching figure is added here. Steals @p ref. */
void cpn_bench_doc_add_ref(cpn_bench_doc_t *doc, json_t *ref);

/** Close the document with "ok" (@p error NULL) or "failed" and @p error;
 *  write it; free. */
cpn_status_t cpn_bench_doc_close(cpn_bench_doc_t *doc, const char *error);

/** The document as it stands (borrowed). */
json_t *cpn_bench_doc_json(cpn_bench_doc_t *doc);

/** One result as a JSON object (new reference). */
json_t *cpn_bench_result_to_json(const cpn_bench_result_t *r);

/** Print the results of @p doc as a human table to @p out. */
void cpn_bench_print_table(json_t *doc, FILE *out);

/** Write the results (and references) of @p doc as CSV to @p out. */
void cpn_bench_print_csv(json_t *doc, FILE *out);

/**
 * Check that @p doc follows "cpn.bench/1": required keys and types, every
 * result well formed. @return CPN_OK or CPN_ERR_INVALID with @p err naming
 * the first offending field.
 */
cpn_status_t cpn_bench_doc_validate(const json_t *doc, char *err,
                                    size_t errlen);

/* ---- reference tools (ref.c) --------------------------------------------- */

/**
 * Parse ucx_perftest's output: the figures of its "Final:" line.
 * @return a JSON object {"latency_us": {...}, "bandwidth_gbps",
 *         "msg_rate"} or NULL when there is no Final line.
 */
json_t *cpn_bench_parse_ucx_perftest(const char *out);

/** Parse iperf3 -J output: goodput (Gb/s and GB/s) and retransmissions.
 *  NULL when it is not iperf3 JSON or reports an error. */
json_t *cpn_bench_parse_iperf3(const char *out);

/** Parse perftest's ib_*_bw table (one object per size row: bytes,
 *  iterations, bw peak/avg GB/s, msg rate). NULL when no row. */
json_t *cpn_bench_parse_perftest_bw(const char *out);

/** Parse perftest's ib_*_lat table (t_min, t_max, t_typical, t_avg,
 *  stdev, p99, p99.9 in us, per size row). NULL when no row. */
json_t *cpn_bench_parse_perftest_lat(const char *out);

/** Parse dpdk-testpmd's port statistics: the last block of each port
 *  (packets, bytes, errors, missed, Rx/Tx pps and bps) and totals. NULL
 *  when no block. */
json_t *cpn_bench_parse_testpmd(const char *out);

/**
 * Run the reference tools that fit @p p's transport and tests on this
 * machine (ucx_perftest for ucx; iperf3 for kernel TCP; ib_write_bw,
 * ib_write_lat, ib_send_lat for verbs; dpdk-testpmd for dpdk), and add
 * their results to @p doc. A tool that is not installed is recorded as
 * skipped with the reason. @return the number of tools that failed.
 */
unsigned cpn_bench_run_refs(cpn_bench_doc_t *doc, const cpn_bench_params_t *p,
                            const char *lanes);

/* ---- launchers (launch.c) ------------------------------------------------ */

/** Rank and size from the launcher's environment. */
typedef struct cpn_bench_launch {
    int rank, size;
    const char *source; /**< "OMPI", "PMI", "SLURM", "PMIX" or NULL */
} cpn_bench_launch_t;

/** Rank and size from, in this order, OMPI_COMM_WORLD_RANK/SIZE (Open
 *  MPI), PMIX_RANK with OMPI_COMM_WORLD_SIZE, PMI_RANK/PMI_SIZE (MPICH,
 *  Intel MPI), SLURM_PROCID/SLURM_NTASKS (srun). A pair that does not parse
 *  or has rank >= size is skipped. @return 1 when found (size may be 1), 0
 *  when not under a launcher (rank 0, size 1). */
int cpn_bench_launch_detect(cpn_bench_launch_t *l);

/**
 * Exchange one string per rank through rank 0 at @p rdv ("HOST:PORT"):
 * rank 0 listens, every other rank connects and sends @p mine; rank 0 sends
 * back all of them. @p all_p gets a new JSON array indexed by rank.
 * @return CPN_OK or an error with @p err naming the address.
 */
cpn_status_t cpn_bench_rendezvous(const cpn_bench_launch_t *l, const char *rdv,
                                  const char *mine, int timeout_ms,
                                  json_t **all_p, char *err, size_t errlen);

#endif /* CPN_BENCH_H */
