/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the DPDK backend in one process: two interfaces on net_ring
 * ports made from rte_rings, progressed in one loop. Site A sends into ring
 * "tap", which the test moves to B's rx ring by hand, so it can also forge
 * frames (malformed-frame test). B sends straight to A's rx ring. Every test
 * runs in a process of its own (Criterion), so each initialises its own EAL
 * (no hugepages; a file prefix per process). Covers send and put from 1 B
 * to 64 MiB, seeded fault injection (drop, reorder, duplicate, corrupt) with
 * the counters that show the recovery, forged frames that must be dropped
 * and never written, put frames behind a lost one written at once (the
 * notify still waits for the hole), and a peer that stops answering. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include "core/checksum.h"
#include "core/clock.h"
#include "core/compiler.h"
#include "transport/dpdk/dpdk_int.h"
#include "transport/transport.h"

#define HDRS (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) +   \
              sizeof(struct rte_udp_hdr))

typedef struct side {
    const char *name;
    cpn_tp_iface_t *iface;
    cpn_tp_ep_t *ep;
    unsigned nconnected, naccepted, nerror, nrecv, nnotify;
    cpn_status_t connect_status, error_status;
    uint8_t *msg;
    size_t msg_len;
    uint8_t notify[CPN_TP_NOTIFY_MAX];
    size_t notify_len;
    cpn_tp_landed_t landed; /* the last put_notify's (len 0: it had none) */
} side_t;

static const cpn_transport_ops_t *ops;
static side_t sa = {.name = "A"};
static side_t sb = {.name = "B"};
static struct rte_ring *tap, *brx;
/* Called on each frame A sends before it reaches B; returns 0 to drop. */
static int (*tap_hook)(struct rte_mbuf *m);
static int b_frozen; /* B is not progressed: a peer that vanished */

static void on_accept(void *arg, cpn_tp_ep_t *ep)
{
    side_t *s = arg;

    s->naccepted++;
    s->ep = ep;
}

static void on_connected(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    side_t *s = arg;

    (void)ep;
    s->nconnected++;
    s->connect_status = status;
}

static void on_recv(void *arg, cpn_tp_ep_t *ep, const void *data, size_t len)
{
    side_t *s = arg;

    (void)ep;
    s->nrecv++;
    free(s->msg);
    s->msg = malloc(len ? len : 1);
    cr_assert_not_null(s->msg);
    memcpy(s->msg, data, len);
    s->msg_len = len;
}

static void on_notify(void *arg, cpn_tp_ep_t *ep, const void *data,
                      size_t len, const cpn_tp_landed_t *landed)
{
    side_t *s = arg;

    (void)ep;
    s->nnotify++;
    memset(&s->landed, 0, sizeof(s->landed));
    if (landed != NULL) {
        cr_assert_gt(landed->len, 0, "a landed hash of nothing");
        s->landed = *landed;
    }
    memcpy(s->notify, data, len);
    s->notify_len = len;
}

static void on_error(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    side_t *s = arg;

    (void)ep;
    s->nerror++;
    s->error_status = status;
}

static void open_side(side_t *s)
{
    cpn_tp_handlers_t h = {
        .accept = on_accept,
        .connected = on_connected,
        .recv = on_recv,
        .put_notify = on_notify,
        .ep_error = on_error,
        .arg = s,
    };
    cpn_tp_params_t p = {.site_name = s->name};
    cpn_status_t st = ops->open(&p, &h, &s->iface);

    cr_assert_eq(st, CPN_OK, "open %s: %s", s->name, cpn_status_str(st));
}

/* Move A's frames to B, through the hook, as many as B's rx ring takes
 * (the rest wait in tap: a full link pushes back, it does not lose). */
static void pump_tap(void)
{
    void *objs[64];
    unsigned n = rte_ring_dequeue_burst(tap, objs,
                                        CPN_MIN(64u, rte_ring_free_count(brx)),
                                        NULL);

    for (unsigned i = 0; i < n; i++) {
        struct rte_mbuf *m = objs[i];

        if (tap_hook != NULL && !tap_hook(m)) {
            rte_pktmbuf_free(m);
            continue;
        }
        if (rte_ring_enqueue(brx, m) != 0) {
            rte_pktmbuf_free(m);
        }
    }
}

static void step(void)
{
    ops->progress(sa.iface);
    pump_tap();
    if (!b_frozen) {
        ops->progress(sb.iface);
    }
}

/* Step until *flag reaches want or timeout_ms passes. */
static void dump_stats(const char *who, cpn_tp_iface_t *iface)
{
    cpn_dpdk_stats_t s;

    cpn__dpdk_stats(iface, &s);
    cr_log_warn("%s: tx %lu rx %lu txdrop %lu ringfull %lu retx %lu (sack "
                "%lu probe %lu) rto %lu dup %lu ooo %lu csum %lu malformed %lu "
                "key %lu range %lu other %lu",
                who, (unsigned long)s.tx_frames, (unsigned long)s.rx_frames,
                (unsigned long)s.tx_dropped, (unsigned long)s.tx_ring_full,
                (unsigned long)s.retransmits,
                (unsigned long)s.fast_retransmits,
                (unsigned long)s.probes,
                (unsigned long)s.timeouts, (unsigned long)s.dup_rx,
                (unsigned long)s.ooo_rx, (unsigned long)s.bad_csum,
                (unsigned long)s.malformed, (unsigned long)s.bad_key,
                (unsigned long)s.bad_range, (unsigned long)s.not_for_us);
}

