/* SPDX-License-Identifier: Apache-2.0 */
/* The DPDK backend: the transport contract (transport/transport.h) over
 * ethdev ports, RDMA semantics in software.
 *
 *   EAL       initialised once per process, on the first open, from
 *             CPN_DPDK_* (vdevs, lcores, file prefix, hugepages or
 *             --no-huge); never torn down (DPDK cannot initialise twice).
 *   iface     one ethdev port from CPN_DPDK_PORTS ("SPEC@IP;SPEC@IP"): each
 *             open claims the next unclaimed entry, so one process may run
 *             several sites on several ports. SPEC is a port name
 *             ("net_memif0", a PCI address), a port number, or
 *             "ring:RX:TX" (a net_ring port made from two rte_rings, for
 *             pairs inside one process). One rx and one tx queue.
 *   naming    a site is IP:UDP-PORT; listen binds a UDP port on the
 *             port's IP; a peer's MAC comes from CPN_DPDK_NEIGH
 *             ("IP=MAC;...") or from ARP (requests answered, replies and
 *             every frame's source learned).
 *   frames    Ethernet/IPv4/UDP + cpn header (dpdk_int.h), checksummed.
 *   reliable  per-connection sequence numbers, cumulative + selective acks,
 *             RACK loss detection on the echoed send time (lost
 *             retransmissions included), RTO from RTT (RFC 6298) with
 *             backoff and Eifel undo, a receive window of CPN_DPDK_WINDOW
 *             frames held out of order, duplicates dropped, a delay-based
 *             (standing RTT) or AIMD congestion window.
 *   send      segmented; reassembled in order; delivered whole.
 *   put       segments carry (region id, address); the receiver checks the
 *             region and copies the payload into it; the notify follows as
 *             a segment of its own and is delivered once every earlier
 *             segment was; the put completes when the notify is acked.
 *   faults    on receive, seeded: drop, reorder, duplicate, corrupt.
 *
 * Progress is explicit (rx burst, timers, tx) and wait() polls the port.
 * Not thread-safe: one thread per iface, and all ifaces of a process on the
 * thread that opened the first (mempool caches belong to the EAL lcore). */
#include "transport/dpdk/dpdk_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_bus.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_kvargs.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_cycles.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include "core/checksum.h"
#include "core/clock.h"
#include "core/compiler.h"
#include "core/copy.h"
#include "core/config.h"
#include "core/log.h"

#define CPN_DPDK_BURST      32
/* An ep->ooo entry whose PUT payload is already in its region. */
#define CPN_DPDK_OOO_WRITTEN ((struct rte_mbuf *)(uintptr_t)1)
#define CPN_DPDK_MAX_PORTS  16
#define CPN_DPDK_MAX_EPS    1024
#define CPN_DPDK_MAX_NEIGH  64
#define CPN_DPDK_FRAME_HDRS (sizeof(struct rte_ether_hdr) +                   \
                             sizeof(struct rte_ipv4_hdr) +                    \
                             sizeof(struct rte_udp_hdr))
#define CPN_DPDK_CPN_HDRS   (sizeof(cpn_dpdk_hdr_t) + sizeof(cpn_dpdk_seg_t))
/* A cache line; segments carry whole ones (see seg_max). */
#define CPN_DPDK_LINE 64u
/* PUT payloads shorter than this land with plain stores wherever they go
 * (see cpn_dpdk_land). */
#define CPN_DPDK_STREAM_MIN 256u
/* The largest IP MTU: a frame, its CRC, af_packet's 512 bytes of slack and
 * the headroom must fit one mbuf, whose data room is 16 bits. */
#define CPN_DPDK_MTU_MAX                                                      \
    (UINT16_MAX - RTE_PKTMBUF_HEADROOM - 512 - RTE_ETHER_HDR_LEN -            \
     RTE_ETHER_CRC_LEN)
#define CPN_DPDK_SYN_RETRY_NS 20000000ull  /* 20 ms between SYNs / ARPs */
#define CPN_DPDK_WHY_FIN      "closed the connection"
#define CPN_DPDK_KEEPALIVE_NS 500000000ull /* idle: ask for an ack */
/* Stopping a memif port: how long to wait for the peer's QUIESCED; and how
 * long a peer that asked stays unpolled if its link never goes down. */
#define CPN_DPDK_QUIESCE_WAIT_NS  500000000ull
#define CPN_DPDK_QUIET_MAX_NS    2000000000ull
/* cpn_dpdk_iface.quiesce, while cpn_dpdk_quiesce waits */
enum {
    CPN_DPDK_Q_NONE,
    CPN_DPDK_Q_ASKED,      /* QUIESCE sent */
    CPN_DPDK_Q_ANSWERED,   /* QUIESCED came */
    CPN_DPDK_Q_DEFERRED,   /* the peer stops too, and goes first */
};

/* The transport's clock: every frame is stamped, every ack measured and
 * every timer checked against it, millions of times a second. Reading
 * CLOCK_MONOTONIC (vDSO, in this VM) took a fifth of the sender's cycles
 * in the put benchmark; the TSC, scaled by the rate EAL measured, costs a
 * few nanoseconds. Its values are compared only with each other, inside this
 * file. Until EAL is up (no frame moves then) it falls back to the
 * monotonic clock, and all stamps are taken after. */
__extension__ typedef unsigned __int128 cpn_dpdk_u128_t;

static uint64_t cpn_dpdk_tsc_mult; /* ns per TSC cycle, 32.32 fixed point */

static inline uint64_t cpn_dpdk_now_ns(void)
{
    if (cpn_likely(cpn_dpdk_tsc_mult != 0)) {
        cpn_dpdk_u128_t t =
            (cpn_dpdk_u128_t)rte_get_tsc_cycles() * cpn_dpdk_tsc_mult;

        return (uint64_t)(t >> 32);
    }
    return cpn_time_ns();
}

static void cpn_dpdk_clock_init(void)
{
    uint64_t hz = rte_get_tsc_hz();

    if (hz >= 1000000ull) {
        cpn_dpdk_tsc_mult =
            (uint64_t)(((cpn_dpdk_u128_t)1000000000ull << 32) / hz);
    }
    cpn_debug("dpdk: TSC %" PRIu64 " Hz%s", hz,
              cpn_dpdk_tsc_mult ? "" : ": too slow, monotonic clock used");
}

/* ---- configuration (CPN_DPDK_*) ------------------------------------------ */

typedef struct cpn_dpdk_config {
    const char *vdevs;
    const char *ports;
    const char *lcores;
    const char *file_prefix;
    const char *huge;
    size_t mem;
    int pci;
    const char *eal_extra;
    unsigned mtu;
    int mtu_clamp;
    unsigned rxd;
    unsigned txd;
    unsigned mbufs;
    unsigned ring_size;
    unsigned window;
    unsigned cwnd_init;
    unsigned cwnd_ai;
    unsigned cwnd_min;
    const char *cc;
    int delay_target_ms;
    int rto_min_ms;
    int rto_init_ms;
    int rto_max_ms;
    int peer_timeout_ms;
    size_t msg_max;
    size_t chunk_max;
    const char *neigh;
    unsigned fault_seed;
    const char *fault_drop;
    const char *fault_reorder;
    const char *fault_dup;
    const char *fault_corrupt;
    int csum_all;
} cpn_dpdk_config_t;

static const cpn_config_field_t cpn_dpdk_config_field[] = {
    CPN_CONFIG_FIELD("VDEVS", "",
                     "virtual devices for the EAL, ';'-separated --vdev "
                     "arguments, e.g. net_memif0,role=server,socket=/tmp/m",
                     CPN_CFG_STRING, cpn_dpdk_config_t, vdevs),
    CPN_CONFIG_FIELD("PORTS", "",
                     "ports for this process's sites, ';'-separated SPEC@IP; "
                     "SPEC: port name, number, or ring:RXRING:TXRING; each "
                     "site opened takes the next",
                     CPN_CFG_STRING, cpn_dpdk_config_t, ports),
    CPN_CONFIG_FIELD("LCORES", "",
                     "EAL --lcores map (e.g. 0@1); empty: lcore 0 on every CPU",
                     CPN_CFG_STRING, cpn_dpdk_config_t, lcores),
    CPN_CONFIG_FIELD("FILE_PREFIX", "",
                     "EAL --file-prefix, one per process on a host; empty: "
                     "cpndpdk<pid>",
                     CPN_CFG_STRING, cpn_dpdk_config_t, file_prefix),
    CPN_CONFIG_FIELD("HUGE", "auto",
                     "hugepages: y, n (--no-huge), auto (y when free "
                     "hugepages are mounted); memif needs y",
                     CPN_CFG_STRING, cpn_dpdk_config_t, huge),
    CPN_CONFIG_FIELD("MEM", "512M", "EAL memory (-m)", CPN_CFG_SIZE,
                     cpn_dpdk_config_t, mem),
    CPN_CONFIG_FIELD("PCI", "n",
                     "probe PCI devices (real NICs bound to vfio-pci); "
                     "off: --no-pci",
                     CPN_CFG_BOOL, cpn_dpdk_config_t, pci),
    CPN_CONFIG_FIELD("EAL_ARGS", "",
                     "more EAL arguments, space-separated",
                     CPN_CFG_STRING, cpn_dpdk_config_t, eal_extra),
    CPN_CONFIG_FIELD("MTU", "1500",
                     "IP MTU of the port (jumbo: 9000, up to 64877); frames "
                     "are 14 more",
                     CPN_CFG_UINT, cpn_dpdk_config_t, mtu),
    CPN_CONFIG_FIELD("MTU_CLAMP", "y",
                     "n: use CPN_DPDK_MTU even above the largest frame the "
                     "PMD reports, and refuse an af_packet framesz or memif "
                     "bsize too small for it (y: use what they carry); "
                     "af_packet and memif need neither: cpn sizes their "
                     "slots for the MTU when their vdev does not",
                     CPN_CFG_BOOL, cpn_dpdk_config_t, mtu_clamp),
    CPN_CONFIG_FIELD("RXD", "1024", "rx descriptors", CPN_CFG_UINT,
                     cpn_dpdk_config_t, rxd),
    CPN_CONFIG_FIELD("TXD", "1024", "tx descriptors", CPN_CFG_UINT,
                     cpn_dpdk_config_t, txd),
    CPN_CONFIG_FIELD("MBUFS", "0",
                     "mbufs in the port's pool (0: 16383, fewer for frames "
                     "above 16 KiB: about 256 MiB of them, at least 4095)",
                     CPN_CFG_UINT, cpn_dpdk_config_t, mbufs),
    CPN_CONFIG_FIELD("RING_SIZE", "4096",
                     "entries of each rte_ring a ring:RX:TX port is made of "
                     "(a power of two)",
                     CPN_CFG_UINT, cpn_dpdk_config_t, ring_size),
    CPN_CONFIG_FIELD("WINDOW", "1024",
                     "receive window in frames (a power of two, <= 4096)",
                     CPN_CFG_UINT, cpn_dpdk_config_t, window),
    CPN_CONFIG_FIELD("CWND_INIT", "64", "initial congestion window (frames)",
                     CPN_CFG_UINT, cpn_dpdk_config_t, cwnd_init),
    CPN_CONFIG_FIELD("CWND_AI", "4",
                     "additive increase: frames added to the congestion "
                     "window per round trip (the decrease halves it)",
                     CPN_CFG_UINT, cpn_dpdk_config_t, cwnd_ai),
    CPN_CONFIG_FIELD("CWND_MIN", "16",
                     "delay CC: least window (frames) a delay cut leaves; "
                     "losses and timeouts may cut below it. RTT noise from "
                     "a busy host must not starve the flow",
                     CPN_CFG_UINT, cpn_dpdk_config_t, cwnd_min),
    CPN_CONFIG_FIELD("CC", "delay",
                     "congestion control: delay (Swift-like: the window "
                     "shrinks when the RTT exceeds the base RTT plus "
                     "CPN_DPDK_DELAY_TARGET, and on timeouts, not on each "
                     "loss) or aimd (halve on every loss episode)",
                     CPN_CFG_STRING, cpn_dpdk_config_t, cc),
    CPN_CONFIG_FIELD("DELAY_TARGET", "0",
                     "delay CC: queueing delay above the least RTT seen "
                     "that counts as congestion (0: 1 ms for each 9000 "
                     "bytes of MTU begun, so a queue holds as many big "
                     "frames as jumbo ones)",
                     CPN_CFG_TIME_MS, cpn_dpdk_config_t, delay_target_ms),
    CPN_CONFIG_FIELD("RTO_MIN", "2ms", "least retransmission timeout",
                     CPN_CFG_TIME_MS, cpn_dpdk_config_t, rto_min_ms),
    CPN_CONFIG_FIELD("RTO_INIT", "20ms", "retransmission timeout before an "
                     "RTT is measured", CPN_CFG_TIME_MS, cpn_dpdk_config_t,
                     rto_init_ms),
    CPN_CONFIG_FIELD("RTO_MAX", "200ms", "largest retransmission timeout",
                     CPN_CFG_TIME_MS, cpn_dpdk_config_t, rto_max_ms),
    CPN_CONFIG_FIELD("PEER_TIMEOUT", "5s",
                     "a peer silent this long (nothing acked, keepalives "
                     "unanswered) fails its endpoint; also the connect limit",
                     CPN_CFG_TIME_MS, cpn_dpdk_config_t, peer_timeout_ms),
    CPN_CONFIG_FIELD("MSG_MAX", "1G", "largest message a peer may send us",
                     CPN_CFG_SIZE, cpn_dpdk_config_t, msg_max),
    CPN_CONFIG_FIELD("CHUNK_MAX", "256K",
                     "largest task chunk this site receives over DPDK: its "
                     "staging slots, below CPN_SITE_CHUNK_SIZE (0: no cap). "
                     "It checks and writes a chunk between two polls of its "
                     "port: over memif 1M chunks gave a third of 256K's "
                     "goodput",
                     CPN_CFG_SIZE, cpn_dpdk_config_t, chunk_max),
    CPN_CONFIG_FIELD("CSUM_ALL", "n",
                     "y: checksum every frame's payload, and ask peers to; "
                     "n: not the payload of puts into a region whose owner "
                     "checks what lands there itself (a task's staging "
                     "slots and sinks, hashed per chunk and put again on a "
                     "mismatch), until that site drops a corrupt frame",
                     CPN_CFG_BOOL, cpn_dpdk_config_t, csum_all),
    CPN_CONFIG_FIELD("NEIGH", "",
                     "static neighbours, ';'-separated IP=MAC; others by ARP",
                     CPN_CFG_STRING, cpn_dpdk_config_t, neigh),
    CPN_CONFIG_FIELD("FAULT_SEED", "1", "seed of the fault injector",
                     CPN_CFG_UINT, cpn_dpdk_config_t, fault_seed),
    CPN_CONFIG_FIELD("FAULT_DROP", "0",
                     "tests: drop received cpn frames with this probability "
                     "(0.01 or 1%)",
                     CPN_CFG_STRING, cpn_dpdk_config_t, fault_drop),
    CPN_CONFIG_FIELD("FAULT_REORDER", "0",
                     "tests: hold a received frame back behind the next",
                     CPN_CFG_STRING, cpn_dpdk_config_t, fault_reorder),
    CPN_CONFIG_FIELD("FAULT_DUP", "0", "tests: deliver a received frame twice",
                     CPN_CFG_STRING, cpn_dpdk_config_t, fault_dup),
    CPN_CONFIG_FIELD("FAULT_CORRUPT", "0",
                     "tests: flip a byte of a received frame's cpn part",
                     CPN_CFG_STRING, cpn_dpdk_config_t, fault_corrupt),
};

static cpn_config_table_t cpn_dpdk_config_table = {
    .area = "DPDK",
    .title = "transport: dpdk",
    .field = cpn_dpdk_config_field,
    .nfield = CPN_ARRAY_SIZE(cpn_dpdk_config_field),
};
CPN_CONFIG_REGISTER(cpn_dpdk_config_table)

/* ---- objects --------------------------------------------------------------- */

typedef struct cpn_dpdk_iface cpn_dpdk_iface_t;
typedef struct cpn_dpdk_ep cpn_dpdk_ep_t;

typedef struct cpn_dpdk_mem {
    cpn_tp_mem_t super;
    uint32_t id;
} cpn_dpdk_mem_t;

typedef struct cpn_dpdk_rkey {
    cpn_tp_rkey_t super;
    uint32_t id;
    uint32_t flags;          /* CPN_DPDK_KEY_F_* */
    uint64_t addr, len;
} cpn_dpdk_rkey_t;


/* One send or put queued on an endpoint. */
typedef struct cpn_dpdk_op {
    struct cpn_dpdk_op *next;
    uint8_t kind;            /* CPN_DPDK_OP_SEND or _PUT */
    uint8_t notify_sent;     /* PUT: the notify segment is numbered */
    uint8_t segmented;       /* every segment numbered */
    uint8_t hdr_csum;        /* PUT: the region's owner checks payloads */
    const uint8_t *buf;
    size_t len;
    size_t cursor;           /* bytes numbered so far */
    uint32_t key;
    uint64_t raddr;
    uint32_t last_seq;
    size_t notify_len;
    uint8_t notify[CPN_TP_NOTIFY_MAX];
    cpn_tp_comp_cb_t cb;
    void *arg;
} cpn_dpdk_op_t;

/* A numbered, unacked segment (send window slot). */
typedef struct cpn_dpdk_slot {
    cpn_dpdk_op_t *op;
    uint64_t off;            /* offset in op->buf */
    uint64_t sent_ns;
    uint32_t len;
    uint8_t segop;           /* enum cpn_dpdk_segop */
    uint8_t sacked;
    uint8_t used;
    uint8_t fast;            /* sent again on a SACK gap since last timeout */
    uint8_t probed;          /* sent again by the probe timer (once) */
} cpn_dpdk_slot_t;

enum cpn_dpdk_ep_state {
    CPN_DPDK_EP_RESOLVING,   /* waiting for ARP */
    CPN_DPDK_EP_CONNECTING,  /* SYN sent */
    CPN_DPDK_EP_OPEN,
    CPN_DPDK_EP_FAILED,
    CPN_DPDK_EP_CLOSED,
};

