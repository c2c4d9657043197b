/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the verbs backend on a real RDMA device: two interfaces in one
 * process, one listening and one connecting through rdma_cm on the address
 * in RXE0_IP (set by the Soft-RoCE guest, tests/rxe/) or CPN_TEST_VERBS_IP,
 * both progressed in one loop. Sends and puts from 1 byte to 16 MiB with the
 * data checked, back-pressure with tiny queues, a forged remote key and an
 * out-of-range offset, and a connect to a port where nothing listens.
 * Where no RDMA device or address is at hand every test skips with why:
 * suite `rxe` runs this binary inside the guest. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "transport/transport.h"

typedef struct side {
    const char *name;
    cpn_tp_iface_t *iface;
    cpn_tp_ep_t *ep;
    unsigned naccepted, nconnected, nerror, nrecv, nnotify, notify_bad;
    cpn_status_t connect_status, error_status;
    uint8_t *msg;
    size_t msg_len;
    uint32_t next_seq;        /* back-pressure test: expected sequence */
    unsigned seq_bad;
    uint8_t *region;          /* where puts land */
    const uint8_t *src;       /* what they should hold */
} side_t;

typedef struct note {
    uint64_t off, len;
} note_t;

static const cpn_transport_ops_t *ops;
static side_t srv = {.name = "srv"};
static side_t cli = {.name = "cli"};
static const char *ip;
static uint16_t port;

static void on_accept(void *arg, cpn_tp_ep_t *ep)
{
    side_t *s = arg;

    s->naccepted++;
    s->ep = ep;
}

static void on_connected(void *arg, cpn_tp_ep_t *ep, cpn_status_t st)
{
    side_t *s = arg;

    (void)ep;
    s->nconnected++;
    s->connect_status = st;
}

static void on_recv(void *arg, cpn_tp_ep_t *ep, const void *data, size_t len)
{
    side_t *s = arg;

    (void)ep;
    if (len == 8 && memcmp(data, "SEQ", 3) == 0) {
        uint32_t seq;

        memcpy(&seq, (const uint8_t *)data + 4, 4);
        s->seq_bad += seq != s->next_seq;
        s->next_seq++;
        s->nrecv++;
        return;
    }
    free(s->msg);
    s->msg = malloc(len ? len : 1);
    cr_assert_not_null(s->msg);
    memcpy(s->msg, data, len);
    s->msg_len = len;
    s->nrecv++;
}

static void on_notify(void *arg, cpn_tp_ep_t *ep, const void *n, size_t len,
                      const cpn_tp_landed_t *landed)
{
    side_t *s = arg;
    note_t note;

    (void)ep;
    cr_assert_null(landed, "verbs claims to have hashed a put (the NIC "
                   "wrote it)");
    cr_assert_eq(len, sizeof(note));
    memcpy(&note, n, sizeof(note));
    if (s->src == NULL || memcmp(s->region + note.off, s->src + note.off,
                                 note.len) != 0) {
        s->notify_bad++;
    }
    s->nnotify++;
}

static void on_error(void *arg, cpn_tp_ep_t *ep, cpn_status_t st)
{
    side_t *s = arg;

    (void)ep;
    s->nerror++;
    s->error_status = st;
}

static void open_side(side_t *s)
{
    cpn_tp_params_t p = {.site_name = s->name};
    cpn_tp_handlers_t h = {
        .accept = on_accept, .connected = on_connected, .recv = on_recv,
        .put_notify = on_notify, .ep_error = on_error, .arg = s,
    };
    cpn_status_t st = ops->open(&p, &h, &s->iface);

    if (st == CPN_ERR_UNSUPPORTED) {
        cr_skip_test("no usable RDMA device here (%s); suite rxe runs this "
                     "test in a Soft-RoCE guest", cpn_status_str(st));
    }
    cr_assert_eq(st, CPN_OK, "open %s: %s", s->name, cpn_status_str(st));
}

static void progress(void)
{
    ops->progress(srv.iface);
    ops->progress(cli.iface);
}

