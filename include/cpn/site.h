/* SPDX-License-Identifier: Apache-2.0 */
/* Sites and peers: a site is one compute site's endpoint of the data plane
 * (a transport instance, a listener, a landing directory, a bounded staging
 * pool). A peer is a connected, HELLO-checked remote site.
 *
 * Threading: a site and everything made from it (peers, tasks, memory
 * registrations) belong to one thread at a time; nothing happens except
 * inside cpn_site_progress(), cpn_site_wait(), cpn_site_connect() and
 * cpn_task_wait(). Different sites may run on different threads. */
#ifndef CPN_SITE_H
#define CPN_SITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cpn/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cpn_site cpn_site_t;
typedef struct cpn_peer cpn_peer_t;
typedef struct cpn_mem cpn_mem_t;
typedef struct cpn_offer cpn_offer_t;
typedef struct cpn_receipt cpn_receipt_t;

/**
 * Receiver hook: called when a peer offers a task, before any byte of it
 * moves. The hook may refuse the task (return an error: the sender's task
 * fails with CPN_ERR_REFUSED and the hook's words), or route objects into
 * the caller's own registered buffers with cpn_offer_set_sink() (zero copy:
 * chunks are put straight into them). Objects given no sink land as files
 * under the site's land_dir. Return CPN_OK to accept.
 */
typedef cpn_status_t (*cpn_offer_cb_t)(void *arg, cpn_offer_t *offer);

/**
 * Receiver hook: a task finished landing (status CPN_OK, every object
 * verified and visible) or failed (nothing of it visible). @p receipt is
 * valid only during the call.
 */
typedef void (*cpn_landed_cb_t)(void *arg, cpn_status_t status,
                                const cpn_receipt_t *receipt);

/** Everything a site is opened with. Fill with cpn_site_params_init(). */
typedef struct cpn_site_params {
    const char *name;         /**< site name sent in HELLO (default: host name) */
    const char *transport;    /**< backend name, e.g. "ucx" (CPN_SITE_TRANSPORT) */
    const char *land_dir;     /**< landing directory; NULL: only memory sinks */
    size_t chunk_size;        /**< bytes per put (CPN_SITE_CHUNK_SIZE) */
    unsigned window;          /**< chunks in flight per task (CPN_SITE_WINDOW) */
    size_t pool_size;         /**< receiver staging pool bytes (CPN_SITE_POOL_SIZE) */
    size_t inline_max;        /**< objects up to this size ride in the offer (CPN_SITE_INLINE_MAX) */
    uint32_t max_objects;     /**< receiver: objects per task (CPN_SITE_MAX_OBJECTS) */
    uint64_t max_task_bytes;  /**< receiver: bytes per task (CPN_SITE_MAX_TASK_BYTES) */
    uint32_t max_name_len;    /**< receiver: bytes per object name (CPN_SITE_MAX_NAME_LEN) */
    int task_deadline_ms;     /**< every task fails after this long, both sides; <=0: none (CPN_SITE_TASK_DEADLINE) */
    int keepalive_ms;         /**< PING to each peer this often (CPN_SITE_KEEPALIVE) */
    int peer_timeout_ms;      /**< a peer silent this long with tasks in flight is dead (CPN_SITE_PEER_TIMEOUT) */
    uint64_t max_site_bytes;  /**< receiver: bytes of all tasks in flight at once, 0: no limit (CPN_SITE_MAX_SITE_BYTES) */
    int timeout_ms;           /**< connect and HELLO timeout (CPN_SITE_TIMEOUT) */
    int fsync;                /**< receiver: fsync files before landing (CPN_SITE_FSYNC) */
    unsigned hash_threads;    /**< sender: threads beside the progress thread that copy and hash the chunks of memory objects, 256 KiB and more; 0, or a progress thread bound to one CPU: all on the progress thread (CPN_SITE_HASH_THREADS) */
    int resume_keep_ms;       /**< receiver: the verified chunks a cut-off task left for its resume are removed when it was not offered again for this long; <=0: kept until offered (CPN_SITE_RESUME_KEEP) */
    const char *key_file;     /**< this site's secret key, from `cpn keygen`; mode 0600 (CPN_SITE_KEY_FILE) */
    const char *peers_file;   /**< public keys of the sites trusted, one "cpn-ed25519 HEX NAME" line each; set: only they may connect or be connected to (CPN_SITE_PEERS_FILE) */
    const char *fault_corrupt; /**< tests: probability ("0.05" or "5%") that a received chunk gets a byte flipped before its check, so it is asked for again; seeded, off by default (CPN_SITE_FAULT_CORRUPT) */
    cpn_offer_cb_t offer_cb;  /**< optional receiver hook, see cpn_offer_cb_t */
    void *offer_arg;
    cpn_landed_cb_t landed_cb; /**< optional receiver hook, see cpn_landed_cb_t */
    void *landed_arg;
} cpn_site_params_t;

