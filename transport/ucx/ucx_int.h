/* SPDX-License-Identifier: Apache-2.0 */
/* Private types of the UCX backend (ucx.c). Each object embeds its base
 * struct from transport/transport.h first, as `super`, so the runtime sees
 * only the base and the backend casts back. Nothing outside transport/ucx/
 * includes this header. */
#ifndef CPN_TRANSPORT_UCX_INT_H
#define CPN_TRANSPORT_UCX_INT_H

#include <stddef.h>
#include <stdint.h>

#include <ucp/api/ucp.h>

#include "transport/transport.h"

/** AM ids on the wire: a message (send), a put's notify after an RMA put,
 *  and a put carried as an active message (header + bytes). */
enum {
    CPN_UCX_AM_MSG = 0,
    CPN_UCX_AM_NOTIFY = 1,
    CPN_UCX_AM_PUT = 2,
};

/** How put moves bytes (CPN_UCX_PUT). */
typedef enum cpn_ucx_put_mode {
    CPN_UCX_PUT_AUTO = 0, /**< per ep: RMA if UCX has an RMA lane, else AM */
    CPN_UCX_PUT_RMA,      /**< ucp_put_nbx, ep flush, then the notify */
    CPN_UCX_PUT_AM,       /**< AM id 2; the target copies, then notifies */
} cpn_ucx_put_mode_t;

/** Header of an AM put (host byte order: both ends share the UCX rkey
 *  format, which is host order too); the notify bytes follow it. */
typedef struct cpn_ucx_put_hdr {
    uint64_t raddr;      /**< where the bytes go, inside the region */
    uint32_t region;     /**< cpn_ucx_mem_t.id of the target region */
    uint32_t notify_len; /**< <= CPN_TP_NOTIFY_MAX */
} cpn_ucx_put_hdr_t;

#define CPN_UCX_PUT_HDR_MAX (sizeof(cpn_ucx_put_hdr_t) + CPN_TP_NOTIFY_MAX)

/** What key_pack writes before UCX's own packed rkey. */
typedef struct cpn_ucx_key_hdr {
    uint32_t magic; /**< CPN_UCX_KEY_MAGIC */
    uint32_t region;
    uint64_t base;
    uint64_t len;
} cpn_ucx_key_hdr_t;

#define CPN_UCX_KEY_MAGIC 0x4b4e5043u /* "CPNK" */

/** Life of an endpoint, as the runtime sees it. */
typedef enum cpn_ucx_ep_state {
    CPN_UCX_EP_CONNECTING, /**< client: wireup not confirmed yet */
    CPN_UCX_EP_READY,      /**< connected (client) or accepted (server) */
    CPN_UCX_EP_FAILED,     /**< UCX reported an error; only ep_close is left */
} cpn_ucx_ep_state_t;

typedef struct cpn_ucx_iface cpn_ucx_iface_t;
typedef struct cpn_ucx_ep cpn_ucx_ep_t;
typedef struct cpn_ucx_op cpn_ucx_op_t;
typedef struct cpn_ucx_rkey cpn_ucx_rkey_t;
typedef struct cpn_ucx_mem cpn_ucx_mem_t;

struct cpn_ucx_ep {
    cpn_tp_ep_t super;
    ucp_ep_h ucp_ep;
    cpn_ucx_ep_t *hnext;       /**< chain in the iface's ucp_ep_h table */
    cpn_ucx_ep_t *prev, *next; /**< every ep of the iface, closing too */
    cpn_ucx_ep_state_t state;
    unsigned closing : 1;       /**< ep_close called: no handler runs */
    unsigned close_started : 1; /**< the closing flush has been posted */
    unsigned flushed : 1;       /**< ... and has completed */
    unsigned forced : 1;        /**< ucp_ep_close_nbx(FORCE) posted */
    unsigned close_done : 1;    /**< UCX finished closing the ucp_ep */
    unsigned in_table : 1;
    unsigned put_mode : 2;   /**< cpn_ucx_put_mode_t; AUTO: not decided yet */
    unsigned nops;           /**< ops from the pool that point here;
                                  the ep is freed only at zero */
    uint64_t close_deadline; /**< force the close after this (ns) */
    cpn_ucx_rkey_t *rkeys;   /**< unpacked keys from this peer (cache) */
    unsigned nrkeys;
    /** Messages, notifies and puts from this peer that arrived behind one
     *  still being received by rendezvous, in arrival order: handlers see
     *  them in the order the peer sent them (the contract's ordering;
     *  UCX completes a rendezvous after later eager messages). */
    cpn_ucx_op_t *rq_head, *rq_tail;
};

/** What a pooled op is doing. */
typedef enum cpn_ucx_op_kind {
    CPN_UCX_OP_SEND,        /**< am_send of a message */
    CPN_UCX_OP_PUT,         /**< put, then ep flush, then the notify */
    CPN_UCX_OP_RNDV_RECV,   /**< receiving a rendezvous message */
    CPN_UCX_OP_CONNECT,     /**< the flush that confirms a client's wireup */
    CPN_UCX_OP_CLOSE_FLUSH, /**< the flush before a graceful close */
} cpn_ucx_op_kind_t;

