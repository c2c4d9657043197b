/* SPDX-License-Identifier: Apache-2.0 */
/* cpn-bench-dpdk-put: put bandwidth of the DPDK transport between two
 * processes (one per side, each with its own EAL from CPN_DPDK_*). The
 * server registers a region and sends its key; the client streams puts of
 * --chunk bytes into it, --window of them in flight, until --total bytes
 * moved, then reports. bench/bench_dpdk.sh runs both sides next to
 * dpdk-testpmd and iperf3 and prints the ratios.
 *
 *   cpn-bench-dpdk-put --role server --listen IP:PORT
 *   cpn-bench-dpdk-put --role client --to IP:PORT [--total MiB]
 *                      [--chunk KiB] [--window N] [--json]
 *   cpn-bench-dpdk-put --role loop [--total MiB] [--chunk KiB]
 *                      [--window N] [--verified] [--json]
 *
 * The client prints "put_gbps X frames N retransmits R ..." (or JSON),
 * with its wall time per frame sent and the time the PMD's tx bursts took
 * per frame; the server prints, on stderr as it exits, the time its PMD's
 * rx bursts took per frame received (memif copies each frame in there: on
 * a receiver that lags, that and cpn's own work make up its time).
 *
 * --role loop puts both ends in this process and thread, on a pair of
 * net_ring ports joined to each other (unless CPN_DPDK_PORTS names two
 * others): no NIC, no PMD copy, no second CPU, no cache lines crossing
 * between cores. What is left is cpn's own work per frame, sender and
 * receiver together, which it prints as "ns_per_frame X" (CPU time over
 * data frames sent). On memif or a NIC that cost comes on top of the PMD's
 * and the link's; this figure follows it alone, steadier than any
 * two-process run on a shared host. --verified marks the region
 * CPN_TP_MEM_VERIFIED, as a receiving site marks its task slots: frames
 * into it carry a checksum over their headers only. */
#include <getopt.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/compiler.h"
#include "transport/dpdk/dpdk_int.h"
#include "transport/transport.h"

/* The server's (or loop receiver's) region, written round and round. */
#define REGION_LEN (64u << 20)

typedef struct bench {
    const cpn_transport_ops_t *ops;
    cpn_tp_iface_t *iface;
    cpn_tp_ep_t *ep;
    int connected, failed;
    uint8_t key[CPN_TP_RKEY_MAX + 16];
    size_t key_len;
    int got_key, done;
    int bye;         /* client: the server said it is closing */
    int peer_closed; /* client: ... and has closed (its FIN came) */
    unsigned inflight;
    uint64_t completed;
    cpn_status_t err;
} bench_t;

static bench_t b;

static void on_accept(void *arg, cpn_tp_ep_t *ep)
{
    (void)arg;
    b.ep = ep;
}

static void on_connected(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    (void)arg, (void)ep;
    if (status == CPN_OK) {
        b.connected = 1;
    } else {
        b.failed = 1;
        b.err = status;
    }
}

static void on_recv(void *arg, cpn_tp_ep_t *ep, const void *data, size_t len)
{
    (void)arg, (void)ep;
    if (len > 0 && ((const char *)data)[0] == 'K' &&
        len - 1 <= sizeof(b.key)) {
        memcpy(b.key, (const char *)data + 1, len - 1);
        b.key_len = len - 1;
        b.got_key = 1;
    } else if (len > 0 && ((const char *)data)[0] == 'D') {
        b.done = 1;
    } else if (len > 0 && ((const char *)data)[0] == 'B') {
        b.bye = 1;
    }
}

static void on_notify(void *arg, cpn_tp_ep_t *ep, const void *n, size_t len,
                      const cpn_tp_landed_t *landed)
{
    (void)arg, (void)ep, (void)n, (void)len, (void)landed;
}

static void on_error(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    (void)arg, (void)ep;
    if (b.bye) {
        b.peer_closed = 1; /* the end of the run, as agreed */
        return;
    }
    b.failed = 1;
    b.err = status;
}

static void put_done(void *arg, cpn_status_t status)
{
    size_t len = (size_t)(uintptr_t)arg;

    b.inflight--;
    if (status != CPN_OK) {
        b.failed = 1;
        b.err = status;
    } else {
        b.completed += len;
    }
}

