/* SPDX-License-Identifier: Apache-2.0 */
/* Internal state of sites, peers, sending tasks and receiving tasks, shared
 * by the runtime's files: site.c (sites, peers, HELLO, dispatch), task.c
 * (the sender's side of a delivery), recv.c (the receiver's side, staging
 * pool and landing) and receipt.c. Nothing here is installed. */
#ifndef CPN_RUNTIME_SITE_INT_H
#define CPN_RUNTIME_SITE_INT_H

#include <stdint.h>

#include <cpn/cpn.h>

#include "core/checksum.h"
#include "core/hashpool.h"
#include "core/histogram.h"
#include "runtime/auth.h"
#include "runtime/wire.h"
#include "transport/transport.h"

typedef struct cpn_rtask cpn_rtask_t;

/* Longest text kept for an error ("... naming the object, peer or file"). */
#define CPN_ERRTEXT_MAX 512
/* Inline bytes one OFFER may carry in all. */
#define CPN_OFFER_INLINE_BUDGET (4u << 20)
/* Chunks a task may have to send again after failed checks before it fails. */
#define CPN_MAX_RETRIES 16
/* Objects from which a task keeps a hash set of names to refuse duplicates;
 * below it, comparing each name with the others is cheaper. */
#define CPN_NAME_SET_MIN 8

struct cpn_mem {
    cpn_site_t *site;
    cpn_tp_mem_t *tp;
    void *addr;
    size_t len;
    int owned;                /* 1: by the transport (mem_alloc); 2: by us */
};

/* A reusable outgoing message buffer: taken from the site's free list,
 * encoded into, handed to the transport, returned on completion. */
typedef struct cpn_msg {
    cpn_wire_buf_t buf;
    cpn_site_t *site;
    struct cpn_msg *next;
} cpn_msg_t;

typedef enum cpn_peer_state {
    CPN_PEER_CONNECTING,   /* outgoing: HELLO sent, waiting for HELLO_ACK */
    CPN_PEER_ACCEPTED,     /* incoming: waiting for HELLO */
    CPN_PEER_READY,
    CPN_PEER_FAILED,
} cpn_peer_state_t;

struct cpn_peer {
    cpn_site_t *site;
    cpn_tp_ep_t *ep;
    cpn_peer_state_t state;
    cpn_status_t status;      /* why it failed */
    int incoming;             /* accepted by our listener: the site owns it */
    int close_pending;        /* failed: close the ep outside callbacks */
    char name[256];
    char addr[64];
    char lanes[256];
    char err[CPN_ERRTEXT_MAX];
    /* the remote receiver's limits, from HELLO_ACK */
    uint32_t max_objects, max_name_len, inline_max, slot_size, nslots;
    uint64_t max_task_bytes, pool_addr;
    cpn_tp_rkey_t *pool_rkey;
    cpn_auth_peer_t auth;     /* HELLO authentication (auth.c) */
    uint64_t last_rx_ns;      /* last PING (or READY) from it (liveness.c) */
    uint64_t last_tx_ns;      /* last PING we sent it */
    struct cpn_peer *next;
};

/* ---- the sender's side ---- */

typedef struct cpn_obj {
    char *name;
    size_t name_len;
    uint64_t size;
    const uint8_t *buf;       /* memory object, or NULL */
    cpn_mem_t *mem;           /* its registration, optional */
    int fd;                   /* file object, or -1 */
    char *path;               /* file object: for error messages */
    uint64_t nchunks;
    uint64_t *hash;           /* chunk hashes, filled as chunks go out */
    uint8_t *skip;            /* resumed task: per chunk, the receiver holds
                                 it already (HAVE); NULL when none */
    cpn_digest_t digest;
    int inlined;
    /* memory sink at the receiver (from ACCEPT) */
    int has_sink;
    uint64_t sink_addr;
    cpn_tp_rkey_t *sink_rkey;
} cpn_obj_t;

/* One put in flight (or a staging buffer for file reads). */
typedef struct cpn_put {
    cpn_task_t *task;
    uint32_t obj;
    uint32_t slot;
    uint64_t offset;
    uint32_t len;
    uint64_t t_start;
    uint8_t *stage;           /* staging buffer owned by this entry, or NULL */
    /* where the chunk goes once hashed (task.c chunk_send) */
    int mapped;               /* copied into the peer's mapped memory */
    const uint8_t *src;       /* put from here (not mapped) */
    cpn_tp_mem_t *mem;        /* src's registration, or NULL */
    uint64_t raddr;
    cpn_tp_rkey_t *rkey;
    cpn_hjob_t job;           /* the copy and hash, on the site's hpool */
} cpn_put_t;