/**
 * Fill @p params with the defaults of the configuration table, overridden by
 * the CPN_* environment variables (see `cpn info --config`).
 * @return CPN_OK, or CPN_ERR_CONFIG when an environment variable does not
 *         parse (the log names the variable and the value); @p params then
 *         holds the defaults for that field. Thread-safe.
 */
CPN_API cpn_status_t cpn_site_params_init(cpn_site_params_t *params);

/**
 * Open a site: start its transport, register its staging pool, and (when
 * land_dir is set) create the landing directory and remove partial tasks
 * that an earlier run left there.
 * @param params   settings; strings are copied.
 * @param site_p   out: the site, written only on success.
 * @return CPN_OK; CPN_ERR_NOT_FOUND when the transport is not built in;
 *         CPN_ERR_INVALID for inconsistent params (logged with the field);
 *         CPN_ERR_IO when land_dir cannot be created; CPN_ERR_CONFIG for
 *         a key or peers file that is unsafe (group/world readable key)
 *         or malformed (logged with the file); a transport error.
 */
CPN_API cpn_status_t cpn_site_open(const cpn_site_params_t *params,
                                   cpn_site_t **site_p);

/** Close a site: fails its unfinished tasks, closes peers and frees all. */
CPN_API void cpn_site_close(cpn_site_t *site);

/**
 * Accept connections on @p addr ("HOST:PORT"; port 0 picks a free one).
 * @param bound      out, optional: the address actually bound ("HOST:PORT").
 * @param bound_len  size of @p bound.
 * @return CPN_OK; CPN_ERR_INVALID for a malformed address; CPN_ERR_BUSY
 *         when the port is taken; a transport error.
 */
CPN_API cpn_status_t cpn_site_listen(cpn_site_t *site, const char *addr,
                                     char *bound, size_t bound_len);

/**
 * Connect to the site listening on @p addr and exchange HELLO (versions,
 * names, limits). Drives progress until done or @p timeout_ms (<0: the
 * site's timeout) passes.
 * @return CPN_OK with @p peer_p set; CPN_ERR_UNREACHABLE when nothing
 *         listens there; CPN_ERR_TIMEOUT; CPN_ERR_VERSION when the peer
 *         speaks an incompatible protocol (both versions are logged);
 *         CPN_ERR_AUTH when either side refused the other's key (logged:
 *         no key, wrong key or replayed HELLO).
 */
CPN_API cpn_status_t cpn_site_connect(cpn_site_t *site, const char *addr,
                                      int timeout_ms, cpn_peer_t **peer_p);

/**
 * Make progress: drive the transport, run every state machine one step,
 * call callbacks. Never blocks.
 * @return how many events were handled (0: nothing to do).
 */
CPN_API unsigned cpn_site_progress(cpn_site_t *site);

/**
 * Block until the transport has an event or @p timeout_ms passes, then
 * make progress. Busy-polls briefly first, so latency stays low.
 * @return CPN_OK, or CPN_ERR_TIMEOUT when nothing happened.
 */
