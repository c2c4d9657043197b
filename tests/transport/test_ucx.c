/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the transport layer and its UCX backend: two interfaces in one
 * process, one listening on 127.0.0.1 port 0 and one connecting, both
 * progressed in one loop. The data tests run with UCX_TLS=tcp, with UCX's
 * default transports, and with CPN_UCX_SHM=y (shared-memory lanes); puts
 * also run each way the backend carries them (CPN_UCX_PUT). The variables
 * are set before ucp_config_read, and Criterion runs each test in a process
 * of its own. One test forks a source and kills it mid-put. Also here: the
 * registry and address parsing. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cpn/config.h>
#include <ucp/api/ucp.h>

#include "core/checksum.h"
#include "core/clock.h"
#include "core/compiler.h"
#include "transport/transport.h"

/* ---- one side of a connection ------------------------------------------ */

typedef struct side {
    const char *name;
    cpn_tp_iface_t *iface;
    cpn_tp_ep_t *ep; /* the ep we connected or last accepted */
    unsigned naccepted;
    unsigned nconnected;
    cpn_status_t connect_status;
    unsigned nerror;
    cpn_status_t error_status;
    cpn_tp_ep_t *error_ep;
    unsigned nrecv;
    cpn_tp_ep_t *recv_ep;
    uint8_t *msg; /* copy of the last message */
    size_t msg_len;
    uint32_t order[64]; /* first 4 bytes of each message, in arrival order */
    unsigned norder;
    unsigned nnotify;
    unsigned notify_bad; /* notifies whose bytes were not there */
    uint8_t *region;     /* where puts land, checked at notify */
    const uint8_t *src;  /* what they should hold */
} side_t;

/* What a test put tells the target: where, how much, from which source. */
typedef struct put_note {
    uint64_t off;
    uint64_t len;
    uint64_t src_off;
    uint32_t index;
} put_note_t;

static const cpn_transport_ops_t *ops;
static side_t srv = {.name = "srv"};
static side_t cli = {.name = "cli"};
static uint16_t srv_port;

static void on_accept(void *arg, cpn_tp_ep_t *ep)
{
    side_t *s = arg;

    s->naccepted++;
    s->ep = ep;
}

static void on_connected(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    side_t *s = arg;

    cr_assert_eq(ep, s->ep, "%s: connected for an unknown ep", s->name);
    s->nconnected++;
    s->connect_status = status;
}

static void on_recv(void *arg, cpn_tp_ep_t *ep, const void *data, size_t len)
{
    side_t *s = arg;

    free(s->msg);
    s->msg = malloc(len ? len : 1);
    cr_assert_not_null(s->msg);
    memcpy(s->msg, data, len);
    s->msg_len = len;
    if (len >= 4 && s->norder < CPN_ARRAY_SIZE(s->order)) {
        memcpy(&s->order[s->norder++], data, 4);
    }
    s->recv_ep = ep;
    s->nrecv++;
}

static void on_put_notify(void *arg, cpn_tp_ep_t *ep, const void *notify,
                          size_t len, const cpn_tp_landed_t *landed)
{
    side_t *s = arg;
    put_note_t note;

    (void)ep;
    /* UCX never copies a put in itself (a peer's CPU or the NIC does) */
    cr_assert_null(landed, "%s: ucx claims to have hashed a put", s->name);
    cr_assert_eq(len, sizeof(note), "%s: notify of %zu bytes", s->name, len);
    memcpy(&note, notify, sizeof(note));
    /* The contract: the bytes are visible when the notify arrives. */
    if (s->src != NULL &&
        (s->region == NULL ||
         memcmp(s->region + note.off, s->src + note.src_off, note.len) != 0)) {
        s->notify_bad++;
    }
    s->nnotify++;
}

static void on_ep_error(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    side_t *s = arg;

    s->nerror++;
    s->error_status = status;
    s->error_ep = ep;
}

/* Completions of sends and puts. */
typedef struct comp {
    unsigned n;
    unsigned nerr;
    cpn_status_t last;
} comp_t;

static void on_comp(void *arg, cpn_status_t status)
{
    comp_t *c = arg;

    c->n++;
    c->last = status;
    if (status != CPN_OK) {
        c->nerr++;
    }
}

static void progress_both(void)
{
    if (srv.iface != NULL) {
        ops->progress(srv.iface);
    }
    if (cli.iface != NULL) {
        ops->progress(cli.iface);
    }
}

/* Progress both sides until @p cond holds or @p ms pass; true if it holds. */
#define PUMP(cond, ms)                                                         \
    ({                                                                         \
        uint64_t _dl = cpn_deadline_ns(ms);                                    \
        int _ok;                                                               \
        while (!(_ok = !!(cond)) && cpn_time_ns() < _dl) {                     \
            progress_both();                                                   \
        }                                                                      \
        _ok;                                                                   \
    })

/* ---- setup -------------------------------------------------------------- */

struct tls_param {
    char tls[16]; /* UCX_TLS, or "" for UCX's default */
    char put[8];  /* CPN_UCX_PUT, or "" for the default (auto) */
    int shm;      /* CPN_UCX_SHM=y: shared memory between the two sides */
};

static struct tls_param tls_params[] = {
    {"tcp", "", 0}, {"", "", 0}, {"", "", 1}};

/* Puts run each way the backend can carry them: AM puts (tcp has no RMA
 * lane, so auto picks them), RMA puts over shared memory, AM puts forced
 * over shared memory, and UCX's own put emulation over tcp. */
static struct tls_param put_params[] = {
    {"tcp", "auto", 0}, {"", "auto", 1}, {"", "am", 1}, {"tcp", "rma", 0}};

static const char *tls_name(const struct tls_param *p)
{
    static char name[32];

    snprintf(name, sizeof(name), "%s%s%s%s", p->tls[0] ? p->tls : "default",
             p->shm ? "+shm" : "", p->put[0] ? "/put=" : "", p->put);
    return name;
}