/* A chunk to send again after a NACK. */
typedef struct cpn_resend {
    uint32_t obj;
    uint64_t offset;
} cpn_resend_t;

typedef enum cpn_task_state {
    CPN_TASK_NEW,
    CPN_TASK_OFFERED,     /* OFFER sent, waiting for ACCEPT or RECEIPT */
    CPN_TASK_SENDING,     /* putting chunks */
    CPN_TASK_COMMITTED,   /* COMMIT sent, waiting for RECEIPT */
    CPN_TASK_DONE,
} cpn_task_state_t;

struct cpn_task {
    cpn_site_t *site;
    char *job;
    uint8_t *spec;
    size_t spec_len;
    cpn_obj_t *obj;
    size_t nobj, obj_cap;
    uint64_t total_bytes;
    /* name set, for duplicates: open addressing over obj indexes + 1; made
     * only from CPN_NAME_SET_MIN objects on (fewer are compared in turn) */
    uint32_t *name_set;
    size_t name_set_cap;
    /* the chunk hashes of every object in one block (obj[i].hash points in) */
    uint64_t *hashes;
    size_t hashes_cap;

    cpn_task_state_t state;
    cpn_status_t status;
    char err[CPN_ERRTEXT_MAX];
    cpn_peer_t *peer;
    uint64_t id;
    cpn_task_cbs_t cbs;
    uint32_t chunk_size;
    unsigned window;
    int need_pump;

    /* send cursor */
    uint32_t cur_obj;
    uint64_t cur_off;
    int cur_fd;               /* open file of object cur_fd_obj, or -1 */
    uint32_t cur_fd_obj;
    cpn_resend_t *resend;
    size_t nresend, resend_cap;
    /* slots granted by the receiver and not yet used */
    uint32_t *slots;
    size_t nslots, slots_cap;
    /* puts in flight: a fixed array of `window` entries with a free stack */
    cpn_put_t *puts;
    uint32_t *put_free;
    unsigned nput_free;
    uint8_t *stage;           /* window x chunk_size, for file chunks */
    cpn_mem_t *stage_mem;

    uint64_t bytes_placed;
    uint64_t chunks_sent;
    uint64_t chunks_mapped; /**< of those, copied through key_ptr */
    uint64_t chunks_skipped; /**< resumed: held by the receiver, not sent */
    uint64_t bytes_skipped;
    uint64_t have_mismatch;  /**< kept chunks that no longer match */
    uint64_t retries;
    uint64_t t_start, t_end;
    cpn_hist_t *chunk_hist;

    cpn_receipt_t receipt;
    cpn_receipt_object_t *receipt_obj;
    size_t receipt_obj_cap;
    char *receipt_strs;       /* strings the receipt points to */
    size_t receipt_strs_cap;

    struct cpn_task *next;    /* site->active */
};

/* ---- the receiver's side ---- */

typedef struct cpn_robj {
    char *name;
    uint64_t size;
    uint64_t nchunks;
    uint64_t verified;        /* chunks verified */
    uint64_t *hash;           /* verified chunk hashes */
    uint8_t *got;             /* per chunk: verified? */
    cpn_digest_t digest;      /* sender's, from the offer (inline) or COMMIT */
    int inlined;
    uint8_t *sink;            /* caller's buffer, or NULL for a file */
    cpn_mem_t *sink_mem;
    int fd;                   /* temporary file while chunks arrive, or -1 */
    int done;                 /* all chunks verified and written */
} cpn_robj_t;

struct cpn_offer {
    cpn_rtask_t *rt;
};

