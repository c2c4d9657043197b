/* SPDX-License-Identifier: Apache-2.0 */
/* The transport contract (internal). Every backend offers the same ops:
 *   send  a reliable, ordered message on an endpoint;
 *   put   a one-sided write into a region the peer registered and described
 *         by a packed key, followed by a small notify message that the peer
 *         receives only once the written bytes are visible to it.
 * A backend knows nothing of tasks; the runtime knows nothing of UCP workers,
 * queue pairs or mbufs. Progress is explicit: a backend does nothing except
 * inside its progress (or wait) call, and every callback below runs from
 * there, never from inside the call that started the operation.
 *
 * Objects: a backend allocates its own iface/ep/mem/rkey structs, each
 * embedding the base struct below first (`super`), so the runtime can keep
 * a user pointer in it. Missing ops point to stubs that return
 * CPN_ERR_UNSUPPORTED (cpn__tp_fill_stubs), so callers never test for NULL. */
#ifndef CPN_TRANSPORT_H
#define CPN_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cpn/status.h>

/** Largest notify that rides with a put. */
#define CPN_TP_NOTIFY_MAX 64
/** Largest packed remote key. */
#define CPN_TP_RKEY_MAX   1024

typedef struct cpn_tp_iface cpn_tp_iface_t;
typedef struct cpn_tp_ep    cpn_tp_ep_t;
typedef struct cpn_tp_mem   cpn_tp_mem_t;
typedef struct cpn_tp_rkey  cpn_tp_rkey_t;
typedef struct cpn_transport_ops cpn_transport_ops_t;

/** Completion of a send or put: the source buffer is the caller's again. */
typedef void (*cpn_tp_comp_cb_t)(void *arg, cpn_status_t status);

/**
 * What a backend that copies a put's payload into the region itself (DPDK)
 * learnt of the put whose notify it is delivering: the XXH3-64 (seed 0,
 * cpn_hash64) of the bytes it wrote at [addr, addr + len), taken from the
 * very bytes it stored, in order, as it wrote them. So a handler that
 * would hash those bytes again to check them may compare this instead,
 * without reading the region. Given to put_notify only for puts into
 * CPN_TP_MEM_VERIFIED regions whose every byte the backend copied in
 * order; NULL otherwise.
 */
typedef struct cpn_tp_landed {
    uint64_t addr;
    uint64_t len;
    uint64_t hash;
} cpn_tp_landed_t;

/** Events the runtime receives from an interface (all from progress). */
typedef struct cpn_tp_handlers {
    /** A peer connected to our listener; @p ep is new and ready to send. */
    void (*accept)(void *arg, cpn_tp_ep_t *ep);
    /** An outgoing connect finished: CPN_OK, or why not (ep stays valid
     *  until ep_close). Runs once, before any recv on @p ep; a failed
     *  connect is reported here, never as ep_error. */
    void (*connected)(void *arg, cpn_tp_ep_t *ep, cpn_status_t status);
    /** A message arrived. @p data is valid only during the call. */
    void (*recv)(void *arg, cpn_tp_ep_t *ep, const void *data, size_t len);
    /** A put's notify arrived; the put's bytes are visible. @p notify is
     *  valid only during the call. @p landed: what the backend hashed of
     *  the put as it copied it in (cpn_tp_landed_t), or NULL. */
    void (*put_notify)(void *arg, cpn_tp_ep_t *ep, const void *notify,
                       size_t len, const cpn_tp_landed_t *landed);
    /** The endpoint failed (peer gone, path down); close it. */
    void (*ep_error)(void *arg, cpn_tp_ep_t *ep, cpn_status_t status);
    void *arg;
} cpn_tp_handlers_t;

/** Base of every backend's interface object. */
struct cpn_tp_iface {
    const cpn_transport_ops_t *ops;
    cpn_tp_handlers_t handlers;
};

/** Base of every backend's endpoint object. */
struct cpn_tp_ep {
    cpn_tp_iface_t *iface;
    void *user;               /**< the runtime's pointer (its peer) */
    char peer_addr[64];       /**< "HOST:PORT" of the other side */
};

