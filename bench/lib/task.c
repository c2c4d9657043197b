/* SPDX-License-Identifier: Apache-2.0 */
/* The task tests, through the public API exactly as an application uses it:
 *   task_bw    one task of one object of the test's size, per trial;
 *   task_lat   iters tasks of one small object, one after another;
 *   task_many  one task of `objects` objects (10,000 by default), per trial.
 * Objects go memory to memory (zero copy at both ends: the receiver routes
 * them into memory its site placed), integrity on, so the figures are the
 * runtime's, not the disk's. The receiving site runs in the bench server. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpn/cpn.h>

#include "bench/lib/tp_int.h"
#include "core/clock.h"

struct cpn__bench_task_srv {
    cpn_site_t *site;
    cpn_mem_t *mem;
    uint8_t *sink;
    size_t sink_len;
    uint64_t landed, failed;
};

static cpn_status_t srv_offer(void *arg, cpn_offer_t *offer)
{
    cpn__bench_task_srv_t *s = arg;
    size_t off = 0;

    for (size_t i = 0; i < cpn_offer_count(offer); i++) {
        uint64_t sz = cpn_offer_size(offer, i);
        cpn_status_t st;

        if (sz > s->sink_len - off) {
            return CPN_ERR_LIMIT;
        }
        st = cpn_offer_set_sink(offer, i, s->sink + off, s->mem);
        if (st != CPN_OK) {
            return st;
        }
        off += (size_t)sz;
    }
    return CPN_OK;
}

static void srv_landed(void *arg, cpn_status_t status,
                       const cpn_receipt_t *receipt)
{
    cpn__bench_task_srv_t *s = arg;

    (void)receipt;
    if (status == CPN_OK) {
        s->landed++;
    } else {
        s->failed++;
    }
}

/* The largest task @p p can send: what the sink must hold. */
static uint64_t max_task(const cpn_bench_params_t *p)
{
    uint64_t m = 0;

    for (unsigned i = 0; i < p->nsizes; i++) {
        uint64_t one = p->sizes[i], many = p->sizes[i] * p->objects;

        if (one <= p->max_task_bytes && one > m) {
            m = one;
        }
        if ((p->tests & (1u << CPN_BENCH_TASK_MANY)) &&
            many <= p->max_task_bytes && many > m) {
            m = many;
        }
    }
    return m ? m : 1;
}

cpn_status_t cpn__bench_task_srv_open(const cpn_bench_params_t *p,
                                      const char *host,
                                      cpn__bench_task_srv_t **srv_p,
                                      char *addr, size_t addrlen, char *err,
                                      size_t errlen)
{
    cpn__bench_task_srv_t *s = calloc(1, sizeof(*s));
    cpn_site_params_t sp;
    char listen[160];
    cpn_status_t st;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return CPN_ERR_NO_MEMORY;
    }
    cpn_site_params_init(&sp);
    sp.name = "bench-receiver";
    sp.transport = p->transport;
    sp.land_dir = NULL;
    sp.offer_cb = srv_offer;
    sp.offer_arg = s;
    sp.landed_cb = srv_landed;
    sp.landed_arg = s;
    s->sink_len = (size_t)max_task(p);
    if (sp.max_task_bytes < s->sink_len) {
        sp.max_task_bytes = s->sink_len;
    }
    if (sp.max_objects < p->objects) {
        sp.max_objects = p->objects;
    }
    st = cpn_site_open(&sp, &s->site);
    if (st != CPN_OK) {
        snprintf(err, errlen, "server: cannot open a %s site: %s",
                 p->transport, cpn_status_str(st));
        goto err_free;
    }
    st = cpn_site_mem_alloc(s->site, s->sink_len, &s->mem);
    if (st != CPN_OK) {
        snprintf(err, errlen, "server: cannot allocate a %zu-byte sink: %s",
                 s->sink_len, cpn_status_str(st));
        goto err_site;
    }
    s->sink = cpn_mem_addr(s->mem);
    memset(s->sink, 0, s->sink_len);
    snprintf(listen, sizeof(listen), "%s:0", host);
    st = cpn_site_listen(s->site, listen, addr, addrlen);
    if (st != CPN_OK) {
        snprintf(err, errlen, "server: site cannot listen on %s: %s", listen,
                 cpn_status_str(st));
        goto err_mem;
    }
    *srv_p = s;
    return CPN_OK;

