/* SPDX-License-Identifier: Apache-2.0 */
/* Private header of the DPDK backend: the wire format of its frames and the
 * counters tests and benchmarks read. Nothing here leaves transport/dpdk/
 * except through cpn__dpdk_stats() (for tests and bench, which link the
 * internal archive).
 *
 * A frame is Ethernet / IPv4 / UDP, then a cpn header (cpn_dpdk_hdr_t) and,
 * for DATA frames, a segment header (cpn_dpdk_seg_t) and payload. Fields are
 * little-endian (the build refuses big-endian hosts). The checksum is the low
 * 32 bits of XXH3-64 over the cpn header (with csum = 0), the segment header
 * and the payload; the IPv4 header has its own checksum and the UDP
 * checksum is 0 (none, as IPv4 allows). */
#ifndef CPN_TRANSPORT_DPDK_INT_H
#define CPN_TRANSPORT_DPDK_INT_H

#include <stdint.h>

#include "transport/transport.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the DPDK backend's wire format is little-endian only"
#endif

#define CPN_DPDK_MAGIC   0xC9D1u
#define CPN_DPDK_VERSION 2u
/** Frames covered by a selective ack beyond the cumulative one. */
#define CPN_DPDK_SACK_BITS 256

enum cpn_dpdk_type {
    CPN_DPDK_T_SYN = 1,    /* open a connection: src_conn = caller's id */
    CPN_DPDK_T_SYNACK = 2, /* accepted: both ids */
    CPN_DPDK_T_DATA = 3,   /* one segment, seq numbered */
    CPN_DPDK_T_ACK = 4,    /* acks only (also a keepalive with ACK_REQ) */
    CPN_DPDK_T_FIN = 5,    /* closed; acted on once all data before it came */
    /* Port-level, to the IPv4 broadcast address, connection ids 0, no
     * payload; on ports whose rings the peer's PMD unmaps when the other
     * side stops its port (net_memif), see cpn_dpdk_quiesce(): */
    CPN_DPDK_T_QUIESCE = 6,  /* I stop this port: stop polling it */
    CPN_DPDK_T_QUIESCED = 7, /* done: I poll it no more until it comes back */
};

enum cpn_dpdk_segop {
    CPN_DPDK_OP_SEND = 1,   /* part of a message: total, off in message */
    CPN_DPDK_OP_PUT = 2,    /* bytes for region key at address off */
    CPN_DPDK_OP_NOTIFY = 3, /* a put's notify: its bytes are all before it */
};

/** Flag: please answer with an ACK now (keepalive). */
#define CPN_DPDK_F_ACK_REQ 0x1
/** Flag: csum covers the header and the segment header, not the payload:
 *  a PUT into a region its owner checks itself (CPN_TP_MEM_VERIFIED, told
 *  in the key); any other frame with it is dropped as malformed. */
#define CPN_DPDK_F_HDR_CSUM 0x2
/** Flag: check every payload sent to this side (it dropped a corrupt
 *  frame, so the path corrupts frames after any CRC, or it has
 *  CPN_DPDK_CSUM_ALL=y): its peer does so from then on. */
#define CPN_DPDK_F_CSUM_ALL 0x4
/** Flag: the first segment of a put (its bytes start at the segment's
 *  address), so a receiver that hashes each put as it lands (see
 *  cpn_tp_landed_t) knows where one ends and the next begins. */
#define CPN_DPDK_F_PUT_FIRST 0x8
/** flags bits 8-31: microseconds the sender of this frame held the ack it
 *  carries, from reading the DATA frame ts_echo names to stamping this one
 *  (its own processing: landing a chunk, being descheduled), so the peer's
 *  congestion control can take it out of the RTT. 0 from older peers. */
#define CPN_DPDK_F_ACK_DELAY_SHIFT 8
#define CPN_DPDK_ACK_DELAY_MAX     0xFFFFFFu

typedef struct __attribute__((packed)) cpn_dpdk_hdr {
    uint16_t magic;
    uint8_t version;
    uint8_t type;
    uint32_t dst_conn;   /* receiver's connection id (0 in SYN) */
    uint32_t src_conn;   /* sender's connection id */
    uint32_t seq;        /* DATA: this segment; FIN: next seq after data */
    uint32_t ack;        /* next seq expected from the peer */
    uint32_t wnd;        /* frames the receiver still takes beyond ack */
    uint32_t flags;
    uint32_t len;        /* bytes after this header (segment + payload) */
    uint64_t sack[CPN_DPDK_SACK_BITS / 64]; /* bit i: ack + 1 + i arrived */
    uint64_t ts;         /* sender's clock when sent (ns) */
    uint64_t ts_echo;    /* ts of the newest DATA frame received */
    uint32_t csum;
} cpn_dpdk_hdr_t;