CPN_API cpn_status_t cpn_site_wait(cpn_site_t *site, int timeout_ms);

/** The site's name (as sent in HELLO). Never NULL. */
CPN_API const char *cpn_site_name(const cpn_site_t *site);

/** The transport the site runs on ("ucx"). Never NULL. */
CPN_API const char *cpn_site_transport(const cpn_site_t *site);

/**
 * Register @p len bytes at @p addr with the site's transport, for zero-copy
 * sources (cpn_task_add_mem) and sinks (cpn_offer_set_sink).
 * @return CPN_OK with @p mem_p set; CPN_ERR_INVALID; a transport error.
 */
CPN_API cpn_status_t cpn_site_mem_reg(cpn_site_t *site, void *addr, size_t len,
                                      cpn_mem_t **mem_p);

/**
 * Allocate @p len bytes of registered memory where the site's transport
 * reaches it fastest (for UCX, a shared-memory segment that a peer on the
 * same host writes with a single copy). Use it for sinks and sources that
 * should run at the transport's full speed. cpn_mem_addr() gives the
 * address; cpn_site_mem_dereg() frees it.
 * @return CPN_OK with @p mem_p set; CPN_ERR_NO_MEMORY; a transport error.
 */
CPN_API cpn_status_t cpn_site_mem_alloc(cpn_site_t *site, size_t len,
                                        cpn_mem_t **mem_p);

/** The first byte of a registered region. */
CPN_API void *cpn_mem_addr(const cpn_mem_t *mem);

/** Undo cpn_site_mem_reg(), or free what cpn_site_mem_alloc() allocated.
 *  The region must not be in use by a task. */
CPN_API void cpn_site_mem_dereg(cpn_mem_t *mem);

/** The remote site's name, from its HELLO. Never NULL. */
CPN_API const char *cpn_peer_name(const cpn_peer_t *peer);

/** The address the peer was reached at ("HOST:PORT"). Never NULL. */
CPN_API const char *cpn_peer_addr(const cpn_peer_t *peer);

/**
 * The transport lanes in use to this peer, as the transport reports them
 * (for UCX, e.g. "posix/memory cma/memory"). Never NULL.
 */
CPN_API const char *cpn_peer_lanes(const cpn_peer_t *peer);

/** Disconnect; the peer's unfinished tasks fail with CPN_ERR_CANCELED. */
CPN_API void cpn_peer_close(cpn_peer_t *peer);

/* ---- the receiver's view of an offer (inside cpn_offer_cb_t only) ---- */

/** The job name of the offered task. */
CPN_API const char *cpn_offer_job(const cpn_offer_t *offer);
/** The job spec bytes (may be empty); @p len_p gets the length. */
CPN_API const void *cpn_offer_spec(const cpn_offer_t *offer, size_t *len_p);
/** The number of objects in the offer. */
CPN_API size_t cpn_offer_count(const cpn_offer_t *offer);
/** Name of object @p i (a validated relative path). */
CPN_API const char *cpn_offer_name(const cpn_offer_t *offer, size_t i);
/** Size in bytes of object @p i. */
CPN_API uint64_t cpn_offer_size(const cpn_offer_t *offer, size_t i);
/** The sending peer. */
CPN_API cpn_peer_t *cpn_offer_peer(const cpn_offer_t *offer);

/**
 * Route object @p i into the caller's buffer: @p addr must lie within
 * @p mem (from cpn_site_mem_reg) and hold cpn_offer_size(offer, i) bytes.
 * The buffer is the caller's again when the landed callback runs.
 * @return CPN_OK; CPN_ERR_INVALID when the index or the buffer is wrong.
 */
CPN_API cpn_status_t cpn_offer_set_sink(cpn_offer_t *offer, size_t i,
                                        void *addr, cpn_mem_t *mem);

#ifdef __cplusplus
}
#endif
#endif /* CPN_SITE_H */
