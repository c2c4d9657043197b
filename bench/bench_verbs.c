/* SPDX-License-Identifier: Apache-2.0 */
/* cpn-bench-verbs: put bandwidth and latency of the verbs backend, shaped
 * like perftest's ib_write_bw / ib_write_lat so bench/verbs_vs_perftest.sh
 * can print ratios against them on the same device and sizes.
 *
 * Both ends run in this one process on one RDMA device (two interfaces,
 * one listening on --ip, one connecting to it, one polling thread), as
 * `ib_write_bw` server and client on one host do: the NIC loops the traffic
 * back (Soft-RoCE: rxe loops it in the kernel).
 *   bw   a window of --window puts of SIZE in flight, --iters of them; MB/s
 *        (10^6 bytes/s, as perftest prints) over the whole run
 *   lat  ping-pong: a put of SIZE one way, answered by a put back on its
 *        notify; half the median round trip in microseconds (perftest's
 *        t_typical is its median)
 * Output: one line per size: "bw SIZE MBps" or "lat SIZE usec".
 * Each put carries a 48-byte notify, as the runtime's chunk puts do. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "transport/transport.h"

typedef struct side {
    cpn_tp_iface_t *iface;
    cpn_tp_ep_t *ep;
    int connected;
    uint64_t nnotify;
} side_t;

static const cpn_transport_ops_t *ops;
static side_t srv, cli;
static uint64_t ncomp;

static void on_accept(void *arg, cpn_tp_ep_t *ep)
{
    ((side_t *)arg)->ep = ep;
}

static void on_connected(void *arg, cpn_tp_ep_t *ep, cpn_status_t st)
{
    (void)ep;
    ((side_t *)arg)->connected = st == CPN_OK ? 1 : -1;
}

static void on_recv(void *arg, cpn_tp_ep_t *ep, const void *d, size_t len)
{
    (void)arg, (void)ep, (void)d, (void)len;
}

static void on_notify(void *arg, cpn_tp_ep_t *ep, const void *n, size_t len,
                      const cpn_tp_landed_t *landed)
{
    (void)ep, (void)n, (void)len, (void)landed;
    ((side_t *)arg)->nnotify++;
}

static void on_error(void *arg, cpn_tp_ep_t *ep, cpn_status_t st)
{
    (void)arg, (void)ep;
    fprintf(stderr, "cpn-bench-verbs: endpoint error: %s\n",
            cpn_status_str(st));
    exit(1);
}

static void comp_cb(void *arg, cpn_status_t st)
{
    (void)arg;
    if (st != CPN_OK) {
        fprintf(stderr, "cpn-bench-verbs: put failed: %s\n",
                cpn_status_str(st));
        exit(1);
    }
    ncomp++;
}

static void progress(void)
{
    ops->progress(srv.iface);
    ops->progress(cli.iface);
}

__attribute__((noreturn)) static void die(const char *what, cpn_status_t st)
{
    fprintf(stderr, "cpn-bench-verbs: %s: %s\n", what, cpn_status_str(st));
    exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ip", required_argument, NULL, 'i'},
        {"sizes", required_argument, NULL, 's'},
        {"iters", required_argument, NULL, 'n'},
        {"window", required_argument, NULL, 'w'},
        {"test", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ip = getenv("RXE0_IP"), *test = "bw";
    char sizes_buf[512] = "2,64,1024,4096,65536,1048576";
    unsigned iters = 1000, window = 64;
    cpn_tp_params_t ps = {.site_name = "bench-srv"},
                    pc = {.site_name = "bench-cli"};
    cpn_tp_handlers_t hs = {on_accept, on_connected, on_recv, on_notify,
                            on_error, &srv},
                      hc = {on_accept, on_connected, on_recv, on_notify,
                            on_error, &cli};
    size_t maxsz = 0;
    uint8_t *sbuf, *dbuf, key[CPN_TP_RKEY_MAX], note[48] = {0};
    size_t klen;
    cpn_tp_mem_t *smem, *dmem, *smem2, *dmem2;
    cpn_tp_rkey_t *rk_c2s, *rk_s2c;
    uint16_t port;
    cpn_status_t st;
    char *tok, *save = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "i:s:n:w:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': ip = optarg; break;
        case 's': snprintf(sizes_buf, sizeof(sizes_buf), "%s", optarg); break;
        case 'n': iters = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'w': window = (unsigned)strtoul(optarg, NULL, 0); break;
        case 't': test = optarg; break;
        default:
            printf("Usage: cpn-bench-verbs --ip IP [--test bw|lat] "
                   "[--sizes 2,64,...] [--iters N] [--window N]\n"
                   "IP: an IPv4 address on the RDMA device (CPN_VERBS_DEVICE "
                   "picks the device). Prints 'bw SIZE MBps' or "
                   "'lat SIZE usec' lines.\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (ip == NULL || iters == 0 || window == 0) {
        fprintf(stderr, "cpn-bench-verbs: --ip is required (or RXE0_IP)\n");
        return 2;
    }
    for (char *p = sizes_buf; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1
                                                           : NULL) {
        size_t s = strtoull(p, NULL, 0);

        maxsz = s > maxsz ? s : maxsz;
    }
    ops = cpn__tp_find("verbs");
    if (ops == NULL) {
        die("verbs backend", CPN_ERR_UNSUPPORTED);
    }
    if ((st = ops->open(&ps, &hs, &srv.iface)) != CPN_OK ||
        (st = ops->open(&pc, &hc, &cli.iface)) != CPN_OK) {
        die("open", st);
    }
    if ((st = ops->listen(srv.iface, ip, 0, &port)) != CPN_OK) {
        die("listen", st);
    }
    if ((st = ops->connect(cli.iface, ip, port, &cli.ep)) != CPN_OK) {
        die("connect", st);
    }
    while (cli.connected == 0 || srv.ep == NULL) {
        progress();
    }
    if (cli.connected < 0) {
        die("connect", CPN_ERR_UNREACHABLE);
    }
    /* One registered source and target per direction (the window's puts all
     * land in the same target, as ib_write_bw's do). */
    sbuf = aligned_alloc(4096, maxsz + 4096);
    dbuf = aligned_alloc(4096, maxsz + 4096);
    memset(sbuf, 0x5a, maxsz);
    if ((st = ops->mem_reg(cli.iface, sbuf, maxsz, &smem)) != CPN_OK ||
        (st = ops->mem_reg(srv.iface, dbuf, maxsz, &dmem)) != CPN_OK ||
        (st = ops->mem_reg(srv.iface, sbuf, maxsz, &smem2)) != CPN_OK ||
        (st = ops->mem_reg(cli.iface, dbuf, maxsz, &dmem2)) != CPN_OK) {
        die("mem_reg", st);
    }
    klen = sizeof(key);
    ops->key_pack(dmem, key, &klen);
    ops->key_unpack(cli.ep, key, klen, &rk_c2s);
    klen = sizeof(key);
    ops->key_pack(dmem2, key, &klen);
    ops->key_unpack(srv.ep, key, klen, &rk_s2c);

    for (tok = strtok_r(sizes_buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        size_t sz = strtoull(tok, NULL, 0);

        if (strcmp(test, "bw") == 0) {
            uint64_t posted = 0, t0;
            double sec;

            ncomp = 0;
            srv.nnotify = 0;
            t0 = cpn_time_ns();
            while (ncomp < iters) {
                while (posted < iters && posted - ncomp < window) {
                    st = ops->put(cli.ep, sbuf, sz, smem, (uintptr_t)dbuf,
                                  rk_c2s, note, sizeof(note), comp_cb, NULL);
                    if (st != CPN_INPROGRESS) {
                        die("put", st);
                    }
                    posted++;
                }
                progress();
            }
            while (srv.nnotify < iters) {
                progress();
            }
            sec = (double)(cpn_time_ns() - t0) / 1e9;
            printf("bw %zu %.2f\n", sz, (double)sz * iters / sec / 1e6);
        } else {
            uint64_t *rtt = malloc(sizeof(*rtt) * iters);

            ncomp = 0;
            srv.nnotify = cli.nnotify = 0;
            for (unsigned k = 0; k < iters; k++) {
                uint64_t t0 = cpn_time_ns();

                st = ops->put(cli.ep, sbuf, sz, smem, (uintptr_t)dbuf, rk_c2s,
                              note, sizeof(note), comp_cb, NULL);
                if (st != CPN_INPROGRESS) {
                    die("put", st);
                }
                while (srv.nnotify == k) {
                    progress();
                }
                st = ops->put(srv.ep, sbuf, sz, smem2, (uintptr_t)dbuf,
                              rk_s2c, note, sizeof(note), comp_cb, NULL);
                if (st != CPN_INPROGRESS) {
                    die("put back", st);
                }
                while (cli.nnotify == k) {
                    progress();
                }
                rtt[k] = cpn_time_ns() - t0;
            }
            while (ncomp < 2ull * iters) {
                progress();
            }
            qsort(rtt, iters, sizeof(*rtt), cmp_u64);
            printf("lat %zu %.2f\n", sz, (double)rtt[iters / 2] / 2e3);
            free(rtt);
        }
        fflush(stdout);
    }
    ops->key_release(rk_c2s);
    ops->key_release(rk_s2c);
    ops->mem_dereg(smem);
    ops->mem_dereg(dmem);
    ops->mem_dereg(smem2);
    ops->mem_dereg(dmem2);
    ops->ep_close(cli.ep);
    ops->ep_close(srv.ep);
    ops->close(cli.iface);
    ops->close(srv.iface);
    free(sbuf);
    free(dbuf);
    return 0;
}