static void side_open(side_t *s)
{
    cpn_tp_handlers_t h = {
        .accept = on_accept,
        .connected = on_connected,
        .recv = on_recv,
        .put_notify = on_put_notify,
        .ep_error = on_ep_error,
        .arg = s,
    };
    cpn_tp_params_t params = {.site_name = s->name};

    cr_assert_eq(ops->open(&params, &h, &s->iface), CPN_OK, "%s: open failed",
                 s->name);
}

/* Open both sides with UCX_TLS from @p p; the server listens. */
static void pair_open(const struct tls_param *p)
{
    if (p->tls[0] != '\0') {
        setenv("UCX_TLS", p->tls, 1);
    } else {
        unsetenv("UCX_TLS");
    }
    if (p->put[0] != '\0') {
        setenv("CPN_UCX_PUT", p->put, 1);
    } else {
        unsetenv("CPN_UCX_PUT");
    }
    setenv("CPN_UCX_SHM", p->shm ? "y" : "n", 1);
    ops = cpn__tp_find("ucx");
    cr_assert_not_null(ops, "ucx is not built in (have: %s)", cpn__tp_names());
    side_open(&srv);
    side_open(&cli);
    cr_assert_eq(ops->listen(srv.iface, "127.0.0.1", 0, &srv_port), CPN_OK);
    cr_assert_neq(srv_port, 0);
}

/* Connect the client; wait until both sides know. */
static void pair_connect(void)
{
    unsigned acc = srv.naccepted, con = cli.nconnected;

    cr_assert_eq(ops->connect(cli.iface, "127.0.0.1", srv_port, &cli.ep),
                 CPN_OK);
    cr_assert(PUMP(cli.nconnected > con && srv.naccepted > acc, 10000),
              "no connection within 10 s (connected %u, accepted %u)",
              cli.nconnected, srv.naccepted);
    cr_assert_eq(cli.connect_status, CPN_OK, "connect: %s",
                 cpn_status_str(cli.connect_status));
    cr_assert_eq(strcmp(srv.ep->peer_addr, "?") != 0, 1);
}

static void pair_close(void)
{
    if (cli.iface != NULL) {
        ops->close(cli.iface);
        cli.iface = NULL;
    }
    if (srv.iface != NULL) {
        ops->close(srv.iface);
        srv.iface = NULL;
    }
}

static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
    for (; i < len; i++) {
        buf[i] = (uint8_t)(x >> (8 * (i & 7)));
    }
}

#define TLS_PARAMS_FROM(_name, _array)                                         \
    ParameterizedTestParameters(ucx, _name)                                    \
    {                                                                          \
        return cr_make_param_array(struct tls_param, _array,                   \
                                   CPN_ARRAY_SIZE(_array));                    \
    }
#define TLS_PARAMS(_name) TLS_PARAMS_FROM(_name, tls_params)

/* ---- connect, accept, lanes -------------------------------------------- */

TLS_PARAMS(connect_lanes)
ParameterizedTest(struct tls_param *p, ucx, connect_lanes)
{
    char lanes[256] = "";
    char tiny[2];

    pair_open(p);
    pair_connect();

    cr_assert_eq(ops->ep_lanes(cli.ep, lanes, sizeof(lanes)), CPN_OK);
    cr_assert_neq(lanes[0], '\0');
    cr_assert_eq(strchr(lanes, '/') != NULL, 1, "lanes '%s'", lanes);
    if (strcmp(p->tls, "tcp") == 0) {
        cr_assert_not_null(strstr(lanes, "tcp/"), "lanes '%s'", lanes);
    }
    if (p->shm) {
        cr_assert(strstr(lanes, "posix/") != NULL ||
                      strstr(lanes, "sysv/") != NULL,
                  "CPN_UCX_SHM=y but no shared-memory lane: '%s'", lanes);
    }
    fprintf(stderr, "ucx/%s: client lanes: %s\n", tls_name(p), lanes);
    cr_assert_eq(ops->ep_lanes(srv.ep, lanes, sizeof(lanes)), CPN_OK);
    cr_assert_neq(lanes[0], '\0');
    fprintf(stderr, "ucx/%s: server lanes: %s\n", tls_name(p), lanes);
    cr_assert_eq(ops->ep_lanes(srv.ep, tiny, sizeof(tiny)), CPN_ERR_TOO_BIG);

    {
        char want[32];

        snprintf(want, sizeof(want), "127.0.0.1:%u", srv_port);
        cr_assert_str_eq(cli.ep->peer_addr, want);
    }
    cr_assert_eq(strncmp(srv.ep->peer_addr, "127.0.0.1:", 10), 0,
                 "accepted peer '%s'", srv.ep->peer_addr);

    ops->ep_close(cli.ep);
    ops->ep_close(srv.ep);
    pair_close();
}

/* ---- send ---------------------------------------------------------------- */

/* Send @p len bytes from @p from to @p to and check what arrives. */
static void send_check(side_t *from, side_t *to, size_t len, uint64_t seed,
                       int progress_first)
{
    uint8_t *buf = malloc(len);
    unsigned before = to->nrecv;
    comp_t c = {0};
    cpn_status_t st;

    cr_assert_not_null(buf);
    fill_random(buf, len, seed);
    if (progress_first) {
        progress_both();
    }
    st = ops->send(from->ep, buf, len, on_comp, &c);
    cr_assert(st == CPN_OK || st == CPN_INPROGRESS, "send %zu: %s", len,
              cpn_status_str(st));
    cr_assert_eq(c.n, 0, "completion ran inside send()");
    cr_assert(PUMP(to->nrecv > before && (st == CPN_OK || c.n > 0), 30000),
              "send of %zu bytes: nothing within 30 s", len);
    if (st == CPN_INPROGRESS) {
        cr_assert_eq(c.n, 1);
        cr_assert_eq(c.last, CPN_OK, "send %zu: %s", len,
                     cpn_status_str(c.last));
    }
    cr_assert_eq(to->nrecv, before + 1);
    cr_assert_eq(to->recv_ep, to->ep);
    cr_assert_eq(to->msg_len, len, "sent %zu, got %zu", len, to->msg_len);
    cr_assert_eq(memcmp(to->msg, buf, len), 0, "data of %zu bytes differ", len);
    free(buf);
}