struct cpn_dpdk_ep {
    cpn_tp_ep_t super;
    cpn_dpdk_ep_t *next_zombie;
    int state;
    int incoming;
    uint32_t id, peer_id;
    uint32_t peer_ip;        /* network order */
    uint16_t peer_port, local_port;
    struct rte_ether_addr peer_mac;
    uint64_t syn_ns, last_syn_ns, last_rx_ns, last_ka_ns;
    /* sender */
    int csum_all;            /* check every payload: CPN_DPDK_CSUM_ALL, or the
                              * peer saw corrupt frames */
    cpn_dpdk_op_t *op_head, *op_tail, *op_cur;
    cpn_dpdk_slot_t *slot;   /* [window] */
    uint32_t snd_una, snd_nxt, high_sack;
    uint32_t peer_wnd;
    double cwnd, ssthresh;
    uint32_t recover;        /* no second cut until snd_una passes this */
    int in_recovery;
    uint64_t srtt_ns, rttvar_ns, rto_ns;
    uint64_t min_rtt_ns, last_rtt_ns, last_cut_ns;
    uint64_t win_rtt_ns, win_start_ns; /* least RTT of this round trip */
    int delay_high;          /* the last round's standing delay was over */
    uint64_t last_progress_ns;
    uint64_t rack_ns;        /* send time of the newest frame known to have
                              * arrived (the peer's ts_echo): RACK */
    uint64_t rto_at_ns;      /* when the last timeout fired */
    double undo_cwnd, undo_ssthresh; /* windows before it (Eifel undo) */
    int undo_ok;             /* that timeout may still prove spurious */
    int rto_rest;            /* frames the timeout did not resend yet */
    /* receiver */
    uint32_t rcv_nxt;
    struct rte_mbuf **ooo;   /* [window] out-of-order DATA frames: held,
                              * or CPN_DPDK_OOO_WRITTEN */
    uint32_t nooo;
    uint64_t ts_echo;
    uint64_t ts_echo_at;     /* when that frame was read (progress start) */
    int ack_due;
    uint8_t *msg;            /* message being reassembled */
    uint64_t msg_len, msg_got;
    /* the put landing in order, hashed as it is copied (cpn_tp_landed_t):
     * from lh_start up to lh_next so far, while lh_on; lh from the start */
    cpn_hash_state_t *lh;
    uint64_t lh_start, lh_next;
    int lh_on;
    uint32_t fin_seq;
    int fin_got;
};

struct cpn_dpdk_iface {
    cpn_tp_iface_t super;
    cpn_dpdk_config_t cfg;
    char site[64];
    char port_name[RTE_ETH_NAME_MAX_LEN];
    int entry;               /* index in CPN_DPDK_PORTS */
    uint16_t port;
    int port_started, port_made;
    struct rte_mempool *pool;
    struct rte_ether_addr mac;
    uint32_t ip;             /* network order */
    uint32_t ip_sum;         /* the IPv4 header fields every frame from
                              * this port carries the same, summed
                              * (cpn_dpdk_ip_csum) */
    char ip_str[INET_ADDRSTRLEN];
    uint16_t listen_port;
    uint16_t next_eport;
    uint32_t mtu;
    uint32_t seg_max;        /* payload bytes per DATA frame */
    uint64_t delay_target_ns; /* delay CC's target (CPN_DPDK_DELAY_TARGET) */
    int want_csum_all;       /* ask peers to check every payload sent here:
                              * CPN_DPDK_CSUM_ALL, or a corrupt frame seen */
    uint32_t window;
    uint64_t tx_ol;          /* tx offloads in use */
    int cc_delay;            /* CPN_DPDK_CC=delay */
    cpn_dpdk_ep_t *ep[CPN_DPDK_MAX_EPS];
    uint16_t ep_gen[CPN_DPDK_MAX_EPS];
    unsigned ep_hi;          /* ep[] is NULL from here on: loops stop here */
    cpn_dpdk_ep_t *zombies;
    cpn_dpdk_mem_t **mem;
    uint32_t nmem;
    struct { uint32_t ip; struct rte_ether_addr mac; } neigh[CPN_DPDK_MAX_NEIGH];
    unsigned nneigh;
    /* Frames built but not yet taken by the port, oldest first: a FIFO of
     * txq_mask + 1 entries (a power of two), head at txq_head. A full tx
     * ring leaves them here for the next flush instead of dropping them. */
    struct rte_mbuf **txq;
    uint32_t txq_mask, txq_head, ntx;
    unsigned ntx_new;        /* queued since the last flush attempt */
    int tx_stalled;          /* the last flush left frames: ring full */
    uint64_t ring_full_ns;   /* when a flush last found the ring full */
    struct rte_mbuf *stash[CPN_DPDK_BURST];
    unsigned nstash;
    struct rte_mbuf *held;   /* fault injection: frame held back */
    double p_drop, p_reorder, p_dup, p_corrupt;
    uint64_t rng;
    int in_progress;
    uint64_t rx_now;         /* progress start: when its frames were read */
    int rx_backlog;          /* progress left frames in the rx ring */
    /* Ports whose peer's PMD unmaps the shared rings when this side stops
     * the port, from its control thread, with no lock against a burst
     * running there (net_memif, DPDK 22.11 memif_disconnect): see
     * cpn_dpdk_quiesce(). */
    int shared_rings;
    int peer_speaks;         /* a cpn connection was opened on the port */
    int quiet;               /* the peer is stopping the port: no bursts */
    int quiet_down;          /* ... and its link has gone down since */
    int streamed;            /* streaming stores not yet published */
    uint64_t quiet_since, quiet_look;
    int quiesce;             /* this side stopping the port: CPN_DPDK_Q_* */
    cpn_dpdk_stats_t st;
};

#define cpn_dpdk_iface_of(_t) cpn_container_of(_t, cpn_dpdk_iface_t, super)
#define cpn_dpdk_ep_of(_t)    cpn_container_of(_t, cpn_dpdk_ep_t, super)
#define cpn_dpdk_ep_iface(_e) cpn_dpdk_iface_of((_e)->super.iface)

/* Nanoseconds from @p t to @p now; 0 when @p t is later (it was stamped
 * after @p now was read). */
static inline uint64_t age(uint64_t now, uint64_t t)
{
    return now > t ? now - t : 0;
}

static inline int seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

/* ---- EAL: once per process ------------------------------------------------ */

static int cpn_dpdk_eal_state;          /* 0 not yet, 1 up, -1 failed */
static unsigned cpn_dpdk_claimed;       /* bitmask of CPN_DPDK_PORTS entries */
static unsigned cpn_dpdk_nifaces;

/* Free hugepages mounted somewhere? */
static int cpn_dpdk_have_huge(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    long free_pages = 0;
    int mounted = 0;

    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        sscanf(line, "HugePages_Free: %ld", &free_pages);
    }
    fclose(f);
    f = fopen("/proc/mounts", "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, " hugetlbfs ") != NULL) {
            mounted = 1;
        }
    }
    fclose(f);
    return mounted && free_pages > 0;
}

/* At exit: release the EAL and remove its runtime directory
 * (/var/run/dpdk/PREFIX, which the EAL makes even with nothing to put in
 * it: see --in-memory in cpn_dpdk_eal_init), so that short-lived processes
 * (tests, `cpn send`) leave nothing behind. */
static void cpn_dpdk_eal_atexit(void)
{
    char path[PATH_MAX];
    const char *rdir = rte_eal_get_runtime_dir();
    DIR *d;
    struct dirent *e;

    snprintf(path, sizeof(path), "%s", rdir != NULL ? rdir : "");
    rte_eal_cleanup();
    if (path[0] == '\0' || (d = opendir(path)) == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char f[PATH_MAX + 256];

        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(f, sizeof(f), "%s/%s", path, e->d_name);
            unlink(f);
        }
    }
    closedir(d);
    rmdir(path);
}

/* Software-port vdevs whose frames are bounded by a devarg, not by what the
 * PMD reports (DPDK 22.11's af_packet and memif both say 1518 bytes):
 * af_packet's ring slots (framesz) and memif's buffers (bsize; 22.11's
 * memif rx fast path, taken when an mbuf holds a whole buffer, hands each
 * buffer of a chained frame up as a frame of its own, so a frame must fit
 * one buffer). */
#define CPN_DPDK_SIZED_MAX 8
typedef struct cpn_dpdk_sized {
    char name[64];         /* vdev name, e.g. "net_af_packet0" */
    char ifname[IFNAMSIZ]; /* af_packet's iface= devarg */
    const char *devarg;    /* "framesz" or "bsize" */
    unsigned size;         /* its value */
    unsigned mbuf_room;    /* data room an mbuf needs for one slot */
    unsigned mtu;          /* IP MTU its frames carry */
} cpn_dpdk_sized_t;
static cpn_dpdk_sized_t cpn_dpdk_sized[CPN_DPDK_SIZED_MAX];
static unsigned cpn_dpdk_nsized;

/* The unsigned devarg @p key of @p kv (NULL: none); 0 if absent. */
static unsigned long cpn_dpdk_devarg_ul(const struct rte_kvargs *kv,
                                        const char *key)
{
    const char *v = kv != NULL ? rte_kvargs_get(kv, key) : NULL;

    return v != NULL ? strtoul(v, NULL, 0) : 0;
}

/* Write into OUT the --vdev argument for SPEC. When MTU is above 1500, an
 * af_packet vdev without framesz gets ring slots sized for it and a memif
 * vdev without bsize buffers that hold a whole frame (the peer's memif must
 * have the same). What each such vdev carries is remembered for
 * cpn_dpdk_port_start.
 *
 * @return 1 when SPEC is a memif vdev in memif's zero-copy mode
 * (zero-copy=yes): the PMD then hands the peer its mbufs' memory, shared by
 * the file descriptor of each memory segment, and refuses to probe ("Zero-
 * copy doesn't support multi-file segments") unless the EAL keeps its
 * memory in a single file (--single-file-segments); else 0. */
static int cpn_dpdk_vdev_arg(const char *spec, unsigned mtu, char *out,
                             size_t len)
{
    const unsigned eth = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
    cpn_dpdk_sized_t *v = &cpn_dpdk_sized[cpn_dpdk_nsized];
    unsigned long size;
    size_t nlen = strcspn(spec, ",");
    struct rte_kvargs *kv = NULL;
    const char *zc;
    int zero_copy;

    snprintf(out, len, "%s", spec);
    if (spec[nlen] == ',') {
        kv = rte_kvargs_parse(spec + nlen + 1, NULL); /* NULL: EAL says why */
    }
    zc = kv != NULL ? rte_kvargs_get(kv, "zero-copy") : NULL;
    zero_copy = strncmp(spec, "net_memif", 9) == 0 && zc != NULL &&
                strstr(zc, "yes") != NULL; /* as the PMD reads it */
    if (cpn_dpdk_nsized == CPN_DPDK_SIZED_MAX) {
        rte_kvargs_free(kv);
        return zero_copy;
    }
    memset(v, 0, sizeof(*v));
    if (strncmp(spec, "net_af_packet", 13) == 0) {
        /* af_packet puts a received frame 80 bytes into its ring slot
         * (tpacket2 header and sockaddr_ll, aligned) and copies framesz - 32
         * bytes of the slot into an mbuf. */
        const unsigned lead = 80;
        const char *i = kv != NULL ? rte_kvargs_get(kv, "iface") : NULL;

        v->devarg = "framesz";
        size = cpn_dpdk_devarg_ul(kv, v->devarg);
        if (size == 0 && mtu > 1500) {
            /* The PMD finds slot i at i * framesz: a block (a page multiple)
             * holds a whole number k of slots, and framecnt is a multiple
             * of k. k = 8 (slots of 512-byte multiples) unless framecnt
             * says less. */
            unsigned long cnt = cpn_dpdk_devarg_ul(kv, "framecnt"), k = 8;

            while (cnt != 0 && cnt % k != 0) {
                k /= 2;
            }
            size = RTE_ALIGN_CEIL(mtu + eth + lead, 4096 / k);
            snprintf(out, len, "%s,framesz=%lu,blocksz=%lu", spec, size,
                     k * size);
        } else if (size == 0) {
            size = 2048; /* the PMD's default */
        }
        if (i != NULL) {
            snprintf(v->ifname, sizeof(v->ifname), "%s", i);
        }
        v->mbuf_room = size > 32 ? (unsigned)size - 32 : 0;
        v->mtu = size > lead + eth ? (unsigned)(size - lead - eth) : 0;
    } else if (strncmp(spec, "net_memif", 9) == 0) {
        v->devarg = "bsize";
        size = cpn_dpdk_devarg_ul(kv, v->devarg);
        if (size == 0 && mtu > 1500) {
            size = RTE_ALIGN_CEIL(mtu + eth, 128);
            snprintf(out, len, "%s,bsize=%lu", spec, size);
        } else if (size == 0) {
            size = 2048; /* the PMD's default */
        }
        v->mbuf_room = (unsigned)size;
        v->mtu = size > eth ? (unsigned)(size - eth) : 0;
    } else {
        rte_kvargs_free(kv);
        return zero_copy;
    }
    rte_kvargs_free(kv);
    v->size = (unsigned)size;
    snprintf(v->name, sizeof(v->name), "%.*s", (int)nlen, spec);
    cpn_dpdk_nsized++;
    return zero_copy;
}

static cpn_status_t cpn_dpdk_eal_init(const cpn_dpdk_config_t *cfg)
{
    /* The EAL keeps pointers into argv for the life of the process. */
    static char args[64][512];
    char *argv[64];
    int argc = 0, huge, ret, zero_copy = 0;
    char *copy = NULL, *save = NULL, *tok;
    char buf[512];
    cpn_status_t st = CPN_OK;

    if (cpn_dpdk_eal_state != 0) {
        return cpn_dpdk_eal_state > 0 ? CPN_OK : CPN_ERR_TRANSPORT;
    }

#define ARG(...)                                                              \
    do {                                                                      \
        if (argc < 60) {                                                      \
            snprintf(args[argc], sizeof(args[argc]), __VA_ARGS__);            \
            argv[argc] = args[argc];                                          \
            argc++;                                                           \
        }                                                                     \
    } while (0)

    ARG("cpn");
    if (cfg->file_prefix[0] != '\0') {
        ARG("--file-prefix=%s", cfg->file_prefix);
    } else {
        ARG("--file-prefix=cpndpdk%d", (int)getpid());
    }
    if (cfg->lcores[0] != '\0') {
        ARG("--lcores=%s", cfg->lcores);
    } else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        ARG("--lcores=0@(0-%ld)", n > 1 ? n - 1 : 0);
    }
    if (strcmp(cfg->huge, "y") == 0 || strcmp(cfg->huge, "yes") == 0) {
        huge = 1;
    } else if (strcmp(cfg->huge, "n") == 0 || strcmp(cfg->huge, "no") == 0) {
        huge = 0;
    } else {
        huge = cpn_dpdk_have_huge();
    }
    /* Nothing of a process may outlive it. By default the EAL backs
     * hugepages with files in the hugetlbfs mount, named by the file
     * prefix, and leaves them there when the process ends, for secondary
     * processes to attach to; it also leaves its shared config and a
     * telemetry socket under /var/run/dpdk/PREFIX when it is killed. cpn
     * has no secondaries and a prefix per process, so each run held its
     * pages until someone deleted its files (a day of benchmarks here left
     * 476 of them, 952 MiB, to processes long gone). --in-memory keeps
     * everything in the process (hugepages unlinked once mapped), so it all
     * goes back when the process ends, however it ends; --no-huge already
     * implies the rest but not with --in-memory (legacy memory), so it
     * gets --no-shconf. No telemetry socket: cpn reports through its own
     * counters. */
    if (!huge) {
        ARG("--no-huge");
        ARG("--no-shconf");
    } else {
        ARG("--in-memory");
    }
    ARG("--no-telemetry");
    ARG("-m");
    ARG("%zu", cfg->mem >> 20 ? cfg->mem >> 20 : 1);
    if (!cfg->pci) {
        ARG("--no-pci");
    }
    ARG("--log-level=%s", cpn__log_level_init() >= CPN_LOG_DEBUG ? "info"
                                                                  : "error");
    copy = strdup(cfg->vdevs);
    for (tok = strtok_r(copy, ";", &save); tok != NULL;
         tok = strtok_r(NULL, ";", &save)) {
        if (*tok != '\0') {
            char v[448];

            zero_copy |= cpn_dpdk_vdev_arg(tok, cfg->mtu, v, sizeof(v));
            ARG("--vdev=%s", v);
        }
    }
    free(copy);
    if (zero_copy && strstr(cfg->eal_extra, "--single-file-segments") == NULL) {
        ARG("--single-file-segments");
    }
    copy = strdup(cfg->eal_extra);
    for (tok = strtok_r(copy, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        ARG("%s", tok);
    }
    free(copy);
#undef ARG

    buf[0] = '\0';
    for (int i = 0; i < argc; i++) {
        size_t u = strlen(buf);

        snprintf(buf + u, sizeof(buf) - u, "%s%s", i ? " " : "", argv[i]);
    }
    cpn_info("dpdk: EAL %s (hugepages %s)", buf, huge ? "on" : "off");
    ret = rte_eal_init(argc, argv);
    if (ret < 0) {
        cpn_error("dpdk: EAL initialisation failed (%s): %s; check "
                  "CPN_DPDK_VDEVS, CPN_DPDK_HUGE (memif needs hugepages) and "
                  "that no other process uses the same CPN_DPDK_FILE_PREFIX",
                  buf, rte_strerror(rte_errno));
        cpn_dpdk_eal_state = -1;
        st = CPN_ERR_TRANSPORT;
    } else {
        cpn_dpdk_eal_state = 1;
        cpn_dpdk_clock_init();
        atexit(cpn_dpdk_eal_atexit);
    }
    return st;
}

/* ---- helpers --------------------------------------------------------------- */

static double cpn_dpdk_parse_prob(const char *name, const char *s)
{
    double v;

    if (cpn__config_parse_prob(s, &v) != CPN_OK) {
        cpn_warn("dpdk: CPN_DPDK_%s='%s' is not a probability (0.01 or 1%%); "
                 "using 0", name, s);
        return 0;
    }
    return v;
}

/* The seeded, reproducible stream of fault injection. */
static double cpn_dpdk_rand(cpn_dpdk_iface_t *iface)
{
    return cpn__fault_rand(&iface->rng);
}

static int cpn_dpdk_parse_mac(const char *s, struct rte_ether_addr *mac)
{
    unsigned b[6];

    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4],
               &b[5]) != 6) {
        return 0;
    }
    for (int i = 0; i < 6; i++) {
        if (b[i] > 255) {
            return 0;
        }
        mac->addr_bytes[i] = (uint8_t)b[i];
    }
    return 1;
}

/* The IPv4 header fields every frame from @p iface carries the same into
 * @p ip; the destination, the length and the checksum are left 0. */
static inline void cpn_dpdk_ip_fixed(const cpn_dpdk_iface_t *iface,
                                     struct rte_ipv4_hdr *ip)
{
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->type_of_service = 0;
    ip->total_length = 0;
    ip->packet_id = 0;
    ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->hdr_checksum = 0;
    ip->src_addr = iface->ip;
    ip->dst_addr = 0;
}