static void send_done(void *arg, cpn_status_t status)
{
    (void)arg, (void)status;
}

/* @p ns over @p frames, or 0 without frames. */
static double per_frame(uint64_t ns, uint64_t frames)
{
    return frames > 0 ? (double)ns / (double)frames : 0.0;
}

static int split(const char *addr, char *host, size_t hlen, uint16_t *port)
{
    return cpn__tp_parse_addr(addr, host, hlen, port) == CPN_OK;
}

/* Stream puts of @p chunk bytes from @p src into the peer's region at
 * @p base (@p rlen bytes, written round and round), @p window of them in
 * flight, until @p total bytes completed or one failed (b.failed). Each
 * turn progresses this side, and @p other too when not NULL (the receiving
 * end, in loop mode). */
static void stream_puts(cpn_tp_rkey_t *rkey, uint64_t base, size_t rlen,
                        const uint8_t *src, size_t chunk, uint64_t total,
                        unsigned window, cpn_tp_iface_t *other)
{
    uint64_t issued = 0, off = 0;
    cpn_status_t st;

    while (b.completed < total && !b.failed) {
        while (b.inflight < window && issued < total) {
            size_t len = (size_t)CPN_MIN((uint64_t)chunk, total - issued);

            if (off + len > rlen) {
                off = 0;
            }
            st = b.ops->put(b.ep, src, len, NULL, base + off, rkey, "n", 1,
                            put_done, (void *)(uintptr_t)len);
            if (st != CPN_INPROGRESS) {
                b.failed = 1;
                b.err = st;
                return;
            }
            b.inflight++;
            issued += len;
            off += len;
        }
        b.ops->progress(b.iface);
        if (other != NULL) {
            b.ops->progress(other);
        }
    }
}

/* ---- --role loop: both ends in one thread -------------------------------- */

static cpn_tp_ep_t *loop_rx_ep; /* the receiving end's endpoint */

static void loop_accept(void *arg, cpn_tp_ep_t *ep)
{
    (void)arg;
    loop_rx_ep = ep;
}

static void loop_connected(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    (void)arg, (void)ep, (void)status;
}

static void loop_error(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    (void)arg, (void)ep;
    b.failed = 1;
    b.err = status;
}