#define WAIT_FOR(cond, ms)                                                    \
    do {                                                                      \
        uint64_t dl_ = cpn_deadline_ns(ms);                                   \
        while (!(cond) && cpn_time_ns() < dl_) {                              \
            progress();                                                       \
        }                                                                     \
        cr_assert(cond, "timed out waiting for " #cond);                      \
    } while (0)

static void setup(void)
{
    cpn_status_t st;

    ops = cpn__tp_find("verbs");
    cr_assert_not_null(ops, "verbs backend not built");
    ip = getenv("RXE0_IP");
    if (ip == NULL) {
        ip = getenv("CPN_TEST_VERBS_IP");
    }
    if (ip == NULL) {
        cr_skip_test("no RDMA address: set CPN_TEST_VERBS_IP to an IPv4 "
                     "address on an RDMA port (suite rxe sets RXE0_IP in its "
                     "Soft-RoCE guest)");
    }
    open_side(&srv);
    open_side(&cli);
    st = ops->listen(srv.iface, ip, 0, &port);
    cr_assert_eq(st, CPN_OK, "listen on %s: %s", ip, cpn_status_str(st));
}

static void connect_pair(void)
{
    cpn_status_t st = ops->connect(cli.iface, ip, port, &cli.ep);

    cr_assert_eq(st, CPN_OK, "connect: %s", cpn_status_str(st));
    WAIT_FOR(cli.nconnected == 1 && srv.naccepted == 1, 10000);
    cr_assert_eq(cli.connect_status, CPN_OK, "connect status %s",
                 cpn_status_str(cli.connect_status));
}

static void teardown(void)
{
    if (cli.iface) {
        ops->close(cli.iface);
    }
    if (srv.iface) {
        ops->close(srv.iface);
    }
    free(srv.msg);
    free(cli.msg);
}

TestSuite(verbs, .init = setup, .fini = teardown, .timeout = 240);

static const size_t sizes[] = {
    1, 7, 63, 64, 100, 1000, 4096, 8184, 8185, 8192, 65536, 100000,
    1 << 20, (1 << 20) + 3, 16 << 20,
};

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;

    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
}

static void lanes_ok(void)
{
    char lanes[256];

    cr_assert_eq(ops->ep_lanes(cli.ep, lanes, sizeof(lanes)), CPN_OK);
    cr_log_info("lanes: %s", lanes);
    cr_assert(strstr(lanes, "GID") != NULL, "lanes: %s", lanes);
}

typedef struct comp {
    unsigned n;
    cpn_status_t last;
} comp_t;

static void comp_cb(void *arg, cpn_status_t st)
{
    comp_t *c = arg;

    c->n++;
    c->last = st;
}

Test(verbs, send_sizes_data_checked)
{
    uint8_t *buf = malloc(16 << 20);

    cr_assert_not_null(buf);
    connect_pair();
    lanes_ok();
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        comp_t c = {0};
        unsigned before = srv.nrecv;
        cpn_status_t st;

        fill(buf, n, (unsigned)i);
        st = ops->send(cli.ep, buf, n, comp_cb, &c);
        cr_assert(st == CPN_OK || st == CPN_INPROGRESS, "send %zu: %s", n,
                  cpn_status_str(st));
        WAIT_FOR(srv.nrecv == before + 1 &&
                 (st == CPN_OK || c.n == 1), 60000);
        cr_assert_eq(srv.msg_len, n, "sent %zu, received %zu", n,
                     srv.msg_len);
        cr_assert(memcmp(srv.msg, buf, n) == 0, "data of %zu bytes differ",
                  n);
        /* and back */
        st = ops->send(srv.ep, buf, n, NULL, NULL);
        cr_assert(st == CPN_OK || st == CPN_INPROGRESS);
        WAIT_FOR(cli.nrecv == i + 1, 60000);
        cr_assert(cli.msg_len == n && memcmp(cli.msg, buf, n) == 0,
                  "reply of %zu bytes differs", n);
    }
    cr_assert_eq(srv.nerror + cli.nerror, 0);
    free(buf);
}