err_mem:
    cpn_site_mem_dereg(s->mem);
err_site:
    cpn_site_close(s->site);
err_free:
    free(s);
    return st;
}

unsigned cpn__bench_task_srv_progress(cpn__bench_task_srv_t *srv)
{
    return cpn_site_progress(srv->site);
}

void cpn__bench_task_srv_close(cpn__bench_task_srv_t *srv)
{
    cpn_site_mem_dereg(srv->mem);
    cpn_site_close(srv->site);
    free(srv);
}

struct cpn__bench_task_cli {
    cpn_bench_params_t p;
    void (*idle)(void *arg); /* keeps the bench's own transport progressed */
    void *idle_arg;
    cpn_site_t *site;
    cpn_peer_t *peer;
    uint8_t *buf;
    size_t buf_len;
    cpn_mem_t *mem;
    char addr[160];
};

cpn_status_t cpn__bench_task_cli_open(const cpn_bench_params_t *p,
                                      const char *site_addr,
                                      void (*idle)(void *arg), void *idle_arg,
                                      cpn__bench_task_cli_t **cli_p, char *err,
                                      size_t errlen)
{
    cpn__bench_task_cli_t *c = calloc(1, sizeof(*c));
    cpn_site_params_t sp;
    cpn_status_t st;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return CPN_ERR_NO_MEMORY;
    }
    c->idle = idle;
    c->idle_arg = idle_arg;
    c->p = *p;
    snprintf(c->addr, sizeof(c->addr), "%s", site_addr);
    cpn_site_params_init(&sp);
    sp.name = "bench-sender";
    sp.transport = p->transport;
    sp.land_dir = NULL;
    st = cpn_site_open(&sp, &c->site);
    if (st != CPN_OK) {
        snprintf(err, errlen, "cannot open a %s site: %s", p->transport,
                 cpn_status_str(st));
        free(c);
        return st;
    }
    c->buf_len = (size_t)max_task(p);
    st = cpn_site_mem_alloc(c->site, c->buf_len, &c->mem);
    if (st != CPN_OK) {
        snprintf(err, errlen, "cannot allocate %zu bytes to send from: %s",
                 c->buf_len, cpn_status_str(st));
        goto err_site;
    }
    c->buf = cpn_mem_addr(c->mem);
    for (size_t i = 0; i < c->buf_len; i++) {
        c->buf[i] = (uint8_t)(i * 131 + 7);
    }
    st = cpn_site_connect(c->site, site_addr, p->timeout_ms, &c->peer);
    if (st != CPN_OK) {
        snprintf(err, errlen, "cannot connect to the bench site at %s: %s",
                 site_addr, cpn_status_str(st));
        goto err_mem;
    }
    *cli_p = c;
    return CPN_OK;

err_mem:
    cpn_site_mem_dereg(c->mem);
err_site:
    cpn_site_close(c->site);
    free(c);
    return st;
}

unsigned cpn__bench_task_cli_progress(cpn__bench_task_cli_t *cli)
{
    return cpn_site_progress(cli->site);
}

