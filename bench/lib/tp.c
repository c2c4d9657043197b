/* SPDX-License-Identifier: Apache-2.0 */
/* The transport tests (put_bw, put_lat, send_lat, bibw), both ends, driven
 * straight on the ops table of transport/transport.h so that any built
 * backend runs them, and the glue that runs the task tests (task.c) beside.
 *
 * In-band protocol, on each stream (one endpoint per stream):
 *   HELLO  client -> server: test, size, window, the client's region key
 *   READY  server -> client: the server's region key (or ERR)
 *   GO     client -> server (bibw): start putting back, a = count,
 *          b = duration in ns
 *   FIN    either way: "I have posted a puts in all" (cumulative)
 *   ACK    "I have seen a puts' notifies" (answer to FIN)
 *   END    client -> server: test over, free the region
 * send_lat's pings are plain messages of the test's size filled with 0xA5,
 * which never starts with the magic of a control message; the server echoes
 * them. put_lat: the server answers each put's notify with a put of the same
 * size back. Counts are cumulative over a test so a FIN and the notifies it
 * counts may arrive in any order. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench/lib/boot.h"
#include "bench/lib/tp_int.h"
#include "core/clock.h"
#include "core/compiler.h"
#include "transport/transport.h"

#define BMSG_MAGIC 0x424e5043u /* "CPNB" */
/** The most bytes of put slots a test registers at each end (see
 * region_alloc). */
#define CPN_BENCH_REGION_MAX (64u * 1024u * 1024u)

enum { M_HELLO = 1, M_READY, M_GO, M_FIN, M_ACK, M_END, M_ERR };

typedef struct bmsg {
    uint32_t magic;
    uint8_t type;
    uint8_t test;
    uint16_t keylen;
    uint32_t window;
    uint32_t seq;
    uint64_t size;
    uint64_t a, b;
    uint64_t addr, len;
} bmsg_t;

volatile int cpn_bench_stop;

/* ---- one stream: an endpoint and the state of the test on it ------------- */

typedef struct poster {
    int active;
    uint64_t target;      /* puts to post this round; 0: until deadline */
    uint64_t deadline;
    uint64_t posted;      /* this round */
    uint64_t total;       /* cumulative over the test */
    unsigned outstanding;
    int fin_sent;
    uint32_t seq;         /* the round (bibw), carried by FIN */
} poster_t;

typedef struct stream {
    cpn_tp_iface_t *iface;
    const cpn_transport_ops_t *ops;
    cpn_tp_ep_t *ep;
    int connected;        /* 1 ok, -1 failed */
    int failed;
    cpn_status_t fail_status;
    /* this test */
    cpn_bench_test_t test;
    uint64_t size;
    unsigned window;
    cpn_tp_mem_t *mem;
    void *own_buf;        /* malloc'ed when mem_alloc is unsupported */
    uint8_t *region;
    size_t region_len;
    cpn_tp_rkey_t *rkey;
    uint64_t raddr;
    size_t rlen;
    int ready;
    poster_t post;
    uint64_t notified;    /* put notifies seen (cumulative) */
    uint64_t fin_target;  /* peer's latest FIN */
    uint32_t fin_seq;     /* the round the peer's latest FIN closed */
    uint64_t acked;       /* peer's latest ACK */
    uint64_t pongs;       /* send_lat echoes / put_lat answers seen */
    unsigned sends_out;   /* control sends in flight */
    uint8_t *ping;        /* send_lat buffer */
    struct cpn_bench_server *srv;
} stream_t;

static void comp_put(void *arg, cpn_status_t status)
{
    stream_t *s = arg;

    s->post.outstanding--;
    if (status != CPN_OK && !s->failed) {
        s->failed = 1;
        s->fail_status = status;
    }
}

static void comp_send(void *arg, cpn_status_t status)
{
    stream_t *s = arg;

    s->sends_out--;
    if (status != CPN_OK && status != CPN_ERR_CANCELED && !s->failed) {
        s->failed = 1;
        s->fail_status = status;
    }
}

/* A control message and the key it carries. Each stream keeps one slot per
 * message kind (slots_t): a send's buffer must stay valid until its
 * completion, and a slot rewritten while its last send is in flight only
 * ever carries a larger cumulative count, which the peer reads the same. */
typedef struct ctl_slot {
    bmsg_t m;
    uint8_t key[CPN_TP_RKEY_MAX];
} ctl_slot_t;

static cpn_status_t ctl_send(stream_t *s, ctl_slot_t *slot, size_t len)
{
    cpn_status_t st;

    st = s->ops->send(s->ep, slot, len, comp_send, s);
    if (st == CPN_INPROGRESS) {
        s->sends_out++;
        return CPN_OK;
    }
    return st;
}

/* Slots live as long as the stream's owner; one per message kind so that a
 * FIN in flight is never overwritten by an ACK. */
typedef struct slots {
    ctl_slot_t hello, ready, go, fin, ack, end;
} slots_t;

static cpn_status_t send_simple(stream_t *s, ctl_slot_t *slot, int type,
                                uint64_t a, uint64_t b, uint32_t seq)
{
    memset(&slot->m, 0, sizeof(slot->m));
    slot->m.magic = BMSG_MAGIC;
    slot->m.type = (uint8_t)type;
    slot->m.test = (uint8_t)s->test;
    slot->m.size = s->size;
    slot->m.a = a;
    slot->m.b = b;
    slot->m.seq = seq;
    return ctl_send(s, slot, sizeof(slot->m));
}