/** Base of a registered memory region. */
struct cpn_tp_mem {
    cpn_tp_iface_t *iface;
    void *addr;
    size_t len;
    unsigned flags;           /**< CPN_TP_MEM_*; 0 from mem_reg/mem_alloc */
};

/**
 * cpn_tp_mem.flags: every byte put into this region is checked above the
 * transport before anything uses it (the runtime's hash per chunk, with the
 * chunk asked for again on a mismatch), so a backend may leave a put's
 * payload bytes to that check and check only its own headers (where it
 * checks payloads in software, as DPDK does). Set by the owner before
 * key_pack; a backend that honours it says so in the packed key, and its
 * receiving side refuses payload-unchecked frames into other regions.
 */
#define CPN_TP_MEM_VERIFIED (1u << 0)

/**
 * cpn_tp_mem.flags: a staging area whose owner reads what lands at once
 * (the runtime's slots, written out to files as each chunk completes), so
 * a backend that copies payloads in itself keeps them in the cache rather
 * than stream them past it. A hint; set by the owner before key_pack.
 */
#define CPN_TP_MEM_STAGING (1u << 1)

/** Base of an unpacked remote key, bound to one endpoint. */
struct cpn_tp_rkey {
    cpn_tp_ep_t *ep;
};

typedef struct cpn_tp_params {
    const char *site_name;    /**< for log lines */
} cpn_tp_params_t;

struct cpn_transport_ops {
    const char *name;         /**< "ucx" */
    unsigned caps;            /**< CPN_TP_CAP_* */

    /* -- interface -- */
    /** Start the backend. @p handlers are copied. */
    cpn_status_t (*open)(const cpn_tp_params_t *params,
                         const cpn_tp_handlers_t *handlers,
                         cpn_tp_iface_t **iface_p);
    /** Stop it; closes every endpoint without callbacks (completions of
     *  outstanding operations included: ep_close first to get them), frees
     *  all. Not from inside a callback. */
    void (*close)(cpn_tp_iface_t *iface);
    /** Make progress; @return events handled. Never blocks. */
    unsigned (*progress)(cpn_tp_iface_t *iface);
    /** Block up to @p timeout_ms for an event (after arming); CPN_OK when
     *  woken, CPN_ERR_TIMEOUT otherwise. Does not itself progress. */
    cpn_status_t (*wait)(cpn_tp_iface_t *iface, int timeout_ms);

    /* -- connections -- */
    /** Listen on @p host : @p port (0 = any free); @p port_p gets it.
     *  @return CPN_OK, CPN_ERR_ADDR_IN_USE, CPN_ERR_EXISTS
     *  (already listening), CPN_ERR_INVALID (bad host), or another error. */
    cpn_status_t (*listen)(cpn_tp_iface_t *iface, const char *host,
                           uint16_t port, uint16_t *port_p);
    /** Start connecting; handlers.connected reports the outcome. Sends may
     *  be posted at once (they are queued until connected).
     *  @return CPN_OK with @p ep_p set, or an error (no ep, no handler). */
    cpn_status_t (*connect)(cpn_tp_iface_t *iface, const char *host,
                            uint16_t port, cpn_tp_ep_t **ep_p);
    /** Close an endpoint; outstanding operations complete with
     *  CPN_ERR_CANCELED (inside this call or from a later progress). No
     *  handler runs for it afterwards. Never blocks; may be called from a
     *  callback; @p ep is invalid on return. */
    void (*ep_close)(cpn_tp_ep_t *ep);
    /** Describe the lanes in use to this peer into @p buf ("cma/memory ...");
     *  CPN_ERR_TOO_BIG if @p len is too small. */
    cpn_status_t (*ep_lanes)(cpn_tp_ep_t *ep, char *buf, size_t len);