TLS_PARAMS(send)
ParameterizedTest(struct tls_param *p, ucx, send)
{
    static const size_t sizes[] = {1, 4096, 1 << 20, 16 << 20, 64 << 20, 0};
    uint8_t early = 0x5a;
    comp_t c = {0};
    cpn_status_t st;
    unsigned i;

    pair_open(p);

    /* A send posted before the connect finishes is queued, not lost. */
    cr_assert_eq(ops->connect(cli.iface, "127.0.0.1", srv_port, &cli.ep),
                 CPN_OK);
    st = ops->send(cli.ep, &early, 1, on_comp, &c);
    cr_assert(st == CPN_OK || st == CPN_INPROGRESS, "%s", cpn_status_str(st));
    cr_assert(PUMP(srv.nrecv == 1 && cli.nconnected == 1, 10000));
    cr_assert_eq(cli.connect_status, CPN_OK);
    cr_assert_eq(srv.msg_len, 1);
    cr_assert_eq(srv.msg[0], 0x5a);
    cr_assert(PUMP(st == CPN_OK || c.n == 1, 5000));

    for (i = 0; sizes[i] != 0; i++) {
        send_check(&cli, &srv, sizes[i], i + 1, 0);
        send_check(&srv, &cli, sizes[i], i + 100, 1);
    }

    /* Sanity figure: 64 MiB messages one after the other. */
    {
        size_t len = 64 << 20;
        uint8_t *buf = malloc(len);
        unsigned n = 4, before = srv.nrecv;
        uint64_t t0;

        cr_assert_not_null(buf);
        memset(buf, 3, len);
        memset(&c, 0, sizeof(c));
        t0 = cpn_time_ns();
        for (i = 0; i < n; i++) {
            unsigned done = c.n;

            st = ops->send(cli.ep, buf, len, on_comp, &c);
            cr_assert(st == CPN_OK || st == CPN_INPROGRESS);
            cr_assert(PUMP(srv.nrecv == before + i + 1 &&
                               (st == CPN_OK || c.n == done + 1),
                           30000));
        }
        fprintf(stderr, "ucx/%s: send %u x 64 MiB: %.2f GB/s\n", tls_name(p), n,
                (double)n * len / (double)(cpn_time_ns() - t0));
        cr_assert_eq(c.nerr, 0);
        free(buf);
    }
    ops->ep_close(cli.ep);
    pair_close();
}

/* The contract's ordering: messages posted back to back, large ones (UCX
 * rendezvous, which completes late) between small ones (eager), reach the
 * receiver in the order they were sent. */
TLS_PARAMS(send_order)
ParameterizedTest(struct tls_param *p, ucx, send_order)
{
    enum { N = 40 };
    static uint8_t *bufs[N];
    size_t lens[N];
    comp_t c = {0};
    unsigned i, posted = 0;

    pair_open(p);
    pair_connect();
    srv.norder = 0;
    for (i = 0; i < N; i++) {
        uint32_t idx = i;
        cpn_status_t st;

        lens[i] = i % 5 == 0 ? (size_t)(4u << 20) + i : 64 + i;
        bufs[i] = malloc(lens[i]);
        cr_assert_not_null(bufs[i]);
        fill_random(bufs[i], lens[i], i + 7);
        memcpy(bufs[i], &idx, 4);
        st = ops->send(cli.ep, bufs[i], lens[i], on_comp, &c);
        cr_assert(st == CPN_OK || st == CPN_INPROGRESS, "send %u: %s", i,
                  cpn_status_str(st));
        posted += st == CPN_INPROGRESS;
    }
    cr_assert(PUMP(srv.nrecv >= N && c.n == posted, 30000),
              "%u of %u messages within 30 s", srv.nrecv, N);
    cr_assert_eq(c.nerr, 0);
    cr_assert_eq(srv.norder, N);
    for (i = 0; i < N; i++) {
        cr_assert_eq(srv.order[i], i, "message %u arrived as number %u (its "
                     "%zu bytes overtaken or overtaking)", srv.order[i], i,
                     lens[srv.order[i]]);
    }
    /* the last one whole */
    cr_assert_eq(srv.msg_len, lens[N - 1]);
    cr_assert_eq(memcmp(srv.msg, bufs[N - 1], lens[N - 1]), 0);
    for (i = 0; i < N; i++) {
        free(bufs[i]);
    }
    ops->ep_close(cli.ep);
    pair_close();
}

/* ---- put ----------------------------------------------------------------- */

#define REGION (64u << 20)

typedef struct put_rig {
    uint8_t *dst; /* server's landing region */
    uint8_t *src; /* client's source */
    cpn_tp_mem_t *dst_mem;
    cpn_tp_mem_t *src_mem;
    cpn_tp_rkey_t *rkey;
    uint64_t raddr;
} put_rig_t;

/* Register the server's region and hand its key to the client over send,
 * as the runtime does. */