/* Post puts while the window has room and the round wants more. */
static void poster_step(stream_t *s, ctl_slot_t *fin)
{
    poster_t *p = &s->post;
    uint64_t note;

    if (!p->active || s->failed) {
        return;
    }
    while (p->outstanding < s->window) {
        size_t slot;
        cpn_status_t st;

        if (p->target != 0 ? p->posted >= p->target
                           : cpn_time_ns() >= p->deadline) {
            break;
        }
        slot = (size_t)(p->posted % s->window) * s->size;
        note = p->total + 1;
        st = s->ops->put(s->ep, s->region + slot % s->region_len, s->size,
                         s->mem, s->raddr + slot % s->rlen, s->rkey, &note,
                         sizeof(note), comp_put, s);
        if (st != CPN_INPROGRESS && st != CPN_OK) {
            s->failed = 1;
            s->fail_status = st;
            return;
        }
        if (st == CPN_INPROGRESS) {
            p->outstanding++;
        }
        p->posted++;
        p->total++;
    }
    if (!p->fin_sent && (p->target != 0 ? p->posted >= p->target
                                        : cpn_time_ns() >= p->deadline)) {
        cpn_status_t st = send_simple(s, fin, M_FIN, p->total, 0, p->seq);

        if (st != CPN_OK) {
            s->failed = 1;
            s->fail_status = st;
        }
        p->fin_sent = 1;
    }
}

static void poster_start(stream_t *s, uint64_t count, uint64_t dur_ns)
{
    s->post.active = 1;
    s->post.target = count;
    s->post.deadline = count ? UINT64_MAX : cpn_time_ns() + dur_ns;
    s->post.posted = 0;
    s->post.fin_sent = 0;
}

/* Region of this test: one slot of size bytes per put in the window, as
 * many as fit in CPN_BENCH_REGION_MAX (at least one), of transport-placed
 * memory (or malloc + mem_reg where the backend has none), touched now.
 * Puts go round the slots. Big messages share one slot as in ucx_perftest
 * and perftest: 16 slots of 256 MiB were 4 GiB per side, and touching them
 * kept a DPDK site from progressing past its peer's liveness timeout. */