/* Those fields summed as 16-bit words (RFC 1071), for cpn_dpdk_ip_csum. */
static void cpn_dpdk_ip_sum_init(cpn_dpdk_iface_t *iface)
{
    struct rte_ipv4_hdr ip;

    cpn_dpdk_ip_fixed(iface, &ip);
    iface->ip_sum = rte_raw_cksum(&ip, sizeof(ip));
}

/* The header checksum of an IPv4 header from @p iface to @p dst_ip with
 * total length @p len_be (both as on the wire): what rte_ipv4_cksum gives,
 * from the sum of the fields that never change and the two that do,
 * instead of summing the whole header again for every frame (49 fewer of
 * the 1400 instructions that build and send a data frame, callgrind). */
static inline uint16_t cpn_dpdk_ip_csum(const cpn_dpdk_iface_t *iface,
                                        uint32_t dst_ip, uint16_t len_be)
{
    uint32_t sum = iface->ip_sum + (dst_ip & 0xffff) + (dst_ip >> 16) + len_be;

    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void cpn_dpdk_neigh_set(cpn_dpdk_iface_t *iface, uint32_t ip,
                               const struct rte_ether_addr *mac)
{
    for (unsigned i = 0; i < iface->nneigh; i++) {
        if (iface->neigh[i].ip == ip) {
            iface->neigh[i].mac = *mac;
            return;
        }
    }
    if (iface->nneigh < CPN_DPDK_MAX_NEIGH) {
        iface->neigh[iface->nneigh].ip = ip;
        iface->neigh[iface->nneigh].mac = *mac;
        iface->nneigh++;
    }
}

static int cpn_dpdk_neigh_get(cpn_dpdk_iface_t *iface, uint32_t ip,
                              struct rte_ether_addr *mac)
{
    for (unsigned i = 0; i < iface->nneigh; i++) {
        if (iface->neigh[i].ip == ip) {
            *mac = iface->neigh[i].mac;
            return 1;
        }
    }
    return 0;
}

static void cpn_dpdk_fmt_peer(char *buf, size_t len, uint32_t ip,
                              uint16_t port)
{
    char s[INET_ADDRSTRLEN];
    struct in_addr a = {.s_addr = ip};

    inet_ntop(AF_INET, &a, s, sizeof(s));
    snprintf(buf, len, "%s:%u", s, port);
}

/* ---- port set-up ------------------------------------------------------------ */

/* Find (or make, for ring:RX:TX) the port SPEC names. */
static cpn_status_t cpn_dpdk_find_port(cpn_dpdk_iface_t *iface,
                                       const char *spec)
{
    uint16_t pid;

    if (strncmp(spec, "ring:", 5) == 0) {
        char rxn[RTE_RING_NAMESIZE], txn[RTE_RING_NAMESIZE];
        const char *colon = strchr(spec + 5, ':');
        struct rte_ring *r[2];
        int ret;

        if (colon == NULL || (size_t)(colon - spec - 5) >= sizeof(rxn) ||
            strlen(colon + 1) >= sizeof(txn)) {
            cpn_error("dpdk: port '%s': expected ring:RXRING:TXRING", spec);
            return CPN_ERR_CONFIG;
        }
        if (iface->cfg.ring_size < 2 ||
            (iface->cfg.ring_size & (iface->cfg.ring_size - 1)) != 0) {
            cpn_error("dpdk: port '%s': CPN_DPDK_RING_SIZE=%u: use a power "
                      "of two", spec, iface->cfg.ring_size);
            return CPN_ERR_CONFIG;
        }
        snprintf(rxn, sizeof(rxn), "%.*s", (int)(colon - spec - 5), spec + 5);
        snprintf(txn, sizeof(txn), "%s", colon + 1);
        for (int i = 0; i < 2; i++) {
            const char *n = i ? txn : rxn;

            r[i] = rte_ring_lookup(n);
            if (r[i] == NULL) {
                r[i] = rte_ring_create(n, iface->cfg.ring_size,
                                       (int)rte_socket_id(),
                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
            }
            if (r[i] == NULL) {
                cpn_error("dpdk: port '%s': cannot create ring %s: %s", spec,
                          n, rte_strerror(rte_errno));
                return CPN_ERR_NO_MEMORY;
            }
        }
        snprintf(iface->port_name, sizeof(iface->port_name), "net_ring_%s",
                 rxn);
        ret = rte_eth_from_rings(iface->port_name, &r[0], 1, &r[1], 1,
                                 (unsigned)rte_socket_id());
        if (ret < 0) {
            cpn_error("dpdk: port '%s': rte_eth_from_rings failed: %s", spec,
                      rte_strerror(rte_errno));
            return CPN_ERR_TRANSPORT;
        }
        iface->port = (uint16_t)ret;
        iface->port_made = 1;
        return CPN_OK;
    }
    if (rte_eth_dev_get_port_by_name(spec, &pid) == 0) {
        iface->port = pid;
    } else {
        char *end;
        unsigned long v = strtoul(spec, &end, 10);

        if (*spec == '\0' || *end != '\0' || !rte_eth_dev_is_valid_port(
                                                 (uint16_t)v)) {
            cpn_error("dpdk: no ethdev port '%s' (ports found: %u); add its "
                      "vdev to CPN_DPDK_VDEVS, or bind the NIC with "
                      "dpdk-devbind.py and set CPN_DPDK_PCI=y",
                      spec, (unsigned)rte_eth_dev_count_avail());
            return CPN_ERR_NOT_FOUND;
        }
        iface->port = (uint16_t)v;
    }
    rte_eth_dev_get_name_by_port(iface->port, iface->port_name);
    return CPN_OK;
}

/* Warn when the kernel interface IFNAME under an af_packet port takes
 * smaller frames than the port's MTU: it would drop every bigger frame. */
static void cpn_dpdk_check_ifmtu(const cpn_dpdk_iface_t *iface,
                                 const char *ifname)
{
    struct ifreq ifr;
    int fd;

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 &&
        (unsigned)ifr.ifr_mtu < iface->mtu) {
        cpn_warn("dpdk: port %s: interface %s has MTU %d, below "
                 "CPN_DPDK_MTU=%u; frames above it are dropped: "
                 "ip link set %s mtu %u (on both ends)", iface->port_name,
                 ifname, ifr.ifr_mtu, iface->mtu, ifname, iface->mtu);
    }
    close(fd);
}

static cpn_status_t cpn_dpdk_port_start(cpn_dpdk_iface_t *iface)
{
    struct rte_eth_dev_info info;
    struct rte_eth_conf conf;
    struct rte_eth_txconf txconf;
    char pname[RTE_MEMPOOL_NAMESIZE];
    unsigned room, nmbufs, port_mtu = 0; /* port_mtu: what the port is told */
    const cpn_dpdk_sized_t *sz = NULL;
    uint16_t nrx, ntx;
    int ret;

    ret = rte_eth_dev_info_get(iface->port, &info);
    if (ret != 0) {
        cpn_error("dpdk: port %s: cannot read device info: %s",
                  iface->port_name, rte_strerror(-ret));
        return CPN_ERR_TRANSPORT;
    }
    if (iface->cfg.mtu < 576 || iface->cfg.mtu > CPN_DPDK_MTU_MAX) {
        cpn_error("dpdk: CPN_DPDK_MTU=%u: use 576..%u (a frame must fit one "
                  "mbuf)", iface->cfg.mtu, (unsigned)CPN_DPDK_MTU_MAX);
        return CPN_ERR_CONFIG;
    }
    iface->mtu = iface->cfg.mtu;
    for (unsigned i = 0; i < cpn_dpdk_nsized; i++) {
        if (strcmp(cpn_dpdk_sized[i].name, iface->port_name) == 0) {
            sz = &cpn_dpdk_sized[i];
        }
    }
    {
        uint32_t most = info.max_mtu != 0 ? info.max_mtu : UINT16_MAX;

        if (info.max_rx_pktlen > RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN) {
            most = CPN_MIN(most, info.max_rx_pktlen - RTE_ETHER_HDR_LEN -
                                     RTE_ETHER_CRC_LEN);
        }
        /* af_packet and memif carry what their slots or buffers hold,
         * whatever they report: tell the port what it reports (ethdev
         * refuses more), use the slots' MTU, and leave a kernel
         * interface's MTU to its owner. */
        uint32_t carried = sz != NULL ? CPN_MAX(most, sz->mtu) : most;

        if (iface->mtu > carried && sz != NULL && !iface->cfg.mtu_clamp) {
            cpn_error("dpdk: port %s: CPN_DPDK_MTU=%u does not fit its "
                      "%s=%u (it carries MTU %u at most): raise %s in "
                      "CPN_DPDK_VDEVS or leave it out", iface->port_name,
                      iface->mtu, sz->devarg, sz->size, sz->mtu, sz->devarg);
            return CPN_ERR_CONFIG;
        } else if (iface->mtu > carried && !iface->cfg.mtu_clamp) {
            cpn_warn("dpdk: port %s (%s) reports frames up to MTU %u; "
                     "using CPN_DPDK_MTU=%u anyway (CPN_DPDK_MTU_CLAMP=n)",
                     iface->port_name, info.driver_name, most, iface->mtu);
            port_mtu = most;
        } else if (iface->mtu > carried) {
            cpn_warn("dpdk: port %s (%s) takes frames up to MTU %u%s%s; "
                     "using that, not CPN_DPDK_MTU=%u", iface->port_name,
                     info.driver_name, carried, sz != NULL ? " by its " : "",
                     sz != NULL ? sz->devarg : "", iface->mtu);
            iface->mtu = carried;
        }
        if (iface->mtu > most) {
            port_mtu = most;
        }
        if (sz != NULL && sz->ifname[0] != '\0') {
            cpn_dpdk_check_ifmtu(iface, sz->ifname);
        }
    }
    iface->delay_target_ns =
        (uint64_t)(iface->cfg.delay_target_ms > 0
                       ? (unsigned)iface->cfg.delay_target_ms
                       : (iface->mtu + 8999) / 9000) *
        1000000ull;
    iface->seg_max = iface->mtu - (uint32_t)(sizeof(struct rte_ipv4_hdr) +
                                             sizeof(struct rte_udp_hdr) +
                                             CPN_DPDK_CPN_HDRS);
    /* Whole 64-byte lines per segment, so that a put's frames land in
     * whole lines of a line-aligned region, as streaming stores want (see
     * cpn_dpdk_land): 1.5% of a 1500-byte frame's payload, 0.4% of a
     * 9000-byte one. */
    if (iface->seg_max >= 2 * CPN_DPDK_LINE) {
        iface->seg_max &= ~(CPN_DPDK_LINE - 1);
    }
    /* Some PMDs (af_packet) want a whole default 2 KiB buffer per frame. */
    room = CPN_MAX(iface->mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN + 512,
                   (unsigned)RTE_MBUF_DEFAULT_DATAROOM);
    if (sz != NULL) {
        /* (af_packet copies framesz - 32 bytes of each slot into an mbuf;
         * memif's rx fast path wants a buffer per mbuf) */
        room = CPN_MAX(room, sz->mbuf_room);
    }
    if (room + RTE_PKTMBUF_HEADROOM > UINT16_MAX) {
        cpn_error("dpdk: port %s: frames of %u bytes do not fit an mbuf "
                  "(at most %u): lower CPN_DPDK_MTU or af_packet's framesz",
                  iface->port_name, room,
                  (unsigned)(UINT16_MAX - RTE_PKTMBUF_HEADROOM));
        return CPN_ERR_CONFIG;
    }
    room += RTE_PKTMBUF_HEADROOM;
    nmbufs = iface->cfg.mbufs;
    if (nmbufs == 0) {
        /* 16383, or fewer for big frames: a pool of at most 256 MiB */
        nmbufs = CPN_MIN(16383u, CPN_MAX(4095u, (256u << 20) / room));
    }
    snprintf(pname, sizeof(pname), "cpnmp_%u_%d", iface->port, getpid() % 100000);
    iface->pool = rte_pktmbuf_pool_create(pname, nmbufs, 256, 0,
                                          (uint16_t)room,
                                          (int)rte_socket_id());
    if (iface->pool == NULL) {
        cpn_error("dpdk: port %s: cannot allocate %u mbufs of %u bytes: %s "
                  "(raise CPN_DPDK_MEM or lower CPN_DPDK_MBUFS)",
                  iface->port_name, nmbufs, room,
                  rte_strerror(rte_errno));
        return CPN_ERR_NO_MEMORY;
    }

    memset(&conf, 0, sizeof(conf));
    conf.rxmode.mtu = port_mtu != 0 ? port_mtu : iface->mtu;
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
        iface->tx_ol |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    }
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) {
        iface->tx_ol |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    }
    conf.txmode.offloads = iface->tx_ol;
    ret = rte_eth_dev_configure(iface->port, 1, 1, &conf);
    if (ret != 0) {
        cpn_error("dpdk: port %s (%s): configure failed: %s", iface->port_name,
                  info.driver_name, rte_strerror(-ret));
        return CPN_ERR_TRANSPORT;
    }
    nrx = (uint16_t)iface->cfg.rxd;
    ntx = (uint16_t)iface->cfg.txd;
    rte_eth_dev_adjust_nb_rx_tx_desc(iface->port, &nrx, &ntx);
    ret = rte_eth_rx_queue_setup(iface->port, 0, nrx,
                                 (unsigned)rte_eth_dev_socket_id(iface->port),
                                 NULL, iface->pool);
    if (ret == 0) {
        txconf = info.default_txconf;
        txconf.offloads = iface->tx_ol;
        ret = rte_eth_tx_queue_setup(
            iface->port, 0, ntx, (unsigned)rte_eth_dev_socket_id(iface->port),
            &txconf);
    }
    if (ret != 0) {
        cpn_error("dpdk: port %s (%s): queue set-up failed: %s",
                  iface->port_name, info.driver_name, rte_strerror(-ret));
        return CPN_ERR_TRANSPORT;
    }
    ret = port_mtu != 0 ? 0
                        : rte_eth_dev_set_mtu(iface->port, (uint16_t)iface->mtu);
    if (ret != 0 && ret != -ENOTSUP) {
        cpn_warn("dpdk: port %s: MTU %u not taken: %s", iface->port_name,
                 iface->mtu, rte_strerror(-ret));
    }
    ret = rte_eth_dev_start(iface->port);
    if (ret != 0) {
        cpn_error("dpdk: port %s (%s): start failed: %s", iface->port_name,
                  info.driver_name, rte_strerror(-ret));
        return CPN_ERR_TRANSPORT;
    }
    iface->port_started = 1;
    iface->shared_rings = strcmp(info.driver_name, "net_memif") == 0;
    rte_eth_promiscuous_enable(iface->port); /* not every PMD can; fine */
    rte_eth_macaddr_get(iface->port, &iface->mac);
    cpn_info("dpdk: site %s on port %s (%s) %s mtu %u, %u B per segment, "
             "tx offloads 0x%" PRIx64, iface->site, iface->port_name,
             info.driver_name, iface->ip_str, iface->mtu, iface->seg_max,
             iface->tx_ol);
    return CPN_OK;
}