/* Deliver one task of @p nobj objects of @p size bytes; time it. */
static cpn_status_t deliver(cpn__bench_task_cli_t *c, uint64_t size,
                            unsigned nobj, uint64_t *ns_p, char *err,
                            size_t errlen)
{
    static const cpn_task_cbs_t cbs = {0};
    uint64_t t0, deadline;
    cpn_task_t *task;
    cpn_status_t st;
    unsigned it = 0;

    st = cpn_task_create(c->site, "bench", &task);
    if (st != CPN_OK) {
        snprintf(err, errlen, "cpn_task_create: %s", cpn_status_str(st));
        return st;
    }
    for (unsigned i = 0; i < nobj && st == CPN_OK; i++) {
        char name[32];

        snprintf(name, sizeof(name), "o%06u", i);
        st = cpn_task_add_mem(task, name, c->buf + (size_t)i * size,
                              (size_t)size, c->mem);
    }
    if (st != CPN_OK) {
        snprintf(err, errlen, "cpn_task_add_mem: %s", cpn_status_str(st));
        cpn_task_destroy(task);
        return st;
    }
    t0 = cpn_time_ns();
    deadline = t0 + (uint64_t)c->p.timeout_ms * 1000000;
    st = cpn_task_deliver(task, c->peer, &cbs);
    while (st == CPN_INPROGRESS &&
           (st = cpn_task_status(task)) == CPN_INPROGRESS) {
        cpn_site_progress(c->site);
        if (c->idle != NULL && (it & 15) == 0) {
            c->idle(c->idle_arg);
        }
        if ((++it & 255) == 0 &&
            (cpn_time_ns() > deadline || cpn_bench_stop)) {
            cpn_task_cancel(task);
            st = cpn_bench_stop ? CPN_ERR_CANCELED : CPN_ERR_TIMEOUT;
            break;
        }
    }
    *ns_p = cpn_time_ns() - t0;
    if (st != CPN_OK) {
        snprintf(err, errlen, "delivery of %u x %" PRIu64 " B to %s: %s (%s)",
                 nobj, size, c->addr, cpn_status_str(st),
                 cpn_task_error(task) ? cpn_task_error(task) : "");
    }
    cpn_task_destroy(task);
    return st;
}

void cpn__bench_task_run(cpn__bench_task_cli_t *c, cpn_bench_test_t test,
                         uint64_t size, cpn_hist_t *hist,
                         cpn_bench_result_t *r)
{
    unsigned nobj = test == CPN_BENCH_TASK_MANY ? c->p.objects : 1;
    unsigned per_trial = test == CPN_BENCH_TASK_LAT ? c->p.iters : 1;
    unsigned warm = test == CPN_BENCH_TASK_LAT ? c->p.warmup
                                               : (c->p.warmup ? 1 : 0);
    uint64_t dur_ns = (uint64_t)(c->p.duration_s * 1e9), ns;
    cpn_status_t st = CPN_OK;

    snprintf(r->lanes, sizeof(r->lanes), "%s", cpn_peer_lanes(c->peer));
    if (size * nobj > c->p.max_task_bytes || size * nobj > c->buf_len) {
        r->skipped = 1;
        r->status = CPN_OK;
        snprintf(r->error, sizeof(r->error),
                 "%u x %" PRIu64 " B exceeds --max-task-bytes %" PRIu64,
                 nobj, size, c->p.max_task_bytes);
        return;
    }
    for (unsigned i = 0; i < warm && st == CPN_OK; i++) {
        st = deliver(c, size, nobj, &ns, r->error, sizeof(r->error));
    }
    for (unsigned t = 0; st == CPN_OK && t < c->p.trials; t++) {
        uint64_t t0 = cpn_time_ns(), n = 0, t1;

        for (;;) {
            st = deliver(c, size, nobj, &ns, r->error, sizeof(r->error));
            if (st != CPN_OK) {
                break;
            }
            cpn_hist_record(hist, ns);
            n++;
            if (dur_ns ? cpn_time_ns() - t0 >= dur_ns : n >= per_trial) {
                break;
            }
        }
        t1 = cpn_time_ns();
        if (st != CPN_OK) {
            break;
        }
        r->iterations += n;
        r->messages += n * nobj;
        r->bytes += n * nobj * size;
        r->trial_gbps[r->ntrials] = (double)(n * nobj * size) / (double)(t1 - t0);
        r->trial_rate[r->ntrials] = (double)(n * nobj) * 1e9 / (double)(t1 - t0);
        r->ntrials++;
    }
    r->status = st;
}

void cpn__bench_task_cli_close(cpn__bench_task_cli_t *c)
{
    cpn_peer_close(c->peer);
    cpn_site_mem_dereg(c->mem);
    cpn_site_close(c->site);
    free(c);
}