static cpn_status_t region_alloc(stream_t *s)
{
    size_t slots = s->window ? s->window : 1;
    size_t len;
    cpn_status_t st;

    if ((size_t)s->size * slots > CPN_BENCH_REGION_MAX) {
        slots = CPN_MAX((size_t)1, CPN_BENCH_REGION_MAX / (size_t)s->size);
    }
    len = (size_t)s->size * slots;

    st = s->ops->mem_alloc(s->iface, len, &s->mem);
    if (st == CPN_OK) {
        s->region = s->mem->addr;
    } else {
        s->own_buf = malloc(len);
        if (s->own_buf == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        st = s->ops->mem_reg(s->iface, s->own_buf, len, &s->mem);
        if (st != CPN_OK) {
            free(s->own_buf);
            s->own_buf = NULL;
            return st;
        }
        s->region = s->own_buf;
    }
    memset(s->region, 0x5a, len);
    s->region_len = len;
    return CPN_OK;
}

static void region_free(stream_t *s)
{
    if (s->rkey != NULL) {
        s->ops->key_release(s->rkey);
        s->rkey = NULL;
    }
    if (s->mem != NULL) {
        s->ops->mem_dereg(s->mem);
        s->mem = NULL;
    }
    free(s->own_buf);
    s->own_buf = NULL;
    free(s->ping);
    s->ping = NULL;
    s->region = NULL;
    s->region_len = 0;
}

static void test_reset(stream_t *s)
{
    unsigned outstanding = s->post.outstanding; /* live: completions come */

    memset(&s->post, 0, sizeof(s->post));
    s->post.outstanding = outstanding;
    s->notified = s->fin_target = s->acked = s->pongs = 0;
    s->fin_seq = 0;
    s->ready = 0;
}

/* Fill @p slot with a HELLO or READY carrying our key. */
static cpn_status_t send_keyed(stream_t *s, ctl_slot_t *slot, int type)
{
    size_t klen = sizeof(slot->key);
    cpn_status_t st;

    st = s->ops->key_pack(s->mem, slot->key, &klen);
    if (st != CPN_OK) {
        return st;
    }
    memset(&slot->m, 0, sizeof(slot->m));
    slot->m.magic = BMSG_MAGIC;
    slot->m.type = (uint8_t)type;
    slot->m.test = (uint8_t)s->test;
    slot->m.size = s->size;
    slot->m.window = s->window;
    slot->m.keylen = (uint16_t)klen;
    slot->m.addr = (uint64_t)(uintptr_t)s->region;
    slot->m.len = s->region_len;
    return ctl_send(s, slot, sizeof(slot->m) + klen);
}

static cpn_status_t take_key(stream_t *s, const bmsg_t *m, const void *data,
                             size_t len)
{
    if (len < sizeof(*m) + m->keylen) {
        return CPN_ERR_PROTO;
    }
    s->raddr = m->addr;
    s->rlen = (size_t)m->len;
    return s->ops->key_unpack(s->ep, (const uint8_t *)data + sizeof(*m),
                              m->keylen, &s->rkey);
}

/* ======================================================================== */
/* Server                                                                   */
/* ======================================================================== */

typedef struct srv_stream {
    stream_t s;
    slots_t slots;
    struct srv_stream *next;
    int closed;
    int end_pending;  /* END arrived with our puts still in flight */
    void *hello;      /* a HELLO held until those puts completed */
    size_t hello_len;
} srv_stream_t;

typedef struct cpn_bench_server {
    const cpn_transport_ops_t *ops;
    cpn_tp_iface_t *iface;
    srv_stream_t *streams;
    int bye;
} cpn_bench_server_t;

static void srv_accept(void *arg, cpn_tp_ep_t *ep)
{
    cpn_bench_server_t *srv = arg;
    srv_stream_t *ss = calloc(1, sizeof(*ss));

    if (ss == NULL) {
        srv->ops->ep_close(ep);
        return;
    }
    ss->s.iface = srv->iface;
    ss->s.ops = srv->ops;
    ss->s.ep = ep;
    ss->s.connected = 1;
    ss->s.srv = srv;
    ss->next = srv->streams;
    srv->streams = ss;
    ep->user = ss;
}

static void srv_connected(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    (void)arg, (void)ep, (void)status;
}

static void srv_hello(srv_stream_t *ss, const bmsg_t *m, const void *data,
                      size_t len)
{
    stream_t *s = &ss->s;
    cpn_status_t st;

    ss->end_pending = 0;
    region_free(s);
    test_reset(s);
    s->test = (cpn_bench_test_t)m->test;
    s->size = m->size;
    s->window = m->window ? m->window : 1;
    st = region_alloc(s);
    if (st == CPN_OK && m->keylen > 0) {
        st = take_key(s, m, data, len);
    }
    if (st == CPN_OK && s->test == CPN_BENCH_SEND_LAT) {
        s->ping = malloc(s->size);
        if (s->ping == NULL) {
            st = CPN_ERR_NO_MEMORY;
        } else {
            memset(s->ping, 0xa5, s->size);
        }
    }
    if (st == CPN_OK) {
        st = send_keyed(s, &ss->slots.ready, M_READY);
    }
    if (st != CPN_OK) {
        send_simple(s, &ss->slots.ready, M_ERR, (uint64_t)(-(int64_t)st), 0,
                    0);
    }
}

static void srv_recv(void *arg, cpn_tp_ep_t *ep, const void *data, size_t len)
{
    srv_stream_t *ss = ep->user;
    stream_t *s;
    bmsg_t m;

    (void)arg;
    if (ss == NULL) {
        return;
    }
    s = &ss->s;
    if (len < sizeof(m) || memcmp(data, &(uint32_t){BMSG_MAGIC}, 4) != 0) {
        /* a send_lat ping: echo it (the echo's bytes are the pattern) */
        if (s->ping != NULL && len <= s->size) {
            cpn_status_t st = s->ops->send(ep, s->ping, len, comp_send, s);

            if (st == CPN_INPROGRESS) {
                s->sends_out++;
            }
        }
        return;
    }
    memcpy(&m, data, sizeof(m));
    switch (m.type) {
    case M_HELLO:
        if (s->post.outstanding == 0) {
            srv_hello(ss, &m, data, len);
        } else if (free(ss->hello), (ss->hello = malloc(len)) != NULL) {
            /* our puts of the last test still run from the region: the
             * new test starts once they completed (srv_step) */
            memcpy(ss->hello, data, len);
            ss->hello_len = len;
        }
        break;
    case M_GO:
        poster_start(s, m.a, m.b);
        s->post.seq = m.seq;
        break;
    case M_FIN:
        s->fin_target = m.a;
        break;
    case M_END:
        s->post.active = 0;
        ss->end_pending = 1; /* freed once our puts completed (srv_step) */
        break;
    default:
        break;
    }
}

static void srv_notify(void *arg, cpn_tp_ep_t *ep, const void *note,
                       size_t len, const cpn_tp_landed_t *landed)
{
    srv_stream_t *ss = ep->user;
    stream_t *s;

    (void)arg, (void)note, (void)len, (void)landed;
    if (ss == NULL) {
        return;
    }
    s = &ss->s;
    s->notified++;
    if (s->test == CPN_BENCH_PUT_LAT && s->rkey != NULL) {
        uint64_t n = s->notified;
        cpn_status_t st = s->ops->put(ep, s->region, s->size, s->mem, s->raddr,
                                      s->rkey, &n, sizeof(n), comp_put, s);

        if (st == CPN_INPROGRESS) {
            s->post.outstanding++;
        }
    }
}

static void srv_error(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    srv_stream_t *ss = ep->user;

    (void)arg, (void)status;
    if (ss != NULL) {
        ss->s.failed = 1;
        ss->closed = 1;
    }
}

static void srv_step(cpn_bench_server_t *srv)
{
    for (srv_stream_t *ss = srv->streams; ss != NULL; ss = ss->next) {
        stream_t *s = &ss->s;

        if (ss->closed) {
            continue;
        }
        if (ss->end_pending && s->post.outstanding == 0) {
            ss->end_pending = 0;
            region_free(s);
            test_reset(s);
        }
        if (ss->hello != NULL && s->post.outstanding == 0) {
            bmsg_t m;

            memcpy(&m, ss->hello, sizeof(m));
            srv_hello(ss, &m, ss->hello, ss->hello_len);
            free(ss->hello);
            ss->hello = NULL;
            continue;
        }
        if (s->post.active) {
            poster_step(s, &ss->slots.fin);
        }
        if (s->fin_target > s->acked && s->notified >= s->fin_target) {
            s->acked = s->fin_target;
            send_simple(s, &ss->slots.ack, M_ACK, s->acked, 0, 0);
        }
    }
}

static void srv_free(cpn_bench_server_t *srv)
{
    srv_stream_t *ss = srv->streams, *next;

    for (; ss != NULL; ss = next) {
        next = ss->next;
        if (ss->s.ep != NULL) {
            ss->s.ep->user = NULL;
            srv->ops->ep_close(ss->s.ep);
        }
        region_free(&ss->s);
        free(ss->hello);
        free(ss);
    }
    srv->streams = NULL;
}

cpn_status_t cpn_bench_serve_fd(int fd, const char *host)
{
    cpn_bench_server_t srv = {0};
    cpn_tp_handlers_t h = {
        .accept = srv_accept,
        .connected = srv_connected,
        .recv = srv_recv,
        .put_notify = srv_notify,
        .ep_error = srv_error,
        .arg = &srv,
    };
    cpn_tp_params_t tp = {.site_name = "bench-server"};
    cpn_bench_params_t p;
    cpn__bench_task_srv_t *tsrv = NULL;
    json_t *msg = NULL, *ans = json_object();
    char err[256] = "", addr[160];
    cpn_status_t st = CPN_OK;
    uint16_t port = 0;
    unsigned long it = 0;
    int r;

    r = cpn__bench_boot_recv(fd, 30000, &msg);
    if (r != 0) {
        snprintf(err, sizeof(err), "no configuration from the client: %s",
                 strerror(-r));
        st = CPN_ERR_PROTO;
        goto out;
    }
    st = cpn_bench_params_from_json(json_object_get(msg, "config"), &p, err,
                                    sizeof(err));
    if (st != CPN_OK) {
        goto answer;
    }
    srv.ops = cpn__tp_find(p.transport);
    if (srv.ops == NULL) {
        snprintf(err, sizeof(err), "transport '%s' is not built in this "
                 "server (built: %s)", p.transport, cpn__tp_names());
        st = CPN_ERR_UNSUPPORTED;
        goto answer;
    }
    st = srv.ops->open(&tp, &h, &srv.iface);
    if (st == CPN_OK) {
        st = srv.ops->listen(srv.iface, host, 0, &port);
    }
    if (st != CPN_OK) {
        snprintf(err, sizeof(err), "server: cannot open transport %s on %s: "
                 "%s", p.transport, host, cpn_status_str(st));
        goto answer;
    }
    snprintf(addr, sizeof(addr), "%s:%u", host, port);
    json_object_set_new(ans, "addr", json_string(addr));
    if (p.tests & ((1u << CPN_BENCH_TASK_BW) | (1u << CPN_BENCH_TASK_LAT) |
                   (1u << CPN_BENCH_TASK_MANY))) {
        st = cpn__bench_task_srv_open(&p, host, &tsrv, addr, sizeof(addr),
                                      err, sizeof(err));
        if (st != CPN_OK) {
            goto answer;
        }
        json_object_set_new(ans, "site_addr", json_string(addr));
    }

answer:
    {
        struct utsname u;

        json_object_set_new(ans, "ok", json_boolean(st == CPN_OK));
        if (st != CPN_OK) {
            json_object_set_new(ans, "error", json_string(err));
            json_object_set_new(ans, "status",
                                json_string(cpn_status_name(st)));
        }
        if (uname(&u) == 0) {
            json_object_set_new(ans, "host", json_string(u.nodename));
            json_object_set_new(ans, "kernel", json_string(u.release));
        }
        json_object_set_new(ans, "cpn_version", json_string(CPN_VERSION_STR));
        cpn__bench_boot_send(fd, ans, 10000);
    }
    if (st != CPN_OK) {
        goto out;
    }
    /* Serve until BYE (the socket closes) or a stop. Look at the socket
     * every 4096 turns: a poll each turn would cost more than progress. */
    while (!cpn_bench_stop) {
        srv.ops->progress(srv.iface);
        srv_step(&srv);
        if (tsrv != NULL) {
            cpn__bench_task_srv_progress(tsrv);
        }
        if ((++it & 4095) == 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};

            if (poll(&pfd, 1, 0) > 0) {
                break; /* BYE or EOF */
            }
        }
    }

out:
    if (tsrv != NULL) {
        cpn__bench_task_srv_close(tsrv);
    }
    srv_free(&srv);
    if (srv.iface != NULL) {
        srv.ops->close(srv.iface);
    }
    json_decref(msg);
    json_decref(ans);
    close(fd);
    if (st != CPN_OK && err[0]) {
        fprintf(stderr, "cpn bench server: %s\n", err);
    }
    return st;
}