/* Claim the next CPN_DPDK_PORTS entry: "SPEC@IP". */
static cpn_status_t cpn_dpdk_claim(cpn_dpdk_iface_t *iface)
{
    char *copy = strdup(iface->cfg.ports), *save = NULL, *tok;
    cpn_status_t st = CPN_ERR_NOT_FOUND;
    int i = 0;

    if (copy == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    for (tok = strtok_r(copy, ";", &save); tok != NULL;
         tok = strtok_r(NULL, ";", &save), i++) {
        char *at = strrchr(tok, '@');
        struct in_addr a;

        if (i >= 32 || (cpn_dpdk_claimed & (1u << i))) {
            continue;
        }
        if (at == NULL || inet_pton(AF_INET, at + 1, &a) != 1) {
            cpn_error("dpdk: CPN_DPDK_PORTS entry '%s': expected SPEC@IPV4, "
                      "e.g. net_memif0@10.77.0.1", tok);
            st = CPN_ERR_CONFIG;
            break;
        }
        *at = '\0';
        iface->ip = a.s_addr;
        cpn_dpdk_ip_sum_init(iface);
        snprintf(iface->ip_str, sizeof(iface->ip_str), "%s", at + 1);
        st = cpn_dpdk_find_port(iface, tok);
        if (st == CPN_OK) {
            iface->entry = i;
            cpn_dpdk_claimed |= 1u << i;
        }
        break;
    }
    free(copy);
    if (st == CPN_ERR_NOT_FOUND && tok == NULL) {
        cpn_error("dpdk: site %s: no free port in CPN_DPDK_PORTS='%s' (one "
                  "SPEC@IP entry per site of this process)",
                  iface->site, iface->cfg.ports);
    }
    return st;
}

static void cpn_dpdk_load_neigh(cpn_dpdk_iface_t *iface)
{
    char *copy = strdup(iface->cfg.neigh), *save = NULL, *tok;

    for (tok = strtok_r(copy, ";", &save); tok != NULL;
         tok = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(tok, '=');
        struct in_addr a;
        struct rte_ether_addr mac;

        if (eq == NULL) {
            goto bad;
        }
        *eq = '\0';
        if (inet_pton(AF_INET, tok, &a) != 1 ||
            !cpn_dpdk_parse_mac(eq + 1, &mac)) {
            goto bad;
        }
        cpn_dpdk_neigh_set(iface, a.s_addr, &mac);
        continue;
bad:
        cpn_warn("dpdk: CPN_DPDK_NEIGH entry '%s' ignored: expected "
                 "IP=aa:bb:cc:dd:ee:ff", tok);
    }
    free(copy);
}

/* ---- frames out -------------------------------------------------------------- */

/* Drop every frame queued for the port, counted as not sent. */
static void cpn_dpdk_tx_discard(cpn_dpdk_iface_t *iface)
{
    while (iface->ntx > 0) {
        iface->st.tx_dropped++;
        rte_pktmbuf_free(iface->txq[iface->txq_head++ & iface->txq_mask]);
        iface->ntx--;
    }
    iface->tx_stalled = 0;
}

/* May the port's rings be touched? Not while the peer stops it (QUIESCE
 * came): then once a millisecond look at the link (the PMD's flag, no ring
 * access), and poll again once it has gone down and come back (a new
 * peer), or when it never went down for CPN_DPDK_QUIET_MAX_NS (the peer
 * did not stop it after all). */
static int cpn_dpdk_quiet_over(cpn_dpdk_iface_t *iface)
{
    uint64_t now = cpn_dpdk_now_ns();
    struct rte_eth_link link;

    if (age(now, iface->quiet_look) < 1000000ull) {
        return 0;
    }
    iface->quiet_look = now;
    memset(&link, 0, sizeof(link));
    if (rte_eth_link_get_nowait(iface->port, &link) != 0 ||
        link.link_status == RTE_ETH_LINK_DOWN) {
        iface->quiet_down = 1;
        return 0;
    }
    if (!iface->quiet_down && age(now, iface->quiet_since) < CPN_DPDK_QUIET_MAX_NS) {
        return 0;
    }
    cpn_info("dpdk: site %s port %s: %s; polling it again", iface->site,
             iface->port_name,
             iface->quiet_down ? "its link is up again"
                               : "the peer did not stop it after all");
    iface->quiet = 0;
    if (iface->quiet_down) {
        iface->peer_speaks = 0; /* a new peer process, not yet heard */
    }
    return 1;
}

static inline int cpn_dpdk_port_usable(cpn_dpdk_iface_t *iface)
{
    return cpn_likely(!iface->quiet) || cpn_dpdk_quiet_over(iface);
}

/* rte_eth_rx_burst on @p iface's queue, its time counted when it returns
 * frames: what the PMD's own work costs per frame (memif and af_packet
 * copy each frame in), against cpn's. */
static inline uint16_t cpn_dpdk_rx_burst(cpn_dpdk_iface_t *iface,
                                         struct rte_mbuf **rx, uint16_t n)
{
    uint64_t t0 = cpn_dpdk_now_ns();

    n = rte_eth_rx_burst(iface->port, 0, rx, n);
    if (n > 0) {
        iface->st.pmd_rx_ns += cpn_dpdk_now_ns() - t0;
    }
    return n;
}

/* Hand queued frames to the port, oldest first, as far as its tx ring takes
 * them; the rest stay queued for the next call (a full ring is
 * backpressure, not loss: nothing is dropped, so nothing is resent). The
 * time of each burst that takes frames is counted (stats' pmd_tx_ns). */
static void cpn_dpdk_tx_flush(cpn_dpdk_iface_t *iface)
{
    iface->ntx_new = 0;
    if (cpn_unlikely(!cpn_dpdk_port_usable(iface))) {
        cpn_dpdk_tx_discard(iface);
        return;
    }
    while (iface->ntx > 0) {
        uint32_t at = iface->txq_head & iface->txq_mask;
        uint32_t run = CPN_MIN(iface->ntx, iface->txq_mask + 1 - at);
        uint16_t want = (uint16_t)CPN_MIN(run, 512u);
        uint64_t t0 = cpn_dpdk_now_ns();
        uint16_t sent = rte_eth_tx_burst(iface->port, 0, iface->txq + at,
                                         want);

        if (sent > 0) {
            iface->st.pmd_tx_ns += cpn_dpdk_now_ns() - t0;
        }
        iface->txq_head += sent;
        iface->ntx -= sent;
        if (sent < want) {
            iface->st.tx_ring_full++;
            iface->ring_full_ns = cpn_dpdk_now_ns();
            break;
        }
    }
    iface->tx_stalled = iface->ntx > 0;
}

/* Does the port lag behind (frames wait for room in its tx ring)? Then no
 * new segments are numbered and no frame is called lost by a timer: the
 * frames have not left yet. */
static inline int cpn_dpdk_tx_blocked(const cpn_dpdk_iface_t *iface)
{
    return iface->tx_stalled;
}

/* Queue @p m for the port; flushed every burst. Only when the queue itself
 * is full (the ring has not moved for a whole window of frames) is @p m
 * dropped and counted: DATA is then sent again by the timers. */
static void cpn_dpdk_tx_queue(cpn_dpdk_iface_t *iface, struct rte_mbuf *m)
{
    if (iface->ntx > iface->txq_mask) {
        cpn_dpdk_tx_flush(iface);
        if (iface->ntx > iface->txq_mask) {
            iface->st.tx_dropped++;
            rte_pktmbuf_free(m);
            return;
        }
    }
    iface->txq[(iface->txq_head + iface->ntx) & iface->txq_mask] = m;
    iface->ntx++;
    iface->st.tx_frames++;
    iface->st.tx_bytes += m->pkt_len;
    if (++iface->ntx_new == CPN_DPDK_BURST) {
        cpn_dpdk_tx_flush(iface);
    }
}

/* At close: give the port a moment to take what is queued, then drop it. */
static void cpn_dpdk_tx_drain(cpn_dpdk_iface_t *iface)
{
    uint64_t end = cpn_dpdk_now_ns() + 50000000ull;

    cpn_dpdk_tx_flush(iface);
    while (iface->ntx > 0 && cpn_dpdk_now_ns() < end) {
        rte_pause();
        cpn_dpdk_tx_flush(iface);
    }
    cpn_dpdk_tx_discard(iface);
}

/* Ethernet + IPv4 + UDP headers into @p m, to @p mac / @p dst_ip (network
 * order) from UDP port @p sport to @p dport, @p payload bytes after UDP. */
static void cpn_dpdk_fill_hdrs(cpn_dpdk_iface_t *iface, struct rte_mbuf *m,
                               const struct rte_ether_addr *mac,
                               uint32_t dst_ip, uint16_t sport, uint16_t dport,
                               uint32_t payload)
{
    struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
    struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

    eth->dst_addr = *mac;
    eth->src_addr = iface->mac;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    cpn_dpdk_ip_fixed(iface, ip);
    ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) +
                                                   sizeof(*udp) + payload));
    ip->dst_addr = dst_ip;
    udp->src_port = rte_cpu_to_be_16(sport);
    udp->dst_port = rte_cpu_to_be_16(dport);
    udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + payload));
    udp->dgram_cksum = 0;
    if (iface->tx_ol & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
        m->l2_len = sizeof(*eth);
        m->l3_len = sizeof(*ip);
        m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
    } else {
        ip->hdr_checksum = cpn_dpdk_ip_csum(iface, dst_ip, ip->total_length);
    }
}

/* Ethernet + IPv4 + UDP headers into @p m for @p ep, @p payload bytes after
 * UDP. */
static inline void cpn_dpdk_fill_l2l3(cpn_dpdk_iface_t *iface,
                                      cpn_dpdk_ep_t *ep, struct rte_mbuf *m,
                                      uint32_t payload)
{
    cpn_dpdk_fill_hdrs(iface, m, &ep->peer_mac, ep->peer_ip, ep->local_port,
                       ep->peer_port, payload);
}

/* The acknowledgement fields every frame to @p ep carries. */
static void cpn_dpdk_fill_ack(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                              cpn_dpdk_hdr_t *h)
{
    /* Frames held out of order sit in a ring of `window` slots indexed by
     * sequence number, so the receiver takes anything below ack + window. */
    h->ack = ep->rcv_nxt;
    h->wnd = iface->window - 1;
    memset(h->sack, 0, sizeof(h->sack));
    if (ep->nooo > 0) {
        for (uint32_t i = 0; i < CPN_DPDK_SACK_BITS && i + 1 < iface->window;
             i++) {
            if (ep->ooo[(ep->rcv_nxt + 1 + i) & (iface->window - 1)] != NULL) {
                h->sack[i / 64] |= 1ull << (i % 64);
            }
        }
    }
    if (iface->want_csum_all) {
        h->flags |= CPN_DPDK_F_CSUM_ALL;
    }
    h->ts_echo = ep->ts_echo;
    if (ep->ts_echo != 0) {
        uint64_t held = age(h->ts, ep->ts_echo_at) / 1000;

        h->flags |= (uint32_t)CPN_MIN(held, (uint64_t)CPN_DPDK_ACK_DELAY_MAX)
                    << CPN_DPDK_F_ACK_DELAY_SHIFT;
    }
    ep->ack_due = 0;
}

/* A frame of @p type to @p ep with @p seglen bytes after the cpn header
 * (filled by the caller at the returned pointer), or NULL (no mbuf). */
static uint8_t *cpn_dpdk_frame(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                               unsigned type, uint32_t seq, uint32_t seglen,
                               struct rte_mbuf **m_p)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(iface->pool);
    uint32_t total = (uint32_t)(CPN_DPDK_FRAME_HDRS + sizeof(cpn_dpdk_hdr_t)) +
                     seglen;
    cpn_dpdk_hdr_t *h;

    if (m == NULL) {
        return NULL;
    }
    if (rte_pktmbuf_append(m, (uint16_t)total) == NULL) {
        rte_pktmbuf_free(m);
        return NULL;
    }
    cpn_dpdk_fill_l2l3(iface, ep, m, (uint32_t)sizeof(*h) + seglen);
    h = rte_pktmbuf_mtod_offset(m, cpn_dpdk_hdr_t *, CPN_DPDK_FRAME_HDRS);
    h->magic = CPN_DPDK_MAGIC;
    h->version = CPN_DPDK_VERSION;
    h->type = (uint8_t)type;
    h->dst_conn = ep->peer_id;
    h->src_conn = ep->id;
    h->seq = seq;
    h->flags = 0;
    h->len = seglen;
    h->ts = cpn_dpdk_now_ns();
    h->csum = 0;
    cpn_dpdk_fill_ack(iface, ep, h);
    *m_p = m;
    return (uint8_t *)(h + 1);
}

/* Bytes of a frame from its cpn header that csum covers: all of them, or
 * with CPN_DPDK_F_HDR_CSUM the headers only (at most h->len after it). */
static inline uint32_t cpn_dpdk_csum_len(const cpn_dpdk_hdr_t *h)
{
    uint32_t after = h->len;

    if (h->flags & CPN_DPDK_F_HDR_CSUM) {
        after = CPN_MIN(after, (uint32_t)sizeof(cpn_dpdk_seg_t));
    }
    return (uint32_t)sizeof(*h) + after;
}

static void cpn_dpdk_seal(struct rte_mbuf *m)
{
    cpn_dpdk_hdr_t *h = rte_pktmbuf_mtod_offset(m, cpn_dpdk_hdr_t *,
                                                CPN_DPDK_FRAME_HDRS);

    h->csum = 0;
    h->csum = (uint32_t)cpn_hash64(h, cpn_dpdk_csum_len(h));
}

static void cpn_dpdk_send_ctrl(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                               unsigned type, uint32_t seq, uint32_t flags)
{
    struct rte_mbuf *m;
    cpn_dpdk_hdr_t *h;

    if (cpn_dpdk_frame(iface, ep, type, seq, 0, &m) == NULL) {
        iface->st.tx_dropped++;
        return;
    }
    h = rte_pktmbuf_mtod_offset(m, cpn_dpdk_hdr_t *, CPN_DPDK_FRAME_HDRS);
    h->flags |= flags;
    cpn_dpdk_seal(m);
    cpn_dpdk_tx_queue(iface, m);
}

/* A port-level frame of @p type (QUIESCE, QUIESCED) to whoever is on the
 * other end of the port: Ethernet and IPv4 broadcast, connection ids 0, no
 * payload. Handed to the port at once. */
static void cpn_dpdk_send_port_ctrl(cpn_dpdk_iface_t *iface, unsigned type)
{
    static const struct rte_ether_addr bcast = {
        .addr_bytes = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    struct rte_mbuf *m = rte_pktmbuf_alloc(iface->pool);
    cpn_dpdk_hdr_t *h;

    if (m == NULL ||
        rte_pktmbuf_append(m, (uint16_t)(CPN_DPDK_FRAME_HDRS + sizeof(*h))) ==
            NULL) {
        rte_pktmbuf_free(m);
        iface->st.tx_dropped++;
        return;
    }
    cpn_dpdk_fill_hdrs(iface, m, &bcast, INADDR_BROADCAST, iface->listen_port,
                       0, (uint32_t)sizeof(*h));
    h = rte_pktmbuf_mtod_offset(m, cpn_dpdk_hdr_t *, CPN_DPDK_FRAME_HDRS);
    memset(h, 0, sizeof(*h));
    h->magic = CPN_DPDK_MAGIC;
    h->version = CPN_DPDK_VERSION;
    h->type = (uint8_t)type;
    h->ts = cpn_dpdk_now_ns();
    cpn_dpdk_seal(m);
    cpn_dpdk_tx_queue(iface, m);
    cpn_dpdk_tx_flush(iface);
}

static void cpn_dpdk_send_arp(cpn_dpdk_iface_t *iface, uint16_t op,
                              const struct rte_ether_addr *tha, uint32_t tip)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(iface->pool);
    struct rte_ether_hdr *eth;
    struct rte_arp_hdr *arp;

    if (m == NULL ||
        rte_pktmbuf_append(m, sizeof(*eth) + sizeof(*arp)) == NULL) {
        rte_pktmbuf_free(m);
        return;
    }
    eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
    arp = (struct rte_arp_hdr *)(eth + 1);
    if (op == RTE_ARP_OP_REQUEST) {
        memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
    } else {
        eth->dst_addr = *tha;
    }
    eth->src_addr = iface->mac;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
    arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = RTE_ETHER_ADDR_LEN;
    arp->arp_plen = 4;
    arp->arp_opcode = rte_cpu_to_be_16(op);
    arp->arp_data.arp_sha = iface->mac;
    arp->arp_data.arp_sip = iface->ip;
    if (op == RTE_ARP_OP_REQUEST) {
        memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
    } else {
        arp->arp_data.arp_tha = *tha;
    }
    arp->arp_data.arp_tip = tip;
    cpn_dpdk_tx_queue(iface, m);
}

/* ---- endpoints -------------------------------------------------------------- */

static cpn_dpdk_ep_t *cpn_dpdk_ep_new(cpn_dpdk_iface_t *iface)
{
    cpn_dpdk_ep_t *ep;
    unsigned i;

    for (i = 0; i < CPN_DPDK_MAX_EPS; i++) {
        if (iface->ep[i] == NULL) {
            break;
        }
    }
    if (i == CPN_DPDK_MAX_EPS) {
        cpn_error("dpdk: site %s: %u endpoints open, no room for another",
                  iface->site, CPN_DPDK_MAX_EPS);
        return NULL;
    }
    ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        return NULL;
    }
    ep->slot = calloc(iface->window, sizeof(*ep->slot));
    ep->ooo = calloc(iface->window, sizeof(*ep->ooo));
    ep->lh = cpn_hash64_state_new();
    if (ep->slot == NULL || ep->ooo == NULL || ep->lh == NULL) {
        cpn_hash64_state_free(ep->lh);
        free(ep->slot);
        free(ep->ooo);
        free(ep);
        return NULL;
    }
    ep->csum_all = iface->cfg.csum_all;
    iface->ep_gen[i]++;
    ep->id = (i + 1) | ((uint32_t)iface->ep_gen[i] << 16);
    ep->super.iface = &iface->super;
    ep->cwnd = iface->cfg.cwnd_init ? iface->cfg.cwnd_init : 1;
    ep->ssthresh = iface->window;
    ep->peer_wnd = iface->window;
    ep->rto_ns = (uint64_t)iface->cfg.rto_init_ms * 1000000ull;
    ep->snd_una = ep->snd_nxt = ep->high_sack = 1;
    ep->rcv_nxt = 1;
    ep->last_rx_ns = ep->last_progress_ns = ep->syn_ns = cpn_dpdk_now_ns();
    iface->ep[i] = ep;
    if (i + 1 > iface->ep_hi) {
        iface->ep_hi = i + 1;
    }
    return ep;
}

static cpn_dpdk_ep_t *cpn_dpdk_ep_by_id(cpn_dpdk_iface_t *iface, uint32_t id)
{
    uint32_t i = (id & 0xffff) - 1;
    cpn_dpdk_ep_t *ep;

    if (i >= CPN_DPDK_MAX_EPS) {
        return NULL;
    }
    ep = iface->ep[i];
    return ep != NULL && ep->id == id ? ep : NULL;
}

/* Complete every op with @p status, from the head. */
static void cpn_dpdk_ops_fail(cpn_dpdk_ep_t *ep, cpn_status_t status)
{
    cpn_dpdk_op_t *op;

    while ((op = ep->op_head) != NULL) {
        ep->op_head = op->next;
        if (op->cb != NULL) {
            op->cb(op->arg, status);
        }
        free(op);
    }
    ep->op_tail = ep->op_cur = NULL;
}

static void cpn_dpdk_ep_release_rx(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep)
{
    for (uint32_t i = 0; i < iface->window; i++) {
        if (ep->ooo[i] != NULL) {
            if (ep->ooo[i] != CPN_DPDK_OOO_WRITTEN) {
                rte_pktmbuf_free(ep->ooo[i]);
            }
            ep->ooo[i] = NULL;
        }
    }
    ep->nooo = 0;
    free(ep->msg);
    ep->msg = NULL;
}

/* Take @p ep out of the table; its memory goes at the end of progress. */
static void cpn_dpdk_ep_unlink(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep)
{
    uint32_t i = (ep->id & 0xffff) - 1;

    if (iface->ep[i] == ep) {
        iface->ep[i] = NULL;
    }
    while (iface->ep_hi > 0 && iface->ep[iface->ep_hi - 1] == NULL) {
        iface->ep_hi--;
    }
    cpn_dpdk_ep_release_rx(iface, ep);
    ep->next_zombie = iface->zombies;
    iface->zombies = ep;
}

static void cpn_dpdk_reap(cpn_dpdk_iface_t *iface)
{
    cpn_dpdk_ep_t *ep;

    while ((ep = iface->zombies) != NULL) {
        iface->zombies = ep->next_zombie;
        cpn_hash64_state_free(ep->lh);
        free(ep->slot);
        free(ep->ooo);
        free(ep);
    }
}

/* The peer is gone: fail the endpoint once, with a reason naming it. */
static void cpn_dpdk_ep_fail(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                             cpn_status_t status, const char *why)
{
    int was = ep->state;

    if (was == CPN_DPDK_EP_FAILED || was == CPN_DPDK_EP_CLOSED) {
        return;
    }
    ep->state = CPN_DPDK_EP_FAILED;
    if (strcmp(why, CPN_DPDK_WHY_FIN) == 0) {
        cpn_info("dpdk: site %s: peer %s: %s", iface->site,
                 ep->super.peer_addr, why);
    } else {
        cpn_warn("dpdk: site %s: peer %s: %s", iface->site,
                 ep->super.peer_addr, why);
    }
    cpn_dpdk_ops_fail(ep, status);
    if (was == CPN_DPDK_EP_OPEN || ep->incoming) {
        if (iface->super.handlers.ep_error != NULL) {
            iface->super.handlers.ep_error(iface->super.handlers.arg,
                                           &ep->super, status);
        }
    } else if (iface->super.handlers.connected != NULL) {
        iface->super.handlers.connected(iface->super.handlers.arg, &ep->super,
                                        CPN_ERR_UNREACHABLE);
    }
}

/* ---- sender ---------------------------------------------------------------- */