Test(verbs, put_sizes_data_checked)
{
    size_t rlen = 16 << 20;
    uint8_t *src = malloc(rlen), *dst = calloc(1, rlen);
    cpn_tp_mem_t *smem, *dmem;
    cpn_tp_rkey_t *rkey;
    uint8_t key[CPN_TP_RKEY_MAX];
    size_t klen = sizeof(key);
    cpn_status_t st;
    unsigned i;

    cr_assert(src && dst);
    fill(src, rlen, 42);
    connect_pair();
    cr_assert_eq(ops->mem_reg(srv.iface, dst, rlen, &dmem), CPN_OK);
    cr_assert_eq(ops->mem_reg(cli.iface, src, rlen, &smem), CPN_OK);
    cr_assert_eq(ops->key_pack(dmem, key, &klen), CPN_OK);
    cr_assert_eq(ops->key_unpack(cli.ep, key, klen, &rkey), CPN_OK);
    srv.region = dst;
    srv.src = src;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        size_t off = n < rlen ? (rlen - n) / 3 : 0;
        note_t note = {.off = off, .len = n};
        comp_t c = {0};

        st = ops->put(cli.ep, src + off, n, smem, (uintptr_t)dst + off, rkey,
                      &note, sizeof(note), comp_cb, &c);
        cr_assert_eq(st, CPN_INPROGRESS, "put %zu: %s", n,
                     cpn_status_str(st));
        WAIT_FOR(srv.nnotify == i + 1 && c.n == 1, 60000);
        cr_assert_eq(c.last, CPN_OK);
    }
    cr_assert_eq(srv.notify_bad, 0, "%u notifies came before their bytes",
                 srv.notify_bad);
    /* An unregistered source is registered for the put. */
    {
        uint8_t *loose = malloc(300000);
        note_t note = {.off = 5, .len = 300000};
        comp_t c = {0};

        memcpy(loose, src + 5, 300000);
        st = ops->put(cli.ep, loose, 300000, NULL, (uintptr_t)dst + 5, rkey,
                      &note, sizeof(note), comp_cb, &c);
        cr_assert_eq(st, CPN_INPROGRESS);
        WAIT_FOR(c.n == 1 && srv.nnotify == i + 1, 60000);
        cr_assert_eq(srv.notify_bad, 0);
        free(loose);
    }
    ops->key_release(rkey);
    ops->mem_dereg(smem);
    ops->mem_dereg(dmem);
    cr_assert_eq(srv.nerror + cli.nerror, 0);
    free(src);
    free(dst);
}

/* Its own suite: the queue depths must be set before the ifaces open. */
TestSuite(verbs_queues, .fini = teardown, .timeout = 240);

Test(verbs_queues, full_send_queue_applies_back_pressure)
{
    /* Tiny queues: 8 send WRs, 4 receive credits. */
    setenv("CPN_VERBS_SQ_DEPTH", "8", 1);
    setenv("CPN_VERBS_RX_DEPTH", "4", 1);
    setenv("CPN_VERBS_SIGNAL_EVERY", "4", 1);
    setup();
    connect_pair();
    unsigned nmsg = 2000, inprog = 0;
    comp_t c = {0};
    /* a queued send's buffer is ours again only after its callback */
    uint8_t(*msgs)[8] = calloc(nmsg, 8);

    cr_assert_not_null(msgs);
    for (uint32_t k = 0; k < nmsg; k++) {
        uint8_t *m = msgs[k];
        cpn_status_t st;

        memcpy(m, "SEQ", 4);
        memcpy(m + 4, &k, 4);
        st = ops->send(cli.ep, m, 8, comp_cb, &c);
        cr_assert(st == CPN_OK || st == CPN_INPROGRESS, "send %u: %s", k,
                  cpn_status_str(st));
        inprog += st == CPN_INPROGRESS;
    }
    cr_assert_gt(inprog, 0, "no send was queued: back-pressure untested");
    WAIT_FOR(srv.nrecv == nmsg && c.n == inprog, 60000);
    cr_assert_eq(srv.seq_bad, 0, "messages out of order");
    free(msgs);

    /* puts too: 300 of them queue behind 8 WRs and 4 credits */
    {
        size_t rlen = 1 << 20;
        uint8_t *src = malloc(rlen), *dst = calloc(1, rlen);
        cpn_tp_mem_t *smem, *dmem;
        cpn_tp_rkey_t *rkey;
        uint8_t key[CPN_TP_RKEY_MAX];
        size_t klen = sizeof(key);
        comp_t pc = {0};

        fill(src, rlen, 7);
        cr_assert_eq(ops->mem_reg(srv.iface, dst, rlen, &dmem), CPN_OK);
        cr_assert_eq(ops->mem_reg(cli.iface, src, rlen, &smem), CPN_OK);
        cr_assert_eq(ops->key_pack(dmem, key, &klen), CPN_OK);
        cr_assert_eq(ops->key_unpack(cli.ep, key, klen, &rkey), CPN_OK);
        srv.region = dst;
        srv.src = src;
        for (unsigned k = 0; k < 300; k++) {
            size_t off = (size_t)k * 3000;
            note_t note = {.off = off, .len = 3000};

            cr_assert_eq(ops->put(cli.ep, src + off, 3000, smem,
                                  (uintptr_t)dst + off, rkey, &note,
                                  sizeof(note), comp_cb, &pc),
                         CPN_INPROGRESS);
        }
        WAIT_FOR(pc.n == 300 && srv.nnotify == 300, 60000);
        cr_assert_eq(pc.last, CPN_OK);
        cr_assert_eq(srv.notify_bad, 0);
        ops->key_release(rkey);
        ops->mem_dereg(smem);
        ops->mem_dereg(dmem);
        free(src);
        free(dst);
    }
    cr_assert_eq(srv.nerror + cli.nerror, 0);
}