/* ======================================================================== */
/* Client                                                                   */
/* ======================================================================== */

typedef struct cli_stream {
    stream_t s;
    slots_t slots;
    int err_msg;          /* server answered ERR */
    uint64_t t_ping;      /* lat: when the current round trip started */
    uint64_t left;        /* lat: round trips left this round */
    int round_done;
} cli_stream_t;

struct cpn_bench_client {
    cpn_bench_params_t p;
    const cpn_transport_ops_t *ops;
    cpn_tp_iface_t *iface;
    cli_stream_t st[CPN_BENCH_MAX_STREAMS];
    int fd;
    char peer[160];
    char site_addr[160];
    cpn_hist_t *hist;
    int measuring;
    cpn__bench_task_cli_t *tcli;
};

static cli_stream_t *cli_of(cpn_tp_ep_t *ep)
{
    return ep->user;
}

static void cli_accept(void *arg, cpn_tp_ep_t *ep)
{
    cpn_bench_client_t *c = arg;

    c->ops->ep_close(ep); /* nobody connects to a client */
}

static void cli_connected(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    cli_stream_t *cs = cli_of(ep);

    (void)arg;
    cs->s.connected = status == CPN_OK ? 1 : -1;
    if (status != CPN_OK) {
        cs->s.failed = 1;
        cs->s.fail_status = status;
    }
}