static void cpn_dpdk_tx_slot(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                             uint32_t seq)
{
    cpn_dpdk_slot_t *s = &ep->slot[seq & (iface->window - 1)];
    cpn_dpdk_op_t *op = s->op;
    struct rte_mbuf *m;
    cpn_dpdk_seg_t *seg;
    uint8_t *p;

    p = cpn_dpdk_frame(iface, ep, CPN_DPDK_T_DATA, seq,
                       (uint32_t)sizeof(*seg) + s->len, &m);
    if (p == NULL) {
        s->sent_ns = cpn_dpdk_now_ns();
        iface->st.tx_dropped++;
        return; /* the timer sends it again */
    }
    s->sent_ns = ((const cpn_dpdk_hdr_t *)p - 1)->ts; /* one clock read */
    seg = (cpn_dpdk_seg_t *)p;
    memset(seg, 0, sizeof(*seg));
    seg->op = s->segop;
    if (s->segop == CPN_DPDK_OP_SEND) {
        seg->total = op->len;
        seg->off = s->off;
        rte_memcpy(seg + 1, op->buf + s->off, s->len);
    } else if (s->segop == CPN_DPDK_OP_PUT) {
        seg->key = op->key;
        seg->off = op->raddr + s->off;
        rte_memcpy(seg + 1, op->buf + s->off, s->len);
        if (op->hdr_csum && !ep->csum_all) {
            ((cpn_dpdk_hdr_t *)p - 1)->flags |= CPN_DPDK_F_HDR_CSUM;
        }
        if (s->off == 0) {
            ((cpn_dpdk_hdr_t *)p - 1)->flags |= CPN_DPDK_F_PUT_FIRST;
        }
    } else {
        seg->total = op->notify_len;
        memcpy(seg + 1, op->notify, op->notify_len);
    }
    cpn_dpdk_seal(m);
    cpn_dpdk_tx_queue(iface, m);
}

/* Number and send new segments while the windows allow. */
static unsigned cpn_dpdk_pump(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep)
{
    uint32_t limit = (uint32_t)ep->cwnd;
    unsigned n = 0;

    if (limit > ep->peer_wnd) {
        limit = ep->peer_wnd;
    }
    if (limit > iface->window - 1) {
        limit = iface->window - 1;
    }
    if (limit < 1) {
        limit = 1;
    }
    while (ep->op_cur != NULL && ep->snd_nxt - ep->snd_una < limit &&
           !cpn_dpdk_tx_blocked(iface)) {
        cpn_dpdk_op_t *op = ep->op_cur;
        cpn_dpdk_slot_t *s = &ep->slot[ep->snd_nxt & (iface->window - 1)];
        size_t left = op->len - op->cursor;

        s->op = op;
        s->sacked = 0;
        s->fast = 0;
        s->probed = 0;
        s->used = 1;
        if (op->kind == CPN_DPDK_OP_SEND) {
            s->segop = CPN_DPDK_OP_SEND;
            s->off = op->cursor;
            s->len = (uint32_t)CPN_MIN(left, iface->seg_max);
            op->cursor += s->len;
            op->segmented = op->cursor == op->len;
        } else if (left > 0) {
            s->segop = CPN_DPDK_OP_PUT;
            s->off = op->cursor;
            s->len = (uint32_t)CPN_MIN(left, iface->seg_max);
            op->cursor += s->len;
        } else {
            s->segop = CPN_DPDK_OP_NOTIFY;
            s->off = 0;
            s->len = (uint32_t)op->notify_len;
            op->segmented = 1;
        }
        op->last_seq = ep->snd_nxt;
        cpn_dpdk_tx_slot(iface, ep, ep->snd_nxt);
        ep->snd_nxt++;
        n++;
        if (op->segmented) {
            ep->op_cur = op->next;
        }
    }
    return n;
}

static void cpn_dpdk_cwnd_cut(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep)
{
    if (ep->in_recovery && seq_lt(ep->snd_una, ep->recover)) {
        return; /* one cut per window of data */
    }
    ep->cwnd = CPN_MAX(ep->cwnd / 2, 2.0);
    ep->ssthresh = ep->cwnd;
    ep->recover = ep->snd_nxt;
    ep->in_recovery = 1;
    iface->st.cwnd_cuts++;
}

/* An RTT sample @p rtt, of which the peer held the ack @p held ns. The
 * retransmission timer takes the whole of it (acks do take that long);
 * the congestion control only what the path and queues added: a receiver
 * busy landing a chunk, or descheduled, is not congestion, and shrinking
 * the window for it only slows the transfer after it. */
static void cpn_dpdk_rtt_sample(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                                uint64_t rtt, uint64_t held)
{
    uint64_t lo = (uint64_t)iface->cfg.rto_min_ms * 1000000ull;
    uint64_t hi = (uint64_t)iface->cfg.rto_max_ms * 1000000ull;
    uint64_t path = held < rtt ? rtt - held : rtt;

    ep->last_rtt_ns = path;
    if (ep->min_rtt_ns == 0 || path < ep->min_rtt_ns) {
        ep->min_rtt_ns = path;
    }
    if (ep->srtt_ns == 0) {
        ep->srtt_ns = rtt;
        ep->rttvar_ns = rtt / 2;
    } else {
        uint64_t d = rtt > ep->srtt_ns ? rtt - ep->srtt_ns : ep->srtt_ns - rtt;

        ep->rttvar_ns = (3 * ep->rttvar_ns + d) / 4;
        ep->srtt_ns = (7 * ep->srtt_ns + rtt) / 8;
    }
    ep->rto_ns = ep->srtt_ns + 4 * ep->rttvar_ns;
    ep->rto_ns = CPN_MIN(CPN_MAX(ep->rto_ns, lo), hi);
}

/* Acknowledgement fields of a frame from @p ep's peer. */
static void cpn_dpdk_on_ack(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                            const cpn_dpdk_hdr_t *h, uint64_t now)
{
    uint32_t ack = h->ack, mask = iface->window - 1;
    unsigned newly = 0;

    if (seq_lt(ep->snd_nxt, ack) || seq_lt(ack, ep->snd_una - iface->window)) {
        iface->st.malformed++;
        return;
    }
    ep->peer_wnd = h->wnd;
    while (seq_lt(ep->snd_una, ack)) {
        ep->slot[ep->snd_una & mask].used = 0;
        ep->snd_una++;
        newly++;
    }
    if (newly > 0) {
        cpn_dpdk_op_t *op;
        uint64_t t = cpn_dpdk_now_ns();

        ep->last_progress_ns = now;
        if (h->ts_echo != 0 && h->ts_echo <= t) {
            uint64_t held = (uint64_t)(h->flags >> CPN_DPDK_F_ACK_DELAY_SHIFT) *
                            1000ull;

            cpn_dpdk_rtt_sample(iface, ep, t - h->ts_echo, held);
        }
        if (ep->in_recovery && !seq_lt(ep->snd_una, ep->recover)) {
            ep->in_recovery = 0;
        }
        if (ep->undo_ok) {
            /* Eifel (RFC 3522): the first ack after a timeout that carries
             * the stamp of a frame sent before it means the originals got
             * through (a descheduled peer, not a loss): undo the cut. */
            ep->undo_ok = 0;
            if (h->ts_echo != 0 && h->ts_echo < ep->rto_at_ns) {
                ep->cwnd = CPN_MAX(ep->cwnd, ep->undo_cwnd);
                ep->ssthresh = CPN_MAX(ep->ssthresh, ep->undo_ssthresh);
                ep->in_recovery = 0;
                iface->st.spurious_rto++;
            } else if (ep->rto_rest) {
                /* A real loss: resend what was out before the timeout. */
                for (uint32_t seq = ep->snd_una; seq_lt(seq, ep->snd_nxt);
                     seq++) {
                    cpn_dpdk_slot_t *r = &ep->slot[seq & mask];

                    if (!r->sacked && r->sent_ns < ep->rto_at_ns) {
                        iface->st.retransmits++;
                        cpn_dpdk_tx_slot(iface, ep, seq);
                    }
                }
            }
            ep->rto_rest = 0;
        }
        if (iface->cc_delay && ep->min_rtt_ns != 0) {
            /* The standing delay of a round trip is its least RTT sample
             * (as Copa does): a queue that persists shows in every
             * sample, one descheduled process only in a few. Shrink in
             * proportion when it is over target, at most once per RTT;
             * hold while it stays over. */
            if (ep->win_rtt_ns == 0 || ep->last_rtt_ns < ep->win_rtt_ns) {
                ep->win_rtt_ns = ep->last_rtt_ns;
            }
            if (age(t, ep->win_start_ns) > ep->srtt_ns) {
                uint64_t standing = ep->win_rtt_ns;

                ep->win_rtt_ns = 0;
                ep->win_start_ns = t;
                ep->delay_high =
                    standing > ep->min_rtt_ns + iface->delay_target_ns;
                if (ep->delay_high) {
                    double over = (double)(standing - ep->min_rtt_ns) /
                                  (double)standing;

                    double floor = CPN_MAX((double)iface->cfg.cwnd_min, 2.0);

                    if (ep->cwnd > floor) {
                        ep->cwnd *= CPN_MAX(1.0 - 0.8 * over, 0.5);
                        ep->cwnd = CPN_MAX(ep->cwnd, floor);
                    }
                    ep->ssthresh = ep->cwnd;
                    ep->last_cut_ns = t;
                    iface->st.cwnd_cuts++;
                }
            }
        }
        if (iface->cc_delay && ep->delay_high) {
            /* over target: hold */
        } else if (ep->cwnd < ep->ssthresh) {
            /* Slow start to ssthresh, then +CWND_AI frames per RTT. */
            ep->cwnd += newly;
        } else {
            ep->cwnd += (double)newly * iface->cfg.cwnd_ai / ep->cwnd;
        }
        if (ep->cwnd > iface->window) {
            ep->cwnd = iface->window;
        }
        while ((op = ep->op_head) != NULL && op->segmented &&
               seq_lt(op->last_seq, ep->snd_una)) {
            ep->op_head = op->next;
            if (ep->op_head == NULL) {
                ep->op_tail = NULL;
            }
            if (op->cb != NULL) {
                op->cb(op->arg, CPN_OK);
            }
            free(op);
            if (ep->state != CPN_DPDK_EP_OPEN) {
                return; /* closed from the callback */
            }
        }
    }
    if (seq_lt(ep->high_sack, ep->snd_una)) {
        ep->high_sack = ep->snd_una;
    }
    for (uint32_t i = 0; i < CPN_DPDK_SACK_BITS; i++) {
        uint32_t seq = ack + 1 + i;

        if (!seq_lt(seq, ep->snd_nxt)) {
            break;
        }
        if (h->sack[i / 64] & (1ull << (i % 64))) {
            ep->slot[seq & mask].sacked = 1;
            if (seq_lt(ep->high_sack, seq)) {
                ep->high_sack = seq;
            }
        }
    }
    /* Loss detection (RACK, RFC 8985): the peer echoes the send time of
     * the newest DATA frame it received; an unsacked frame below the
     * highest sacked one that was sent (or sent again) a reordering window
     * before that is lost and goes again now, however often its copies are
     * lost, instead of waiting for the timer. The first copy of a hole also
     * needs three sacked frames above it (the classic duplicate-ack rule),
     * so a short reordering is not taken for a loss. */
    if (h->ts_echo != 0 && h->ts_echo > ep->rack_ns &&
        h->ts_echo <= cpn_dpdk_now_ns()) {
        ep->rack_ns = h->ts_echo;
    }
    if (seq_lt(ep->snd_una, ep->high_sack)) {
        uint64_t reo = CPN_MAX(ep->min_rtt_ns / 4, 20000ull);

        for (uint32_t seq = ep->snd_una; seq_lt(seq, ep->high_sack); seq++) {
            cpn_dpdk_slot_t *s = &ep->slot[seq & mask];

            if (s->sacked || s->sent_ns + reo >= ep->rack_ns ||
                (!s->fast && !seq_lt(seq + 2, ep->high_sack))) {
                continue;
            }
            s->fast = 1;
            if (!iface->cc_delay) {
                cpn_dpdk_cwnd_cut(iface, ep);
            }
            iface->st.retransmits++;
            iface->st.fast_retransmits++;
            cpn_dpdk_tx_slot(iface, ep, seq);
        }
    }
}

/* Timers of one endpoint: SYN/ARP retries, RTO, keepalive, peer timeout. */
static unsigned cpn_dpdk_timers(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                                uint64_t now)
{
    uint64_t limit = (uint64_t)iface->cfg.peer_timeout_ms * 1000000ull;
    char why[128];

    if (ep->state == CPN_DPDK_EP_RESOLVING ||
        ep->state == CPN_DPDK_EP_CONNECTING) {
        if (iface->cfg.peer_timeout_ms >= 0 && age(now, ep->syn_ns) > limit) {
            snprintf(why, sizeof(why), "no answer within %d ms (%s)",
                     iface->cfg.peer_timeout_ms,
                     ep->state == CPN_DPDK_EP_RESOLVING
                         ? "ARP unanswered: set CPN_DPDK_NEIGH?"
                         : "nothing listens on that UDP port?");
            cpn_dpdk_ep_fail(iface, ep, CPN_ERR_UNREACHABLE, why);
            return 1;
        }
        if (age(now, ep->last_syn_ns) > CPN_DPDK_SYN_RETRY_NS) {
            ep->last_syn_ns = now;
            if (ep->state == CPN_DPDK_EP_RESOLVING) {
                cpn_dpdk_send_arp(iface, RTE_ARP_OP_REQUEST, NULL,
                                  ep->peer_ip);
            } else {
                cpn_dpdk_send_ctrl(iface, ep, CPN_DPDK_T_SYN, 0, 0);
            }
        }
        return 0;
    }
    if (ep->state != CPN_DPDK_EP_OPEN) {
        return 0;
    }
    if (ep->snd_una != ep->snd_nxt) {
        cpn_dpdk_slot_t *s = &ep->slot[ep->snd_una & (iface->window - 1)];

        if (iface->cfg.peer_timeout_ms >= 0 &&
            age(now, ep->last_progress_ns) > limit) {
            snprintf(why, sizeof(why), "nothing acknowledged for %d ms "
                     "(peer gone?); %u frames outstanding",
                     iface->cfg.peer_timeout_ms, ep->snd_nxt - ep->snd_una);
            cpn_dpdk_ep_fail(iface, ep, CPN_ERR_CONN_RESET, why);
            return 1;
        }
        /* Probe (RACK's tail loss probe, RFC 8985): the oldest frame
         * still unacked two smoothed RTTs after it went out is sent again
         * once, without a cut. RACK cannot see its loss when nothing newer
         * follows it (the window is full behind it, or it is the tail).
         * The timer restarts on every ack that makes progress (RFC 8985
         * 7.2), and it waits out the RTT's variation, not only twice its
         * mean: at microsecond RTTs a busy receiver's jitter is as large.
         * Not while the port's tx ring was full within that time: frames
         * wait in it longer than the RTT measured before it filled. */
        uint64_t pto = CPN_MAX(CPN_MAX(2 * ep->srtt_ns,
                                       ep->srtt_ns + 4 * ep->rttvar_ns),
                               50000ull);

        if (ep->srtt_ns != 0 && pto < ep->rto_ns && !s->sacked &&
            !s->probed && !iface->rx_backlog && !cpn_dpdk_tx_blocked(iface) &&
            age(now, s->sent_ns) > pto && age(now, ep->last_progress_ns) > pto &&
            age(now, iface->ring_full_ns) > pto) {
            s->probed = 1;
            s->fast = 1;
            iface->st.retransmits++;
            iface->st.probes++;
            cpn_dpdk_tx_slot(iface, ep, ep->snd_una);
            return 1;
        }
        /* Acks may wait in the rx ring (this process was descheduled),
         * frames in our tx queue (the port's ring is full): read and send
         * them before calling anything lost. */
        if (age(now, s->sent_ns) > ep->rto_ns && !iface->rx_backlog &&
            !cpn_dpdk_tx_blocked(iface)) {
            uint64_t hi = (uint64_t)iface->cfg.rto_max_ms * 1000000ull;

            iface->st.timeouts++;
            if (!ep->undo_ok) {
                ep->undo_cwnd = ep->cwnd;
                ep->undo_ssthresh = ep->ssthresh;
            }
            ep->undo_ok = 1;
            ep->rto_at_ns = cpn_dpdk_now_ns();
            /* With selective acks above snd_una, frames were lost: resend
             * every unsacked one out longer than the RTO. Without (nothing
             * arrived since), F-RTO (RFC 5682): resend the oldest only; the
             * ack that follows tells a loss (it acks the resent copy: the
             * rest go then, in on_ack) from a peer that was only late (it
             * acks an original: nothing more is resent). A descheduled or
             * busy receiver would otherwise get the whole window twice. */
            if (seq_lt(ep->snd_una, ep->high_sack)) {
                for (uint32_t seq = ep->snd_una; seq_lt(seq, ep->snd_nxt);
                     seq++) {
                    cpn_dpdk_slot_t *t = &ep->slot[seq & (iface->window - 1)];

                    if (!t->sacked && age(now, t->sent_ns) > ep->rto_ns) {
                        iface->st.retransmits++;
                        cpn_dpdk_tx_slot(iface, ep, seq);
                    }
                }
            } else {
                if (!s->sacked) {
                    iface->st.retransmits++;
                    cpn_dpdk_tx_slot(iface, ep, ep->snd_una);
                }
                ep->rto_rest = 1;
            }
            cpn_dpdk_cwnd_cut(iface, ep);
            ep->rto_ns = CPN_MIN(ep->rto_ns * 2, hi);
            return 1;
        }
    } else {
        ep->last_progress_ns = now;
        if (age(now, ep->last_rx_ns) > CPN_DPDK_KEEPALIVE_NS &&
            age(now, ep->last_ka_ns) > CPN_DPDK_KEEPALIVE_NS) {
            if (iface->cfg.peer_timeout_ms >= 0 &&
                age(now, ep->last_rx_ns) > limit) {
                snprintf(why, sizeof(why), "silent for %d ms, keepalives "
                         "unanswered (peer gone?)",
                         iface->cfg.peer_timeout_ms);
                cpn_dpdk_ep_fail(iface, ep, CPN_ERR_CONN_RESET, why);
                return 1;
            }
            ep->last_ka_ns = now;
            cpn_dpdk_send_ctrl(iface, ep, CPN_DPDK_T_ACK, 0,
                               CPN_DPDK_F_ACK_REQ);
        }
    }
    return 0;
}

/* ---- receiver -------------------------------------------------------------- */

static cpn_dpdk_mem_t *cpn_dpdk_mem_by_id(cpn_dpdk_iface_t *iface,
                                          uint32_t id)
{
    return id < iface->nmem ? iface->mem[id] : NULL;
}