static int run_until(const unsigned *flag, unsigned want, int timeout_ms)
{
    uint64_t end = cpn_deadline_ns(timeout_ms);

    while (*flag < want) {
        if (cpn_time_ns() > end) {
            dump_stats("A", sa.iface);
            dump_stats("B", sb.iface);
            return 0;
        }
        step();
    }
    return 1;
}

static void comp_cb(void *arg, cpn_status_t status)
{
    cpn_status_t *p = arg;

    *p = status;
}

static void setup_env(void)
{
    setenv("CPN_DPDK_PORTS",
           "ring:cpndpdk_a:cpndpdk_tap@10.77.0.1;"
           "ring:cpndpdk_b:cpndpdk_a@10.77.0.2",
           0);
    setenv("CPN_DPDK_HUGE", "n", 0);
    setenv("CPN_DPDK_MEM", "256M", 0);
    setenv("CPN_DPDK_MBUFS", "8191", 0);
}

static int b_csum_all; /* open B (only) with CPN_DPDK_CSUM_ALL=y */

static void connect_pair(void)
{
    uint16_t port = 0;
    cpn_status_t st;

    setup_env();
    ops = cpn__tp_find("dpdk");
    cr_assert_not_null(ops, "dpdk transport not built");
    open_side(&sa);
    if (b_csum_all) {
        setenv("CPN_DPDK_CSUM_ALL", "y", 1);
    }
    open_side(&sb);
    if (b_csum_all) {
        unsetenv("CPN_DPDK_CSUM_ALL");
    }
    tap = rte_ring_lookup("cpndpdk_tap");
    brx = rte_ring_lookup("cpndpdk_b");
    cr_assert(tap != NULL && brx != NULL);
    st = ops->listen(sb.iface, "10.77.0.2", 0, &port);
    cr_assert_eq(st, CPN_OK);
    st = ops->connect(sa.iface, "10.77.0.2", port, &sa.ep);
    cr_assert_eq(st, CPN_OK);
    cr_assert(run_until(&sa.nconnected, 1, 5000), "no connection");
    cr_assert_eq(sa.connect_status, CPN_OK);
    cr_assert(run_until(&sb.naccepted, 1, 5000));
    cr_assert(strncmp(sb.ep->peer_addr, "10.77.0.1:", 10) == 0, "B sees %s",
              sb.ep->peer_addr);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    uint64_t x = 0x1234567 + seed;

    for (size_t i = 0; i < len; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (uint8_t)(x >> 33);
    }
}

/* A send of len bytes A -> B, then B -> A, checked. */
static void check_send(size_t len, unsigned seed)
{
    uint8_t *buf = malloc(len ? len : 1);
    cpn_status_t done = CPN_INPROGRESS, st;
    unsigned want = sb.nrecv + 1;

    fill(buf, len, seed);
    st = ops->send(sa.ep, buf, len, comp_cb, &done);
    cr_assert(st == CPN_INPROGRESS || st == CPN_OK);
    cr_assert(run_until(&sb.nrecv, want, 60000), "send %zu B: not received",
              len);
    cr_assert_eq(sb.msg_len, len);
    cr_assert(memcmp(sb.msg, buf, len) == 0, "send %zu B: data differ", len);
    while (st == CPN_INPROGRESS && done == CPN_INPROGRESS) {
        step();
    }
    cr_assert_eq(done == CPN_INPROGRESS ? CPN_OK : done, CPN_OK);
    /* and back */
    want = sa.nrecv + 1;
    done = CPN_INPROGRESS;
    st = ops->send(sb.ep, buf, len, comp_cb, &done);
    cr_assert(st == CPN_INPROGRESS || st == CPN_OK);
    cr_assert(run_until(&sa.nrecv, want, 60000));
    cr_assert_eq(sa.msg_len, len);
    cr_assert(memcmp(sa.msg, buf, len) == 0);
    while (st == CPN_INPROGRESS && done == CPN_INPROGRESS) {
        step();
    }
    free(buf);
}

/* check_put's ways, or'ed */
#define PUT_VERIFIED   1u /* B's region is marked CPN_TP_MEM_VERIFIED */
#define PUT_DROP_FIRST 2u /* the put's first frame is lost once on the way */

static int dropped_first; /* the first DATA frame of the put was dropped */
static int drop_first_put_hook(struct rte_mbuf *m);

/* A put of len bytes from A into B's region at offset off (the region
 * line-aligned), checked, with the bytes around it untouched; and if B's
 * notify came with a landed hash, that it is the hash of the bytes that
 * landed, at the put's address. @return what the notify said of it (len
 * 0: nothing). */