static void lat_next(cpn_bench_client_t *c, cli_stream_t *cs);

static void lat_pong(cpn_bench_client_t *c, cli_stream_t *cs)
{
    uint64_t now = cpn_time_ns();

    cs->s.pongs++;
    if (c->measuring) {
        cpn_hist_record(c->hist, (now - cs->t_ping) / 2);
    }
    if (cs->left > 0) {
        cs->left--;
    }
    lat_next(c, cs);
}

static void cli_recv(void *arg, cpn_tp_ep_t *ep, const void *data, size_t len)
{
    cpn_bench_client_t *c = arg;
    cli_stream_t *cs = cli_of(ep);
    bmsg_t m;

    if (len < sizeof(m) || memcmp(data, &(uint32_t){BMSG_MAGIC}, 4) != 0) {
        if (cs->s.test == CPN_BENCH_SEND_LAT) {
            lat_pong(c, cs);
        }
        return;
    }
    memcpy(&m, data, sizeof(m));
    switch (m.type) {
    case M_READY:
        if (take_key(&cs->s, &m, data, len) == CPN_OK) {
            cs->s.ready = 1;
        } else {
            cs->err_msg = 1;
        }
        break;
    case M_ERR:
        cs->err_msg = 1;
        cs->s.fail_status = (cpn_status_t)(-(int64_t)m.a);
        break;
    case M_FIN:
        cs->s.fin_target = m.a;
        cs->s.fin_seq = m.seq;
        break;
    case M_ACK:
        cs->s.acked = m.a;
        break;
    default:
        break;
    }
}

static void cli_notify(void *arg, cpn_tp_ep_t *ep, const void *note,
                       size_t len, const cpn_tp_landed_t *landed)
{
    cpn_bench_client_t *c = arg;
    cli_stream_t *cs = cli_of(ep);

    (void)note, (void)len, (void)landed;
    cs->s.notified++;
    if (cs->s.test == CPN_BENCH_PUT_LAT) {
        lat_pong(c, cs);
    }
}

static void cli_error(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    cli_stream_t *cs = cli_of(ep);

    (void)arg;
    cs->s.failed = 1;
    cs->s.fail_status = status;
}

/* Start the next round trip of a latency stream, or end its round. */
static void lat_next(cpn_bench_client_t *c, cli_stream_t *cs)
{
    stream_t *s = &cs->s;
    cpn_status_t st;
    uint64_t n;

    if (cs->left == 0 || s->failed) {
        cs->round_done = 1;
        return;
    }
    (void)c;
    cs->t_ping = cpn_time_ns();
    if (s->test == CPN_BENCH_SEND_LAT) {
        st = s->ops->send(s->ep, s->ping, s->size, comp_send, s);
        if (st == CPN_INPROGRESS) {
            s->sends_out++;
            st = CPN_OK;
        }
    } else {
        n = s->pongs + 1;
        st = s->ops->put(s->ep, s->region, s->size, s->mem, s->raddr, s->rkey,
                         &n, sizeof(n), comp_put, s);
        if (st == CPN_INPROGRESS) {
            s->post.outstanding++;
            st = CPN_OK;
        }
    }
    if (st != CPN_OK) {
        s->failed = 1;
        s->fail_status = st;
        cs->round_done = 1;
    }
}

static unsigned cli_progress(cpn_bench_client_t *c)
{
    unsigned n = c->ops->progress(c->iface);

    if (c->tcli != NULL) {
        n += cpn__bench_task_cli_progress(c->tcli);
    }
    return n;
}

/* While a task is delivered: keep the bench endpoints progressed too. */
static void cli_idle(void *arg)
{
    cpn_bench_client_t *c = arg;

    c->ops->progress(c->iface);
}