/* Copy a PUT's payload into its region: with streaming stores where
 * nothing reads it again soon, which skip reading each destination line
 * into the cache first (a 1344-byte payload took 62-63 ns against
 * 92-100 with rte_memcpy, an 8832-byte one 413-504 against 560-667, one
 * thread over a 64 MiB region): a region nobody checks, and one whose
 * owner checks what lands (CPN_TP_MEM_VERIFIED) when the put is hashed
 * here as it lands (@p hashed, cpn_tp_landed_t) unless the owner reads it
 * at once anyway (CPN_TP_MEM_STAGING: slots written out to files). Plain
 * stores otherwise, so that the owner's hash finds the chunk in the
 * cache. Published before anything is told of them. */
static inline void cpn_dpdk_land(cpn_dpdk_iface_t *iface,
                                 const cpn_dpdk_mem_t *mem, void *dst,
                                 const uint8_t *data, uint32_t len,
                                 int hashed)
{
    unsigned f = mem->super.flags;

    if (len >= CPN_DPDK_STREAM_MIN &&
        (!(f & CPN_TP_MEM_VERIFIED) ||
         (hashed && !(f & CPN_TP_MEM_STAGING)))) {
        cpn_copy_stream(dst, data, len);
        iface->streamed = 1;
    } else {
        rte_memcpy(dst, data, len);
    }
}

/* Hash a PUT segment delivered in order into its put's running hash, when
 * the put is into a region its owner checks and every segment of it so
 * far came here in order: a first segment (CPN_DPDK_F_PUT_FIRST) starts
 * one, any other must follow the last. @return 1 when hashed. */
static int cpn_dpdk_hash_landing(cpn_dpdk_ep_t *ep, const cpn_dpdk_mem_t *mem,
                                 const cpn_dpdk_seg_t *seg, const uint8_t *data,
                                 uint32_t len, unsigned flags)
{
    if (!(mem->super.flags & CPN_TP_MEM_VERIFIED)) {
        ep->lh_on = 0;
        return 0;
    }
    if (flags & CPN_DPDK_F_PUT_FIRST) {
        cpn_hash64_reset(ep->lh);
        ep->lh_start = ep->lh_next = seg->off;
        ep->lh_on = 1;
    }
    if (!ep->lh_on || seg->off != ep->lh_next) {
        ep->lh_on = 0;
        return 0;
    }
    cpn_hash64_update(ep->lh, data, len);
    ep->lh_next += len;
    return 1;
}

/* Streaming stores of cpn_dpdk_land made visible to every CPU: before a
 * handler runs, and before progress returns. */
static inline void cpn_dpdk_publish(cpn_dpdk_iface_t *iface)
{
    if (iface->streamed) {
        cpn_copy_publish();
        iface->streamed = 0;
    }
}

/* Deliver one DATA segment: in order (@p in_order), or a PUT out of order
 * (see cpn_dpdk_on_data); @p flags are its frame's. @return 0, or -1 when
 * @p ep closed (a callback of a SEND or NOTIFY closed it; a PUT runs
 * none). */
static int cpn_dpdk_deliver(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                            const cpn_dpdk_seg_t *seg, const uint8_t *data,
                            uint32_t len, unsigned flags, int in_order)
{
    const cpn_tp_handlers_t *hd = &iface->super.handlers;
    cpn_tp_landed_t landed = {0, 0, 0};

    iface->st.rx_payload += len;
    switch (seg->op) {
    case CPN_DPDK_OP_SEND:
        if (seg->off == 0 && len == seg->total) {
            /* Whole message in one frame: straight from the mbuf. */
            free(ep->msg);
            ep->msg = NULL;
            cpn_dpdk_publish(iface);
            hd->recv(hd->arg, &ep->super, data, len);
            break;
        }
        if (seg->off == 0) {
            free(ep->msg);
            ep->msg = NULL;
            if (seg->total > iface->cfg.msg_max) {
                iface->st.malformed++;
                cpn_warn("dpdk: site %s: peer %s sends a %" PRIu64 " B "
                         "message, over CPN_DPDK_MSG_MAX; dropped",
                         iface->site, ep->super.peer_addr, seg->total);
                break;
            }
            ep->msg = malloc(seg->total);
            if (ep->msg == NULL) {
                cpn_error("dpdk: site %s: no memory for a %" PRIu64 " B "
                          "message from %s", iface->site, seg->total,
                          ep->super.peer_addr);
                break;
            }
            ep->msg_len = seg->total;
            ep->msg_got = 0;
        }
        if (ep->msg == NULL || seg->total != ep->msg_len ||
            seg->off != ep->msg_got || len > ep->msg_len - ep->msg_got) {
            iface->st.malformed++;
            break;
        }
        rte_memcpy(ep->msg + ep->msg_got, data, len);
        ep->msg_got += len;
        if (ep->msg_got == ep->msg_len) {
            uint8_t *msg = ep->msg;

            ep->msg = NULL;
            cpn_dpdk_publish(iface);
            hd->recv(hd->arg, &ep->super, msg, ep->msg_len);
            free(msg);
        }
        break;
    case CPN_DPDK_OP_PUT: {
        cpn_dpdk_mem_t *mem = cpn_dpdk_mem_by_id(iface, seg->key);
        uint64_t base, end;

        if (mem == NULL) {
            iface->st.bad_key++;
            break;
        }
        base = (uint64_t)(uintptr_t)mem->super.addr;
        end = base + mem->super.len;
        if (seg->off < base || seg->off > end || len > end - seg->off) {
            iface->st.bad_range++;
            break;
        }
        cpn_dpdk_land(iface, mem, (void *)(uintptr_t)seg->off, data, len,
                      in_order &&
                          cpn_dpdk_hash_landing(ep, mem, seg, data, len, flags));
        break;
    }
    case CPN_DPDK_OP_NOTIFY:
        if (len > CPN_TP_NOTIFY_MAX) {
            iface->st.malformed++;
            break;
        }
        if (ep->lh_on) {
            landed.addr = ep->lh_start;
            landed.len = ep->lh_next - ep->lh_start;
            landed.hash = cpn_hash64_digest(ep->lh);
            ep->lh_on = 0;
        }
        cpn_dpdk_publish(iface);
        hd->put_notify(hd->arg, &ep->super, data, len,
                       landed.len > 0 ? &landed : NULL);
        break;
    default:
        iface->st.malformed++;
        break;
    }
    return ep->state == CPN_DPDK_EP_OPEN ? 0 : -1;
}

static const cpn_dpdk_hdr_t *cpn_dpdk_hdr_of(struct rte_mbuf *m)
{
    return rte_pktmbuf_mtod_offset(m, const cpn_dpdk_hdr_t *,
                                   CPN_DPDK_FRAME_HDRS);
}

/* Is this segment acceptable at all (before it takes a sequence number)?
 * A put must name a registered region and stay inside it; a message part
 * must fit its message; a notify must fit CPN_TP_NOTIFY_MAX. Frames that
 * fail are counted and dropped unacked, so a forged frame cannot use up the
 * sequence number of the real one. */
static int cpn_dpdk_seg_ok(cpn_dpdk_iface_t *iface, const cpn_dpdk_seg_t *seg,
                           uint32_t len, int hdr_csum)
{
    switch (seg->op) {
    case CPN_DPDK_OP_SEND:
        if (seg->total > iface->cfg.msg_max || seg->off > seg->total ||
            len > seg->total - seg->off) {
            iface->st.malformed++;
            return 0;
        }
        return 1;
    case CPN_DPDK_OP_PUT: {
        cpn_dpdk_mem_t *mem = cpn_dpdk_mem_by_id(iface, seg->key);
        uint64_t base, end;

        if (mem == NULL) {
            iface->st.bad_key++;
            return 0;
        }
        if (hdr_csum && !(mem->super.flags & CPN_TP_MEM_VERIFIED)) {
            iface->st.malformed++; /* its payload would go unchecked */
            return 0;
        }
        base = (uint64_t)(uintptr_t)mem->super.addr;
        end = base + mem->super.len;
        if (seg->off < base || seg->off > end || len > end - seg->off) {
            iface->st.bad_range++;
            return 0;
        }
        return 1;
    }
    case CPN_DPDK_OP_NOTIFY:
        if (len > CPN_TP_NOTIFY_MAX) {
            iface->st.malformed++;
            return 0;
        }
        return 1;
    default:
        iface->st.malformed++;
        return 0;
    }
}

/* Deliver the segment DATA frame @p m carries and free @p m. @return as
 * cpn_dpdk_deliver. */
static int cpn_dpdk_deliver_frame(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                                  struct rte_mbuf *m, int in_order)
{
    const cpn_dpdk_hdr_t *h = cpn_dpdk_hdr_of(m);
    const cpn_dpdk_seg_t *seg = (const cpn_dpdk_seg_t *)(h + 1);
    int gone = cpn_dpdk_deliver(iface, ep, seg, (const uint8_t *)(seg + 1),
                                h->len - (uint32_t)sizeof(*seg), h->flags,
                                in_order);

    rte_pktmbuf_free(m);
    return gone;
}

/* A checked DATA frame; it is freed here or held.
 *
 * A PUT segment that comes out of order is written into its region at
 * once, and only its place in the sequence is kept (CPN_DPDK_OOO_WRITTEN);
 * SEND and NOTIFY segments wait for the hole before them, so a notify
 * still comes after every byte of its put. Holding every frame behind a
 * hole kept up to a window of mbufs out of the pool while the hole was
 * resent. As over UCX, two puts to the same bytes land in no set order
 * unless the second starts after the first completed. */
static void cpn_dpdk_on_data(cpn_dpdk_iface_t *iface, cpn_dpdk_ep_t *ep,
                             struct rte_mbuf *m)
{
    const cpn_dpdk_hdr_t *h = cpn_dpdk_hdr_of(m);
    uint32_t mask = iface->window - 1;
    uint32_t seq = h->seq;

    ep->ack_due = 1;
    if (seq_lt(seq, ep->rcv_nxt) ||
        !seq_lt(seq, ep->rcv_nxt + iface->window) ||
        (seq != ep->rcv_nxt && ep->ooo[seq & mask] != NULL)) {
        if (seq_lt(seq, ep->rcv_nxt) || ep->ooo[seq & mask] != NULL) {
            iface->st.dup_rx++;
        } else {
            iface->st.malformed++; /* beyond the window we offered */
        }
        rte_pktmbuf_free(m);
        return;
    }
    ep->ts_echo = h->ts;
    ep->ts_echo_at = iface->rx_now;
    if (seq != ep->rcv_nxt) {
        if (((const cpn_dpdk_seg_t *)(h + 1))->op == CPN_DPDK_OP_PUT) {
            (void)cpn_dpdk_deliver_frame(iface, ep, m, 0); /* no callback */
            m = CPN_DPDK_OOO_WRITTEN;
        }
        ep->ooo[seq & mask] = m;
        ep->nooo++;
        iface->st.ooo_rx++;
        return;
    }
    /* In order: deliver it and whatever it unblocks. */
    for (;;) {
        ep->rcv_nxt++;
        if (m == CPN_DPDK_OOO_WRITTEN) {
            ep->lh_on = 0; /* its bytes were not hashed in order */
        } else if (cpn_dpdk_deliver_frame(iface, ep, m, 1)) {
            return;
        }
        m = ep->ooo[ep->rcv_nxt & mask];
        if (m == NULL) {
            break;
        }
        ep->ooo[ep->rcv_nxt & mask] = NULL;
        ep->nooo--;
    }
}

static void cpn_dpdk_on_syn(cpn_dpdk_iface_t *iface, const cpn_dpdk_hdr_t *h,
                            uint32_t sip, uint16_t sport, uint16_t dport,
                            const struct rte_ether_addr *smac)
{
    cpn_dpdk_ep_t *ep = NULL;

    if (iface->listen_port == 0 || dport != iface->listen_port) {
        iface->st.not_for_us++;
        return;
    }
    for (unsigned i = 0; i < iface->ep_hi; i++) {
        cpn_dpdk_ep_t *e = iface->ep[i];

        if (e != NULL && e->incoming && e->peer_ip == sip &&
            e->peer_port == sport && e->peer_id == h->src_conn) {
            ep = e; /* our SYNACK was lost: answer again */
            break;
        }
    }
    if (ep == NULL) {
        ep = cpn_dpdk_ep_new(iface);
        if (ep == NULL) {
            return;
        }
        ep->incoming = 1;
        ep->state = CPN_DPDK_EP_OPEN;
        iface->peer_speaks = 1;
        ep->peer_id = h->src_conn;
        ep->peer_ip = sip;
        ep->peer_port = sport;
        ep->local_port = dport;
        ep->peer_mac = *smac;
        cpn_dpdk_fmt_peer(ep->super.peer_addr, sizeof(ep->super.peer_addr),
                          sip, sport);
        cpn_debug("dpdk: site %s: accepted %s as connection %#x (peer's "
                  "%#x)", iface->site, ep->super.peer_addr, ep->id,
                  ep->peer_id);
        cpn_dpdk_send_ctrl(iface, ep, CPN_DPDK_T_SYNACK, 0, 0);
        if (iface->super.handlers.accept != NULL) {
            iface->super.handlers.accept(iface->super.handlers.arg,
                                         &ep->super);
        }
        return;
    }
    cpn_dpdk_send_ctrl(iface, ep, CPN_DPDK_T_SYNACK, 0, 0);
}

static void cpn_dpdk_on_arp(cpn_dpdk_iface_t *iface, struct rte_mbuf *m)
{
    const struct rte_ether_hdr *eth =
        rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
    const struct rte_arp_hdr *arp = (const struct rte_arp_hdr *)(eth + 1);

    if (m->data_len < sizeof(*eth) + sizeof(*arp) ||
        arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
        arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
        iface->st.not_for_us++;
        return;
    }
    if (arp->arp_data.arp_tip != iface->ip) {
        iface->st.not_for_us++;
        return;
    }
    cpn_dpdk_neigh_set(iface, arp->arp_data.arp_sip, &arp->arp_data.arp_sha);
    if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) {
        cpn_dpdk_send_arp(iface, RTE_ARP_OP_REPLY, &arp->arp_data.arp_sha,
                          arp->arp_data.arp_sip);
    }
    /* Endpoints waiting for this MAC may go on. */
    for (unsigned i = 0; i < iface->ep_hi; i++) {
        cpn_dpdk_ep_t *e = iface->ep[i];

        if (e != NULL && e->state == CPN_DPDK_EP_RESOLVING &&
            e->peer_ip == arp->arp_data.arp_sip) {
            e->peer_mac = arp->arp_data.arp_sha;
            e->state = CPN_DPDK_EP_CONNECTING;
            e->last_syn_ns = cpn_dpdk_now_ns();
            cpn_dpdk_send_ctrl(iface, e, CPN_DPDK_T_SYN, 0, 0);
        }
    }
}

/* One received frame, after fault injection. Frees or keeps @p m. */
/* The headers of a received frame span its first two cache lines (Ethernet,
 * IPv4, UDP, then cpn's header and segment, whose timestamp is in the
 * second): ask for both. */
static inline void cpn_dpdk_prefetch_hdrs(struct rte_mbuf *m)
{
    const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);

    rte_prefetch0(p);
    rte_prefetch0(p + RTE_CACHE_LINE_SIZE);
}

/* A port-level frame (QUIESCE, QUIESCED) from the port's other end
 * @p from, on ports whose peer's PMD unmaps the rings this side polls
 * (memif); ignored on others.
 *   QUIESCED: the peer answered the QUIESCE of cpn_dpdk_quiesce.
 *   QUIESCE while this side stops the port too: the lower MAC gives way,
 *     answers, and stops its port once the peer's is down.
 *   QUIESCE otherwise: the peer is about to stop the port: answer, then
 *     touch the rings no more until the link comes back
 *     (cpn_dpdk_port_usable). */
static void cpn_dpdk_on_port_ctrl(cpn_dpdk_iface_t *iface, unsigned type,
                                  const struct rte_ether_addr *from)
{
    if (!iface->shared_rings) {
        return;
    }
    if (type == CPN_DPDK_T_QUIESCED) {
        if (iface->quiesce == CPN_DPDK_Q_ASKED) {
            iface->quiesce = CPN_DPDK_Q_ANSWERED;
        }
        return;
    }
    if (iface->quiesce == CPN_DPDK_Q_ASKED) {
        if (memcmp(&iface->mac, from, sizeof(*from)) < 0) {
            cpn_dpdk_send_port_ctrl(iface, CPN_DPDK_T_QUIESCED);
            iface->st.quiesced++;
            iface->quiesce = CPN_DPDK_Q_DEFERRED;
        }
        return;
    }
    if (iface->quiet || iface->quiesce != CPN_DPDK_Q_NONE) {
        return;
    }
    cpn_dpdk_send_port_ctrl(iface, CPN_DPDK_T_QUIESCED);
    iface->quiet = 1;
    iface->quiet_down = 0;
    iface->quiet_since = iface->quiet_look = cpn_dpdk_now_ns();
    iface->st.quiesced++;
    cpn_dpdk_tx_discard(iface);
    cpn_info("dpdk: site %s port %s: the peer is stopping the port; not "
             "polling it until its link comes back", iface->site,
             iface->port_name);
}

/* Wait, without touching the rings, until the port's link is down or
 * CPN_DPDK_QUIESCE_WAIT_NS has passed since @p start. */
static void cpn_dpdk_await_link_down(cpn_dpdk_iface_t *iface, uint64_t start)
{
    struct rte_eth_link link;

    do {
        struct timespec ts = {0, 100000};

        memset(&link, 0, sizeof(link));
        if (rte_eth_link_get_nowait(iface->port, &link) != 0 ||
            link.link_status == RTE_ETH_LINK_DOWN) {
            return;
        }
        nanosleep(&ts, NULL);
    } while (age(cpn_dpdk_now_ns(), start) < CPN_DPDK_QUIESCE_WAIT_NS);
}

static void cpn_dpdk_rx_one(cpn_dpdk_iface_t *iface, struct rte_mbuf *m,
                            uint64_t now);

/* Stopping a port whose peer's PMD unmaps the rings it polls (memif):
 * DPDK 22.11's memif does that from the peer's control thread, with no lock
 * against a burst running there, so a peer process still polling would
 * fault. Ask it to stop polling (QUIESCE) and wait for its answer
 * (QUIESCED), at most CPN_DPDK_QUIESCE_WAIT_NS; only when a cpn peer is
 * there (a connection was opened on the port) and the link is up. When the
 * peer stops its port at the same time (its QUIESCE crosses ours), the
 * side with the lower MAC answers and waits for the other to stop first
 * (cpn_dpdk_on_port_ctrl). A peer process
 * that dies is beyond this: its PMD's disconnect still races with bursts
 * here. */