struct cpn_rtask {
    cpn_site_t *site;
    cpn_peer_t *peer;
    uint64_t id;
    char *job;
    uint8_t *spec;
    size_t spec_len;
    cpn_robj_t *obj;
    uint32_t nobj;
    uint32_t obj_cap;
    /* every object's chunk hashes, then its per-chunk flags, in one block
     * of chunk_cap x 9 bytes (obj[i].hash and obj[i].got point in) */
    uint8_t *chunk_block;
    size_t chunk_cap;
    uint32_t chunk_size;
    uint64_t total_bytes;
    uint64_t bytes_verified;
    uint64_t chunks_total;    /* chunks expected through slots or sinks */
    uint64_t chunks_verified;
    uint64_t chunks_to_grant; /* slot chunks not yet given a slot */
    uint64_t chunks_resumed;  /* of chunks_verified: read back from the
                                 journal of an earlier try */
    uint64_t bytes_resumed;
    uint32_t slots_held;
    uint64_t retries;
    int committed;
    int files;                /* some object lands as a file */
    char *tmpdir;             /* land_dir/.cpn-partial.PID.XXXXXX, or for a
                                 resumable task land_dir/.cpn-resume.KEY */
    /* resume journal (resume.c): verified chunks of a resumable task */
    int jfd;                  /* land_dir/.cpn-resume.KEY.journal, or -1 */
    char *jpath;
    uint64_t jkey;
    uint8_t *jbuf;            /* records not yet written */
    uint32_t jn;
    int keep_partial;         /* failed by a lost peer: keep for resume */
    int cur_fd;               /* open temporary file of cur_fd_obj, or -1 */
    uint32_t cur_fd_obj;
    unsigned window;          /* slots this task may hold at once */
    uint64_t t_start;
    struct cpn_rtask *next;
};

struct cpn_site {
    cpn_site_params_t params;
    char *name;
    char *transport;
    char *land_dir;
    const cpn_transport_ops_t *ops;
    cpn_tp_iface_t *iface;
    char listen_addr[80];

    /* receiver staging pool: nslots x slot_size, registered once */
    uint8_t *pool;
    size_t pool_len;
    int pool_owned;           /* allocated by the transport: dereg frees it */
    uint32_t slot_size, nslots;
    cpn_tp_mem_t *pool_mem;
    uint8_t pool_rkey[CPN_TP_RKEY_MAX];
    size_t pool_rkey_len;
    uint32_t *slot_free;      /* stack of free slots */
    uint32_t nslot_free;
    cpn_rtask_t **slot_owner; /* which task a slot was granted to */
    /* Slots of a task that failed while its sender was alive: puts may
     * still be on their way into them, so they rest before reuse. */
    uint32_t *quar;
    uint32_t nquar;
    uint64_t quar_until;

    cpn_peer_t *peers;
    cpn_task_t *active;       /* sending tasks in flight */
    cpn_rtask_t *rtasks;      /* receiving tasks */
    cpn_rtask_t *rtask_spare; /* a finished one kept for the next offer */
    cpn_msg_t *msg_free;
    uint64_t next_task_id;
    int pump_pending;
    int dead_peers;           /* some peer waits for close_pending handling */
    cpn_auth_t *auth;         /* keys (auth.c); NULL: none configured */
    uint64_t live_next_ns;    /* next deadline/keepalive look (liveness.c) */
    uint64_t sweep_next_ns;   /* next look for stale resume state (resume.c) */
    unsigned live_tick;
    cpn_hpool_t *hpool;       /* copy-and-hash threads; NULL until needed */
    double p_corrupt;         /* CPN_SITE_FAULT_CORRUPT (tests) */
    uint64_t fault_rng;       /* its xorshift64* state, fixed seed */
};

/* site.c */
cpn_msg_t *cpn__msg_get(cpn_site_t *site);
void cpn__msg_put(cpn_msg_t *m);
/** Send @p m (encoded) to @p peer; @p m is returned to the pool in all cases. */
cpn_status_t cpn__peer_send(cpn_peer_t *peer, cpn_msg_t *m);
/** Tell @p peer (when it is still ready) that task @p task_id is given up. */
void cpn__send_cancel(cpn_peer_t *peer, uint64_t task_id, cpn_status_t status,
                      const char *reason);