typedef struct __attribute__((packed)) cpn_dpdk_seg {
    uint8_t op;          /* enum cpn_dpdk_segop */
    uint8_t pad[3];
    uint32_t key;        /* PUT: region id at the receiver */
    uint64_t total;      /* SEND: message length */
    uint64_t off;        /* SEND: offset in the message; PUT: address */
} cpn_dpdk_seg_t;

/** A packed remote key: the region's id at its owner, its bounds, and
 *  CPN_DPDK_KEY_F_* flags. */
typedef struct __attribute__((packed)) cpn_dpdk_key {
    uint32_t magic;
    uint32_t id;
    uint64_t addr;
    uint64_t len;
    uint32_t flags;
} cpn_dpdk_key_t;
/** Key flag: the owner checks what lands there (puts may send
 *  CPN_DPDK_F_HDR_CSUM frames). */
#define CPN_DPDK_KEY_F_VERIFIED 0x1
#define CPN_DPDK_KEY_MAGIC 0x4b445043u

/** Counters of one interface (all since open). */
typedef struct cpn_dpdk_stats {
    uint64_t tx_frames, rx_frames;
    uint64_t tx_bytes, rx_payload;
    uint64_t tx_dropped;       /* never reached the port: no mbuf, or the
                                * tx queue full (DATA is retransmitted) */
    uint64_t tx_ring_full;     /* flushes that found the port's tx ring
                                * full and kept frames queued for later */
    uint64_t retransmits;      /* DATA frames sent again */
    uint64_t fast_retransmits; /* of which on selective acks */
    uint64_t timeouts;         /* retransmission timer expiries */
    uint64_t dup_rx;           /* DATA frames that had arrived already */
    uint64_t ooo_rx;           /* DATA frames held for reordering */
    uint64_t bad_csum;         /* dropped: checksum mismatch */
    uint64_t malformed;        /* dropped: lengths, types, versions, ids */
    uint64_t bad_key;          /* put segments for an unknown region */
    uint64_t bad_range;        /* put segments outside their region */
    uint64_t not_for_us;       /* other IP/UDP/ethertype traffic ignored */
    uint64_t inj_drop, inj_reorder, inj_dup, inj_corrupt;
    uint64_t cwnd_cuts;        /* congestion window decreases */
    uint64_t spurious_rto;     /* timeouts undone: the originals arrived */
    uint64_t probes;           /* oldest frames sent again by the probe timer */
    uint64_t quiesced;         /* times this side stopped polling the port
                                * because its peer was stopping it */
    uint64_t quiesce_acked;    /* stops of the port the peer had answered
                                * (QUIESCED) before they went ahead */
    uint64_t pmd_rx_ns;        /* time inside the PMD's rx bursts that
                                * returned frames: its own work (memif and
                                * af_packet copy each frame in), apart from
                                * cpn's; over rx_frames, a frame's share */
    uint64_t pmd_tx_ns;        /* the same for its tx bursts that took
                                * frames; over tx_frames */
} cpn_dpdk_stats_t;

/** Copy @p iface's counters into @p stats. @p iface must be a DPDK one. */
void cpn__dpdk_stats(cpn_tp_iface_t *iface, cpn_dpdk_stats_t *stats);

/** The DPDK port id, MAC address (6 bytes) and IPv4 address (network
 *  order) of @p iface, for tests that write frames to its peer port. */
void cpn__dpdk_port_info(cpn_tp_iface_t *iface, uint16_t *port_p,
                         uint8_t mac[6], uint32_t *ip_p);

/** Names of the ethdev ports DPDK found, one "ID NAME MAC DRIVER" per line,
 *  into @p buf (initialising the EAL from CPN_DPDK_* if needed).
 *  @return CPN_OK, or the EAL's failure. */
cpn_status_t cpn__dpdk_list_ports(char *buf, size_t len);

#endif /* CPN_TRANSPORT_DPDK_INT_H */