static void cpn_dpdk_quiesce(cpn_dpdk_iface_t *iface)
{
    struct rte_mbuf *rx[CPN_DPDK_BURST];
    struct rte_eth_link link;
    uint64_t start, now;

    if (!iface->shared_rings || !iface->port_started || iface->quiet ||
        !iface->peer_speaks) {
        return;
    }
    memset(&link, 0, sizeof(link));
    if (rte_eth_link_get_nowait(iface->port, &link) != 0 ||
        link.link_status == RTE_ETH_LINK_DOWN) {
        return;
    }
    cpn_dpdk_send_port_ctrl(iface, CPN_DPDK_T_QUIESCE);
    iface->quiesce = CPN_DPDK_Q_ASKED;
    start = now = cpn_dpdk_now_ns();
    /* The frames read meanwhile go the usual way (every endpoint is gone
     * and the port no longer listens, so none reaches the runtime). */
    while (iface->quiesce == CPN_DPDK_Q_ASKED &&
           age(now, start) < CPN_DPDK_QUIESCE_WAIT_NS) {
        uint16_t n = cpn_dpdk_rx_burst(iface, rx, CPN_DPDK_BURST);

        for (uint16_t i = 0; i < n; i++) {
            cpn_dpdk_rx_one(iface, rx[i], now);
        }
        if (n == 0) {
            rte_pause();
        }
        now = cpn_dpdk_now_ns();
    }
    if (iface->quiesce == CPN_DPDK_Q_DEFERRED) {
        cpn_dpdk_await_link_down(iface, start);
    } else if (iface->quiesce == CPN_DPDK_Q_ANSWERED) {
        iface->st.quiesce_acked++;
        cpn_debug("dpdk: site %s port %s: the peer stopped polling in %" PRIu64
                  " us; stopping the port", iface->site, iface->port_name,
                  age(now, start) / 1000);
    } else {
        cpn_info("dpdk: site %s port %s: the peer did not answer QUIESCE in "
                 "%llu ms; stopping the port anyway", iface->site,
                 iface->port_name, CPN_DPDK_QUIESCE_WAIT_NS / 1000000ull);
    }
}

static void cpn_dpdk_rx_one(cpn_dpdk_iface_t *iface, struct rte_mbuf *m,
                            uint64_t now)
{
    const struct rte_ether_hdr *eth =
        rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
    const struct rte_ipv4_hdr *ip;
    const struct rte_udp_hdr *udp;
    cpn_dpdk_hdr_t *h;
    cpn_dpdk_ep_t *ep;
    uint32_t iplen, udplen, csum, need;
    int bad_line = 0;

    iface->st.rx_frames++;
    if (m->nb_segs != 1 || m->data_len < sizeof(*eth)) {
        { bad_line = __LINE__; goto malformed; }
    }
    if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
        cpn_dpdk_on_arp(iface, m);
        goto drop;
    }
    if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
        m->data_len < CPN_DPDK_FRAME_HDRS) {
        goto not_ours;
    }
    ip = (const struct rte_ipv4_hdr *)(eth + 1);
    udp = (const struct rte_udp_hdr *)(ip + 1);
    if (ip->version_ihl != RTE_IPV4_VHL_DEF ||
        (ip->dst_addr != iface->ip && ip->dst_addr != INADDR_BROADCAST) ||
        ip->next_proto_id != IPPROTO_UDP) {
        goto not_ours;
    }
    iplen = rte_be_to_cpu_16(ip->total_length);
    udplen = rte_be_to_cpu_16(udp->dgram_len);
    if (iplen + sizeof(*eth) > m->data_len ||
        udplen + sizeof(*ip) != iplen || udplen < sizeof(*udp) + sizeof(*h)) {
        { bad_line = __LINE__; goto malformed; }
    }
    h = (cpn_dpdk_hdr_t *)(udp + 1);
    if (h->magic != CPN_DPDK_MAGIC) {
        goto not_ours;
    }
    if (h->len != udplen - sizeof(*udp) - sizeof(*h)) {
        { bad_line = __LINE__; goto malformed; }
    }
    if ((h->flags & CPN_DPDK_F_HDR_CSUM) &&
        (h->type != CPN_DPDK_T_DATA || h->len < sizeof(cpn_dpdk_seg_t) ||
         ((const cpn_dpdk_seg_t *)(h + 1))->op != CPN_DPDK_OP_PUT)) {
        { bad_line = __LINE__; goto malformed; }
    }
    csum = h->csum;
    h->csum = 0;
    if ((uint32_t)cpn_hash64(h, cpn_dpdk_csum_len(h)) != csum) {
        iface->st.bad_csum++;
        iface->want_csum_all = 1; /* this path corrupts frames */
        goto drop;
    }
    h->csum = csum;
    if (h->version != CPN_DPDK_VERSION) {
        { bad_line = __LINE__; goto malformed; }
    }
    if (cpn_unlikely(ip->dst_addr != iface->ip)) {
        /* broadcast: port-level frames only */
        if (h->len != 0 || (h->type != CPN_DPDK_T_QUIESCE &&
                            h->type != CPN_DPDK_T_QUIESCED)) {
            goto not_ours;
        }
        cpn_dpdk_on_port_ctrl(iface, h->type, &eth->src_addr);
        goto drop;
    }
    cpn_dpdk_neigh_set(iface, ip->src_addr, &eth->src_addr);
    if (h->type == CPN_DPDK_T_SYN) {
        if (h->len != 0) {
            { bad_line = __LINE__; goto malformed; }
        }
        cpn_dpdk_on_syn(iface, h, ip->src_addr,
                        rte_be_to_cpu_16(udp->src_port),
                        rte_be_to_cpu_16(udp->dst_port), &eth->src_addr);
        goto drop;
    }
    ep = cpn_dpdk_ep_by_id(iface, h->dst_conn);
    if (ep == NULL || ep->peer_ip != ip->src_addr ||
        ep->peer_port != rte_be_to_cpu_16(udp->src_port) ||
        ep->state == CPN_DPDK_EP_FAILED) {
        cpn_debug("dpdk: site %s: frame type %u for connection %#x from "
                  "port %u: no such connection (%p %d)", iface->site, h->type,
                  h->dst_conn, rte_be_to_cpu_16(udp->src_port), (void *)ep,
                  ep ? ep->state : -1);
        { bad_line = __LINE__; goto malformed; }
    }
    if (ep->state == CPN_DPDK_EP_CONNECTING) {
        if (h->type != CPN_DPDK_T_SYNACK && h->type != CPN_DPDK_T_DATA &&
            h->type != CPN_DPDK_T_ACK) {
            { bad_line = __LINE__; goto malformed; }
        }
        ep->peer_id = h->src_conn;
        ep->state = CPN_DPDK_EP_OPEN;
        iface->peer_speaks = 1;
        ep->last_progress_ns = now;
        if (iface->super.handlers.connected != NULL) {
            iface->super.handlers.connected(iface->super.handlers.arg,
                                            &ep->super, CPN_OK);
        }
        if (ep->state != CPN_DPDK_EP_OPEN) {
            goto drop;
        }
    } else if (ep->peer_id != h->src_conn) {
        { bad_line = __LINE__; goto malformed; }
    }
    ep->last_rx_ns = now;
    if ((h->flags & CPN_DPDK_F_CSUM_ALL) && !ep->csum_all) {
        ep->csum_all = 1;
        cpn_warn("dpdk: site %s: peer %s asks for every payload checked (it "
                 "dropped a corrupt frame, or has CPN_DPDK_CSUM_ALL=y); "
                 "checksumming every payload to it from now on", iface->site,
                 ep->super.peer_addr);
    }
    switch (h->type) {
    case CPN_DPDK_T_SYNACK:
        break;
    case CPN_DPDK_T_ACK:
        if (h->flags & CPN_DPDK_F_ACK_REQ) {
            ep->ack_due = 1;
        }
        break;
    case CPN_DPDK_T_DATA:
        need = (uint32_t)sizeof(cpn_dpdk_seg_t);
        if (h->len < need) {
            { bad_line = __LINE__; goto malformed; }
        }
        if (!cpn_dpdk_seg_ok(iface, (const cpn_dpdk_seg_t *)(h + 1),
                             h->len - need,
                             (h->flags & CPN_DPDK_F_HDR_CSUM) != 0)) {
            goto drop;
        }
        cpn_dpdk_on_ack(iface, ep, h, now);
        if (ep->state != CPN_DPDK_EP_OPEN) {
            goto drop;
        }
        cpn_dpdk_on_data(iface, ep, m);
        goto fin_check;
    case CPN_DPDK_T_FIN:
        ep->fin_got = 1;
        ep->fin_seq = h->seq;
        goto fin_check;
    default:
        { bad_line = __LINE__; goto malformed; }
    }
    cpn_dpdk_on_ack(iface, ep, h, now);
    goto drop;

fin_check:
    if (ep->state == CPN_DPDK_EP_OPEN && ep->fin_got &&
        !seq_lt(ep->rcv_nxt, ep->fin_seq)) {
        cpn_dpdk_ep_fail(iface, ep, CPN_ERR_CONN_RESET,
                         CPN_DPDK_WHY_FIN);
    }
    if (h->type == CPN_DPDK_T_DATA) {
        return; /* m freed or held by on_data */
    }
    goto drop;

not_ours:
    iface->st.not_for_us++;
    goto drop;
malformed:
    iface->st.malformed++;
    cpn_debug("dpdk: site %s: malformed frame dropped (check at line %d)",
              iface->site, bad_line);
drop:
    rte_pktmbuf_free(m);
}

/* Fault injection on receive, then rx_one. */
static void cpn_dpdk_rx_faulty(cpn_dpdk_iface_t *iface, struct rte_mbuf *m,
                               uint64_t now)
{
    if (iface->p_drop > 0 && cpn_dpdk_rand(iface) < iface->p_drop) {
        iface->st.inj_drop++;
        rte_pktmbuf_free(m);
        return;
    }
    if (iface->p_corrupt > 0 && cpn_dpdk_rand(iface) < iface->p_corrupt &&
        m->data_len > CPN_DPDK_FRAME_HDRS) {
        uint32_t span = m->data_len - (uint32_t)CPN_DPDK_FRAME_HDRS;
        uint32_t at = (uint32_t)(cpn_dpdk_rand(iface) * span);
        uint8_t *p = rte_pktmbuf_mtod_offset(m, uint8_t *,
                                             CPN_DPDK_FRAME_HDRS + at);

        *p ^= (uint8_t)(1u + (uint32_t)(cpn_dpdk_rand(iface) * 254));
        iface->st.inj_corrupt++;
    }
    if (iface->p_dup > 0 && cpn_dpdk_rand(iface) < iface->p_dup) {
        struct rte_mbuf *c = rte_pktmbuf_copy(m, iface->pool, 0, UINT32_MAX);

        if (c != NULL) {
            iface->st.inj_dup++;
            cpn_dpdk_rx_one(iface, c, now);
        }
    }
    if (iface->p_reorder > 0 && iface->held == NULL &&
        cpn_dpdk_rand(iface) < iface->p_reorder) {
        iface->held = m; /* goes in after the next frame */
        iface->st.inj_reorder++;
        return;
    }
    cpn_dpdk_rx_one(iface, m, now);
    if (iface->held != NULL) {
        struct rte_mbuf *h = iface->held;

        iface->held = NULL;
        cpn_dpdk_rx_one(iface, h, now);
    }
}

/* ---- ops: interface ------------------------------------------------------------ */

static cpn_status_t cpn_dpdk_open(const cpn_tp_params_t *params,
                                  const cpn_tp_handlers_t *handlers,
                                  cpn_tp_iface_t **iface_p)
{
    cpn_dpdk_iface_t *iface;
    cpn_status_t st;

    iface = calloc(1, sizeof(*iface));
    if (iface == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    iface->super.handlers = *handlers;
    snprintf(iface->site, sizeof(iface->site), "%s",
             params && params->site_name ? params->site_name : "?");
    st = cpn__config_fill(&cpn_dpdk_config_table, &iface->cfg);
    if (st != CPN_OK) {
        goto err_free;
    }
    if (iface->cfg.window < 16 || iface->cfg.window > 4096 ||
        (iface->cfg.window & (iface->cfg.window - 1)) != 0) {
        cpn_error("dpdk: CPN_DPDK_WINDOW=%u: use a power of two in 16..4096",
                  iface->cfg.window);
        st = CPN_ERR_CONFIG;
        goto err_free;
    }
    iface->window = iface->cfg.window;
    /* Room for every frame a window's retransmission may queue at once,
     * and then some: the queue fills only when the port stops taking. */
    iface->txq_mask = 1;
    while (iface->txq_mask < 2 * iface->window + 4 * CPN_DPDK_BURST) {
        iface->txq_mask <<= 1;
    }
    iface->txq = calloc(iface->txq_mask, sizeof(*iface->txq));
    iface->txq_mask--;
    if (iface->txq == NULL) {
        st = CPN_ERR_NO_MEMORY;
        goto err_free;
    }
    iface->want_csum_all = iface->cfg.csum_all;
    if (strcmp(iface->cfg.cc, "delay") == 0) {
        iface->cc_delay = 1;
    } else if (strcmp(iface->cfg.cc, "aimd") != 0) {
        cpn_error("dpdk: CPN_DPDK_CC=%s: use delay or aimd", iface->cfg.cc);
        st = CPN_ERR_CONFIG;
        goto err_free;
    }
    iface->p_drop = cpn_dpdk_parse_prob("FAULT_DROP", iface->cfg.fault_drop);
    iface->p_reorder = cpn_dpdk_parse_prob("FAULT_REORDER",
                                           iface->cfg.fault_reorder);
    iface->p_dup = cpn_dpdk_parse_prob("FAULT_DUP", iface->cfg.fault_dup);
    iface->p_corrupt = cpn_dpdk_parse_prob("FAULT_CORRUPT",
                                           iface->cfg.fault_corrupt);
    iface->rng = 0x9E3779B97F4A7C15ull ^
                 ((uint64_t)iface->cfg.fault_seed * 0x100000001B3ull) ^
                 (uint64_t)cpn_dpdk_nifaces;
    if (iface->rng == 0) {
        iface->rng = 1;
    }
    st = cpn_dpdk_eal_init(&iface->cfg);
    if (st != CPN_OK) {
        goto err_free;
    }
    st = cpn_dpdk_claim(iface);
    if (st != CPN_OK) {
        goto err_free;
    }
    st = cpn_dpdk_port_start(iface);
    if (st != CPN_OK) {
        goto err_release;
    }
    cpn_dpdk_load_neigh(iface);
    iface->next_eport = (uint16_t)(40000 + (getpid() % 1000) * 16);
    cpn_dpdk_nifaces++;
    *iface_p = &iface->super;
    return CPN_OK;

err_release:
    if (iface->port_started) {
        rte_eth_dev_stop(iface->port);
    }
    if (iface->port_made) {
        rte_eth_dev_close(iface->port);
    }
    rte_mempool_free(iface->pool);
    cpn_dpdk_claimed &= ~(1u << iface->entry);
err_free:
    free(iface->txq);
    free(iface);
    return st;
}

static void cpn_dpdk_close(cpn_tp_iface_t *tif)
{
    cpn_dpdk_iface_t *iface = cpn_dpdk_iface_of(tif);
    const cpn_dpdk_stats_t *c = &iface->st;

    for (unsigned i = 0; i < iface->ep_hi; i++) {
        cpn_dpdk_ep_t *ep = iface->ep[i];
        cpn_dpdk_op_t *op;

        if (ep == NULL) {
            continue;
        }
        if (ep->state == CPN_DPDK_EP_OPEN) {
            cpn_dpdk_send_ctrl(iface, ep, CPN_DPDK_T_FIN, ep->snd_nxt, 0);
        }
        while ((op = ep->op_head) != NULL) { /* no callbacks at close */
            ep->op_head = op->next;
            free(op);
        }
        cpn_dpdk_ep_unlink(iface, ep);
    }
    cpn_dpdk_tx_drain(iface);
    iface->listen_port = 0; /* no SYN is taken from here on */
    cpn_dpdk_quiesce(iface);
    cpn_info("dpdk: site %s port %s: tx %" PRIu64 " rx %" PRIu64
             " frames, %" PRIu64 " retransmitted (%" PRIu64 " on sacks, %"
             PRIu64 " timeouts), %" PRIu64 " tx dropped, %" PRIu64
             " tx ring full, %" PRIu64
             " duplicates, %" PRIu64 " out of order, dropped: %" PRIu64
             " checksum %" PRIu64 " malformed %" PRIu64 " key %" PRIu64
             " range; %" PRIu64 " window cuts, %" PRIu64 " probes, %" PRIu64
             " spurious timeouts; %" PRIu64 " times quiesced by the peer, %"
             PRIu64 " quiesces answered",
             iface->site, iface->port_name, c->tx_frames, c->rx_frames,
             c->retransmits, c->fast_retransmits, c->timeouts, c->tx_dropped,
             c->tx_ring_full, c->dup_rx, c->ooo_rx, c->bad_csum, c->malformed,
             c->bad_key, c->bad_range, c->cwnd_cuts, c->probes,
             c->spurious_rto, c->quiesced, c->quiesce_acked);
    cpn_dpdk_reap(iface);
    rte_pktmbuf_free_bulk(iface->stash, iface->nstash);
    if (iface->held != NULL) {
        rte_pktmbuf_free(iface->held);
    }
    if (iface->port_started) {
        rte_eth_dev_stop(iface->port);
    }
    if (iface->port_made) {
        rte_eth_dev_close(iface->port);
    }
    rte_mempool_free(iface->pool);
    cpn_dpdk_claimed &= ~(1u << iface->entry);
    for (uint32_t i = 0; i < iface->nmem; i++) {
        free(iface->mem[i]);
    }
    free(iface->mem);
    free(iface->txq);
    free(iface);
}

static unsigned cpn_dpdk_progress(cpn_tp_iface_t *tif)
{
    cpn_dpdk_iface_t *iface = cpn_dpdk_iface_of(tif);
    struct rte_mbuf *rx[CPN_DPDK_BURST];
    unsigned n, events = 0;
    uint64_t now = cpn_dpdk_now_ns();

    if (iface->in_progress) {
        return 0; /* from a callback: the outer call goes on */
    }
    iface->in_progress = 1;
    iface->rx_backlog = 0;
    iface->rx_now = now;
    if (iface->ntx > 0) {
        cpn_dpdk_tx_flush(iface); /* what the ring did not take last time */
    }
    for (int round = 0; round < 4; round++) {
        if (iface->nstash > 0) {
            n = iface->nstash;
            memcpy(rx, iface->stash, n * sizeof(rx[0]));
            iface->nstash = 0;
        } else if (cpn_dpdk_port_usable(iface)) {
            n = cpn_dpdk_rx_burst(iface, rx, CPN_DPDK_BURST);
        } else {
            break;
        }
        /* Ask for the first headers now and each next one a frame ahead,
         * so their lines arrive while the frame before is handled. */
        for (unsigned i = 0; i < n && i < 2; i++) {
            cpn_dpdk_prefetch_hdrs(rx[i]);
        }
        for (unsigned i = 0; i < n; i++) {
            if (i + 2 < n) {
                cpn_dpdk_prefetch_hdrs(rx[i + 2]);
            }
            cpn_dpdk_rx_faulty(iface, rx[i], now);
        }
        events += n;
        if (n < CPN_DPDK_BURST) {
            break;
        }
        iface->rx_backlog = round == 3;
    }
    for (unsigned i = 0; i < iface->ep_hi; i++) {
        cpn_dpdk_ep_t *ep = iface->ep[i];

        if (ep == NULL) {
            continue;
        }
        events += cpn_dpdk_timers(iface, ep, now);
        if (iface->ep[i] != ep || ep->state != CPN_DPDK_EP_OPEN) {
            continue;
        }
        events += cpn_dpdk_pump(iface, ep);
        if (ep->ack_due) {
            cpn_dpdk_send_ctrl(iface, ep, CPN_DPDK_T_ACK, 0, 0);
        }
    }
    cpn_dpdk_tx_flush(iface);
    cpn_dpdk_reap(iface);
    cpn_dpdk_publish(iface);
    iface->in_progress = 0;
    return events;
}

/* Poll the port until a frame comes (kept for progress), a timer is due, or
 * @p timeout_ms passes; after the first millisecond, sleep 20 us between
 * polls so an idle site does not hold a core. */
static cpn_status_t cpn_dpdk_wait(cpn_tp_iface_t *tif, int timeout_ms)
{
    cpn_dpdk_iface_t *iface = cpn_dpdk_iface_of(tif);
    uint64_t start = cpn_dpdk_now_ns();
    uint64_t end = timeout_ms < 0 ? UINT64_MAX
                                  : start + (uint64_t)timeout_ms * 1000000ull;
    uint64_t tick = 2000000ull; /* timers: look at least every 2 ms */

    for (;;) {
        uint64_t now;

        if (iface->nstash == 0 && cpn_dpdk_port_usable(iface)) {
            iface->nstash = cpn_dpdk_rx_burst(iface, iface->stash,
                                              CPN_DPDK_BURST);
        }
        if (iface->nstash > 0 || iface->ntx > 0) {
            return CPN_OK; /* frames in, or frames to push out */
        }
        now = cpn_dpdk_now_ns();
        if (now >= end) {
            return CPN_ERR_TIMEOUT;
        }
        if (now - start >= tick) {
            return CPN_OK; /* let progress run the timers */
        }
        if (now - start > 1000000ull) {
            struct timespec ts = {0, 20000};

            nanosleep(&ts, NULL);
        } else {
            rte_pause();
        }
    }
}

/* ---- ops: connections --------------------------------------------------------- */

static int cpn_dpdk_host_is_ours(cpn_dpdk_iface_t *iface, const char *host)
{
    struct in_addr a;

    if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        return 1;
    }
    return inet_pton(AF_INET, host, &a) == 1 && a.s_addr == iface->ip;
}