static cpn_tp_landed_t check_put(size_t len, size_t off, unsigned seed,
                                 unsigned how)
{
    /* (aligned_alloc wants a multiple of the alignment) */
    size_t rlen = (len + off + 64 + 63) / 64 * 64;
    uint8_t *src = malloc(len ? len : 1);
    uint8_t *region = aligned_alloc(64, rlen);
    cpn_tp_mem_t *mem;
    cpn_tp_rkey_t *rkey;
    uint8_t key[CPN_TP_RKEY_MAX];
    size_t klen = sizeof(key);
    cpn_status_t done = CPN_INPROGRESS, st;
    unsigned want = sb.nnotify + 1;
    uint64_t note = 0xC0FFEE00u + seed;
    cpn_tp_landed_t landed;

    cr_assert(src != NULL && region != NULL);
    fill(src, len, seed);
    memset(region, 0xAB, rlen);
    cr_assert_eq(ops->mem_reg(sb.iface, region, rlen, &mem), CPN_OK);
    if (how & PUT_VERIFIED) {
        mem->flags |= CPN_TP_MEM_VERIFIED;
    }
    cr_assert_eq(ops->key_pack(mem, key, &klen), CPN_OK);
    cr_assert_eq(ops->key_unpack(sa.ep, key, klen, &rkey), CPN_OK);
    if (how & PUT_DROP_FIRST) {
        dropped_first = 0;
        tap_hook = drop_first_put_hook; /* else the caller's, if any */
    }
    st = ops->put(sa.ep, src, len, NULL, (uint64_t)(uintptr_t)region + off,
                  rkey, &note, sizeof(note), comp_cb, &done);
    cr_assert_eq(st, CPN_INPROGRESS, "put: %s", cpn_status_str(st));
    cr_assert(run_until(&sb.nnotify, want, 120000), "put %zu B: no notify",
              len);
    if (how & PUT_DROP_FIRST) {
        tap_hook = NULL;
        cr_assert(dropped_first, "the hook dropped nothing");
    }
    cr_assert_eq(sb.notify_len, sizeof(note));
    cr_assert(memcmp(sb.notify, &note, sizeof(note)) == 0);
    cr_assert(memcmp(region + off, src, len) == 0, "put %zu B: data differ",
              len);
    for (size_t i = 0; i < off; i++) {
        cr_assert_eq(region[i], 0xAB);
    }
    for (size_t i = off + len; i < rlen; i++) {
        cr_assert_eq(region[i], 0xAB);
    }
    landed = sb.landed;
    if (landed.len > 0) {
        cr_assert_eq(landed.addr, (uint64_t)(uintptr_t)region + off,
                     "landed address is not where the put went");
        cr_assert_eq(landed.hash, cpn_hash64(region + off, len),
                     "landed hash is not the hash of the landed bytes");
    }
    while (done == CPN_INPROGRESS) {
        step();
    }
    cr_assert_eq(done, CPN_OK);
    ops->key_release(rkey);
    ops->mem_dereg(mem);
    free(region);
    free(src);
    return landed;
}

static void teardown(void)
{
    if (sa.iface != NULL) {
        ops->close(sa.iface);
    }
    if (sb.iface != NULL) {
        ops->close(sb.iface);
    }
    free(sa.msg);
    free(sb.msg);
}

static const size_t sizes[] = {0, 1, 7, 1000, 1413, 1414, 1500, 9000,
                               65536, 1 << 20, 7777777, 64u << 20};

Test(dpdk, send_sizes, .init = connect_pair, .fini = teardown, .timeout = 240)
{
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        check_send(sizes[i], (unsigned)i);
    }
}

/* Every size lands byte-exact; and the PMD's share of the time is
 * counted: some at each end, and less than the whole run. */
Test(dpdk, put_sizes, .init = connect_pair, .fini = teardown, .timeout = 240)
{
    cpn_dpdk_stats_t a, b;
    uint64_t t0 = cpn_time_ns(), wall;

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        check_put(sizes[i], i * 3, (unsigned)i, 0);
    }
    wall = cpn_time_ns() - t0;
    cpn__dpdk_stats(sa.iface, &a);
    cpn__dpdk_stats(sb.iface, &b);
    cr_log_info("PMD time per frame: A tx %.1f ns, B rx %.1f ns",
                (double)a.pmd_tx_ns / (double)a.tx_frames,
                (double)b.pmd_rx_ns / (double)b.rx_frames);
    cr_expect_gt(a.pmd_tx_ns, 0);
    cr_expect_gt(b.pmd_rx_ns, 0);
    cr_expect_gt(b.pmd_tx_ns, 0); /* its acks */
    cr_expect_lt(a.pmd_tx_ns + a.pmd_rx_ns, wall);
    cr_expect_lt(b.pmd_tx_ns + b.pmd_rx_ns, wall);
}

static unsigned ip_frames, ip_bad;

/* Check the IPv4 header checksum of each IPv4 frame A sends (not its ARP)
 * against DPDK's. */
static int ip_csum_hook(struct rte_mbuf *m)
{
    const struct rte_ether_hdr *eth =
        rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
    uint16_t sent = ip->hdr_checksum;

    if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
        return 1;
    }
    ip->hdr_checksum = 0;
    if (rte_ipv4_cksum(ip) != sent) {
        ip_bad++;
    }
    ip->hdr_checksum = sent;
    ip_frames++;
    return 1;
}