static void put_rig_open(put_rig_t *r, size_t len)
{
    uint8_t kbuf[8 + CPN_TP_RKEY_MAX];
    size_t klen = CPN_TP_RKEY_MAX, small = 1;
    uint64_t addr;
    cpn_status_t st;
    comp_t c = {0};

    r->dst = aligned_alloc(4096, len);
    r->src = aligned_alloc(4096, len);
    cr_assert(r->dst != NULL && r->src != NULL);
    memset(r->dst, 0, len);
    fill_random(r->src, len, 42);
    srv.region = r->dst;
    srv.src = r->src;

    cr_assert_eq(ops->mem_reg(srv.iface, r->dst, len, &r->dst_mem), CPN_OK);
    cr_assert_eq(ops->mem_reg(cli.iface, r->src, len, &r->src_mem), CPN_OK);
    cr_assert_eq(ops->key_pack(r->dst_mem, kbuf + 8, &small), CPN_ERR_TOO_BIG);
    cr_assert_eq(ops->key_pack(r->dst_mem, kbuf + 8, &klen), CPN_OK);
    cr_assert(klen > 0 && klen <= CPN_TP_RKEY_MAX);
    addr = (uint64_t)(uintptr_t)r->dst;
    memcpy(kbuf, &addr, 8);

    st = ops->send(srv.ep, kbuf, 8 + klen, on_comp, &c);
    cr_assert(st == CPN_OK || st == CPN_INPROGRESS);
    cr_assert(PUMP(cli.nrecv == 1 && (st == CPN_OK || c.n == 1), 10000));
    cr_assert_eq(cli.msg_len, 8 + klen);
    memcpy(&r->raddr, cli.msg, 8);
    cr_assert_eq(ops->key_unpack(cli.ep, cli.msg + 8, klen, &r->rkey), CPN_OK);
}

static void put_rig_close(put_rig_t *r)
{
    ops->key_release(r->rkey);
    ops->mem_dereg(r->src_mem);
    ops->mem_dereg(r->dst_mem);
    srv.region = NULL;
    srv.src = NULL;
    free(r->dst);
    free(r->src);
}

static cpn_status_t put_one(put_rig_t *r, uint64_t off, size_t len,
                            uint64_t src_off, uint32_t index, int with_mem,
                            comp_t *c)
{
    put_note_t note = {
        .off = off, .len = len, .src_off = src_off, .index = index};

    return ops->put(cli.ep, r->src + src_off, len, with_mem ? r->src_mem : NULL,
                    r->raddr + off, r->rkey, &note, sizeof(note), on_comp, c);
}

TLS_PARAMS_FROM(put, put_params)
ParameterizedTest(struct tls_param *p, ucx, put)
{
    put_rig_t r;
    uint64_t t0, ns;
    size_t len;
    unsigned i, rounds = 8;
    uint8_t big_notify[CPN_TP_NOTIFY_MAX + 1] = {0};
    comp_t c = {0};

    pair_open(p);
    pair_connect();
    put_rig_open(&r, REGION);

    cr_assert_eq(ops->put(cli.ep, r.src, 1, NULL, r.raddr, r.rkey, big_notify,
                          sizeof(big_notify), on_comp, &c),
                 CPN_ERR_TOO_BIG);

    /* 1 B .. 64 MiB in powers of 4, at an odd offset where it fits. */
    for (len = 1, i = 0; len <= REGION; len *= 4, i++) {
        uint64_t off = (len * 2 <= REGION) ? 7 * i + 3 : 0;
        unsigned nn = srv.nnotify;

        memset(r.dst, 0, REGION);
        memset(&c, 0, sizeof(c));
        cr_assert_eq(put_one(&r, off, len, off, i, i % 2, &c), CPN_INPROGRESS);
        cr_assert_eq(c.n, 0, "completion ran inside put()");
        cr_assert(PUMP(c.n == 1 && srv.nnotify == nn + 1, 30000),
                  "put of %zu bytes: cb %u notify %u within 30 s", len, c.n,
                  srv.nnotify - nn);
        cr_assert_eq(c.last, CPN_OK, "put %zu: %s", len,
                     cpn_status_str(c.last));
        cr_assert_eq(srv.notify_bad, 0,
                     "put of %zu bytes: notify before the data", len);
        cr_assert_eq(memcmp(r.dst + off, r.src + off, len), 0);
        if (off > 0) {
            cr_assert_eq(r.dst[off - 1], 0, "put wrote before its range");
        }
        if (off + len < REGION) {
            cr_assert_eq(r.dst[off + len], 0, "put wrote past its range");
        }
    }

    /* Sanity figure: 64 MiB puts back to back, two in flight. */
    srv.src = NULL; /* data already checked above; skip the memcmp */
    srv.region = NULL;
    memset(&c, 0, sizeof(c));
    {
        unsigned nn = srv.nnotify, posted = 0;

        t0 = cpn_time_ns();
        while (c.n < rounds) {
            if (posted < rounds && posted - c.n < 2) {
                cr_assert_eq(put_one(&r, 0, REGION, 0, posted, 1, &c),
                             CPN_INPROGRESS);
                posted++;
                continue;
            }
            cr_assert(
                PUMP(posted < rounds ? posted - c.n < 2 : c.n == rounds, 30000),
                "64 MiB put: no completion within 30 s");
        }
        cr_assert(PUMP(srv.nnotify == nn + rounds, 10000));
        ns = cpn_time_ns() - t0;
    }
    cr_assert_eq(c.nerr, 0);
    fprintf(stderr, "ucx/%s: put %u x 64 MiB: %.2f GB/s\n", tls_name(p), rounds,
            (double)rounds * REGION / (double)ns);
    srv.notify_bad = 0;

    put_rig_close(&r);
    ops->ep_close(cli.ep);
    pair_close();
}

TLS_PARAMS_FROM(put_many, put_params)
ParameterizedTest(struct tls_param *p, ucx, put_many)
{
    enum { N = 256, CHUNK = 64 << 10 };
    static comp_t c[N];
    put_rig_t r;
    unsigned i, done;

    pair_open(p);
    pair_connect();
    put_rig_open(&r, (size_t)N * CHUNK);

    /* All posted before any progress: many puts in flight on one ep. */
    for (i = 0; i < N; i++) {
        size_t len = CHUNK - (i % 3) * 100;

        cr_assert_eq(put_one(&r, (uint64_t)i * CHUNK, len, (uint64_t)i * CHUNK,
                             i, 1, &c[i]),
                     CPN_INPROGRESS, "put %u", i);
    }
    cr_assert(PUMP(srv.nnotify == N, 30000), "%u of %u notifies", srv.nnotify,
              N);
    for (done = 0, i = 0; i < N; i++) {
        cr_assert(PUMP(c[i].n == 1, 5000), "put %u: no completion", i);
        cr_assert_eq(c[i].last, CPN_OK, "put %u: %s", i,
                     cpn_status_str(c[i].last));
        done++;
    }
    cr_assert_eq(done, N);
    cr_assert_eq(srv.notify_bad, 0, "%u notifies came before their data",
                 srv.notify_bad);

    put_rig_close(&r);
    ops->ep_close(cli.ep);
    pair_close();
}