/** Mark @p peer failed with @p status and words; fails its tasks. */
void cpn__peer_fail(cpn_peer_t *peer, cpn_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** HELLO checked (and authenticated): the peer is ready; HELLO_ACK sent. */
void cpn__hello_accept(cpn_peer_t *peer);
/** Refuse a HELLO with @p status and words; the peer is failed but its
 *  endpoint kept until the other side closes it, so the refusal arrives. */
void cpn__hello_refuse(cpn_peer_t *peer, cpn_status_t status, const char *why);

/* task.c: the sender */
void cpn__task_on_msg(cpn_peer_t *peer, const cpn_wire_hdr_t *hdr,
                      const void *buf, size_t len);
void cpn__task_pump_all(cpn_site_t *site);
/** Send the chunks the hashing threads finished (running one queued job
 *  here first when none is); @return how many. */
unsigned cpn__task_hashed(cpn_site_t *site);
void cpn__task_peer_failed(cpn_peer_t *peer);
void cpn__task_fail(cpn_task_t *task, cpn_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* recv.c: the receiver */
cpn_status_t cpn__pool_open(cpn_site_t *site);
void cpn__pool_close(cpn_site_t *site);
/** Create the landing directory if needed, check it is writable, and
 *  remove partial tasks left by sites that no longer run. */
cpn_status_t cpn__land_prepare(cpn_site_t *site);
void cpn__recv_on_msg(cpn_peer_t *peer, const cpn_wire_hdr_t *hdr,
                      const void *buf, size_t len);
void cpn__recv_on_chunk(cpn_peer_t *peer, const void *buf, size_t len,
                        const cpn_tp_landed_t *landed);
void cpn__recv_peer_failed(cpn_peer_t *peer);
void cpn__recv_close_all(cpn_site_t *site);
/** Return quarantined slots whose rest is over to the pool. */
void cpn__pool_quarantine_check(cpn_site_t *site);

/* liveness.c */
/** Keepalive and deadlines: ping ready peers, fail peers silent past the
 *  peer timeout while tasks are in flight, fail tasks past their deadline. */
void cpn__liveness_tick(cpn_site_t *site);
/* task.c */
/** Words for the phase a sending task is in ("while sending chunks"). */
const char *cpn__task_phase(const cpn_task_t *task);
/* recv.c */
/** Fail @p old, keeping what it verified for the new offer of the same
 *  task that resumes it (resume.c), telling its sender. */
void cpn__rtask_supersede(cpn_rtask_t *old);
/** Fail a receiving task that passed its deadline, telling the sender. */
void cpn__rtask_expire(cpn_rtask_t *rt, int deadline_ms);

/* resume.c */
/** Make @p rt resumable when it can be (every object a file): take or
 *  create its stable partial directory and journal (setting rt->tmpdir),
 *  and mark the chunks an earlier try verified. @return 1 when the task
 *  uses a resume directory, 0 when not (the caller makes a temporary one),
 *  or -1 with errno set on a failure to create it. */
int cpn__resume_open(cpn_rtask_t *rt);
/** Send the HAVE messages of a resumed task (before its ACCEPT). */
cpn_status_t cpn__resume_send_have(cpn_rtask_t *rt);
/** Journal chunk @p ci of object @p obj, verified with @p hash. */
void cpn__resume_note(cpn_rtask_t *rt, uint32_t obj, uint64_t ci,
                      uint64_t hash);
/** The task ends: keep its directory and journal for a later try when
 *  rt->keep_partial, else remove the journal (the caller removes tmpdir). */
void cpn__resume_close(cpn_rtask_t *rt);
/** Receiver: remove the resume state (journal and directory) of tasks not
 *  offered again within CPN_SITE_RESUME_KEEP and not in use now; runs at
 *  site open and from the liveness tick, at most every minute.
 *  @return how many tasks' state it removed. */
unsigned cpn__resume_sweep(cpn_site_t *site, uint64_t now_ns);

/* limits.c */
/** Site-wide checks of an offer before anything is written: bytes of all
 *  tasks in flight against max_site_bytes, and @p file_bytes against the
 *  free space of land_dir net of what accepted tasks have yet to write.
 *  @return CPN_OK, CPN_ERR_LIMIT or CPN_ERR_NO_SPACE with words in @p why. */
cpn_status_t cpn__limits_offer(cpn_site_t *site, const cpn_rtask_t *rt,
                               uint64_t file_bytes, char *why, size_t len);

/* receipt.c */
/** Build the receipt of a finished sending task from its state and the
 *  receiver's RECEIPT message. */
cpn_status_t cpn__receipt_build_sender(cpn_task_t *task,
                                       const cpn_wire_receipt_t *m);
/** Format the error text of a status into @p buf with printf words. */
void cpn__errtext(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* CPN_RUNTIME_SITE_INT_H */