/* CPU time of this thread, in ns. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int run_loop(uint64_t total, size_t chunk, unsigned window,
                    int verified, int json)
{
    cpn_tp_handlers_t rh = {loop_accept, loop_connected, on_recv, on_notify,
                            loop_error, NULL};
    cpn_tp_params_t tp = {.site_name = "loop-tx"};
    cpn_tp_params_t rp = {.site_name = "loop-rx"};
    cpn_tp_handlers_t th = {on_accept, on_connected, on_recv, on_notify,
                            loop_error, NULL};
    cpn_tp_iface_t *rx = NULL;
    cpn_tp_mem_t *mem = NULL;
    cpn_tp_rkey_t *rkey = NULL;
    cpn_dpdk_stats_t s0, s1;
    size_t rlen = REGION_LEN, klen = sizeof(b.key);
    uint8_t *region = NULL, *src = NULL;
    uint64_t t0, t1, c0, c1, deadline;
    uint16_t port = 0;
    double frames;
    cpn_status_t st;
    int rc = 1;

    /* Two ring ports, each one's tx the other's rx; no hugepages needed. */
    setenv("CPN_DPDK_PORTS",
           "ring:cpnloop_a:cpnloop_b@10.77.9.1;"
           "ring:cpnloop_b:cpnloop_a@10.77.9.2", 0);
    setenv("CPN_DPDK_HUGE", "n", 0);
    setenv("CPN_DPDK_MEM", "512M", 0);
    if (chunk > rlen) {
        fprintf(stderr, "cpn-bench-dpdk-put: --chunk is at most %zu KiB in "
                        "loop mode (the region's size)\n", rlen >> 10);
        return 2;
    }
    region = malloc(rlen);
    src = malloc(chunk);
    if (region == NULL || src == NULL) {
        fprintf(stderr, "cpn-bench-dpdk-put: out of memory\n");
        goto out;
    }
    memset(region, 0, rlen);
    memset(src, 0x5c, chunk);
    if ((st = b.ops->open(&tp, &th, &b.iface)) != CPN_OK ||
        (st = b.ops->open(&rp, &rh, &rx)) != CPN_OK ||
        (st = b.ops->listen(rx, "10.77.9.2", 0, &port)) != CPN_OK ||
        (st = b.ops->connect(b.iface, "10.77.9.2", port, &b.ep)) != CPN_OK) {
        fprintf(stderr, "cpn-bench-dpdk-put: loop set-up: %s\n",
                cpn_status_str(st));
        goto out;
    }
    deadline = cpn_deadline_ns(10000);
    while ((!b.connected || loop_rx_ep == NULL) && !b.failed &&
           cpn_time_ns() < deadline) {
        b.ops->progress(b.iface);
        b.ops->progress(rx);
    }
    if (!b.connected || loop_rx_ep == NULL) {
        fprintf(stderr, "cpn-bench-dpdk-put: the two ring ports did not "
                        "connect within 10 s: %s\n", cpn_status_str(b.err));
        goto out;
    }
    if ((st = b.ops->mem_reg(rx, region, rlen, &mem)) != CPN_OK) {
        fprintf(stderr, "cpn-bench-dpdk-put: mem_reg: %s\n",
                cpn_status_str(st));
        goto out;
    }
    if (verified) {
        mem->flags |= CPN_TP_MEM_VERIFIED;
    }
    if ((st = b.ops->key_pack(mem, b.key, &klen)) != CPN_OK ||
        (st = b.ops->key_unpack(b.ep, b.key, klen, &rkey)) != CPN_OK) {
        fprintf(stderr, "cpn-bench-dpdk-put: key: %s\n", cpn_status_str(st));
        goto out;
    }
    cpn__dpdk_stats(b.iface, &s0);
    t0 = cpn_time_ns();
    c0 = thread_cpu_ns();
    stream_puts(rkey, (uint64_t)(uintptr_t)region, rlen, src, chunk, total,
                window, rx);
    c1 = thread_cpu_ns();
    t1 = cpn_time_ns();
    cpn__dpdk_stats(b.iface, &s1);
    if (b.failed) {
        fprintf(stderr, "cpn-bench-dpdk-put: loop put failed: %s\n",
                cpn_status_str(b.err));
        goto out;
    }
    frames = (double)(s1.tx_frames - s0.tx_frames);
    if (json) {
        printf("{\"ns_per_frame\":%.1f,\"wall_ns_per_frame\":%.1f,"
               "\"put_gbps\":%.4f,\"bytes\":%llu,\"frames\":%.0f,"
               "\"retransmits\":%llu,\"verified\":%s}\n",
               (double)(c1 - c0) / frames, (double)(t1 - t0) / frames,
               (double)b.completed * 8 / (double)(t1 - t0),
               (unsigned long long)b.completed, frames,
               (unsigned long long)(s1.retransmits - s0.retransmits),
               verified ? "true" : "false");
    } else {
        printf("ns_per_frame %.1f wall_ns_per_frame %.1f put_gbps %.4f "
               "frames %.0f retransmits %llu\n",
               (double)(c1 - c0) / frames, (double)(t1 - t0) / frames,
               (double)b.completed * 8 / (double)(t1 - t0), frames,
               (unsigned long long)(s1.retransmits - s0.retransmits));
    }
    rc = 0;
out:
    if (rkey != NULL) {
        b.ops->key_release(rkey);
    }
    if (mem != NULL) {
        b.ops->mem_dereg(mem);
    }
    if (rx != NULL) {
        b.ops->close(rx);
    }
    if (b.iface != NULL) {
        b.ops->close(b.iface);
    }
    free(region);
    free(src);
    return rc;
}