/* Puts the CPU does itself: key_ptr maps the target's memory where UCX can
 * (its shared-memory md allocated the region: mem_alloc), the source writes
 * it and notify() completes it. Under UCX_TLS=tcp, or with CPN_UCX_PUT
 * forcing a way, there is no pointer and callers fall back to put. */
struct ptr_param {
    struct tls_param tls;
    cpn_status_t expect;
};

static struct ptr_param ptr_params[] = {
    {{"", "", 0}, CPN_OK},
    {{"", "", 1}, CPN_OK},
    {{"tcp", "", 0}, CPN_ERR_UNSUPPORTED},
    {{"", "am", 1}, CPN_ERR_UNSUPPORTED},
};

ParameterizedTestParameters(ucx, key_ptr)
{
    return cr_make_param_array(struct ptr_param, ptr_params,
                               sizeof(ptr_params) / sizeof(ptr_params[0]));
}

ParameterizedTest(struct ptr_param *pp, ucx, key_ptr)
{
    enum { LEN = 4 << 20 };
    uint8_t kbuf[8 + CPN_TP_RKEY_MAX], *src, *ptr = NULL;
    size_t klen = CPN_TP_RKEY_MAX;
    cpn_tp_mem_t *mem;
    cpn_tp_rkey_t *rkey, *again;
    uint64_t raddr, h;
    cpn_status_t st;
    comp_t c = {0};
    put_note_t note = {.off = 4096 + 3, .len = (1 << 20) + 5, .src_off = 11};

    pair_open(&pp->tls);
    pair_connect();
    cr_assert_eq(ops->mem_alloc(srv.iface, LEN, &mem), CPN_OK);
    memset(mem->addr, 0, LEN);
    cr_assert_eq(ops->key_pack(mem, kbuf + 8, &klen), CPN_OK);
    raddr = (uint64_t)(uintptr_t)mem->addr;
    memcpy(kbuf, &raddr, 8);
    st = ops->send(srv.ep, kbuf, 8 + klen, on_comp, &c);
    cr_assert(st == CPN_OK || st == CPN_INPROGRESS);
    cr_assert(PUMP(cli.nrecv == 1, 10000));
    cr_assert_eq(ops->key_unpack(cli.ep, cli.msg + 8, klen, &rkey), CPN_OK);
    /* the same key again: the cached one, released twice */
    cr_assert_eq(ops->key_unpack(cli.ep, cli.msg + 8, klen, &again), CPN_OK);
    cr_assert_eq(again, rkey, "an identical key was unpacked twice");
    ops->key_release(again);

    st = ops->key_ptr(rkey, raddr + note.off, note.len, (void **)&ptr);
    cr_assert_eq(st, pp->expect, "%s: key_ptr gave %s", tls_name(&pp->tls),
                 cpn_status_str(st));
    if (st == CPN_OK) {
        src = malloc(LEN);
        cr_assert_not_null(src);
        fill_random(src, LEN, 7);
        /* (a second mapping of the segment, also in this process) */
        h = cpn_hash64_copy(ptr, src + note.src_off, note.len);
        cr_assert_eq(h, cpn_hash64(src + note.src_off, note.len));
        srv.region = mem->addr;
        srv.src = src;
        memset(&c, 0, sizeof(c));
        st = ops->notify(cli.ep, &note, sizeof(note), on_comp, &c);
        cr_assert(st == CPN_OK || st == CPN_INPROGRESS, "notify: %s",
                  cpn_status_str(st));
        cr_assert(PUMP(srv.nnotify == 1 && (st == CPN_OK || c.n == 1), 10000));
        cr_assert_eq(srv.notify_bad, 0, "notify came before the bytes");
        cr_assert_eq(((uint8_t *)mem->addr)[note.off - 1], 0);
        cr_assert_eq(((uint8_t *)mem->addr)[note.off + note.len], 0);
        srv.region = NULL;
        srv.src = NULL;
        free(src);
    }
    /* outside the key's region: refused whatever the path */
    st = ops->key_ptr(rkey, raddr + LEN - 10, 11, (void **)&ptr);
    cr_assert(st == CPN_ERR_INVALID || st == CPN_ERR_UNSUPPORTED, "%s",
              cpn_status_str(st));
    if (pp->expect == CPN_OK) {
        cr_assert_eq(st, CPN_ERR_INVALID);
    }

    ops->key_release(rkey);
    ops->mem_dereg(mem);
    ops->ep_close(cli.ep);
    pair_close();
}

/* A put must stay inside the region its key describes, and a target takes
 * AM puts only into regions registered there. */
Test(ucx, put_bounds)
{
    struct tls_param p = {"tcp", "am", 0};
    size_t len = 1 << 20;
    comp_t c = {0};
    cpn_tp_rkey_t *stale;
    put_rig_t r;
    unsigned nn;

    pair_open(&p);
    pair_connect();
    put_rig_open(&r, len);

    /* the source refuses what the key does not cover */
    cr_assert_eq(put_one(&r, len - 10, 11, 0, 0, 1, &c), CPN_ERR_INVALID);
    cr_assert_eq(ops->put(cli.ep, r.src, 1, NULL, r.raddr - 1, r.rkey, NULL, 0,
                          on_comp, &c),
                 CPN_ERR_INVALID);
    cr_assert_eq(put_one(&r, 0, len, 0, 0, 1, &c), CPN_INPROGRESS);
    cr_assert(PUMP(c.n == 1 && srv.nnotify == 1, 10000));
    cr_assert_eq(c.last, CPN_OK);

    /* the target drops puts into a region it no longer has: a rendezvous
     * one fails at the source, and neither is notified */
    stale = r.rkey;
    r.rkey = NULL;
    ops->mem_dereg(r.dst_mem);
    ops->mem_reg(srv.iface, r.dst, len, &r.dst_mem);
    memset(&c, 0, sizeof(c));
    nn = srv.nnotify;
    r.rkey = stale;
    cr_assert_eq(put_one(&r, 0, len, 0, 1, 1, &c), CPN_INPROGRESS);
    cr_assert(PUMP(c.n == 1, 10000));
    cr_assert_neq(c.last, CPN_OK, "a put into a dropped region succeeded");
    cr_assert_eq(put_one(&r, 0, 10, 0, 2, 1, &c), CPN_INPROGRESS);
    cr_assert(PUMP(c.n == 2, 10000));
    PUMP(0, 200);
    cr_assert_eq(srv.nnotify, nn, "notify for a put that was dropped");

    put_rig_close(&r);
    ops->ep_close(cli.ep);
    pair_close();
}