/* Progress until @p done(c) or a stream fails or the timeout. */
static cpn_status_t pump(cpn_bench_client_t *c, int (*done)(cpn_bench_client_t *),
                         int timeout_ms, char *err, size_t errlen)
{
    uint64_t deadline = cpn_deadline_ns(timeout_ms);
    unsigned it = 0;

    for (;;) {
        if (done(c)) {
            return CPN_OK;
        }
        cli_progress(c);
        for (unsigned i = 0; i < c->p.streams; i++) {
            cli_stream_t *cs = &c->st[i];

            if (cs->s.failed || cs->err_msg) {
                snprintf(err, errlen, "stream %u to %s failed: %s", i,
                         c->peer, cpn_status_str(cs->s.fail_status));
                return cs->s.fail_status != CPN_OK ? cs->s.fail_status
                                                   : CPN_ERR_PROTO;
            }
            if (cs->s.post.active) {
                poster_step(&cs->s, &cs->slots.fin);
            }
        }
        if ((++it & 255) == 0) {
            if (cpn_bench_stop) {
                snprintf(err, errlen, "interrupted");
                return CPN_ERR_CANCELED;
            }
            if (cpn_time_ns() > deadline) {
                snprintf(err, errlen, "no answer from %s in %d ms", c->peer,
                         timeout_ms);
                return CPN_ERR_TIMEOUT;
            }
        }
    }
}

static int all_connected(cpn_bench_client_t *c)
{
    for (unsigned i = 0; i < c->p.streams; i++) {
        if (c->st[i].s.connected != 1) {
            return 0;
        }
    }
    return 1;
}

static int all_ready(cpn_bench_client_t *c)
{
    for (unsigned i = 0; i < c->p.streams; i++) {
        if (!c->st[i].s.ready) {
            return 0;
        }
    }
    return 1;
}

static int all_quiet(cpn_bench_client_t *c)
{
    for (unsigned i = 0; i < c->p.streams; i++) {
        if (c->st[i].s.post.outstanding || c->st[i].s.sends_out) {
            return 0;
        }
    }
    return 1;
}

static int lat_done(cpn_bench_client_t *c)
{
    for (unsigned i = 0; i < c->p.streams; i++) {
        if (!c->st[i].round_done) {
            return 0;
        }
    }
    return 1;
}

/* A bandwidth round is over when each stream has posted its puts, the
 * server acknowledged them all, and (bibw) the server's own puts all
 * arrived here. */
static int bw_done(cpn_bench_client_t *c)
{
    for (unsigned i = 0; i < c->p.streams; i++) {
        stream_t *s = &c->st[i].s;

        if (!s->post.fin_sent || s->acked < s->post.total) {
            return 0;
        }
        if (s->test == CPN_BENCH_BIBW &&
            (s->fin_seq != s->post.seq || s->notified < s->fin_target)) {
            return 0;
        }
    }
    return 1;
}

cpn_status_t cpn_bench_client_open(const char *addr, int fd,
                                   const cpn_bench_params_t *p,
                                   cpn_bench_client_t **client_p,
                                   json_t **info_p, char *err, size_t errlen)
{
    cpn_tp_params_t tp = {.site_name = "bench-client"};
    cpn_bench_client_t *c;
    json_t *msg, *ans = NULL;
    char host[128];
    uint16_t port;
    cpn_status_t st;
    int r;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return CPN_ERR_NO_MEMORY;
    }
    c->p = *p;
    c->fd = fd;
    c->hist = malloc(sizeof(*c->hist));
    if (c->hist == NULL) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return CPN_ERR_NO_MEMORY;
    }
    snprintf(c->peer, sizeof(c->peer), "%s", addr ? addr : "the local server");
    c->ops = cpn__tp_find(p->transport);
    if (c->ops == NULL) {
        snprintf(err, errlen, "transport '%s' is not built (built: %s)",
                 p->transport, cpn__tp_names());
        st = CPN_ERR_UNSUPPORTED;
        goto err_free;
    }
    if (c->fd < 0) {
        c->fd = cpn__bench_tcp_connect(addr, p->timeout_ms, err, errlen);
        if (c->fd < 0) {
            st = CPN_ERR_UNREACHABLE;
            goto err_free;
        }
    }
    msg = json_object();
    json_object_set_new(msg, "config", cpn_bench_params_to_json(p));
    r = cpn__bench_boot_send(c->fd, msg, p->timeout_ms);
    json_decref(msg);
    if (r == 0) {
        r = cpn__bench_boot_recv(c->fd, p->timeout_ms, &ans);
    }
    if (r != 0) {
        snprintf(err, errlen, "bench server %s did not answer: %s", c->peer,
                 strerror(-r));
        st = r == -ETIMEDOUT ? CPN_ERR_TIMEOUT : CPN_ERR_UNREACHABLE;
        goto err_close;
    }
    if (!json_is_true(json_object_get(ans, "ok"))) {
        const char *e = json_string_value(json_object_get(ans, "error"));

        snprintf(err, errlen, "bench server %s: %s", c->peer,
                 e ? e : "refused the configuration");
        st = CPN_ERR_REFUSED;
        goto err_ans;
    }
    snprintf(c->peer, sizeof(c->peer), "%s",
             json_string_value(json_object_get(ans, "addr"))
                 ? json_string_value(json_object_get(ans, "addr"))
                 : "?");
    if (json_string_value(json_object_get(ans, "site_addr")) != NULL) {
        snprintf(c->site_addr, sizeof(c->site_addr), "%s",
                 json_string_value(json_object_get(ans, "site_addr")));
    }
    {
        cpn_tp_handlers_t h = {
            .accept = cli_accept,
            .connected = cli_connected,
            .recv = cli_recv,
            .put_notify = cli_notify,
            .ep_error = cli_error,
            .arg = c,
        };

        st = c->ops->open(&tp, &h, &c->iface);
    }
    if (st != CPN_OK) {
        snprintf(err, errlen, "cannot open transport %s: %s", p->transport,
                 cpn_status_str(st));
        goto err_ans;
    }
    if (cpn__tp_parse_addr(c->peer, host, sizeof(host), &port) != CPN_OK) {
        snprintf(err, errlen, "server sent a bad address '%s'", c->peer);
        st = CPN_ERR_PROTO;
        goto err_iface;
    }
    for (unsigned i = 0; i < p->streams; i++) {
        cli_stream_t *cs = &c->st[i];

        cs->s.iface = c->iface;
        cs->s.ops = c->ops;
        st = c->ops->connect(c->iface, host, port, &cs->s.ep);
        if (st != CPN_OK) {
            snprintf(err, errlen, "stream %u: cannot connect to %s: %s", i,
                     c->peer, cpn_status_str(st));
            goto err_iface;
        }
        cs->s.ep->user = cs;
    }
    st = pump(c, all_connected, p->timeout_ms, err, errlen);
    if (st != CPN_OK) {
        goto err_iface;
    }
    {
        char lanes[256] = "";

        c->ops->ep_lanes(c->st[0].s.ep, lanes, sizeof(lanes));
        json_object_set_new(ans, "lanes", json_string(lanes));
    }
    if (c->site_addr[0]) {
        st = cpn__bench_task_cli_open(&c->p, c->site_addr, cli_idle, c,
                                      &c->tcli, err, errlen);
        if (st != CPN_OK) {
            goto err_iface;
        }
    }
    if (info_p != NULL) {
        *info_p = ans;
    } else {
        json_decref(ans);
    }
    *client_p = c;
    return CPN_OK;