Test(verbs, out_of_range_offset_is_an_error)
{
    uint8_t *dst = calloc(1, 65536), src[256] = {1};
    cpn_tp_mem_t *dmem;
    cpn_tp_rkey_t *rkey;
    uint8_t key[CPN_TP_RKEY_MAX];
    size_t klen = sizeof(key);
    note_t note = {0};
    comp_t c = {0};

    connect_pair();
    cr_assert_eq(ops->mem_reg(srv.iface, dst, 65536, &dmem), CPN_OK);
    cr_assert_eq(ops->key_pack(dmem, key, &klen), CPN_OK);
    cr_assert_eq(ops->key_unpack(cli.ep, key, klen, &rkey), CPN_OK);
    cr_assert_eq(ops->put(cli.ep, src, 256, NULL, (uintptr_t)dst + 65536 - 100,
                          rkey, &note, sizeof(note), comp_cb, &c),
                 CPN_ERR_INVALID);
    cr_assert_eq(ops->put(cli.ep, src, 1, NULL, (uintptr_t)dst - 1, rkey,
                          &note, sizeof(note), comp_cb, &c),
                 CPN_ERR_INVALID);
    cr_assert_eq(c.n, 0, "a refused put called its callback");
    /* the endpoint still works */
    cr_assert(ops->send(cli.ep, "ok", 2, NULL, NULL) >= 0);
    WAIT_FOR(srv.nrecv == 1, 10000);
    ops->key_release(rkey);
    ops->mem_dereg(dmem);
    free(dst);
}

Test(verbs, bad_remote_key_is_an_endpoint_error)
{
    uint8_t *dst = calloc(1, 65536), src[256] = {1};
    cpn_tp_mem_t *dmem;
    cpn_tp_rkey_t *rkey;
    uint8_t key[CPN_TP_RKEY_MAX];
    size_t klen = sizeof(key);
    note_t note = {0};
    comp_t c = {0};
    uint32_t rk;

    connect_pair();
    cr_assert_eq(ops->mem_reg(srv.iface, dst, 65536, &dmem), CPN_OK);
    cr_assert_eq(ops->key_pack(dmem, key, &klen), CPN_OK);
    memcpy(&rk, key + 4, 4);
    rk ^= 0x5a5a00u; /* a key the peer never issued */
    memcpy(key + 4, &rk, 4);
    cr_assert_eq(ops->key_unpack(cli.ep, key, klen, &rkey), CPN_OK);
    cr_assert_eq(ops->put(cli.ep, src, 256, NULL, (uintptr_t)dst, rkey,
                          &note, sizeof(note), comp_cb, &c),
                 CPN_INPROGRESS);
    WAIT_FOR(c.n == 1 && cli.nerror == 1, 30000);
    cr_assert_neq(c.last, CPN_OK, "a put with a forged key succeeded");
    cr_assert(CPN_STATUS_IS_ENDPOINT(cli.error_status), "ep error %s",
              cpn_status_str(cli.error_status));
    cr_assert_eq(srv.nnotify, 0);
    /* later operations fail at once, without a crash */
    cr_assert_lt(ops->send(cli.ep, "x", 1, NULL, NULL), 0);
    ops->key_release(rkey);
    ops->ep_close(cli.ep);
    cli.ep = NULL;
    ops->mem_dereg(dmem);
    free(dst);
}

Test(verbs, connect_to_nothing_fails_cleanly)
{
    cpn_tp_ep_t *ep;
    cpn_status_t st = ops->connect(cli.iface, ip, (uint16_t)(port + 1), &ep);

    if (st == CPN_OK) {
        cli.ep = ep;
        WAIT_FOR(cli.nconnected == 1, 20000);
        cr_assert_neq(cli.connect_status, CPN_OK);
        cr_log_info("connect to nothing: %s",
                    cpn_status_str(cli.connect_status));
        ops->ep_close(ep);
    } else {
        cr_assert_lt(st, 0);
    }
    cr_assert_eq(cli.nerror, 0, "a failed connect raised ep_error too");
}