    /* -- memory -- */
    cpn_status_t (*mem_reg)(cpn_tp_iface_t *iface, void *addr, size_t len,
                            cpn_tp_mem_t **mem_p);
    /** Undo mem_reg, or free what mem_alloc allocated. */
    void (*mem_dereg)(cpn_tp_mem_t *mem);
    /** Allocate @p len bytes of registered memory where this transport
     *  reaches it fastest (for UCX: a segment its shared-memory transports
     *  can write directly); mem->addr is the memory; mem_dereg frees it.
     *  CPN_ERR_UNSUPPORTED when the backend has no such memory. */
    cpn_status_t (*mem_alloc)(cpn_tp_iface_t *iface, size_t len,
                              cpn_tp_mem_t **mem_p);
    /** Pack a key a peer can unpack to put into @p mem; @p len_p in: size of
     *  @p buf, out: bytes used. */
    cpn_status_t (*key_pack)(cpn_tp_mem_t *mem, void *buf, size_t *len_p);
    cpn_status_t (*key_unpack)(cpn_tp_ep_t *ep, const void *buf, size_t len,
                               cpn_tp_rkey_t **rkey_p);
    void (*key_release)(cpn_tp_rkey_t *rkey);
    /**
     * A local pointer through which this process writes @p len bytes at
     * @p raddr under @p rkey itself (the peer's memory is mapped here, as
     * shared memory between processes of one host is). Bytes written there
     * reach the peer's put_notify handler ordered by notify(). @return
     * CPN_OK with @p ptr_p set; CPN_ERR_UNSUPPORTED when the memory is not
     * mapped here (use put); CPN_ERR_INVALID when the range is outside the
     * key's region.
     */
    cpn_status_t (*key_ptr)(cpn_tp_rkey_t *rkey, uint64_t raddr, size_t len,
                            void **ptr_p);

    /* -- data -- */
    /**
     * Send @p len bytes as one message. @return CPN_OK when done already
     * (buffer free, @p cb not called), CPN_INPROGRESS when @p cb will be
     * called, or an error (@p cb not called).
     */
    cpn_status_t (*send)(cpn_tp_ep_t *ep, const void *buf, size_t len,
                         cpn_tp_comp_cb_t cb, void *arg);
    /**
     * Write @p len bytes from @p buf (inside @p mem when not NULL) to
     * @p raddr under @p rkey, then deliver @p notify (<= CPN_TP_NOTIFY_MAX
     * bytes, copied) to the peer's put_notify once the bytes are visible.
     * @return CPN_INPROGRESS (@p cb will run once the notify is on its way
     *         and @p buf is free) or an error (@p cb not called).
     */
    cpn_status_t (*put)(cpn_tp_ep_t *ep, const void *buf, size_t len,
                        cpn_tp_mem_t *mem, uint64_t raddr, cpn_tp_rkey_t *rkey,
                        const void *notify, size_t notify_len,
                        cpn_tp_comp_cb_t cb, void *arg);
    /**
     * Deliver @p notify (<= CPN_TP_NOTIFY_MAX bytes, copied) to the peer's
     * put_notify once every byte this process wrote through key_ptr
     * pointers before the call is visible to the peer: the completion of a
     * put done by the CPU. @return as send.
     */
    cpn_status_t (*notify)(cpn_tp_ep_t *ep, const void *notify,
                           size_t notify_len, cpn_tp_comp_cb_t cb, void *arg);

    /** The largest chunk that suits this backend, in bytes (0: any): a
     *  receiving site's staging slots are no larger, and senders put no
     *  larger chunks to it. */
    size_t (*chunk_max)(cpn_tp_iface_t *iface);

    /* -- description -- */
    /** Print what this backend sees on the host (devices, ports, addresses)
     *  and what it would choose, for `cpn info`; needs no open iface. */
    void (*info)(FILE *out);
};

#define CPN_TP_CAP_ZCOPY  (1u << 0)  /**< put reads straight from user memory */
#define CPN_TP_CAP_WAKEUP (1u << 1)  /**< wait() blocks on an event fd */

/** Look up a built backend by name; NULL if not built in. */
const cpn_transport_ops_t *cpn__tp_find(const char *name);

/** Space-separated names of the built backends. */
const char *cpn__tp_names(void);

/** Point every NULL op of @p ops at a stub returning CPN_ERR_UNSUPPORTED. */
void cpn__tp_fill_stubs(cpn_transport_ops_t *ops);

/* Split "HOST:PORT" (or "[v6]:PORT") into @p host (size @p hlen) and port.
 * @return CPN_OK or CPN_ERR_INVALID. */
cpn_status_t cpn__tp_parse_addr(const char *addr, char *host, size_t hlen,
                                uint16_t *port_p);

#endif /* CPN_TRANSPORT_H */