err_iface:
    for (unsigned i = 0; i < p->streams; i++) {
        if (c->st[i].s.ep != NULL) {
            c->ops->ep_close(c->st[i].s.ep);
        }
    }
    c->ops->close(c->iface);
err_ans:
    json_decref(ans);
err_close:
    close(c->fd);
err_free:
    free(c->hist);
    free(c);
    return st;
}

/* Set up every stream for a test: regions, keys, HELLO/READY. */
static cpn_status_t cli_setup(cpn_bench_client_t *c, cpn_bench_test_t test,
                              uint64_t size, char *err, size_t errlen)
{
    int lat = cpn_bench_test_is_lat(test);
    cpn_status_t st;

    for (unsigned i = 0; i < c->p.streams; i++) {
        cli_stream_t *cs = &c->st[i];
        stream_t *s = &cs->s;

        test_reset(s);
        cs->err_msg = 0;
        s->test = test;
        s->size = size;
        s->window = lat ? 1 : c->p.window;
        st = region_alloc(s);
        if (st == CPN_OK && test == CPN_BENCH_SEND_LAT) {
            s->ping = malloc(size);
            if (s->ping == NULL) {
                st = CPN_ERR_NO_MEMORY;
            } else {
                memset(s->ping, 0xa5, size);
            }
        }
        if (st == CPN_OK) {
            st = send_keyed(s, &cs->slots.hello, M_HELLO);
        }
        if (st != CPN_OK) {
            snprintf(err, errlen, "stream %u: cannot set up %s of %" PRIu64
                     " bytes: %s", i, cpn_bench_test_name(test), size,
                     cpn_status_str(st));
            return st;
        }
    }
    return pump(c, all_ready, c->p.timeout_ms, err, errlen);
}

static void cli_teardown(cpn_bench_client_t *c)
{
    char err[64];

    for (unsigned i = 0; i < c->p.streams; i++) {
        stream_t *s = &c->st[i].s;

        if (!s->failed) {
            send_simple(s, &c->st[i].slots.end, M_END, 0, 0, 0);
        }
    }
    pump(c, all_quiet, 5000, err, sizeof(err));
    for (unsigned i = 0; i < c->p.streams; i++) {
        region_free(&c->st[i].s);
        c->st[i].s.test = CPN_BENCH_NTESTS;
    }
}