/* A source that dies in the middle of its puts takes down its endpoint,
 * not the target: the target sees ep_error and still accepts connections.
 * (UCX 1.13's own put emulation over tcp fails this: the target aborts.) */
static void killed_source(int fd)
{
    enum { CHUNK = 1 << 20, WINDOW = 8 };
    uint8_t *src = malloc(CHUNK);
    comp_t c = {0};
    cpn_tp_rkey_t *rkey;
    uint64_t raddr, posted = 0;
    uint16_t port;

    /* Never outlive the test, whatever happens to it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1) {
        _exit(9);
    }
    if (src == NULL || read(fd, &port, sizeof(port)) != sizeof(port)) {
        _exit(10);
    }
    memset(src, 0x77, CHUNK);
    ops = cpn__tp_find("ucx");
    side_open(&cli);
    if (ops->connect(cli.iface, "127.0.0.1", port, &cli.ep) != CPN_OK ||
        !PUMP(cli.nrecv == 1, 10000)) {
        _exit(11);
    }
    memcpy(&raddr, cli.msg, 8);
    if (ops->key_unpack(cli.ep, cli.msg + 8, cli.msg_len - 8, &rkey) !=
        CPN_OK) {
        _exit(12);
    }
    for (;;) { /* until killed */
        while (posted - c.n < WINDOW) {
            put_note_t note = {.off = (posted % 16) * CHUNK, .len = CHUNK};

            if (ops->put(cli.ep, src, CHUNK, NULL, raddr + note.off, rkey,
                         &note, sizeof(note), on_comp, &c) != CPN_INPROGRESS) {
                _exit(13);
            }
            posted++;
        }
        ops->progress(cli.iface);
    }
}

ParameterizedTestParameters(ucx, source_killed_mid_put)
{
    /* Not with CPN_UCX_SHM=y: a source killed mid-send can leave the
     * target's shared-memory FIFO stuck (see cpn_ucx_config_shm). */
    static struct tls_param kp[] = {{"tcp", "auto", 0}, {"", "auto", 0}};

    return cr_make_param_array(struct tls_param, kp, CPN_ARRAY_SIZE(kp));
}

ParameterizedTest(struct tls_param *p, ucx, source_killed_mid_put)
{
    size_t len = 16 << 20;
    uint8_t kbuf[8 + CPN_TP_RKEY_MAX];
    size_t klen = CPN_TP_RKEY_MAX;
    uint8_t *dst = aligned_alloc(4096, len);
    cpn_tp_mem_t *mem;
    int pfd[2], wstatus;
    comp_t c = {0};
    cpn_status_t st;
    uint64_t addr;
    pid_t pid;

    cr_assert_not_null(dst);
    cr_assert_eq(pipe(pfd), 0);
    if (p->tls[0] != '\0') {
        setenv("UCX_TLS", p->tls, 1);
    } else {
        unsetenv("UCX_TLS");
    }
    setenv("CPN_UCX_PUT", p->put, 1);
    setenv("CPN_UCX_SHM", "n", 1);
    fflush(NULL);
    pid = fork(); /* before any UCX state exists in this process */
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(pfd[1]);
        killed_source(pfd[0]);
    }
    close(pfd[0]);

    ops = cpn__tp_find("ucx");
    side_open(&srv);
    cr_assert_eq(ops->listen(srv.iface, "127.0.0.1", 0, &srv_port), CPN_OK);
    cr_assert_eq(write(pfd[1], &srv_port, sizeof(srv_port)),
                 (ssize_t)sizeof(srv_port));
    cr_assert(PUMP(srv.naccepted == 1, 10000), "the source did not connect");
    cr_assert_eq(ops->mem_reg(srv.iface, dst, len, &mem), CPN_OK);
    cr_assert_eq(ops->key_pack(mem, kbuf + 8, &klen), CPN_OK);
    addr = (uint64_t)(uintptr_t)dst;
    memcpy(kbuf, &addr, 8);
    st = ops->send(srv.ep, kbuf, 8 + klen, on_comp, &c);
    cr_assert(st == CPN_OK || st == CPN_INPROGRESS, "%s", cpn_status_str(st));
    cr_assert(PUMP(srv.nnotify >= 20, 20000), "only %u puts arrived",
              srv.nnotify);

    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &wstatus, 0), pid);
    cr_assert(WIFSIGNALED(wstatus), "the source exited by itself (%d)",
              WEXITSTATUS(wstatus));
    cr_assert(PUMP(srv.nerror == 1, 15000), "no ep_error after the kill");
    cr_assert(CPN_STATUS_IS_ENDPOINT(srv.error_status), "%s",
              cpn_status_name(srv.error_status));
    PUMP(0, 500);
    ops->ep_close(srv.ep);

    /* still serving */
    side_open(&cli);
    pair_connect();
    send_check(&cli, &srv, 1000, 5, 0);
    fprintf(stderr,
            "ucx/%s: target survived its source's death after %u "
            "puts\n",
            tls_name(p), srv.nnotify);
    ops->mem_dereg(mem);
    pair_close();
    free(dst);
}