static cpn_status_t cpn_dpdk_listen(cpn_tp_iface_t *tif, const char *host,
                                    uint16_t port, uint16_t *port_p)
{
    cpn_dpdk_iface_t *iface = cpn_dpdk_iface_of(tif);

    if (iface->listen_port != 0) {
        return CPN_ERR_EXISTS;
    }
    if (host == NULL || !cpn_dpdk_host_is_ours(iface, host)) {
        cpn_error("dpdk: site %s: cannot listen on %s: port %s has IP %s "
                  "(CPN_DPDK_PORTS); listen on that or 0.0.0.0",
                  iface->site, host ? host : "(null)", iface->port_name,
                  iface->ip_str);
        return CPN_ERR_INVALID;
    }
    if (port == 0) {
        port = (uint16_t)(7300 + getpid() % 500);
    }
    iface->listen_port = port;
    if (port_p != NULL) {
        *port_p = port;
    }
    return CPN_OK;
}

static cpn_status_t cpn_dpdk_connect(cpn_tp_iface_t *tif, const char *host,
                                     uint16_t port, cpn_tp_ep_t **ep_p)
{
    cpn_dpdk_iface_t *iface = cpn_dpdk_iface_of(tif);
    cpn_dpdk_ep_t *ep;
    struct in_addr a;

    if (host == NULL || inet_pton(AF_INET, host, &a) != 1 || port == 0) {
        cpn_error("dpdk: site %s: peer '%s:%u' is not IPV4:PORT (the DPDK "
                  "transport has no name resolution)", iface->site,
                  host ? host : "(null)", port);
        return CPN_ERR_INVALID;
    }
    ep = cpn_dpdk_ep_new(iface);
    if (ep == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    ep->peer_ip = a.s_addr;
    ep->peer_port = port;
    ep->local_port = iface->listen_port ? iface->listen_port
                                        : iface->next_eport++;
    cpn_dpdk_fmt_peer(ep->super.peer_addr, sizeof(ep->super.peer_addr),
                      a.s_addr, port);
    ep->last_syn_ns = cpn_dpdk_now_ns();
    if (cpn_dpdk_neigh_get(iface, a.s_addr, &ep->peer_mac)) {
        ep->state = CPN_DPDK_EP_CONNECTING;
        cpn_dpdk_send_ctrl(iface, ep, CPN_DPDK_T_SYN, 0, 0);
    } else {
        ep->state = CPN_DPDK_EP_RESOLVING;
        cpn_dpdk_send_arp(iface, RTE_ARP_OP_REQUEST, NULL, a.s_addr);
    }
    if (!iface->in_progress) {
        cpn_dpdk_tx_flush(iface);
    }
    *ep_p = &ep->super;
    return CPN_OK;
}

static void cpn_dpdk_ep_close(cpn_tp_ep_t *tep)
{
    cpn_dpdk_ep_t *ep = cpn_dpdk_ep_of(tep);
    cpn_dpdk_iface_t *iface = cpn_dpdk_ep_iface(ep);

    if (ep->state == CPN_DPDK_EP_CLOSED) {
        return;
    }
    if (ep->state == CPN_DPDK_EP_OPEN) {
        cpn_dpdk_send_ctrl(iface, ep, CPN_DPDK_T_FIN, ep->snd_nxt, 0);
        if (!iface->in_progress) {
            cpn_dpdk_tx_flush(iface);
        }
    }
    ep->state = CPN_DPDK_EP_CLOSED;
    cpn_dpdk_ops_fail(ep, CPN_ERR_CANCELED);
    cpn_dpdk_ep_unlink(iface, ep);
    if (!iface->in_progress) {
        cpn_dpdk_reap(iface);
    }
}

static cpn_status_t cpn_dpdk_ep_lanes(cpn_tp_ep_t *tep, char *buf, size_t len)
{
    cpn_dpdk_ep_t *ep = cpn_dpdk_ep_of(tep);
    cpn_dpdk_iface_t *iface = cpn_dpdk_ep_iface(ep);
    int n = snprintf(buf, len, "dpdk/%s mtu %u", iface->port_name,
                     iface->mtu);

    return n < 0 || (size_t)n >= len ? CPN_ERR_TOO_BIG : CPN_OK;
}

/* ---- ops: memory ----------------------------------------------------------------- */

static cpn_status_t cpn_dpdk_mem_reg(cpn_tp_iface_t *tif, void *addr,
                                     size_t len, cpn_tp_mem_t **mem_p)
{
    cpn_dpdk_iface_t *iface = cpn_dpdk_iface_of(tif);
    cpn_dpdk_mem_t *mem;
    uint32_t id;

    if (addr == NULL && len > 0) {
        return CPN_ERR_INVALID;
    }
    for (id = 0; id < iface->nmem; id++) {
        if (iface->mem[id] == NULL) {
            break;
        }
    }
    if (id == iface->nmem) {
        cpn_dpdk_mem_t **grown = realloc(iface->mem,
                                         (iface->nmem + 16) * sizeof(*grown));

        if (grown == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        memset(grown + iface->nmem, 0, 16 * sizeof(*grown));
        iface->mem = grown;
        iface->nmem += 16;
    }
    mem = calloc(1, sizeof(*mem));
    if (mem == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    mem->super.iface = tif;
    mem->super.addr = addr;
    mem->super.len = len;
    mem->id = id;
    iface->mem[id] = mem;
    *mem_p = &mem->super;
    return CPN_OK;
}

static void cpn_dpdk_mem_dereg(cpn_tp_mem_t *tmem)
{
    cpn_dpdk_mem_t *mem = cpn_container_of(tmem, cpn_dpdk_mem_t, super);
    cpn_dpdk_iface_t *iface = cpn_dpdk_iface_of(tmem->iface);

    iface->mem[mem->id] = NULL;
    free(mem);
}

static cpn_status_t cpn_dpdk_key_pack(cpn_tp_mem_t *tmem, void *buf,
                                      size_t *len_p)
{
    cpn_dpdk_mem_t *mem = cpn_container_of(tmem, cpn_dpdk_mem_t, super);
    cpn_dpdk_key_t k = {
        .magic = CPN_DPDK_KEY_MAGIC,
        .id = mem->id,
        .addr = (uint64_t)(uintptr_t)tmem->addr,
        .len = tmem->len,
        .flags = (tmem->flags & CPN_TP_MEM_VERIFIED) ? CPN_DPDK_KEY_F_VERIFIED
                                                     : 0,
    };

    if (*len_p < sizeof(k)) {
        return CPN_ERR_TOO_BIG;
    }
    memcpy(buf, &k, sizeof(k));
    *len_p = sizeof(k);
    return CPN_OK;
}

static cpn_status_t cpn_dpdk_key_unpack(cpn_tp_ep_t *tep, const void *buf,
                                        size_t len, cpn_tp_rkey_t **rkey_p)
{
    cpn_dpdk_key_t k;
    cpn_dpdk_rkey_t *rkey;

    if (len != sizeof(k)) {
        return CPN_ERR_CORRUPT;
    }
    memcpy(&k, buf, sizeof(k));
    if (k.magic != CPN_DPDK_KEY_MAGIC || k.addr + k.len < k.addr) {
        return CPN_ERR_CORRUPT;
    }
    rkey = calloc(1, sizeof(*rkey));
    if (rkey == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    rkey->super.ep = tep;
    rkey->id = k.id;
    rkey->flags = k.flags;
    rkey->addr = k.addr;
    rkey->len = k.len;
    *rkey_p = &rkey->super;
    return CPN_OK;
}

static void cpn_dpdk_key_release(cpn_tp_rkey_t *trkey)
{
    free(cpn_container_of(trkey, cpn_dpdk_rkey_t, super));
}

/* ---- ops: data -------------------------------------------------------------------- */

static cpn_status_t cpn_dpdk_enqueue(cpn_dpdk_ep_t *ep, cpn_dpdk_op_t *op)
{
    cpn_dpdk_iface_t *iface = cpn_dpdk_ep_iface(ep);

    if (ep->state == CPN_DPDK_EP_FAILED || ep->state == CPN_DPDK_EP_CLOSED) {
        free(op);
        return CPN_ERR_CONN_RESET;
    }
    if (ep->op_tail != NULL) {
        ep->op_tail->next = op;
    } else {
        ep->op_head = op;
    }
    ep->op_tail = op;
    if (ep->op_cur == NULL) {
        ep->op_cur = op;
    }
    if (!iface->in_progress && ep->state == CPN_DPDK_EP_OPEN) {
        cpn_dpdk_pump(iface, ep);
        cpn_dpdk_tx_flush(iface);
    }
    return CPN_INPROGRESS;
}

static cpn_status_t cpn_dpdk_send(cpn_tp_ep_t *tep, const void *buf,
                                  size_t len, cpn_tp_comp_cb_t cb, void *arg)
{
    cpn_dpdk_op_t *op;

    if (buf == NULL && len > 0) {
        return CPN_ERR_INVALID;
    }
    op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    op->kind = CPN_DPDK_OP_SEND;
    op->buf = buf;
    op->len = len;
    op->cb = cb;
    op->arg = arg;
    return cpn_dpdk_enqueue(cpn_dpdk_ep_of(tep), op);
}

static cpn_status_t cpn_dpdk_put(cpn_tp_ep_t *tep, const void *buf,
                                 size_t len, cpn_tp_mem_t *mem, uint64_t raddr,
                                 cpn_tp_rkey_t *trkey, const void *notify,
                                 size_t notify_len, cpn_tp_comp_cb_t cb,
                                 void *arg)
{
    cpn_dpdk_rkey_t *rkey = cpn_container_of(trkey, cpn_dpdk_rkey_t, super);
    cpn_dpdk_op_t *op;

    (void)mem;
    if ((buf == NULL && len > 0) || notify_len > CPN_TP_NOTIFY_MAX ||
        (notify == NULL && notify_len > 0) || trkey == NULL ||
        trkey->ep != tep) {
        return CPN_ERR_INVALID;
    }
    if (raddr < rkey->addr || raddr > rkey->addr + rkey->len ||
        len > rkey->addr + rkey->len - raddr) {
        cpn_error("dpdk: put of %zu B at 0x%" PRIx64 " is outside the "
                  "peer's region [0x%" PRIx64 ", +%" PRIu64 ") at %s",
                  len, raddr, rkey->addr, rkey->len, tep->peer_addr);
        return CPN_ERR_INVALID;
    }
    op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    op->kind = CPN_DPDK_OP_PUT;
    op->hdr_csum = (rkey->flags & CPN_DPDK_KEY_F_VERIFIED) != 0;
    op->buf = buf;
    op->len = len;
    op->key = rkey->id;
    op->raddr = raddr;
    op->notify_len = notify_len;
    if (notify_len > 0) {
        memcpy(op->notify, notify, notify_len);
    }
    op->cb = cb;
    op->arg = arg;
    return cpn_dpdk_enqueue(cpn_dpdk_ep_of(tep), op);
}

/* ---- for tests, bench and `cpn info` ------------------------------------------------ */

void cpn__dpdk_stats(cpn_tp_iface_t *tif, cpn_dpdk_stats_t *stats)
{
    *stats = cpn_dpdk_iface_of(tif)->st;
}

void cpn__dpdk_port_info(cpn_tp_iface_t *tif, uint16_t *port_p,
                         uint8_t mac[6], uint32_t *ip_p)
{
    cpn_dpdk_iface_t *iface = cpn_dpdk_iface_of(tif);

    *port_p = iface->port;
    memcpy(mac, iface->mac.addr_bytes, 6);
    *ip_p = iface->ip;
}

cpn_status_t cpn__dpdk_list_ports(char *buf, size_t len)
{
    cpn_dpdk_config_t cfg;
    cpn_status_t st;
    uint16_t pid;
    size_t used = 0;

    st = cpn__config_fill(&cpn_dpdk_config_table, &cfg);
    if (st == CPN_OK) {
        st = cpn_dpdk_eal_init(&cfg);
    }
    if (st != CPN_OK) {
        return st;
    }
    buf[0] = '\0';
    RTE_ETH_FOREACH_DEV(pid) {
        char name[RTE_ETH_NAME_MAX_LEN];
        struct rte_eth_dev_info info;
        struct rte_ether_addr mac;
        int n;

        rte_eth_dev_get_name_by_port(pid, name);
        if (rte_eth_dev_info_get(pid, &info) != 0) {
            continue;
        }
        rte_eth_macaddr_get(pid, &mac);
        n = snprintf(buf + used, len - used,
                     "%u %s " RTE_ETHER_ADDR_PRT_FMT " %s\n", pid, name,
                     RTE_ETHER_ADDR_BYTES(&mac), info.driver_name);
        if (n < 0 || (size_t)n >= len - used) {
            return CPN_ERR_TOO_BIG;
        }
        used += (size_t)n;
    }
    return CPN_OK;
}

/* `cpn info`: the ports DPDK finds with cpn's EAL configuration. EAL is
 * started only when there is something to find (vdevs or PCI devices):
 * otherwise say how to give it some. */
static void cpn_dpdk_info(FILE *out)
{
    cpn_dpdk_config_t cfg;
    char buf[4096], *line, *save = NULL;
    cpn_status_t st;

    if (cpn__config_fill(&cpn_dpdk_config_table, &cfg) != CPN_OK) {
        fprintf(out, "dpdk: the CPN_DPDK_* configuration does not parse "
                     "(see `cpn info --config`)\n");
        return;
    }
    if ((cfg.vdevs == NULL || cfg.vdevs[0] == '\0') && !cfg.pci) {
        fprintf(out, "dpdk ports: none configured (CPN_DPDK_VDEVS for "
                     "software ports, e.g. net_memif0,role=server; "
                     "CPN_DPDK_PCI=y for NICs bound with dpdk-devbind.py)\n");
        return;
    }
    st = cpn__dpdk_list_ports(buf, sizeof(buf));
    if (st != CPN_OK) {
        fprintf(out, "dpdk ports: EAL did not start with vdevs \"%s\"%s: "
                     "%s\n",
                cfg.vdevs ? cfg.vdevs : "", cfg.pci ? " and PCI" : "",
                cpn_status_str(st));
        return;
    }
    fprintf(out, "dpdk ports (id, name, MAC, driver):%s\n",
            buf[0] ? "" : " none found");
    for (line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        fprintf(out, "  %s\n", line);
    }
}

static size_t cpn_dpdk_chunk_max(cpn_tp_iface_t *tif)
{
    return cpn_dpdk_iface_of(tif)->cfg.chunk_max;
}

const cpn_transport_ops_t cpn__tp_dpdk_ops = {
    .name = "dpdk",
    .caps = 0,
    .info = cpn_dpdk_info,
    .open = cpn_dpdk_open,
    .close = cpn_dpdk_close,
    .progress = cpn_dpdk_progress,
    .wait = cpn_dpdk_wait,
    .listen = cpn_dpdk_listen,
    .connect = cpn_dpdk_connect,
    .ep_close = cpn_dpdk_ep_close,
    .ep_lanes = cpn_dpdk_ep_lanes,
    .mem_reg = cpn_dpdk_mem_reg,
    .mem_dereg = cpn_dpdk_mem_dereg,
    .key_pack = cpn_dpdk_key_pack,
    .key_unpack = cpn_dpdk_key_unpack,
    .key_release = cpn_dpdk_key_release,
    .send = cpn_dpdk_send,
    .put = cpn_dpdk_put,
    .chunk_max = cpn_dpdk_chunk_max,
};