int main(int argc, char **argv)
{
    const char *role = NULL, *listen = NULL, *to = NULL;
    uint64_t total = 1024ull << 20;
    size_t chunk = 1 << 20;
    unsigned window = 8;
    int json = 0, verified = 0;
    cpn_tp_handlers_t h = {on_accept, on_connected, on_recv, on_notify,
                           on_error, NULL};
    cpn_tp_params_t p = {.site_name = "bench"};
    static const struct option longopts[] = {
        {"role", required_argument, NULL, 'r'},
        {"listen", required_argument, NULL, 'l'},
        {"to", required_argument, NULL, 't'},
        {"total", required_argument, NULL, 'T'},
        {"chunk", required_argument, NULL, 'c'},
        {"window", required_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'j'},
        {"verified", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    char host[64];
    uint16_t port;
    cpn_status_t st;
    int c;

    while ((c = getopt_long(argc, argv, "r:l:t:T:c:w:jV", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'r': role = optarg; break;
        case 'l': listen = optarg; break;
        case 't': to = optarg; break;
        case 'T': total = strtoull(optarg, NULL, 10) << 20; break;
        case 'c': chunk = strtoull(optarg, NULL, 10) << 10; break;
        case 'w': window = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'j': json = 1; break;
        case 'V': verified = 1; break;
        default:
            fprintf(stderr, "usage: see the comment at the top of "
                            "bench/bench_dpdk_put.c\n");
            return 2;
        }
    }
    if (role == NULL ||
        (strcmp(role, "server") != 0 && strcmp(role, "client") != 0 &&
         strcmp(role, "loop") != 0) ||
        (strcmp(role, "server") == 0 && listen == NULL) ||
        (strcmp(role, "client") == 0 && to == NULL) || chunk == 0 ||
        window == 0) {
        fprintf(stderr, "cpn-bench-dpdk-put: --role server --listen IP:PORT "
                        "| --role client --to IP:PORT | --role loop\n");
        return 2;
    }
    b.ops = cpn__tp_find("dpdk");
    if (b.ops == NULL) {
        fprintf(stderr, "cpn-bench-dpdk-put: dpdk transport not built\n");
        return 77;
    }
    if (strcmp(role, "loop") == 0) {
        return run_loop(total, chunk, window, verified, json);
    }
    st = b.ops->open(&p, &h, &b.iface);
    if (st != CPN_OK) {
        fprintf(stderr, "cpn-bench-dpdk-put: open: %s\n", cpn_status_str(st));
        return 1;
    }

    if (strcmp(role, "server") == 0) {
        size_t rlen = REGION_LEN;
        uint8_t *region = malloc(rlen);
        cpn_tp_mem_t *mem;
        uint8_t msg[CPN_TP_RKEY_MAX + 1];
        size_t klen = CPN_TP_RKEY_MAX;

        if (!split(listen, host, sizeof(host), &port) || region == NULL) {
            return 2;
        }
        memset(region, 0, rlen);
        if (b.ops->listen(b.iface, host, port, &port) != CPN_OK ||
            b.ops->mem_reg(b.iface, region, rlen, &mem) != CPN_OK ||
            b.ops->key_pack(mem, msg + 1, &klen) != CPN_OK) {
            return 1;
        }
        printf("ready %s\n", listen);
        fflush(stdout);
        while (b.ep == NULL) {
            b.ops->progress(b.iface);
        }
        msg[0] = 'K';
        b.ops->send(b.ep, msg, klen + 1, send_done, NULL);
        while (!b.done && !b.failed) {
            b.ops->progress(b.iface);
        }
        /* Say so, and close first: over net_memif the client's process
         * owns the shared rings, and a server still polling them when the
         * client exits reads unmapped memory (seen: SIGSEGV in the PMD's
         * rx). So the client waits for this side's close. */
        if (b.done) {
            b.ops->send(b.ep, "B", 1, send_done, NULL);
        }
        /* Let the last acks and the bye go out before closing. */
        for (uint64_t end = cpn_time_ns() + 200000000ull;
             cpn_time_ns() < end;) {
            b.ops->progress(b.iface);
        }
        {
            cpn_dpdk_stats_t s;

            cpn__dpdk_stats(b.iface, &s);
            fprintf(stderr, "server rx_frames %llu pmd_rx_ns_per_frame %.1f\n",
                    (unsigned long long)s.rx_frames,
                    per_frame(s.pmd_rx_ns, s.rx_frames));
        }
        b.ops->mem_dereg(mem);
        b.ops->close(b.iface);
        free(region);
        return b.failed && !b.done ? 1 : 0;
    }

    /* client */
    {
        uint8_t *src = malloc(chunk);
        cpn_tp_rkey_t *rkey;
        uint64_t t0, t1;
        cpn_dpdk_stats_t s;
        double gbps, wall_ns;
        uint64_t deadline = cpn_deadline_ns(30000);

        if (!split(to, host, sizeof(host), &port) || src == NULL) {
            return 2;
        }
        memset(src, 0x5c, chunk);
        if (b.ops->connect(b.iface, host, port, &b.ep) != CPN_OK) {
            return 1;
        }
        while (!b.got_key && !b.failed && cpn_time_ns() < deadline) {
            b.ops->progress(b.iface);
        }
        if (!b.got_key) {
            fprintf(stderr, "cpn-bench-dpdk-put: no key from %s: %s\n", to,
                    cpn_status_str(b.err));
            return 1;
        }
        st = b.ops->key_unpack(b.ep, b.key, b.key_len, &rkey);
        if (st != CPN_OK) {
            return 1;
        }
        {
            /* The region's base address rides in the key. */
            cpn_dpdk_key_t k;
            uint64_t base;

            memcpy(&k, b.key, sizeof(k));
            base = k.addr;
            t0 = cpn_time_ns();
            stream_puts(rkey, base, REGION_LEN, src, chunk, total, window,
                        NULL);
            t1 = cpn_time_ns();
        }
        b.ops->send(b.ep, "D", 1, send_done, NULL);
        /* until the server has closed (see the server's side), at most 5 s */
        for (uint64_t end = cpn_time_ns() + 5000000000ull;
             !b.peer_closed && !b.failed && cpn_time_ns() < end;) {
            b.ops->progress(b.iface);
        }
        cpn__dpdk_stats(b.iface, &s);
        gbps = (double)b.completed * 8 / (double)(t1 - t0);
        wall_ns = per_frame(t1 - t0, s.tx_frames);
        if (json) {
            printf("{\"put_gbps\":%.4f,\"bytes\":%llu,\"seconds\":%.4f,"
                   "\"tx_frames\":%llu,\"rx_frames\":%llu,\"retransmits\":%llu,"
                   "\"fast_retransmits\":%llu,\"timeouts\":%llu,"
                   "\"tx_dropped\":%llu,\"tx_ring_full\":%llu,"
                   "\"cwnd_cuts\":%llu,"
                   "\"spurious_rto\":%llu,\"probes\":%llu,"
                   "\"wall_ns_per_frame\":%.1f,"
                   "\"pmd_tx_ns_per_frame\":%.1f}\n",
                   gbps, (unsigned long long)b.completed,
                   (double)(t1 - t0) / 1e9, (unsigned long long)s.tx_frames,
                   (unsigned long long)s.rx_frames,
                   (unsigned long long)s.retransmits,
                   (unsigned long long)s.fast_retransmits,
                   (unsigned long long)s.timeouts,
                   (unsigned long long)s.tx_dropped,
                   (unsigned long long)s.tx_ring_full,
                   (unsigned long long)s.cwnd_cuts,
                   (unsigned long long)s.spurious_rto,
                   (unsigned long long)s.probes, wall_ns,
                   per_frame(s.pmd_tx_ns, s.tx_frames));
        } else {
            printf("put_gbps %.4f bytes %llu frames %llu rx_frames %llu "
                   "retransmits %llu tx_ring_full %llu wall_ns_per_frame "
                   "%.1f pmd_tx_ns_per_frame %.1f\n",
                   gbps, (unsigned long long)b.completed,
                   (unsigned long long)s.tx_frames,
                   (unsigned long long)s.rx_frames,
                   (unsigned long long)s.retransmits,
                   (unsigned long long)s.tx_ring_full, wall_ns,
                   per_frame(s.pmd_tx_ns, s.tx_frames));
        }
        b.ops->key_release(rkey);
        b.ops->ep_close(b.ep);
        b.ops->close(b.iface);
        free(src);
        if (b.failed) {
            fprintf(stderr, "cpn-bench-dpdk-put: failed: %s\n",
                    cpn_status_str(b.err));
            return 1;
        }
    }
    return 0;
}