/* ---- failures ---------------------------------------------------------- */

/* A port on 127.0.0.1 where nothing listens (bound, then released). */
static uint16_t dead_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t slen = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

TLS_PARAMS(connect_refused)
ParameterizedTest(struct tls_param *p, ucx, connect_refused)
{
    uint16_t port;
    uint64_t t0;
    cpn_status_t st;

    pair_open(p);
    port = dead_port();
    t0 = cpn_time_ns();
    st = ops->connect(cli.iface, "127.0.0.1", port, &cli.ep);
    if (st == CPN_OK) {
        cr_assert(PUMP(cli.nconnected == 1, 5000),
                  "no verdict on a dead port within 5 s");
        st = cli.connect_status;
        cr_assert_eq(cli.nerror, 0, "ep_error instead of connected");
        ops->ep_close(cli.ep);
    }
    cr_assert_eq(st, CPN_ERR_UNREACHABLE, "got %s", cpn_status_name(st));
    fprintf(stderr, "ucx/%s: connect to a dead port failed in %.1f ms\n",
            tls_name(p), (double)(cpn_time_ns() - t0) / 1e6);
    pair_close();
}

TLS_PARAMS(close_gives_ep_error)
ParameterizedTest(struct tls_param *p, ucx, close_gives_ep_error)
{
    cpn_tp_ep_t *old;

    pair_open(p);

    /* The client closes: the server hears of it. */
    pair_connect();
    send_check(&cli, &srv, 100, 1, 0);
    ops->ep_close(cli.ep);
    cr_assert(PUMP(srv.nerror == 1, 10000), "server: no ep_error in 10 s");
    cr_assert_eq(srv.error_ep, srv.ep);
    cr_assert(CPN_STATUS_IS_ENDPOINT(srv.error_status), "%s",
              cpn_status_name(srv.error_status));
    ops->ep_close(srv.ep);

    /* The server closes: the client hears of it, once. */
    pair_connect();
    send_check(&srv, &cli, 100, 2, 0);
    old = cli.ep;
    ops->ep_close(srv.ep);
    cr_assert(PUMP(cli.nerror == 1, 10000), "client: no ep_error in 10 s");
    cr_assert_eq(cli.error_ep, old);
    cr_assert(CPN_STATUS_IS_ENDPOINT(cli.error_status), "%s",
              cpn_status_name(cli.error_status));
    PUMP(0, 200);
    cr_assert_eq(cli.nerror, 1, "ep_error reported twice");
    ops->ep_close(cli.ep);
    PUMP(0, 200);
    cr_assert_eq(srv.nerror, 1, "server saw an error for its own close");
    pair_close();
}

TLS_PARAMS(close_cancels)
ParameterizedTest(struct tls_param *p, ucx, close_cancels)
{
    size_t len = 16 << 20;
    uint8_t *buf = malloc(len);
    comp_t c = {0};
    cpn_status_t st;

    cr_assert_not_null(buf);
    memset(buf, 1, len);
    pair_open(p);
    pair_connect();
    st = ops->send(cli.ep, buf, len, on_comp, &c);
    cr_assert(st == CPN_OK || st == CPN_INPROGRESS);
    ops->ep_close(cli.ep);
    if (st == CPN_INPROGRESS) {
        cr_assert(PUMP(c.n == 1, 5000), "no completion after ep_close");
        cr_assert_eq(c.last, CPN_ERR_CANCELED, "got %s",
                     cpn_status_name(c.last));
    }
    PUMP(0, 100);
    cr_assert_leq(c.n, 1);
    pair_close();
    free(buf);
}

TLS_PARAMS(wait)
ParameterizedTest(struct tls_param *p, ucx, wait)
{
    uint8_t byte = 7;
    uint64_t t0;
    cpn_status_t st;
    int i;

    pair_open(p);
    pair_connect();
    PUMP(0, 100);

    /* Idle: wait sleeps (it may wake early; it must not spin forever). */
    t0 = cpn_time_ns();
    st = ops->wait(cli.iface, 100);
    cr_assert(st == CPN_OK || st == CPN_ERR_TIMEOUT, "%s", cpn_status_str(st));
    cr_assert_lt(cpn_time_ns() - t0, 2000000000ull);

    /* A message from the peer wakes the client. */
    st = ops->send(srv.ep, &byte, 1, NULL, NULL);
    cr_assert_eq(st, CPN_OK, "1-byte send: %s", cpn_status_str(st));
    for (i = 0; i < 5; i++) {
        ops->progress(srv.iface);
    }
    t0 = cpn_time_ns();
    while (cli.nrecv == 0 && cpn_time_ns() - t0 < 3000000000ull) {
        st = ops->wait(cli.iface, 1000);
        cr_assert(st == CPN_OK || st == CPN_ERR_TIMEOUT);
        ops->progress(cli.iface);
        ops->progress(srv.iface);
    }
    cr_assert_eq(cli.nrecv, 1, "message not seen within 3 s of waiting");
    cr_assert_lt(cpn_time_ns() - t0, 2500000000ull, "wait did not wake");
    pair_close();
}