/**
 * Per-operation state, from a pool on the iface: allocated in slabs, reused
 * through a free list, so a send or put does not malloc in steady state.
 */
struct cpn_ucx_op {
    cpn_ucx_op_t *next; /**< free list, or the deferred queue */
    cpn_ucx_ep_t *ep;
    cpn_tp_comp_cb_t cb;
    void *arg;
    cpn_status_t status; /**< first error seen, else CPN_OK */
    uint8_t kind;        /**< cpn_ucx_op_kind_t */
    uint8_t in_use;
    uint8_t queued;  /**< on the iface's deferred queue */
    uint8_t flushed; /**< put: the ep flush completed */
    uint8_t am_id;   /**< rndv recv: which handler gets it */
    uint8_t notify_len;
    uint8_t rq;      /**< on its ep's ordered receive queue */
    uint8_t rq_ready;  /**< ... with its bytes in: deliverable */
    uint8_t rq_failed; /**< ... but they never came: dropped */
    cpn_ucx_op_t *rq_next;
    uint16_t pending; /**< UCX requests still outstanding */
    void *rbuf;       /**< rndv recv: malloc'ed landing buffer, or NULL
                           when the bytes land in a registered region */
    size_t rlen;
    /** put: the AM header then the notify (both sent from here, so they
     *  live as long as the op); rndv put receive: the notify to deliver. */
    union {
        cpn_ucx_put_hdr_t put;
        uint8_t bytes[CPN_UCX_PUT_HDR_MAX];
    } hdr;
};

#define cpn_ucx_op_notify(_op) ((_op)->hdr.bytes + sizeof(cpn_ucx_put_hdr_t))

/** A slab of ops; slabs are freed only when the iface closes. */
typedef struct cpn_ucx_op_slab cpn_ucx_op_slab_t;
struct cpn_ucx_op_slab {
    cpn_ucx_op_slab_t *next;
    unsigned count;
    cpn_ucx_op_t ops[];
};

struct cpn_ucx_iface {
    cpn_tp_iface_t super;
    ucp_context_h context;
    ucp_worker_h worker;
    int efd;
    ucp_listener_h listener;
    char listen_addr[64];
    char site[32];

    /* live eps (also keyed by ucp_ep_h in the table), and closing ones */
    cpn_ucx_ep_t *eps;
    cpn_ucx_ep_t *closing_eps;
    cpn_ucx_ep_t **table;
    size_t table_size; /**< power of two */
    size_t table_count;

    /* op pool and the queue of ops whose completion waits for progress */
    cpn_ucx_op_t *free_ops;
    cpn_ucx_op_slab_t *slabs;
    cpn_ucx_op_t *defer_head, *defer_tail;

    int in_cb;   /**< >0 while callbacks may run (progress,
                      a close): ep_close then defers */
    int closing; /**< close() runs: no callback at all */

    /* registered regions by id slot, so an AM put can be checked */
    cpn_ucx_mem_t **mems;
    uint32_t nmems; /**< slots in mems */
    uint16_t mem_gen;

    cpn_ucx_put_mode_t put_mode; /**< CPN_UCX_PUT */
    int close_flush_ms;          /**< CPN_UCX_CLOSE_FLUSH */
    unsigned rkey_cache;         /**< CPN_UCX_RKEY_CACHE */
};

struct cpn_ucx_mem {
    cpn_tp_mem_t super;
    ucp_mem_h memh;
    uint32_t id; /**< slot (low 16 bits) and generation (high 16) */
};

/**
 * An unpacked remote key. Keys are cached per endpoint by their packed bytes
 * (CPN_UCX_RKEY_CACHE): unpacking a shared-memory key attaches the target's
 * segment, and a fresh attachment faults in every page again on first write,
 * which costs more than the copy itself. A key in use is never evicted.
 */
struct cpn_ucx_rkey {
    cpn_tp_rkey_t super;
    ucp_rkey_h rkey;
    uint32_t region; /**< the target's region id, for AM puts */
    uint64_t base;   /**< the target region, to check puts against */
    uint64_t len;
    uint8_t *mapped;      /**< the region's base mapped here (ucp_rkey_ptr
                               at unpack), or NULL: key_ptr is arithmetic */
    cpn_ucx_ep_t *owner;  /**< ep whose cache holds it; NULL: orphaned, freed
                               at its last release */
    cpn_ucx_rkey_t *cnext; /**< the owner's cache, most recent first */
    unsigned refs;         /**< unpacks not yet released */
    uint16_t packed_len;
    uint8_t packed[];      /**< the bytes it was unpacked from */
};

/** The ops table, listed in the generated registry. */
extern const cpn_transport_ops_t cpn__tp_ucx_ops;

#endif /* CPN_TRANSPORT_UCX_INT_H */