/* The IPv4 header checksum, folded from fields summed once per port: every
 * frame's is what rte_ipv4_cksum gives (frames of every length a put and a
 * message make, the handshake's). */
Test(dpdk, ipv4_header_checksums, .timeout = 120)
{
    tap_hook = ip_csum_hook;
    connect_pair();
    for (size_t i = 0; i < 6; i++) {
        check_put(sizes[i], i, (unsigned)i, 0);
    }
    check_put(300000, 7, 6, 0);
    check_send(100000, 3);
    tap_hook = NULL;
    cr_expect_gt(ip_frames, 200);
    cr_expect_eq(ip_bad, 0, "%u of %u frames with a wrong IPv4 checksum",
                 ip_bad, ip_frames);
    teardown();
}

Test(dpdk, jumbo, .timeout = 240)
{
    char lanes[128];

    setenv("CPN_DPDK_MTU", "9000", 1);
    connect_pair();
    cr_assert_eq(ops->ep_lanes(sa.ep, lanes, sizeof(lanes)), CPN_OK);
    cr_assert(strstr(lanes, "mtu 9000") != NULL, "not jumbo: %s", lanes);
    check_put(8u << 20, 5, 1, 0);
    check_send(3u << 20, 2);
    teardown();
}

/* A tx ring far smaller than the congestion window: the port keeps
 * refusing frames, and the backend must hold them (backpressure) rather
 * than drop them, so without faults nothing is ever retransmitted. */
Test(dpdk, tx_ring_full, .timeout = 240)
{
    cpn_dpdk_stats_t a, b;

    setenv("CPN_DPDK_RING_SIZE", "64", 1);
    connect_pair();
    check_put(16u << 20, 11, 3, 0);
    check_send(4u << 20, 4);
    cpn__dpdk_stats(sa.iface, &a);
    cpn__dpdk_stats(sb.iface, &b);
    cr_log_info("A: tx %lu, ring full %lu times, retx %lu; B: tx %lu, ring "
                "full %lu times, retx %lu, dup rx %lu",
                (unsigned long)a.tx_frames, (unsigned long)a.tx_ring_full,
                (unsigned long)a.retransmits, (unsigned long)b.tx_frames,
                (unsigned long)b.tx_ring_full, (unsigned long)b.retransmits,
                (unsigned long)b.dup_rx);
    cr_expect_gt(a.tx_ring_full, 0, "A's 64-frame tx ring never filled");
    cr_expect_eq(a.tx_dropped + b.tx_dropped, 0);
    cr_expect_eq(a.retransmits + b.retransmits, 0,
                 "a full tx ring cost %lu + %lu retransmits",
                 (unsigned long)a.retransmits, (unsigned long)b.retransmits);
    teardown();
}

/* A receiver that stops for 30 ms (descheduled, busy landing a chunk) and
 * comes back: the sender's timeouts fire, but the originals arrive, so each
 * timeout may resend one frame (F-RTO), not the whole window again. */
Test(dpdk, late_peer_no_window_resend, .init = connect_pair,
     .fini = teardown, .timeout = 120)
{
    cpn_status_t done = CPN_INPROGRESS;
    size_t len = 16u << 20;
    uint8_t *src = malloc(len), *region = malloc(len);
    cpn_tp_mem_t *mem;
    cpn_tp_rkey_t *rkey;
    uint8_t key[CPN_TP_RKEY_MAX];
    size_t klen = sizeof(key);
    cpn_dpdk_stats_t a, b;
    uint64_t end;

    fill(src, len, 21);
    cr_assert_eq(ops->mem_reg(sb.iface, region, len, &mem), CPN_OK);
    cr_assert_eq(ops->key_pack(mem, key, &klen), CPN_OK);
    cr_assert_eq(ops->key_unpack(sa.ep, key, klen, &rkey), CPN_OK);
    cr_assert_eq(ops->put(sa.ep, src, len, NULL, (uint64_t)(uintptr_t)region,
                          rkey, "n", 1, comp_cb, &done),
                 CPN_INPROGRESS);
    for (int i = 0; i < 40; i++) { /* an RTT measured, the window open */
        step();
    }
    cr_assert_eq(done, CPN_INPROGRESS);
    b_frozen = 1;
    end = cpn_time_ns() + 30000000ull;
    while (cpn_time_ns() < end) {
        step();
    }
    b_frozen = 0;
    while (done == CPN_INPROGRESS) {
        step();
    }
    cr_assert_eq(done, CPN_OK);
    cr_assert(memcmp(region, src, len) == 0);
    cpn__dpdk_stats(sa.iface, &a);
    cpn__dpdk_stats(sb.iface, &b);
    cr_log_info("A: %lu timeouts (%lu spurious), %lu retransmits, %lu "
                "probes; B: %lu duplicates",
                (unsigned long)a.timeouts, (unsigned long)a.spurious_rto,
                (unsigned long)a.retransmits, (unsigned long)a.probes,
                (unsigned long)b.dup_rx);
    cr_expect_gt(a.timeouts, 0, "no timeout fired in 30 ms of silence");
    cr_expect_leq(a.retransmits, a.timeouts + a.probes + 8,
                  "%lu frames resent for %lu timeouts",
                  (unsigned long)a.retransmits, (unsigned long)a.timeouts);
    ops->key_release(rkey);
    ops->mem_dereg(mem);
    free(src);
    free(region);
}