Test(ucx, listen_ipv6)
{
    struct tls_param p = {"tcp", "", 0};
    unsigned major, minor, release;
    uint16_t port;
    cpn_status_t st;

    pair_open(&p);
    ucp_get_version(&major, &minor, &release);
    st = ops->listen(cli.iface, "::1", 0, &port);
    if (major == 1 && minor < 14) {
        /* UCX 1.13 corrupts its heap on IPv6 client-server connections: the
         * backend refuses IPv6, and "localhost" still works over IPv4. */
        cr_assert_eq(st, CPN_ERR_UNSUPPORTED, "%s", cpn_status_name(st));
        cr_assert_eq(ops->connect(srv.iface, "[::1]", srv_port, &srv.ep),
                     CPN_ERR_UNSUPPORTED);
        cr_assert_eq(ops->listen(cli.iface, "localhost", 0, &port), CPN_OK);
        cr_assert_eq(ops->connect(srv.iface, "localhost", port, &srv.ep),
                     CPN_OK);
        cr_assert(PUMP(srv.nconnected == 1 && cli.naccepted == 1, 10000));
        cr_assert_eq(srv.connect_status, CPN_OK);
        pair_close();
        cr_skip_test("UCX %u.%u cannot carry IPv6 connections safely; "
                     "checked that they are refused",
                     major, minor);
    }
    if (st != CPN_OK) {
        pair_close();
        cr_skip_test("no IPv6 loopback here (%s)", cpn_status_name(st));
    }
    /* The client iface listens on ::1; the server connects to it. */
    cr_assert_eq(ops->connect(srv.iface, "::1", port, &srv.ep), CPN_OK);
    cr_assert(PUMP(srv.nconnected == 1 && cli.naccepted == 1, 10000));
    cr_assert_eq(srv.connect_status, CPN_OK);
    cr_assert_eq(strncmp(cli.ep->peer_addr, "[::1]:", 6), 0, "'%s'",
                 cli.ep->peer_addr);
    send_check(&srv, &cli, 10, 3, 0);
    pair_close();
}

Test(ucx, listen_busy)
{
    struct tls_param p = {"tcp", "", 0};
    uint16_t port;

    pair_open(&p);
    cr_assert_eq(ops->listen(cli.iface, "127.0.0.1", srv_port, &port),
                 CPN_ERR_ADDR_IN_USE);
    cr_assert_eq(ops->listen(srv.iface, "127.0.0.1", 0, &port), CPN_ERR_EXISTS);
    pair_close();
}

Test(ucx, close_with_open_eps)
{
    struct tls_param p = {"tcp", "", 0};
    uint8_t buf[64] = {0};
    comp_t c = {0};

    pair_open(&p);
    pair_connect();
    ops->send(cli.ep, buf, sizeof(buf), on_comp, &c);
    /* close() tears down every ep and runs no callback. */
    ops->close(cli.iface);
    cli.iface = NULL;
    cr_assert_eq(c.n, 0);
    cr_assert(PUMP(srv.nerror == 1, 10000), "server: no ep_error in 10 s");
    pair_close();
}

/* ---- registry and addresses -------------------------------------------- */

Test(transport, registry)
{
    const cpn_transport_ops_t *u = cpn__tp_find("ucx");
    cpn_transport_ops_t t = {.name = "empty"};
    cpn_tp_iface_t *iface = NULL;

    cr_assert_not_null(u);
    cr_assert_str_eq(u->name, "ucx");
    cr_assert_eq(u, cpn__tp_find("ucx"), "one copy, made once");
    cr_assert(u->caps & CPN_TP_CAP_WAKEUP);
    cr_assert_null(cpn__tp_find("nope"));
    cr_assert_null(cpn__tp_find(NULL));
    cr_assert_not_null(strstr(cpn__tp_names(), "ucx"));
    cr_assert_str_eq(cpn_transports(), cpn__tp_names());

    cpn__tp_fill_stubs(&t);
    cr_assert_eq(t.open(NULL, NULL, &iface), CPN_ERR_UNSUPPORTED);
    cr_assert_null(iface);
    cr_assert_eq(t.progress(NULL), 0);
    cr_assert_eq(t.wait(NULL, 0), CPN_ERR_UNSUPPORTED);
    cr_assert_eq(t.send(NULL, NULL, 0, NULL, NULL), CPN_ERR_UNSUPPORTED);
    cr_assert_eq(t.put(NULL, NULL, 0, NULL, 0, NULL, NULL, 0, NULL, NULL),
                 CPN_ERR_UNSUPPORTED);
    cr_assert_eq(t.ep_lanes(NULL, NULL, 0), CPN_ERR_UNSUPPORTED);
    t.close(NULL);
    t.ep_close(NULL);
    t.mem_dereg(NULL);
    t.key_release(NULL);
}

Test(transport, parse_addr)
{
    static const struct {
        const char *in;
        const char *host;
        int port; /* -1: invalid */
    } cases[] = {
        {"127.0.0.1:80", "127.0.0.1", 80},
        {"site-b.example:0", "site-b.example", 0},
        {"h:65535", "h", 65535},
        {"[::1]:7000", "::1", 7000},
        {"[fe80::1%eth0]:1", "fe80::1%eth0", 1},
        {"h:65536", NULL, -1},
        {"h:", NULL, -1},
        {":80", NULL, -1},
        {"h", NULL, -1},
        {"h:8x", NULL, -1},
        {"h:-1", NULL, -1},
        {"h:+1", NULL, -1},
        {"h:000080", NULL, -1},
        {"::1:80", NULL, -1},
        {"[::1]80", NULL, -1},
        {"[::1:80", NULL, -1},
        {"[]:80", NULL, -1},
        {"a b:80", NULL, -1},
        {"", NULL, -1},
    };
    char host[64];
    char small[4];
    uint16_t port;
    unsigned i;

    for (i = 0; i < CPN_ARRAY_SIZE(cases); i++) {
        cpn_status_t st;

        strcpy(host, "untouched");
        port = 4242;
        st = cpn__tp_parse_addr(cases[i].in, host, sizeof(host), &port);
        if (cases[i].port < 0) {
            cr_assert_eq(st, CPN_ERR_INVALID, "'%s' accepted", cases[i].in);
            cr_assert_str_eq(host, "untouched");
            cr_assert_eq(port, 4242);
        } else {
            cr_assert_eq(st, CPN_OK, "'%s' refused", cases[i].in);
            cr_assert_str_eq(host, cases[i].host);
            cr_assert_eq(port, cases[i].port);
        }
    }
    cr_assert_eq(cpn__tp_parse_addr("toolong:1", small, sizeof(small), &port),
                 CPN_ERR_INVALID);
    cr_assert_eq(cpn__tp_parse_addr(NULL, host, sizeof(host), &port),
                 CPN_ERR_INVALID);
}
