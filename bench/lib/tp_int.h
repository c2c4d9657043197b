/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the bench library: the task tests (task.c) as the transport
 * tests' runner (tp.c) drives them, a receiving site on the server and a
 * sending site on the client. */
#ifndef CPN_BENCH_LIB_TP_INT_H
#define CPN_BENCH_LIB_TP_INT_H

#include "bench/bench.h"

typedef struct cpn__bench_task_srv cpn__bench_task_srv_t;
typedef struct cpn__bench_task_cli cpn__bench_task_cli_t;

/** Open a receiving site for @p p's task tests on @p host (port 0); its
 *  address goes to @p addr. Objects land in memory the site placed. */
cpn_status_t cpn__bench_task_srv_open(const cpn_bench_params_t *p,
                                      const char *host,
                                      cpn__bench_task_srv_t **srv_p,
                                      char *addr, size_t addrlen, char *err,
                                      size_t errlen);
/** Progress the receiving site. @return events handled. */
unsigned cpn__bench_task_srv_progress(cpn__bench_task_srv_t *srv);
/** Close it. */
void cpn__bench_task_srv_close(cpn__bench_task_srv_t *srv);

/** Open a sending site and connect it to @p site_addr; @p idle (may be
 *  NULL) is called now and then while a delivery is awaited. */
cpn_status_t cpn__bench_task_cli_open(const cpn_bench_params_t *p,
                                      const char *site_addr,
                                      void (*idle)(void *arg), void *idle_arg,
                                      cpn__bench_task_cli_t **cli_p, char *err,
                                      size_t errlen);
/** Progress the sending site. */
unsigned cpn__bench_task_cli_progress(cpn__bench_task_cli_t *cli);
/** Run one task test at one size: fills @p r and records each delivery's
 *  time in @p hist. */
void cpn__bench_task_run(cpn__bench_task_cli_t *cli, cpn_bench_test_t test,
                         uint64_t size, cpn_hist_t *hist,
                         cpn_bench_result_t *r);
/** Close it. */
void cpn__bench_task_cli_close(cpn__bench_task_cli_t *cli);

#endif /* CPN_BENCH_LIB_TP_INT_H */