/* ---- faults ------------------------------------------------------------- */

typedef struct fault_case {
    char var[32];
    char prob[8];
} fault_case_t;

ParameterizedTestParameters(dpdk, faults)
{
    static fault_case_t cases[] = {
        {"CPN_DPDK_FAULT_DROP", "0.01"},
        {"CPN_DPDK_FAULT_DROP", "0.05"},
        {"CPN_DPDK_FAULT_REORDER", "0.05"},
        {"CPN_DPDK_FAULT_DUP", "0.05"},
        {"CPN_DPDK_FAULT_CORRUPT", "0.02"},
    };
    return cr_make_param_array(fault_case_t, cases,
                               sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(fault_case_t *fc, dpdk, faults, .timeout = 240)
{
    cpn_dpdk_stats_t a, b;

    setenv(fc->var, fc->prob, 1);
    setenv("CPN_DPDK_FAULT_SEED", "7", 1);
    connect_pair();
    check_put(16u << 20, 11, 3, 0);
    check_send(4u << 20, 4);
    check_send(100, 5);
    check_put(1, 0, 6, 0);
    cpn__dpdk_stats(sa.iface, &a);
    cpn__dpdk_stats(sb.iface, &b);
    cr_log_info("%s=%s: A retx %lu (fast %lu, timeouts %lu) cuts %lu; B: "
                "inj drop %lu reorder %lu dup %lu corrupt %lu, bad csum %lu, "
                "dup rx %lu, ooo %lu",
                fc->var, fc->prob, (unsigned long)a.retransmits,
                (unsigned long)a.fast_retransmits, (unsigned long)a.timeouts,
                (unsigned long)a.cwnd_cuts, (unsigned long)b.inj_drop,
                (unsigned long)b.inj_reorder, (unsigned long)b.inj_dup,
                (unsigned long)b.inj_corrupt, (unsigned long)b.bad_csum,
                (unsigned long)b.dup_rx, (unsigned long)b.ooo_rx);
    if (strstr(fc->var, "DROP")) {
        cr_expect_gt(b.inj_drop + a.inj_drop, 0);
        cr_expect_gt(a.retransmits + b.retransmits, 0);
    } else if (strstr(fc->var, "REORDER")) {
        cr_expect_gt(b.inj_reorder, 0);
        cr_expect_gt(b.ooo_rx, 0);
    } else if (strstr(fc->var, "DUP")) {
        cr_expect_gt(b.inj_dup, 0);
        cr_expect_gt(b.dup_rx, 0);
    } else {
        cr_expect_gt(b.inj_corrupt, 0);
        cr_expect_gt(b.bad_csum, 0);
        cr_expect_gt(a.retransmits, 0);
    }
    teardown();
}

/* ---- malformed frames ------------------------------------------------------ */

static struct rte_mempool *forge_pool;
static uint8_t *guard_region; /* registered at B, must never be written */
static size_t guard_len;
static unsigned forged;

static void reseal(cpn_dpdk_hdr_t *h)
{
    h->csum = 0;
    h->csum = (uint32_t)cpn_hash64(h, sizeof(*h) + h->len);
}

/* Seal as a frame whose payload is left to the region's owner. */
static void reseal_hdr(cpn_dpdk_hdr_t *h)
{
    h->flags |= CPN_DPDK_F_HDR_CSUM;
    h->csum = 0;
    h->csum = (uint32_t)cpn_hash64(h, sizeof(*h) + sizeof(cpn_dpdk_seg_t));
}

/* The segment header of @p m when it is a PUT DATA frame with at least
 * @p payload bytes of payload, else NULL (what the hooks below act on). */
static cpn_dpdk_seg_t *put_seg_of(struct rte_mbuf *m, size_t payload)
{
    cpn_dpdk_hdr_t *h = rte_pktmbuf_mtod_offset(m, cpn_dpdk_hdr_t *, HDRS);
    cpn_dpdk_seg_t *seg = (cpn_dpdk_seg_t *)(h + 1);

    if (m->data_len < HDRS + sizeof(*h) + sizeof(*seg) + payload ||
        h->type != CPN_DPDK_T_DATA || seg->op != CPN_DPDK_OP_PUT) {
        return NULL;
    }
    return seg;
}

/* Forge variants of A's first put frame, ahead of the real one. */
static int forge_hook(struct rte_mbuf *m)
{
    if (forged || put_seg_of(m, 0) == NULL) {
        return 1;
    }
    forged = 1;
    for (int v = 0; v < 10; v++) {
        struct rte_mbuf *c = rte_pktmbuf_copy(m, forge_pool, 0, UINT32_MAX);
        cpn_dpdk_hdr_t *ch;
        cpn_dpdk_seg_t *cs;
        struct rte_ipv4_hdr *ip;

        cr_assert_not_null(c);
        ch = rte_pktmbuf_mtod_offset(c, cpn_dpdk_hdr_t *, HDRS);
        cs = (cpn_dpdk_seg_t *)(ch + 1);
        ip = rte_pktmbuf_mtod_offset(c, struct rte_ipv4_hdr *,
                                     sizeof(struct rte_ether_hdr));
        memset(cs + 1, 0xEE, ch->len - sizeof(*cs));
        switch (v) {
        case 0: cs->key = 4000; reseal(ch); break;              /* bad key */
        case 1: cs->off = (uint64_t)(uintptr_t)guard_region + guard_len - 8;
                reseal(ch); break;                               /* past end */
        case 2: cs->off = (uint64_t)(uintptr_t)guard_region - 1;
                reseal(ch); break;                               /* before */
        case 3: cs->off = UINT64_MAX - 4; reseal(ch); break;     /* wraps */
        case 4: ch->type = 99; reseal(ch); break;                /* type */
        case 5: cs->op = 42; reseal(ch); break;                  /* seg op */
        case 6: ch->len += 100; reseal(ch); break;               /* length */
        case 7: ip->total_length = rte_cpu_to_be_16(
                    (uint16_t)(rte_be_to_cpu_16(ip->total_length) + 400));
                break;                                           /* IP len */
        case 8: reseal_hdr(ch); break; /* payload unchecked, region is not
                                          checked by its owner either */
        default: ((uint8_t *)(cs + 1))[3] ^= 0x40; break;        /* csum */
        }
        if (rte_ring_enqueue(brx, c) != 0) {
            rte_pktmbuf_free(c);
        }
    }
    return 1;
}

/* Forged put frames ahead of the real one (an unknown key, offsets past,
 * before and wrapping around the region, an unknown type and segment op, a
 * wrong length, a wrong IP length, a bad checksum, and a header-only
 * checksum into a region its owner does not check): each dropped and
 * counted, no byte of a guard region written, the connection still up. */
Test(dpdk, malformed_dropped, .init = connect_pair, .fini = teardown,
     .timeout = 120)
{
    cpn_dpdk_stats_t b0, b;
    cpn_tp_mem_t *gmem;

    forge_pool = rte_pktmbuf_pool_create("cpndpdk_forge", 255, 0, 0, 4096,
                                         SOCKET_ID_ANY);
    cr_assert_not_null(forge_pool);
    guard_len = 1 << 20;
    guard_region = malloc(guard_len);
    memset(guard_region, 0x5A, guard_len);
    /* The guard region is registered (id 0), then the put target (id 1). */
    cr_assert_eq(ops->mem_reg(sb.iface, guard_region, guard_len, &gmem),
                 CPN_OK);
    cpn__dpdk_stats(sb.iface, &b0);
    tap_hook = forge_hook;
    check_put(100000, 0, 9, 0);
    tap_hook = NULL;
    cpn__dpdk_stats(sb.iface, &b);
    cr_assert(forged);
    cr_expect_eq(b.bad_key - b0.bad_key, 1);
    cr_expect_eq(b.bad_range - b0.bad_range, 3);
    cr_expect_eq(b.malformed - b0.malformed, 5);
    cr_expect_eq(b.bad_csum - b0.bad_csum, 1);
    for (size_t i = 0; i < guard_len; i++) {
        cr_assert_eq(guard_region[i], 0x5A, "guard byte %zu written", i);
    }
    /* The connection still works after the forgeries. */
    check_send(5000, 10);
    ops->mem_dereg(gmem);
    free(guard_region);
}

/* ---- regions whose owner checks what lands ------------------------------- */

static unsigned flipped;
static int flip_header; /* flip a header byte instead of a payload byte */

/* Flip one payload (or header) byte of the first put frame, after its
 * sender sealed it. */
static int flip_hook(struct rte_mbuf *m)
{
    cpn_dpdk_hdr_t *h = rte_pktmbuf_mtod_offset(m, cpn_dpdk_hdr_t *, HDRS);
    cpn_dpdk_seg_t *seg = put_seg_of(m, 16);

    if (flipped || seg == NULL) {
        return 1;
    }
    flipped = 1;
    if (flip_header) {
        h->ts ^= 0x40;
    } else {
        ((uint8_t *)(seg + 1))[5] ^= 0x40;
    }
    return 1;
}

/* A 100,000-byte put into a region marked CPN_TP_MEM_VERIFIED, one payload
 * byte flipped on the way; @return the bytes that differ at B. */
static size_t put_flipped(cpn_dpdk_stats_t *b0, cpn_dpdk_stats_t *b)
{
    const size_t len = 100000;
    uint8_t *src = malloc(len), *region = malloc(len);
    cpn_tp_mem_t *mem;
    cpn_tp_rkey_t *rkey;
    uint8_t key[CPN_TP_RKEY_MAX];
    size_t klen = sizeof(key), differ = 0;
    cpn_status_t done = CPN_INPROGRESS;
    unsigned want = sb.nnotify + 1;

    fill(src, len, 31);
    memset(region, 0, len);
    cr_assert_eq(ops->mem_reg(sb.iface, region, len, &mem), CPN_OK);
    mem->flags |= CPN_TP_MEM_VERIFIED;
    cr_assert_eq(ops->key_pack(mem, key, &klen), CPN_OK);
    cr_assert_eq(ops->key_unpack(sa.ep, key, klen, &rkey), CPN_OK);
    cpn__dpdk_stats(sb.iface, b0);
    flipped = 0;
    tap_hook = flip_hook;
    cr_assert_eq(ops->put(sa.ep, src, len, NULL, (uint64_t)(uintptr_t)region,
                          rkey, "n", 1, comp_cb, &done),
                 CPN_INPROGRESS);
    cr_assert(run_until(&sb.nnotify, want, 60000), "put: no notify");
    while (done == CPN_INPROGRESS) {
        step();
    }
    tap_hook = NULL;
    cr_assert_eq(done, CPN_OK);
    cr_assert(flipped);
    cpn__dpdk_stats(sb.iface, b);
    for (size_t i = 0; i < len; i++) {
        differ += region[i] != src[i];
    }
    ops->key_release(rkey);
    ops->mem_dereg(mem);
    free(region);
    free(src);
    return differ;
}

/* Into a region its owner checks (a task's staging slots and sinks), a
 * put's payload is left to that check: the flipped byte lands, for the
 * owner's hash to catch; the headers are still checked (malformed_dropped
 * forges a payload-unchecked frame into a region nobody checks). */
Test(dpdk, verified_region_payload_left_to_owner, .init = connect_pair,
     .fini = teardown, .timeout = 60)
{
    cpn_dpdk_stats_t b0, b;

    cr_expect_eq(put_flipped(&b0, &b), 1);
    cr_expect_eq(b.bad_csum, b0.bad_csum);
}

/* A receiver with CPN_DPDK_CSUM_ALL=y has every payload sent to it checked,
 * by a sender without it: the flipped frame is dropped and sent again. */
Test(dpdk, csum_all_checks_every_payload, .fini = teardown, .timeout = 60)
{
    cpn_dpdk_stats_t b0, b;

    b_csum_all = 1;
    connect_pair();
    b_csum_all = 0;
    cr_expect_eq(put_flipped(&b0, &b), 0);
    cr_expect_eq(b.bad_csum - b0.bad_csum, 1);
}

/* A receiver that drops a corrupt frame asks its peer to checksum every
 * payload from then on: after a put whose header was hit, a flipped
 * payload byte is caught even in a region its owner checks. */
Test(dpdk, corrupt_header_turns_payload_checks_on, .init = connect_pair,
     .fini = teardown, .timeout = 60)
{
    cpn_dpdk_stats_t b0, b;

    flip_header = 1;
    cr_expect_eq(put_flipped(&b0, &b), 0);
    flip_header = 0;
    cr_expect_eq(b.bad_csum - b0.bad_csum, 1);
    cr_expect_eq(put_flipped(&b0, &b), 0);
    cr_expect_eq(b.bad_csum - b0.bad_csum, 1);
}

/* ---- a peer that vanishes ------------------------------------------------- */

/* The receiver stops answering in the middle of a 64 MiB put (killed, cable
 * pulled): the sender's put and endpoint fail with CPN_ERR_CONN_RESET,
 * naming the peer, within CPN_DPDK_PEER_TIMEOUT (1 s) plus slack; never a
 * hang. */
Test(dpdk, peer_vanishes, .timeout = 60)
{
    cpn_status_t done = CPN_INPROGRESS;
    size_t len = 64u << 20;
    uint8_t *src = calloc(1, len), *region = malloc(len);
    cpn_tp_mem_t *mem;
    cpn_tp_rkey_t *rkey;
    uint8_t key[CPN_TP_RKEY_MAX];
    size_t klen = sizeof(key);
    uint64_t t0, ms;

    setenv("CPN_DPDK_PEER_TIMEOUT", "1s", 1);
    connect_pair();
    cr_assert_eq(ops->mem_reg(sb.iface, region, len, &mem), CPN_OK);
    cr_assert_eq(ops->key_pack(mem, key, &klen), CPN_OK);
    cr_assert_eq(ops->key_unpack(sa.ep, key, klen, &rkey), CPN_OK);
    cr_assert_eq(ops->put(sa.ep, src, len, NULL, (uint64_t)(uintptr_t)region,
                          rkey, "n", 1, comp_cb, &done),
                 CPN_INPROGRESS);
    for (int i = 0; i < 200; i++) {
        step();
    }
    b_frozen = 1; /* B stops answering: killed, cable pulled */
    t0 = cpn_time_ns();
    cr_assert(run_until(&sa.nerror, 1, 10000), "A never noticed");
    ms = (cpn_time_ns() - t0) / 1000000;
    cr_log_info("peer failure noticed after %lu ms", (unsigned long)ms);
    cr_expect_lt(ms, 3000);
    cr_expect_eq(sa.error_status, CPN_ERR_CONN_RESET);
    cr_expect_eq(done, CPN_ERR_CONN_RESET);
    cr_expect(strncmp(sa.ep->peer_addr, "10.77.0.2:", 10) == 0,
              "the failed ep names its peer: %s", sa.ep->peer_addr);
    ops->key_release(rkey);
    ops->ep_close(sa.ep);
    b_frozen = 0;
    ops->mem_dereg(mem);
    teardown();
    free(src);
    free(region);
}

/* ---- out-of-order puts -------------------------------------------------- */

static int drop_first_put_hook(struct rte_mbuf *m)
{
    if (dropped_first || put_seg_of(m, 0) == NULL) {
        return 1;
    }
    dropped_first = 1;
    return 0;
}

/* The put frames behind a lost one are written into the region as they
 * come, not held until the hole is resent; the notify still waits for the
 * hole, and the whole put lands byte-exact once it is filled. */
Test(dpdk, put_frames_behind_a_hole_land_at_once, .init = connect_pair,
     .fini = teardown, .timeout = 60)
{
    const size_t len = 40000; /* about 28 frames at MTU 1500 */
    uint8_t *src = malloc(len), *region = malloc(len);
    cpn_tp_mem_t *mem;
    cpn_tp_rkey_t *rkey;
    uint8_t key[CPN_TP_RKEY_MAX];
    size_t klen = sizeof(key), landed = 0, first_seg = 0;
    cpn_status_t done = CPN_INPROGRESS;
    unsigned want = sb.nnotify + 1;

    cr_assert(src != NULL && region != NULL);
    fill(src, len, 47);
    memset(region, 0, len);
    cr_assert_eq(ops->mem_reg(sb.iface, region, len, &mem), CPN_OK);
    cr_assert_eq(ops->key_pack(mem, key, &klen), CPN_OK);
    cr_assert_eq(ops->key_unpack(sa.ep, key, klen, &rkey), CPN_OK);
    dropped_first = 0;
    tap_hook = drop_first_put_hook;
    cr_assert_eq(ops->put(sa.ep, src, len, NULL, (uint64_t)(uintptr_t)region,
                          rkey, "n", 1, comp_cb, &done),
                 CPN_INPROGRESS);
    /* A sends the whole put (its initial window holds it); B takes every
     * frame but the first. A is not progressed, so nothing is resent. */
    ops->progress(sa.iface);
    for (int i = 0; i < 8; i++) {
        pump_tap();
        ops->progress(sb.iface);
    }
    cr_assert(dropped_first, "the hook saw no put frame");
    cr_assert_eq(sb.nnotify, want - 1, "the notify came before the hole");
    /* The lost frame's bytes are still zero; every byte after them is in. */
    while (first_seg + 64 <= len &&
           memcmp(region + first_seg, src + first_seg, 64) != 0) {
        first_seg++;
    }
    for (size_t i = 0; i < first_seg; i++) {
        cr_assert_eq(region[i], 0, "byte %zu of the lost frame is there", i);
    }
    for (size_t i = first_seg; i < len; i++) {
        landed += region[i] == src[i];
    }
    cr_assert(first_seg > 1000 && first_seg < 1500,
              "the hole is %zu bytes, not one frame's payload", first_seg);
    cr_assert_eq(landed, len - first_seg,
                 "only %zu of the %zu bytes behind the hole landed", landed,
                 len - first_seg);
    /* Now the hole is resent, then the notify comes. */
    tap_hook = NULL;
    cr_assert(run_until(&sb.nnotify, want, 10000), "put: no notify");
    while (done == CPN_INPROGRESS) {
        step();
    }
    cr_assert_eq(done, CPN_OK);
    cr_assert(memcmp(region, src, len) == 0, "put differs after the resend");
    ops->key_release(rkey);
    ops->mem_dereg(mem);
    free(region);
    free(src);
}

/* ---- puts hashed as they land ------------------------------------------- */

/* Into a region its owner checks, a put that lands in order is hashed as
 * it is copied in, and the notify handler is told (cpn_tp_landed_t), so
 * the owner need not read it again: line-aligned or not, one frame or
 * many; never into a region nobody checks, and never for a put one of
 * whose frames came out of order (its bytes were written as they came). */
Test(dpdk, verified_put_hashed_as_it_lands, .init = connect_pair,
     .fini = teardown, .timeout = 120)
{
    static const size_t lens[] = {1, 1000, 1344, 40000, (1u << 20) + 17};
    static const size_t offs[] = {0, 5, 64};
    cpn_tp_landed_t l;

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        for (size_t j = 0; j < sizeof(offs) / sizeof(offs[0]); j++) {
            l = check_put(lens[i], offs[j], (unsigned)(i * 3 + j),
                          PUT_VERIFIED);
            cr_assert_eq(l.len, lens[i], "%zu B at +%zu: landed says %lu B",
                         lens[i], offs[j], (unsigned long)l.len);
        }
    }
    l = check_put(40000, 0, 20, 0);
    cr_assert_eq(l.len, 0, "a region nobody checks was hashed");
    l = check_put(40000, 0, 21, PUT_VERIFIED | PUT_DROP_FIRST);
    cr_assert_eq(l.len, 0, "a put whose first frame came late was hashed");
}