/* One round of a test: @p count iterations per stream, or until @p dur_ns. */
static cpn_status_t cli_round(cpn_bench_client_t *c, cpn_bench_test_t test,
                              uint64_t count, uint64_t dur_ns, uint64_t *msgs_p,
                              uint64_t *bytes_p, char *err, size_t errlen)
{
    uint64_t before_msgs = 0, msgs = 0, bytes = 0;

    cpn_status_t st;

    if (cpn_bench_test_is_lat(test)) {
        uint64_t t_end = dur_ns ? cpn_time_ns() + dur_ns : 0;

        for (unsigned i = 0; i < c->p.streams; i++) {
            cli_stream_t *cs = &c->st[i];

            before_msgs += cs->s.pongs;
            cs->round_done = 0;
            cs->left = count ? count : UINT64_MAX;
            lat_next(c, cs);
        }
        if (dur_ns) {
            /* A timed round: stop each stream at the deadline. */
            while (cpn_time_ns() < t_end && !lat_done(c)) {
                cli_progress(c);
                if (cpn_bench_stop) {
                    break;
                }
            }
            for (unsigned i = 0; i < c->p.streams; i++) {
                c->st[i].left = c->st[i].left ? 1 : 0;
            }
        }
        st = pump(c, lat_done, c->p.timeout_ms, err, errlen);
        for (unsigned i = 0; i < c->p.streams; i++) {
            msgs += c->st[i].s.pongs;
        }
        msgs -= before_msgs;
        bytes = msgs * c->st[0].s.size * 2;
    } else {
        uint64_t posts0 = 0, recv0 = 0, posts1 = 0, recv1 = 0;

        for (unsigned i = 0; i < c->p.streams; i++) {
            cli_stream_t *cs = &c->st[i];
            stream_t *s = &cs->s;
            uint32_t seq = s->post.seq + 1;

            posts0 += s->post.total;
            recv0 += s->notified;
            poster_start(s, count, dur_ns);
            s->post.seq = seq;
            if (test == CPN_BENCH_BIBW) {
                /* The server's FIN for this round carries this seq. */
                st = send_simple(s, &cs->slots.go, M_GO, count, dur_ns, seq);
                if (st != CPN_OK) {
                    snprintf(err, errlen, "stream %u: GO: %s", i,
                             cpn_status_str(st));
                    return st;
                }
            }
        }
        st = pump(c, bw_done, c->p.timeout_ms + (int)(dur_ns / 1000000),
                  err, errlen);
        for (unsigned i = 0; i < c->p.streams; i++) {
            stream_t *s = &c->st[i].s;

            s->post.active = 0;
            posts1 += s->post.total;
            recv1 += s->notified;
        }
        msgs = posts1 - posts0;
        if (test == CPN_BENCH_BIBW) {
            msgs += recv1 - recv0;
        }
        bytes = msgs * c->st[0].s.size;
    }
    *msgs_p = msgs;
    *bytes_p = bytes;
    return st;
}

void cpn_bench_client_run(cpn_bench_client_t *c, cpn_bench_test_t test,
                          uint64_t size, cpn_bench_result_t *r)
{
    uint64_t dur_ns = (uint64_t)(c->p.duration_s * 1e9);
    cpn_status_t st;

    memset(r, 0, sizeof(*r));
    r->test = test;
    r->size = size;
    cpn_hist_init(c->hist);
    if (cpn_bench_test_is_task(test)) {
        if (c->tcli == NULL) {
            r->status = CPN_ERR_UNSUPPORTED;
            snprintf(r->error, sizeof(r->error), "the server opened no site");
            return;
        }
        cpn__bench_task_run(c->tcli, test, size, c->hist, r);
        goto out;
    }
    st = cli_setup(c, test, size, r->error, sizeof(r->error));
    if (st == CPN_OK) {
        c->ops->ep_lanes(c->st[0].s.ep, r->lanes, sizeof(r->lanes));
    }
    if (st == CPN_OK && c->p.warmup > 0) {
        uint64_t m, b;

        c->measuring = 0;
        st = cli_round(c, test, c->p.warmup, 0, &m, &b, r->error,
                       sizeof(r->error));
    }
    for (unsigned t = 0; st == CPN_OK && t < c->p.trials; t++) {
        uint64_t m = 0, b = 0, t0, t1;

        c->measuring = 1;
        t0 = cpn_time_ns();
        st = cli_round(c, test, dur_ns ? 0 : c->p.iters, dur_ns, &m, &b,
                       r->error, sizeof(r->error));
        t1 = cpn_time_ns();
        if (st != CPN_OK) {
            break;
        }
        r->iterations += m;
        r->messages += m;
        r->bytes += b;
        r->trial_gbps[r->ntrials] = (double)b / (double)(t1 - t0);
        r->trial_rate[r->ntrials] = (double)m * 1e9 / (double)(t1 - t0);
        r->ntrials++;
    }
    c->measuring = 0;
    r->status = st;
    cli_teardown(c);
out:
    if (c->hist->count > 0) {
        r->has_lat = 1;
        cpn_hist_summary(c->hist, &r->lat);
    }
    cpn_bench_result_finish(r);
}

void cpn_bench_client_close(cpn_bench_client_t *c)
{
    json_t *bye = json_object();
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    char drain[256];

    /* BYE first, and wait (up to 10 s) for the server to close its end,
     * which it does after closing its transport: a peer that goes away
     * while the other still polls its port can take memory from under it
     * (net_memif's regions belong to the client side). */
    json_object_set_new(bye, "bye", json_true());
    cpn__bench_boot_send(c->fd, bye, 2000);
    json_decref(bye);
    for (int i = 0; i < 100 && poll(&pfd, 1, 100) >= 0; i++) {
        if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
            read(c->fd, drain, sizeof(drain)) <= 0) {
            break; /* EOF: the server is done */
        }
    }
    if (c->tcli != NULL) {
        cpn__bench_task_cli_close(c->tcli);
    }
    for (unsigned i = 0; i < c->p.streams; i++) {
        if (c->st[i].s.ep != NULL) {
            c->ops->ep_close(c->st[i].s.ep);
        }
        region_free(&c->st[i].s);
    }
    c->ops->close(c->iface);
    close(c->fd);
    free(c->hist);
    free(c);
}
