/* SPDX-License-Identifier: Apache-2.0 */
/* The verbs backend: the transport contract (transport/transport.h) on RC
 * queue pairs driven directly through libibverbs, connected by librdmacm.
 *
 *   open      picks one device, port and GID (verbs_sel.c: CPN_VERBS_DEVICE,
 *             CPN_VERBS_NETDEV or automatic), opens a PD and a completion
 *             channel on the context librdmacm opened for that device
 *   connect / listen
 *             rdma_cm by address and port, with our own QP (the cm_id has
 *             none): each side sends cpn_verbs_pdata_t in the REQ/REP
 *             private data (QPN, PSN, GID, LID, MTU, queue depths, receive
 *             credits, the address and rkey of its control region) and moves
 *             its QP to RTR/RTS itself with the GID and MTU it chose; the
 *             active side answers CONNECT_RESPONSE with rdma_establish()
 *   send      RC SEND of fragments of at most RX_SIZE bytes (8-byte header:
 *             total length, first/last flags) into the peer's pre-posted
 *             receive buffers; inline up to MAX_INLINE. One receive posted
 *             = one credit; the receiver returns credits by an RDMA WRITE of
 *             its count of processed receives into the sender's control
 *             region, so returning credits never costs the peer a receive
 *   put       RDMA WRITE of the notify (<= 64 bytes) into notify slot k of
 *             the peer's control region, then RDMA WRITE WITH IMM of the
 *             bytes into the remote region, the immediate naming slot k and
 *             the notify's length. RC ordering makes the notify and the
 *             bytes visible when the WITH IMM completes a receive there, so
 *             the peer learns of the data with no extra message. Slot k =
 *             put number mod the peer's RX_DEPTH: a slot is reused only
 *             after the credit for the put that used it came back
 *   progress  rdma_cm events, then each endpoint's CQ (send and receive);
 *             one send WR in SIGNAL_EVERY is signalled (and every put, whose
 *             callback waits for it); a signalled completion retires every
 *             WR before it. Sends and puts that find no credit or no send
 *             queue slot wait in a FIFO (back-pressure, never an error)
 *
 * Memory: receive, send-bounce and control buffers are registered once per
 * endpoint and reused; their size is bounded by the depths. A put from
 * memory not registered with mem_reg is registered for that put only.
 * A failed work completion takes the endpoint down: its words (with device,
 * port and GID) are logged once and ep_error reports it. Not thread-safe:
 * one thread per iface. */
#include "transport/verbs/verbs_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <rdma/rdma_cma.h>

#include "core/compiler.h"
#include "core/config.h"
#include "core/log.h"
#include "transport/transport.h"

#define VB_HDR_LEN     8          /* send fragment header */
#define VB_F_FIRST     1u
#define VB_F_LAST      2u
#define VB_NOTIFY_SLOT 64         /* bytes per notify slot */
#define VB_RECV_FLAG   (1ull << 63)
#define VB_POLL_BATCH  32
#define VB_KEY_MAGIC   0x63706e6bu /* "cpnk" */
#define VB_KEY_LEN     24

typedef enum vb_ep_state {
    VB_EP_RESOLVING,     /* active: address/route being resolved */
    VB_EP_CONNECTING,    /* active: REQ sent; passive: REP sent */
    VB_EP_READY,
    VB_EP_FAILED,
} vb_ep_state_t;

typedef enum vb_op_kind { VB_OP_SEND, VB_OP_PUT } vb_op_kind_t;

typedef struct vb_op {
    struct vb_op *next;
    vb_op_kind_t kind;
    int deferred;                 /* cb owed (send returned INPROGRESS) */
    const uint8_t *buf;
    size_t len, off;
    cpn_tp_comp_cb_t cb;
    void *arg;
    /* put */
    struct ibv_mr *tmp_mr;
    uint32_t lkey, rkey;
    uint64_t raddr;
    uint8_t nlen;
    uint8_t notify[CPN_TP_NOTIFY_MAX];
} vb_op_t;

typedef struct vb_iface vb_iface_t;

typedef struct vb_ep {
    cpn_tp_ep_t super;
    struct vb_ep *next;
    vb_iface_t *iface;
    struct rdma_cm_id *id;
    vb_ep_state_t state;
    int passive, closed, err_reported, disconnect_sent;
    int handed;                   /* the runtime knows it (accept/connected) */
    cpn_status_t err;
    struct ibv_cq *cq;
    struct ibv_qp *qp;
    unsigned cq_unacked;
    uint8_t *rx_buf, *tx_buf, *ctrl;
    struct ibv_mr *rx_mr, *tx_mr, *ctrl_mr;
    unsigned sq_depth, rx_depth, max_inline, mtu;
    size_t rx_size, frag;
    int gid_index;
    uint8_t gid[16];
    uint32_t psn;
    cpn_verbs_pdata_t peer;
    uint64_t sent;                /* messages that used a peer credit */
    uint64_t processed, reported; /* our receives handled / reported */
    uint64_t put_seq;
    uint64_t sq_head, sq_tail, last_signaled;
    vb_op_t **sq_op;              /* op to complete when WR i retires */
    vb_op_t *pend_head, *pend_tail;
    struct ibv_wc stash[VB_POLL_BATCH]; /* polled by wait(), for progress */
    unsigned nstash;
    uint8_t *rbuf;                /* reassembly of fragmented messages */
    size_t rlen, rtotal, rcap;
    char desc[192];
} vb_ep_t;

struct vb_iface {
    cpn_tp_iface_t super;
    cpn_verbs_config_t cfg;
    int cfg_mtu, cfg_gid;
    char site[64];
    struct rdma_event_channel *ec;
    struct ibv_context **devs;
    struct ibv_context *ctx;
    struct ibv_pd *pd;
    struct ibv_comp_channel *cc;
    cpn_verbs_model_t model;
    char dev_name[CPN_VERBS_NAME_MAX];
    unsigned port;
    int gid_index;                /* default pick; per-connection may refine */
    struct ibv_port_attr pattr;
    struct rdma_cm_id *listen_id;
    vb_ep_t *eps;
    vb_op_t *free_ops;
    unsigned in_progress;
    unsigned tick;                /* progress calls, for the cm look */
    int cm_hint;                  /* wait() saw the rdma_cm fd readable */
};

typedef struct vb_mem {
    cpn_tp_mem_t super;
    struct ibv_mr *mr;
    int owned;
} vb_mem_t;

typedef struct vb_rkey {
    cpn_tp_rkey_t super;
    uint32_t rkey;
    uint64_t addr, len;
} vb_rkey_t;

#define vb_iface_of(_t) cpn_container_of(_t, vb_iface_t, super)
#define vb_ep_of(_t)    cpn_container_of(_t, vb_ep_t, super)

static void vb_ep_fail(vb_ep_t *ep, cpn_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void vb_flush_pending(vb_ep_t *ep);

/* ---- ops pool ------------------------------------------------------------ */

static vb_op_t *vb_op_get(vb_iface_t *iface)
{
    vb_op_t *op = iface->free_ops;

    if (op != NULL) {
        iface->free_ops = op->next;
    } else {
        op = malloc(sizeof(*op));
        if (op == NULL) {
            return NULL;
        }
    }
    memset(op, 0, offsetof(vb_op_t, notify));
    return op;
}

static void vb_op_put(vb_iface_t *iface, vb_op_t *op)
{
    if (op->tmp_mr != NULL) {
        ibv_dereg_mr(op->tmp_mr);
        op->tmp_mr = NULL;
    }
    op->next = iface->free_ops;
    iface->free_ops = op;
}

static void vb_op_done(vb_iface_t *iface, vb_op_t *op, cpn_status_t st)
{
    cpn_tp_comp_cb_t cb = op->cb;
    void *arg = op->arg;
    int call = op->kind == VB_OP_PUT || op->deferred;

    vb_op_put(iface, op);
    if (call && cb != NULL) {
        cb(arg, st);
    }
}

/* ---- endpoint failure ---------------------------------------------------- */

static void vb_ep_fail(vb_ep_t *ep, cpn_status_t st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (ep->state == VB_EP_FAILED || ep->closed) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cpn_error("verbs[%s]: endpoint to %s (%s): %s", ep->iface->site,
              ep->super.peer_addr, ep->desc, msg);
    ep->err = st;
    ep->state = VB_EP_FAILED;
}

/* Tell the runtime once, from progress. */
static unsigned vb_ep_report(vb_ep_t *ep)
{
    cpn_tp_handlers_t *h = &ep->iface->super.handlers;

    if (ep->state != VB_EP_FAILED || ep->err_reported || ep->closed) {
        return 0;
    }
    ep->err_reported = 1;
    if (!ep->handed) {
        return 1;
    }
    h->ep_error(h->arg, &ep->super, ep->err);
    return 1;
}

/* ---- endpoint resources ------------------------------------------------- */

static void vb_ep_free_res(vb_ep_t *ep)
{
    if (ep->qp != NULL) {
        ibv_destroy_qp(ep->qp);
        ep->qp = NULL;
    }
    if (ep->cq != NULL) {
        if (ep->cq_unacked) {
            ibv_ack_cq_events(ep->cq, ep->cq_unacked);
        }
        ibv_destroy_cq(ep->cq);
        ep->cq = NULL;
    }
    if (ep->rx_mr) ibv_dereg_mr(ep->rx_mr);
    if (ep->tx_mr) ibv_dereg_mr(ep->tx_mr);
    if (ep->ctrl_mr) ibv_dereg_mr(ep->ctrl_mr);
    ep->rx_mr = ep->tx_mr = ep->ctrl_mr = NULL;
    free(ep->rx_buf);
    free(ep->tx_buf);
    free(ep->ctrl);
    free(ep->sq_op);
    free(ep->rbuf);
    ep->rx_buf = ep->tx_buf = ep->ctrl = ep->rbuf = NULL;
    ep->sq_op = NULL;
    if (ep->id != NULL) {
        rdma_destroy_id(ep->id);
        ep->id = NULL;
    }
}

static int vb_post_recv(vb_ep_t *ep, unsigned idx)
{
    struct ibv_sge sge = {
        .addr = (uintptr_t)(ep->rx_buf + (size_t)idx * ep->rx_size),
        .length = (uint32_t)ep->rx_size,
        .lkey = ep->rx_mr->lkey,
    };
    struct ibv_recv_wr wr = {
        .wr_id = VB_RECV_FLAG | idx, .sg_list = &sge, .num_sge = 1,
    }, *bad;

    return ibv_post_recv(ep->qp, &wr, &bad);
}

static uint8_t *vb_alloc(size_t len)
{
    void *p = NULL;

    if (posix_memalign(&p, 4096, len ? len : 1) != 0) {
        return NULL;
    }
    memset(p, 0, len);
    return p;
}

/* Pick the GID for a connection on the iface's device and port: the RoCE v2
 * GID of the local IPv4 address rdma_cm chose, else the iface's pick. */
static void vb_ep_pick_gid(vb_ep_t *ep)
{
    vb_iface_t *iface = ep->iface;
    struct sockaddr *sa = rdma_get_local_addr(ep->id);
    cpn_verbs_want_t want = {
        .device = iface->dev_name, .port = iface->port,
        .gid_index = iface->cfg_gid,
    };
    cpn_verbs_pick_t pick;
    char err[256];

    ep->gid_index = iface->gid_index;
    if (iface->cfg_gid < 0 && iface->pattr.link_layer ==
                                  IBV_LINK_LAYER_ETHERNET &&
        sa != NULL && sa->sa_family == AF_INET) {
        want.ipv4 = ((struct sockaddr_in *)sa)->sin_addr.s_addr;
        if (cpn__verbs_pick(&iface->model, &want, &pick, err, sizeof(err)) ==
            CPN_OK) {
            ep->gid_index = pick.gid_index;
        }
    }
}

/* CQ, QP (to INIT), buffers, receives: everything but the peer's data. */
static cpn_status_t vb_ep_setup(vb_ep_t *ep)
{
    vb_iface_t *iface = ep->iface;
    const cpn_verbs_config_t *cfg = &iface->cfg;
    struct ibv_qp_init_attr qa;
    struct ibv_qp_attr ma;
    union ibv_gid gid;
    char g[INET6_ADDRSTRLEN];
    int rc, access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
    unsigned i;

    if (ep->id->verbs != iface->ctx) {
        vb_ep_fail(ep, CPN_ERR_UNREACHABLE,
                   "rdma_cm routes this connection through device %s, but "
                   "this site uses %s: set CPN_VERBS_DEVICE=%s, or use an "
                   "address on %s",
                   ep->id->verbs ? ibv_get_device_name(ep->id->verbs->device)
                                 : "(none)",
                   iface->dev_name,
                   ep->id->verbs ? ibv_get_device_name(ep->id->verbs->device)
                                 : "?",
                   iface->dev_name);
        return CPN_ERR_UNREACHABLE;
    }
    ep->sq_depth = cfg->sq_depth;
    ep->rx_depth = cfg->rx_depth;
    ep->rx_size = cfg->rx_size;
    vb_ep_pick_gid(ep);
    memset(ep->gid, 0, sizeof(ep->gid));
    if (ep->gid_index >= 0) {
        if (ibv_query_gid(iface->ctx, (uint8_t)iface->port, ep->gid_index,
                          &gid) != 0) {
            vb_ep_fail(ep, CPN_ERR_CONFIG, "cannot read GID[%d] of %s port "
                       "%u: %s (CPN_VERBS_GID_INDEX; `cpn info` lists the "
                       "GIDs)", ep->gid_index, iface->dev_name, iface->port,
                       strerror(errno));
            return CPN_ERR_CONFIG;
        }
        memcpy(ep->gid, gid.raw, 16);
    }
    cpn__verbs_gid_str(ep->gid, g, sizeof(g));
    snprintf(ep->desc, sizeof(ep->desc), "%s port %u GID[%d] %s",
             iface->dev_name, iface->port, ep->gid_index, g);

    ep->cq = ibv_create_cq(iface->ctx, (int)(ep->sq_depth + ep->rx_depth + 8),
                           ep, iface->cc, 0);
    if (ep->cq == NULL) {
        vb_ep_fail(ep, CPN_ERR_NO_MEMORY, "ibv_create_cq(%u): %s",
                   ep->sq_depth + ep->rx_depth + 8, strerror(errno));
        return CPN_ERR_NO_MEMORY;
    }
    ibv_req_notify_cq(ep->cq, 0);
    memset(&qa, 0, sizeof(qa));
    qa.send_cq = ep->cq;
    qa.recv_cq = ep->cq;
    qa.qp_type = IBV_QPT_RC;
    qa.cap.max_send_wr = ep->sq_depth;
    qa.cap.max_recv_wr = ep->rx_depth;
    qa.cap.max_send_sge = 1;
    qa.cap.max_recv_sge = 1;
    qa.cap.max_inline_data = (uint32_t)cfg->max_inline;
    ep->qp = ibv_create_qp(iface->pd, &qa);
    if (ep->qp == NULL && cfg->max_inline > 0) {
        qa.cap.max_inline_data = 0; /* the device allows no inline data */
        ep->qp = ibv_create_qp(iface->pd, &qa);
    }
    if (ep->qp == NULL) {
        vb_ep_fail(ep, CPN_ERR_NO_MEMORY, "ibv_create_qp(sq %u, rq %u): %s "
                   "(lower CPN_VERBS_SQ_DEPTH / CPN_VERBS_RX_DEPTH)",
                   ep->sq_depth, ep->rx_depth, strerror(errno));
        return CPN_ERR_NO_MEMORY;
    }
    ep->max_inline = qa.cap.max_inline_data;

    memset(&ma, 0, sizeof(ma));
    ma.qp_state = IBV_QPS_INIT;
    ma.port_num = (uint8_t)iface->port;
    ma.pkey_index = 0;
    ma.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
    rc = ibv_modify_qp(ep->qp, &ma, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
                                        IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
    if (rc != 0) {
        vb_ep_fail(ep, CPN_ERR_TRANSPORT, "failed to modify QP %u to INIT: "
                   "%s; %s", ep->qp->qp_num, strerror(rc),
                   cpn__verbs_modify_hint(IBV_QPS_INIT, rc));
        return CPN_ERR_TRANSPORT;
    }

    ep->rx_buf = vb_alloc((size_t)ep->rx_depth * ep->rx_size);
    ep->tx_buf = vb_alloc((size_t)ep->sq_depth * ep->rx_size);
    ep->ctrl = vb_alloc((size_t)ep->rx_depth * VB_NOTIFY_SLOT + 64);
    ep->sq_op = calloc(ep->sq_depth, sizeof(*ep->sq_op));
    if (ep->rx_buf == NULL || ep->tx_buf == NULL || ep->ctrl == NULL ||
        ep->sq_op == NULL) {
        vb_ep_fail(ep, CPN_ERR_NO_MEMORY, "no memory for %u+%u buffers of "
                   "%zu bytes", ep->rx_depth, ep->sq_depth, ep->rx_size);
        return CPN_ERR_NO_MEMORY;
    }
    ep->rx_mr = ibv_reg_mr(iface->pd, ep->rx_buf,
                           (size_t)ep->rx_depth * ep->rx_size,
                           IBV_ACCESS_LOCAL_WRITE);
    ep->tx_mr = ibv_reg_mr(iface->pd, ep->tx_buf,
                           (size_t)ep->sq_depth * ep->rx_size,
                           IBV_ACCESS_LOCAL_WRITE);
    ep->ctrl_mr = ibv_reg_mr(iface->pd, ep->ctrl,
                             (size_t)ep->rx_depth * VB_NOTIFY_SLOT + 64,
                             access);
    if (ep->rx_mr == NULL || ep->tx_mr == NULL || ep->ctrl_mr == NULL) {
        vb_ep_fail(ep, CPN_ERR_NO_MEMORY, "ibv_reg_mr of the endpoint's "
                   "buffers failed: %s (locked memory limit? ulimit -l)",
                   strerror(errno));
        return CPN_ERR_NO_MEMORY;
    }
    for (i = 0; i < ep->rx_depth; i++) {
        rc = vb_post_recv(ep, i);
        if (rc != 0) {
            vb_ep_fail(ep, CPN_ERR_TRANSPORT, "ibv_post_recv: %s",
                       strerror(rc));
            return CPN_ERR_TRANSPORT;
        }
    }
    getrandom(&ep->psn, sizeof(ep->psn), 0);
    ep->psn &= 0xffffff;
    return CPN_OK;
}

static void vb_ep_pdata(vb_ep_t *ep, uint8_t *out)
{
    vb_iface_t *iface = ep->iface;
    cpn_verbs_pdata_t pd;
    int mtu = iface->pattr.active_mtu;

    if (iface->cfg_mtu > 0 && iface->cfg_mtu < mtu) {
        mtu = iface->cfg_mtu;
    }
    memset(&pd, 0, sizeof(pd));
    pd.version = CPN_VERBS_PD_VERSION;
    pd.mtu = (uint8_t)mtu;
    pd.lid = iface->pattr.lid;
    pd.qpn = ep->qp->qp_num;
    pd.psn = ep->psn;
    pd.rx_depth = ep->rx_depth;
    pd.rx_size = (uint32_t)ep->rx_size;
    pd.ctrl_rkey = ep->ctrl_mr->rkey;
    pd.ctrl_addr = (uintptr_t)ep->ctrl;
    pd.sq_depth = (uint16_t)CPN_MIN(ep->sq_depth, 65535u);
    memcpy(pd.gid, ep->gid, 16);
    cpn__verbs_pdata_encode(&pd, out);
}

/* The peer's data is in: RTR, RTS. */
static cpn_status_t vb_ep_rtr_rts(vb_ep_t *ep, const void *pdata, size_t len)
{
    vb_iface_t *iface = ep->iface;
    struct ibv_qp_attr a;
    char rg[INET6_ADDRSTRLEN];
    cpn_status_t st;
    int rc, mtu;

    st = cpn__verbs_pdata_decode(pdata, len, &ep->peer);
    if (st != CPN_OK) {
        vb_ep_fail(ep, CPN_ERR_PROTO, "the peer's connection data is not "
                   "cpn verbs data (%s): is a cpn of the same version on "
                   "the other side?", cpn_status_str(st));
        return CPN_ERR_PROTO;
    }
    mtu = CPN_MIN((int)iface->pattr.active_mtu, (int)ep->peer.mtu);
    if (iface->cfg_mtu > 0) {
        mtu = CPN_MIN(mtu, iface->cfg_mtu);
    }
    ep->mtu = cpn__verbs_mtu_bytes(mtu);
    ep->frag = CPN_MIN(ep->rx_size, (size_t)ep->peer.rx_size) - VB_HDR_LEN;
    cpn__verbs_gid_str(ep->peer.gid, rg, sizeof(rg));

    memset(&a, 0, sizeof(a));
    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = (enum ibv_mtu)mtu;
    a.dest_qp_num = ep->peer.qpn;
    a.rq_psn = ep->peer.psn;
    a.max_dest_rd_atomic = 1;
    a.min_rnr_timer = 12;
    a.ah_attr.port_num = (uint8_t)iface->port;
    a.ah_attr.dlid = ep->peer.lid;
    if (ep->gid_index >= 0) {
        a.ah_attr.is_global = 1;
        a.ah_attr.grh.sgid_index = (uint8_t)ep->gid_index;
        a.ah_attr.grh.hop_limit = 64;
        memcpy(a.ah_attr.grh.dgid.raw, ep->peer.gid, 16);
    }
    rc = ibv_modify_qp(ep->qp, &a, IBV_QP_STATE | IBV_QP_AV |
                                       IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                                       IBV_QP_RQ_PSN |
                                       IBV_QP_MAX_DEST_RD_ATOMIC |
                                       IBV_QP_MIN_RNR_TIMER);
    if (rc != 0) {
        vb_ep_fail(ep, CPN_ERR_TRANSPORT, "failed to modify QP %u to RTR "
                   "(remote QPN %u, remote GID %s, LID %u, path MTU %u): %s. "
                   "Hint: %s", ep->qp->qp_num, ep->peer.qpn, rg, ep->peer.lid,
                   ep->mtu, strerror(rc),
                   cpn__verbs_modify_hint(IBV_QPS_RTR, rc));
        return CPN_ERR_TRANSPORT;
    }
    memset(&a, 0, sizeof(a));
    a.qp_state = IBV_QPS_RTS;
    a.timeout = (uint8_t)iface->cfg.timeout_exp;
    a.retry_cnt = (uint8_t)iface->cfg.retry_count;
    a.rnr_retry = (uint8_t)iface->cfg.rnr_retry;
    a.sq_psn = ep->psn;
    a.max_rd_atomic = 1;
    rc = ibv_modify_qp(ep->qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
                                       IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                                       IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
    if (rc != 0) {
        vb_ep_fail(ep, CPN_ERR_TRANSPORT, "failed to modify QP %u to RTS: "
                   "%s. Hint: %s", ep->qp->qp_num, strerror(rc),
                   cpn__verbs_modify_hint(IBV_QPS_RTS, rc));
        return CPN_ERR_TRANSPORT;
    }
    snprintf(ep->desc + strlen(ep->desc), sizeof(ep->desc) - strlen(ep->desc),
             ", QP %u->%u, MTU %u", ep->qp->qp_num, ep->peer.qpn, ep->mtu);
    cpn_debug("verbs[%s]: %s connected to %s: %s", iface->site,
              ep->passive ? "accepted" : "connected", ep->super.peer_addr,
              ep->desc);
    return CPN_OK;
}

static vb_ep_t *vb_ep_new(vb_iface_t *iface, struct rdma_cm_id *id,
                          int passive)
{
    vb_ep_t *ep = calloc(1, sizeof(*ep));

    if (ep == NULL) {
        return NULL;
    }
    ep->super.iface = &iface->super;
    ep->iface = iface;
    ep->id = id;
    ep->passive = passive;
    ep->gid_index = iface->gid_index;
    snprintf(ep->desc, sizeof(ep->desc), "%s port %u", iface->dev_name,
             iface->port);
    if (id != NULL) {
        id->context = ep;
    }
    ep->next = iface->eps;
    iface->eps = ep;
    return ep;
}

static void vb_fmt_addr(char *buf, size_t len, const struct sockaddr *sa)
{
    char h[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)sa;

        inet_ntop(AF_INET, &s->sin_addr, h, sizeof(h));
        port = ntohs(s->sin_port);
        snprintf(buf, len, "%s:%u", h, port);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)sa;

        inet_ntop(AF_INET6, &s->sin6_addr, h, sizeof(h));
        port = ntohs(s->sin6_port);
        snprintf(buf, len, "[%s]:%u", h, port);
    } else {
        snprintf(buf, len, "?");
    }
}

/* ---- rdma_cm events ------------------------------------------------------ */

static void vb_conn_param(vb_ep_t *ep, struct rdma_conn_param *cp,
                          uint8_t *pd)
{
    vb_ep_pdata(ep, pd);
    memset(cp, 0, sizeof(*cp));
    cp->private_data = pd;
    cp->private_data_len = CPN_VERBS_PD_LEN;
    cp->responder_resources = 1;
    cp->initiator_depth = 1;
    cp->flow_control = 1;
    cp->retry_count = (uint8_t)ep->iface->cfg.retry_count;
    cp->rnr_retry_count = (uint8_t)ep->iface->cfg.rnr_retry;
    cp->qp_num = ep->qp->qp_num;
}

static void vb_connect_done(vb_ep_t *ep, cpn_status_t st)
{
    cpn_tp_handlers_t *h = &ep->iface->super.handlers;

    ep->handed = 1;
    if (st == CPN_OK) {
        ep->state = VB_EP_READY;
    } else {
        ep->err_reported = 1; /* a failed connect is reported here only */
        if (ep->state != VB_EP_FAILED) {
            ep->state = VB_EP_FAILED;
            ep->err = st;
        }
    }
    if (!ep->closed) {
        h->connected(h->arg, &ep->super, st);
    }
    if (st == CPN_OK && !ep->closed) {
        vb_flush_pending(ep);
    }
}

static void vb_on_connect_request(vb_iface_t *iface, struct rdma_cm_id *id,
                                  const uint8_t *pdata, size_t plen)
{
    struct rdma_conn_param cp;
    uint8_t mypd[CPN_VERBS_PD_LEN];
    vb_ep_t *ep = vb_ep_new(iface, id, 1);

    if (ep == NULL) {
        rdma_reject(id, NULL, 0);
        rdma_destroy_id(id);
        return;
    }
    vb_fmt_addr(ep->super.peer_addr, sizeof(ep->super.peer_addr),
                rdma_get_peer_addr(id));
    ep->state = VB_EP_CONNECTING;
    if (vb_ep_setup(ep) != CPN_OK || vb_ep_rtr_rts(ep, pdata, plen) != CPN_OK) {
        rdma_reject(id, NULL, 0);
        ep->err_reported = 1;
        ep->closed = 1; /* reaped at the end of progress */
        return;
    }
    vb_conn_param(ep, &cp, mypd);
    if (rdma_accept(id, &cp) != 0) {
        vb_ep_fail(ep, CPN_ERR_TRANSPORT, "rdma_accept: %s", strerror(errno));
        ep->err_reported = 1;
        ep->closed = 1;
    }
}

static void vb_on_established_passive(vb_ep_t *ep)
{
    cpn_tp_handlers_t *h = &ep->iface->super.handlers;

    if (ep->state != VB_EP_CONNECTING) {
        return;
    }
    ep->state = VB_EP_READY;
    ep->handed = 1;
    h->accept(h->arg, &ep->super);
    if (!ep->closed) {
        vb_flush_pending(ep);
    }
}

static unsigned vb_cm_progress(vb_iface_t *iface)
{
    struct rdma_cm_event *ev;
    unsigned n = 0;

    while (rdma_get_cm_event(iface->ec, &ev) == 0) {
        enum rdma_cm_event_type type = ev->event;
        int status = ev->status;
        struct rdma_cm_id *id = ev->id;
        uint8_t pdata[256];
        size_t plen = 0;
        vb_ep_t *ep;

        if ((type == RDMA_CM_EVENT_CONNECT_REQUEST ||
             type == RDMA_CM_EVENT_CONNECT_RESPONSE ||
             type == RDMA_CM_EVENT_ESTABLISHED) &&
            ev->param.conn.private_data != NULL) {
            plen = CPN_MIN((size_t)ev->param.conn.private_data_len,
                           sizeof(pdata));
            memcpy(pdata, ev->param.conn.private_data, plen);
        }
        rdma_ack_cm_event(ev); /* before anything may destroy the id */
        n++;

        if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
            vb_on_connect_request(iface, id, pdata, plen);
            continue;
        }
        ep = id->context;
        if (ep == NULL || (void *)ep == (void *)iface || ep->closed) {
            continue;
        }
        cpn_debug("verbs[%s]: %s: rdma_cm %s (status %d)", iface->site,
                  ep->super.peer_addr, rdma_event_str(type), status);
        switch (type) {
        case RDMA_CM_EVENT_ADDR_RESOLVED:
            if (vb_ep_setup(ep) != CPN_OK) {
                vb_connect_done(ep, ep->err);
            } else if (rdma_resolve_route(ep->id,
                                          iface->cfg.cm_timeout_ms) != 0) {
                vb_ep_fail(ep, CPN_ERR_UNREACHABLE, "rdma_resolve_route: %s",
                           strerror(errno));
                vb_connect_done(ep, CPN_ERR_UNREACHABLE);
            }
            break;
        case RDMA_CM_EVENT_ROUTE_RESOLVED: {
            struct rdma_conn_param cp;
            uint8_t mypd[CPN_VERBS_PD_LEN];

            vb_conn_param(ep, &cp, mypd);
            ep->state = VB_EP_CONNECTING;
            if (rdma_connect(ep->id, &cp) != 0) {
                vb_ep_fail(ep, CPN_ERR_UNREACHABLE, "rdma_connect: %s",
                           strerror(errno));
                vb_connect_done(ep, CPN_ERR_UNREACHABLE);
            }
            break;
        }
        case RDMA_CM_EVENT_CONNECT_RESPONSE:
            if (vb_ep_rtr_rts(ep, pdata, plen) != CPN_OK) {
                rdma_disconnect(ep->id);
                vb_connect_done(ep, ep->err);
            } else if (rdma_establish(ep->id) != 0) {
                vb_ep_fail(ep, CPN_ERR_TRANSPORT, "rdma_establish: %s",
                           strerror(errno));
                vb_connect_done(ep, CPN_ERR_TRANSPORT);
            } else {
                vb_connect_done(ep, CPN_OK);
            }
            break;
        case RDMA_CM_EVENT_ESTABLISHED:
            if (ep->passive) {
                vb_on_established_passive(ep);
            }
            break;
        case RDMA_CM_EVENT_ADDR_ERROR:
        case RDMA_CM_EVENT_ROUTE_ERROR:
        case RDMA_CM_EVENT_UNREACHABLE:
        case RDMA_CM_EVENT_REJECTED:
        case RDMA_CM_EVENT_CONNECT_ERROR: {
            cpn_status_t st = cpn__verbs_cm_status(type, status);

            if (ep->state == VB_EP_READY) {
                vb_ep_fail(ep, CPN_ERR_CONN_RESET, "rdma_cm: %s",
                           rdma_event_str(type));
            } else if (!ep->passive) {
                vb_ep_fail(ep, st, "rdma_cm: %s (status %d)%s",
                           rdma_event_str(type), status,
                           type == RDMA_CM_EVENT_REJECTED
                               ? ": nothing accepts cpn verbs connections "
                                 "there (is `cpn serve --transport verbs` "
                                 "listening on that address?)"
                               : ": is the address on an RDMA-capable "
                                 "interface, and reachable?");
                vb_connect_done(ep, st);
            } else {
                vb_ep_fail(ep, st, "rdma_cm: %s", rdma_event_str(type));
                ep->err_reported = 1;
                ep->closed = 1; /* never handed to the runtime */
            }
            break;
        }
        case RDMA_CM_EVENT_DISCONNECTED:
            ep->disconnect_sent = 1;
            if (ep->state == VB_EP_READY) {
                /* an orderly close by the peer: no error line */
                cpn_debug("verbs[%s]: %s closed the connection", iface->site,
                          ep->super.peer_addr);
                ep->err = CPN_ERR_CONN_RESET;
                ep->state = VB_EP_FAILED;
            } else if (ep->state == VB_EP_CONNECTING && ep->passive) {
                ep->err_reported = 1;
                ep->closed = 1;
            }
            break;
        case RDMA_CM_EVENT_DEVICE_REMOVAL:
            vb_ep_fail(ep, CPN_ERR_CONN_RESET, "device %s was removed",
                       iface->dev_name);
            break;
        default:
            break;
        }
    }
    return n;
}

/* ---- the send queue -------------------------------------------------------- */

static inline unsigned vb_sq_free(const vb_ep_t *ep)
{
    return ep->sq_depth - (unsigned)(ep->sq_head - ep->sq_tail);
}

static inline uint64_t vb_credits(const vb_ep_t *ep)
{
    const uint64_t *word = (const uint64_t *)(ep->ctrl + (size_t)ep->rx_depth *
                                                             VB_NOTIFY_SLOT);
    uint64_t seen = __atomic_load_n(word, __ATOMIC_ACQUIRE);

    return ep->peer.rx_depth - (ep->sent - seen);
}

static inline uint8_t *vb_tx_slot(const vb_ep_t *ep, uint64_t seq)
{
    return ep->tx_buf + (size_t)(seq % ep->sq_depth) * ep->rx_size;
}

/* Take the next send queue slot for @p wr; @p op completes when it retires
 * (and forces a signal). Posted by vb_post_list(). */
static void vb_prep(vb_ep_t *ep, struct ibv_send_wr *wr, vb_op_t *op)
{
    wr->wr_id = ep->sq_head;
    wr->next = NULL;
    if (op != NULL || ep->sq_head - ep->last_signaled >=
                          ep->iface->cfg.signal_every ||
        vb_sq_free(ep) <= 2) {
        wr->send_flags |= IBV_SEND_SIGNALED;
        ep->last_signaled = ep->sq_head;
    }
    ep->sq_op[ep->sq_head % ep->sq_depth] = op;
    ep->sq_head++;
}

/* Post @p n prepared WRs chained from @p first, with one doorbell. */
static int vb_post_list(vb_ep_t *ep, struct ibv_send_wr *first, unsigned n)
{
    struct ibv_send_wr *bad;
    int rc = ibv_post_send(ep->qp, first, &bad);

    if (rc != 0) {
        for (unsigned i = 0; i < n; i++) {
            ep->sq_head--;
            ep->sq_op[ep->sq_head % ep->sq_depth] = NULL;
        }
        vb_ep_fail(ep, CPN_ERR_TRANSPORT, "ibv_post_send: %s", strerror(rc));
    }
    return rc;
}

static int vb_post(vb_ep_t *ep, struct ibv_send_wr *wr, vb_op_t *op)
{
    vb_prep(ep, wr, op);
    return vb_post_list(ep, wr, 1);
}

/* Return credits: write our count of processed receives to the peer, once
 * a quarter of them is unreported. That is enough: a peer out of credits
 * has used all RX_DEPTH of them, so at least that many are unreported here
 * once we have processed them. */
static void vb_credit_update(vb_ep_t *ep, int force)
{
    uint64_t batch = CPN_MAX(1u, ep->rx_depth / 4);
    struct ibv_sge sge;
    struct ibv_send_wr wr;
    uint8_t *slot;

    if (ep->state != VB_EP_READY || ep->processed == ep->reported ||
        (!force && ep->processed - ep->reported < batch) ||
        vb_sq_free(ep) < 1) {
        return;
    }
    slot = vb_tx_slot(ep, ep->sq_head);
    memcpy(slot, &ep->processed, sizeof(ep->processed));
    sge.addr = (uintptr_t)slot;
    sge.length = sizeof(uint64_t);
    sge.lkey = ep->tx_mr->lkey;
    memset(&wr, 0, sizeof(wr));
    wr.opcode = IBV_WR_RDMA_WRITE;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.wr.rdma.remote_addr = ep->peer.ctrl_addr +
                             (uint64_t)ep->peer.rx_depth * VB_NOTIFY_SLOT;
    wr.wr.rdma.rkey = ep->peer.ctrl_rkey;
    if (ep->max_inline >= sizeof(uint64_t)) {
        wr.send_flags = IBV_SEND_INLINE;
    }
    if (vb_post(ep, &wr, NULL) == 0) {
        ep->reported = ep->processed;
    }
}

/* Post what fits of a send. @return 1 when all of it is posted. */
static int vb_post_send_op(vb_ep_t *ep, vb_op_t *op)
{
    do {
        size_t n = CPN_MIN(op->len - op->off, ep->frag);
        uint8_t *slot;
        uint32_t total = htonl((uint32_t)op->len);
        struct ibv_sge sge;
        struct ibv_send_wr wr;

        if (vb_credits(ep) < 1 || vb_sq_free(ep) < 2) {
            return 0;
        }
        slot = vb_tx_slot(ep, ep->sq_head);
        memcpy(slot, &total, 4);
        slot[4] = (uint8_t)((op->off == 0 ? VB_F_FIRST : 0) |
                            (op->off + n == op->len ? VB_F_LAST : 0));
        slot[5] = slot[6] = slot[7] = 0;
        if (n > 0) {
            memcpy(slot + VB_HDR_LEN, op->buf + op->off, n);
        }
        sge.addr = (uintptr_t)slot;
        sge.length = (uint32_t)(n + VB_HDR_LEN);
        sge.lkey = ep->tx_mr->lkey;
        memset(&wr, 0, sizeof(wr));
        wr.opcode = IBV_WR_SEND;
        wr.sg_list = &sge;
        wr.num_sge = 1;
        if (sge.length <= ep->max_inline) {
            wr.send_flags = IBV_SEND_INLINE;
        }
        if (vb_post(ep, &wr, NULL) != 0) {
            return 0;
        }
        ep->sent++;
        op->off += n;
    } while (op->off < op->len);
    return 1;
}

/* Post a put: notify write, then the write with immediate, chained under
 * one doorbell. 1 if posted. */
static int vb_post_put_op(vb_ep_t *ep, vb_op_t *op)
{
    unsigned slot_k = (unsigned)(ep->put_seq % ep->peer.rx_depth);
    struct ibv_sge nsge, sge;
    struct ibv_send_wr nwr, wr, *first = &wr;
    unsigned n = 1;

    if (vb_credits(ep) < 1 || vb_sq_free(ep) < 3) {
        return 0;
    }
    if (op->nlen > 0) {
        uint8_t *slot = vb_tx_slot(ep, ep->sq_head);

        memcpy(slot, op->notify, op->nlen);
        nsge.addr = (uintptr_t)slot;
        nsge.length = op->nlen;
        nsge.lkey = ep->tx_mr->lkey;
        memset(&nwr, 0, sizeof(nwr));
        nwr.opcode = IBV_WR_RDMA_WRITE;
        nwr.sg_list = &nsge;
        nwr.num_sge = 1;
        nwr.wr.rdma.remote_addr = ep->peer.ctrl_addr +
                                  (uint64_t)slot_k * VB_NOTIFY_SLOT;
        nwr.wr.rdma.rkey = ep->peer.ctrl_rkey;
        if (op->nlen <= ep->max_inline) {
            nwr.send_flags = IBV_SEND_INLINE;
        }
        vb_prep(ep, &nwr, NULL);
        first = &nwr;
        n = 2;
    }
    sge.addr = (uintptr_t)op->buf;
    sge.length = (uint32_t)op->len;
    sge.lkey = op->lkey;
    memset(&wr, 0, sizeof(wr));
    wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
    wr.sg_list = op->len ? &sge : NULL;
    wr.num_sge = op->len ? 1 : 0;
    wr.imm_data = htonl(cpn__verbs_imm(slot_k, op->nlen));
    wr.wr.rdma.remote_addr = op->raddr;
    wr.wr.rdma.rkey = op->rkey;
    vb_prep(ep, &wr, op);
    if (n == 2) {
        nwr.next = &wr;
    }
    if (vb_post_list(ep, first, n) != 0) {
        return 0;
    }
    ep->sent++;
    ep->put_seq++;
    return 1;
}

/* Post queued operations in order while credits and SQ slots last. */
static void vb_flush_pending(vb_ep_t *ep)
{
    vb_op_t *op;

    while ((op = ep->pend_head) != NULL && ep->state == VB_EP_READY &&
           !ep->closed) {
        int done = op->kind == VB_OP_SEND ? vb_post_send_op(ep, op)
                                          : vb_post_put_op(ep, op);

        if (!done) {
            return;
        }
        ep->pend_head = op->next;
        if (ep->pend_head == NULL) {
            ep->pend_tail = NULL;
        }
        if (op->kind == VB_OP_SEND) {
            vb_op_done(ep->iface, op, CPN_OK); /* bytes copied: buffer free */
        }
    }
}

static void vb_enqueue(vb_ep_t *ep, vb_op_t *op)
{
    op->next = NULL;
    if (ep->pend_tail != NULL) {
        ep->pend_tail->next = op;
    } else {
        ep->pend_head = op;
    }
    ep->pend_tail = op;
}

/* ---- completions ------------------------------------------------------------- */

static void vb_deliver(vb_ep_t *ep, const uint8_t *buf, size_t len)
{
    cpn_tp_handlers_t *h = &ep->iface->super.handlers;
    uint32_t total;
    uint8_t flags;

    if (len < VB_HDR_LEN) {
        vb_ep_fail(ep, CPN_ERR_PROTO, "a %zu-byte fragment is shorter than "
                   "its header", len);
        return;
    }
    memcpy(&total, buf, 4);
    total = ntohl(total);
    flags = buf[4];
    buf += VB_HDR_LEN;
    len -= VB_HDR_LEN;
    if ((flags & (VB_F_FIRST | VB_F_LAST)) == (VB_F_FIRST | VB_F_LAST) &&
        ep->rtotal == 0) {
        h->recv(h->arg, &ep->super, buf, len);
        return;
    }
    if (flags & VB_F_FIRST) {
        if (total > ep->iface->cfg.max_msg || ep->rtotal != 0) {
            vb_ep_fail(ep, CPN_ERR_TOO_BIG, "a %u-byte message exceeds "
                       "CPN_VERBS_MAX_MSG (%zu)", total,
                       ep->iface->cfg.max_msg);
            return;
        }
        if (ep->rcap < total) {
            uint8_t *nb = realloc(ep->rbuf, total);

            if (nb == NULL) {
                vb_ep_fail(ep, CPN_ERR_NO_MEMORY, "no memory to reassemble "
                           "a %u-byte message", total);
                return;
            }
            ep->rbuf = nb;
            ep->rcap = total;
        }
        ep->rtotal = total;
        ep->rlen = 0;
    }
    if (ep->rtotal == 0 || ep->rlen + len > ep->rtotal) {
        vb_ep_fail(ep, CPN_ERR_PROTO, "fragment out of sequence");
        return;
    }
    memcpy(ep->rbuf + ep->rlen, buf, len);
    ep->rlen += len;
    if (flags & VB_F_LAST) {
        size_t n = ep->rlen;

        ep->rtotal = 0;
        ep->rlen = 0;
        h->recv(h->arg, &ep->super, ep->rbuf, n);
    }
}

static void vb_on_recv(vb_ep_t *ep, const struct ibv_wc *wc)
{
    unsigned idx = (unsigned)(wc->wr_id & ~VB_RECV_FLAG);
    cpn_tp_handlers_t *h = &ep->iface->super.handlers;

    if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
        uint32_t imm = ntohl(wc->imm_data);
        unsigned slot = imm & 0xffffu, nlen = (imm >> 16) & 0xffu;

        if (slot >= ep->rx_depth || nlen > CPN_TP_NOTIFY_MAX) {
            vb_ep_fail(ep, CPN_ERR_PROTO, "a put's immediate 0x%08x names "
                       "no notify slot", imm);
            return;
        }
        h->put_notify(h->arg, &ep->super,
                      ep->ctrl + (size_t)slot * VB_NOTIFY_SLOT, nlen, NULL);
    } else {
        vb_deliver(ep, ep->rx_buf + (size_t)idx * ep->rx_size, wc->byte_len);
    }
    if (ep->closed || ep->state != VB_EP_READY) {
        return;
    }
    if (vb_post_recv(ep, idx) != 0) {
        vb_ep_fail(ep, CPN_ERR_TRANSPORT, "ibv_post_recv failed");
        return;
    }
    ep->processed++;
}

static void vb_on_send_wc(vb_ep_t *ep, const struct ibv_wc *wc)
{
    uint64_t seq = wc->wr_id;
    vb_iface_t *iface = ep->iface;

    if (wc->status != IBV_WC_SUCCESS) {
        vb_op_t *op = ep->sq_op[seq % ep->sq_depth];

        if (wc->status != IBV_WC_WR_FLUSH_ERR) {
            vb_ep_fail(ep, cpn__verbs_wc_status(wc->status),
                       "work request failed: %s (%s, vendor error 0x%x)",
                       cpn__verbs_wc_words(wc->status),
                       ibv_wc_status_str(wc->status), wc->vendor_err);
        }
        if (op != NULL) {
            ep->sq_op[seq % ep->sq_depth] = NULL;
            vb_op_done(iface, op, wc->status == IBV_WC_WR_FLUSH_ERR
                                      ? CPN_ERR_CANCELED
                                      : cpn__verbs_wc_status(wc->status));
        }
        return;
    }
    while (ep->sq_tail <= seq && !ep->closed) {
        vb_op_t *op = ep->sq_op[ep->sq_tail % ep->sq_depth];

        ep->sq_op[ep->sq_tail % ep->sq_depth] = NULL;
        ep->sq_tail++;
        if (op != NULL) {
            vb_op_done(iface, op, CPN_OK);
        }
    }
}

static unsigned vb_ep_poll(vb_ep_t *ep)
{
    struct ibv_wc wc[VB_POLL_BATCH];
    unsigned n = 0;
    int got, i;

    /* Not before the endpoint is READY: a passive QP is in RTS before
     * rdma_cm reports ESTABLISHED, and what arrives meanwhile stays in the
     * CQ until then (polling it now would drop it). */
    if (ep->cq == NULL || ep->state == VB_EP_RESOLVING ||
        ep->state == VB_EP_CONNECTING) {
        return 0;
    }
    do {
        if (ep->nstash > 0) {
            /* what wait() found after arming the CQ, first */
            got = (int)ep->nstash;
            memcpy(wc, ep->stash, sizeof(wc[0]) * ep->nstash);
            ep->nstash = 0;
        } else {
            got = ibv_poll_cq(ep->cq, VB_POLL_BATCH, wc);
        }
        for (i = 0; i < got && !ep->closed; i++) {
            if (wc[i].wr_id & VB_RECV_FLAG) {
                if (wc[i].status == IBV_WC_SUCCESS) {
                    if (ep->state == VB_EP_READY) {
                        vb_on_recv(ep, &wc[i]);
                    }
                } else if (wc[i].status != IBV_WC_WR_FLUSH_ERR) {
                    vb_ep_fail(ep, cpn__verbs_wc_status(wc[i].status),
                               "receive failed: %s (%s)",
                               cpn__verbs_wc_words(wc[i].status),
                               ibv_wc_status_str(wc[i].status));
                }
            } else {
                vb_on_send_wc(ep, &wc[i]);
            }
        }
        n += got > 0 ? (unsigned)got : 0;
    } while (got == VB_POLL_BATCH && !ep->closed);
    if (ep->closed) {
        return n;
    }
    if (ep->state == VB_EP_READY) {
        vb_credit_update(ep, 0);
        if (ep->pend_head != NULL) {
            uint64_t before = ep->sq_head;

            vb_flush_pending(ep);
            n += ep->sq_head != before;
        }
    }
    n += vb_ep_report(ep);
    return n;
}

/* ---- ep close and reaping ------------------------------------------------ */

static void vb_ep_cancel_all(vb_ep_t *ep)
{
    vb_iface_t *iface = ep->iface;
    vb_op_t *op;

    if (ep->sq_op != NULL) {
        for (; ep->sq_tail < ep->sq_head; ep->sq_tail++) {
            op = ep->sq_op[ep->sq_tail % ep->sq_depth];
            ep->sq_op[ep->sq_tail % ep->sq_depth] = NULL;
            if (op != NULL) {
                vb_op_done(iface, op, CPN_ERR_CANCELED);
            }
        }
    }
    while ((op = ep->pend_head) != NULL) {
        ep->pend_head = op->next;
        op->deferred = 1; /* a queued send returned INPROGRESS */
        vb_op_done(iface, op, CPN_ERR_CANCELED);
    }
    ep->pend_tail = NULL;
}

static void vb_reap(vb_iface_t *iface)
{
    vb_ep_t **pp = &iface->eps, *ep;

    while ((ep = *pp) != NULL) {
        if (!ep->closed) {
            pp = &ep->next;
            continue;
        }
        *pp = ep->next;
        vb_ep_cancel_all(ep);
        vb_ep_free_res(ep);
        free(ep);
    }
}

static void vb_ep_close(cpn_tp_ep_t *tep)
{
    vb_ep_t *ep = vb_ep_of(tep);
    vb_iface_t *iface = ep->iface;

    if (ep->closed) {
        return;
    }
    ep->closed = 1;
    if (ep->id != NULL && !ep->disconnect_sent &&
        (ep->state == VB_EP_READY || ep->state == VB_EP_FAILED ||
         ep->state == VB_EP_CONNECTING)) {
        rdma_disconnect(ep->id);
        ep->disconnect_sent = 1;
    }
    /* The QP stops touching user memory once destroyed; then every
     * outstanding operation is the caller's again. */
    if (ep->qp != NULL) {
        ibv_destroy_qp(ep->qp);
        ep->qp = NULL;
    }
    vb_ep_cancel_all(ep);
    if (iface->in_progress == 0) {
        vb_reap(iface);
    }
}

/* ---- progress and wait --------------------------------------------------- */

static unsigned vb_progress(cpn_tp_iface_t *tif)
{
    vb_iface_t *iface = vb_iface_of(tif);
    vb_ep_t *ep;
    unsigned n = 0;

    iface->in_progress++;
    /* rdma_cm events cost a read(2) each look: look when wait() saw the fd
     * readable, and every 32nd call otherwise. */
    if (iface->cm_hint || (++iface->tick & 31) == 0) {
        iface->cm_hint = 0;
        n += vb_cm_progress(iface);
    }
    for (ep = iface->eps; ep != NULL; ep = ep->next) {
        if (!ep->closed) {
            n += vb_ep_poll(ep);
            if (ep->state == VB_EP_RESOLVING ||
                ep->state == VB_EP_CONNECTING) {
                iface->cm_hint = 1; /* set-up under way: look every time */
            }
        }
    }
    iface->in_progress--;
    if (iface->in_progress == 0) {
        vb_reap(iface);
    }
    return n;
}

static cpn_status_t vb_wait(cpn_tp_iface_t *tif, int timeout_ms)
{
    vb_iface_t *iface = vb_iface_of(tif);
    struct pollfd pfd[2];
    struct ibv_cq *cq;
    void *ctx;
    vb_ep_t *ep;
    int rc;

    /* Consume the completion events that woke us before (they only wake;
     * the CQs are polled by progress). */
    while (ibv_get_cq_event(iface->cc, &cq, &ctx) == 0) {
        vb_ep_t *e = ctx;

        e->cq_unacked++;
        if (e->cq_unacked >= 64) {
            ibv_ack_cq_events(cq, e->cq_unacked);
            e->cq_unacked = 0;
        }
    }
    for (ep = iface->eps; ep != NULL; ep = ep->next) {
        if (ep->closed || ep->cq == NULL) {
            continue;
        }
        /* Credits come back by RDMA WRITE, which raises no event here:
         * an endpoint waiting for them must be polled, not slept on. */
        if (ep->pend_head != NULL && ep->state == VB_EP_READY) {
            return CPN_OK;
        }
        if (ep->nstash > 0) {
            return CPN_OK;
        }
        ibv_req_notify_cq(ep->cq, 0);
        if (ep->state != VB_EP_READY && ep->state != VB_EP_FAILED) {
            continue; /* its CQ waits for ESTABLISHED, which wakes us */
        }
        /* A completion that came after the last poll but before the arming
         * raises no event: look once more, keep what is there for
         * progress, and do not sleep on it. */
        rc = ibv_poll_cq(ep->cq, VB_POLL_BATCH, ep->stash);
        if (rc > 0) {
            ep->nstash = (unsigned)rc;
            return CPN_OK;
        }
    }
    pfd[0].fd = iface->cc->fd;
    pfd[0].events = POLLIN;
    pfd[1].fd = iface->ec->fd;
    pfd[1].events = POLLIN;
    rc = poll(pfd, 2, timeout_ms);
    if (rc > 0 && (pfd[1].revents & POLLIN)) {
        iface->cm_hint = 1;
    }
    return rc > 0 ? CPN_OK : CPN_ERR_TIMEOUT;
}

/* ---- connections ------------------------------------------------------------ */

static cpn_status_t vb_resolve(const char *host, uint16_t port,
                               struct sockaddr_storage *ss)
{
    struct addrinfo hints, *res;
    char ps[8];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = host == NULL ? AI_PASSIVE : 0;
    snprintf(ps, sizeof(ps), "%u", port);
    rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0) {
        cpn_error("verbs: cannot resolve '%s': %s", host ? host : "*",
                  gai_strerror(rc));
        return CPN_ERR_INVALID;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return CPN_OK;
}

static cpn_status_t vb_listen(cpn_tp_iface_t *tif, const char *host,
                              uint16_t port, uint16_t *port_p)
{
    vb_iface_t *iface = vb_iface_of(tif);
    struct sockaddr_storage ss;
    cpn_status_t st;

    if (iface->listen_id != NULL) {
        return CPN_ERR_EXISTS;
    }
    if (host != NULL && (host[0] == '\0' || strcmp(host, "*") == 0)) {
        host = NULL;
    }
    st = vb_resolve(host, port, &ss);
    if (st != CPN_OK) {
        return st;
    }
    if (rdma_create_id(iface->ec, &iface->listen_id, iface, RDMA_PS_TCP)) {
        cpn_error("verbs[%s]: rdma_create_id: %s", iface->site,
                  strerror(errno));
        iface->listen_id = NULL;
        return CPN_ERR_TRANSPORT;
    }
    if (rdma_bind_addr(iface->listen_id, (struct sockaddr *)&ss) != 0) {
        int e = errno;

        cpn_error("verbs[%s]: cannot bind %s:%u for rdma_cm: %s%s",
                  iface->site, host ? host : "*", port, strerror(e),
                  e == EADDRNOTAVAIL || e == ENODEV
                      ? " (is that address on an RDMA-capable interface?)"
                      : "");
        rdma_destroy_id(iface->listen_id);
        iface->listen_id = NULL;
        return e == EADDRINUSE ? CPN_ERR_ADDR_IN_USE : CPN_ERR_INVALID;
    }
    if (rdma_listen(iface->listen_id, 64) != 0) {
        int e = errno;

        cpn_error("verbs[%s]: rdma_listen on %s:%u: %s", iface->site,
                  host ? host : "*", port, strerror(e));
        rdma_destroy_id(iface->listen_id);
        iface->listen_id = NULL;
        return e == EADDRINUSE ? CPN_ERR_ADDR_IN_USE : CPN_ERR_TRANSPORT;
    }
    if (port_p != NULL) {
        *port_p = ntohs(rdma_get_src_port(iface->listen_id));
    }
    return CPN_OK;
}

static cpn_status_t vb_connect(cpn_tp_iface_t *tif, const char *host,
                               uint16_t port, cpn_tp_ep_t **ep_p)
{
    vb_iface_t *iface = vb_iface_of(tif);
    struct sockaddr_storage ss;
    struct rdma_cm_id *id;
    vb_ep_t *ep;
    cpn_status_t st;

    st = vb_resolve(host, port, &ss);
    if (st != CPN_OK) {
        return st;
    }
    if (rdma_create_id(iface->ec, &id, NULL, RDMA_PS_TCP) != 0) {
        cpn_error("verbs[%s]: rdma_create_id: %s", iface->site,
                  strerror(errno));
        return CPN_ERR_TRANSPORT;
    }
    ep = vb_ep_new(iface, id, 0);
    if (ep == NULL) {
        rdma_destroy_id(id);
        return CPN_ERR_NO_MEMORY;
    }
    vb_fmt_addr(ep->super.peer_addr, sizeof(ep->super.peer_addr),
                (struct sockaddr *)&ss);
    ep->state = VB_EP_RESOLVING;
    if (rdma_resolve_addr(id, NULL, (struct sockaddr *)&ss,
                          iface->cfg.cm_timeout_ms) != 0) {
        cpn_error("verbs[%s]: rdma_resolve_addr %s: %s", iface->site,
                  ep->super.peer_addr, strerror(errno));
        ep->closed = 1;
        if (iface->in_progress == 0) {
            vb_reap(iface);
        }
        return CPN_ERR_UNREACHABLE;
    }
    *ep_p = &ep->super;
    return CPN_OK;
}

static cpn_status_t vb_ep_lanes(cpn_tp_ep_t *tep, char *buf, size_t len)
{
    vb_ep_t *ep = vb_ep_of(tep);
    int n = snprintf(buf, len, "rc/verbs %s", ep->desc);

    return n < 0 || (size_t)n >= len ? CPN_ERR_TOO_BIG : CPN_OK;
}

/* ---- memory ---------------------------------------------------------------- */

static cpn_status_t vb_mem_reg(cpn_tp_iface_t *tif, void *addr, size_t len,
                               cpn_tp_mem_t **mem_p)
{
    vb_iface_t *iface = vb_iface_of(tif);
    vb_mem_t *mem;

    if (addr == NULL || len == 0) {
        return CPN_ERR_INVALID;
    }
    mem = calloc(1, sizeof(*mem));
    if (mem == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    mem->mr = ibv_reg_mr(iface->pd, addr, len,
                         IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
    if (mem->mr == NULL) {
        cpn_error("verbs[%s]: cannot register %zu bytes at %p on %s: %s "
                  "(locked memory limit? ulimit -l)", iface->site, len, addr,
                  iface->dev_name, strerror(errno));
        free(mem);
        return errno == ENOMEM ? CPN_ERR_NO_MEMORY : CPN_ERR_TRANSPORT;
    }
    mem->super.iface = tif;
    mem->super.addr = addr;
    mem->super.len = len;
    *mem_p = &mem->super;
    return CPN_OK;
}

static cpn_status_t vb_mem_alloc(cpn_tp_iface_t *tif, size_t len,
                                 cpn_tp_mem_t **mem_p)
{
    uint8_t *p = vb_alloc(len);
    cpn_tp_mem_t *mem;
    cpn_status_t st;

    if (p == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    st = vb_mem_reg(tif, p, len, &mem);
    if (st != CPN_OK) {
        free(p);
        return st;
    }
    cpn_container_of(mem, vb_mem_t, super)->owned = 1;
    *mem_p = mem;
    return CPN_OK;
}

static void vb_mem_dereg(cpn_tp_mem_t *tmem)
{
    vb_mem_t *mem = cpn_container_of(tmem, vb_mem_t, super);

    ibv_dereg_mr(mem->mr);
    if (mem->owned) {
        free(mem->super.addr);
    }
    free(mem);
}

static cpn_status_t vb_key_pack(cpn_tp_mem_t *tmem, void *buf, size_t *len_p)
{
    vb_mem_t *mem = cpn_container_of(tmem, vb_mem_t, super);
    uint8_t *p = buf;
    uint32_t v32;
    uint64_t v64;

    if (*len_p < VB_KEY_LEN) {
        return CPN_ERR_TOO_BIG;
    }
    v32 = htonl(VB_KEY_MAGIC);
    memcpy(p, &v32, 4);
    v32 = htonl(mem->mr->rkey);
    memcpy(p + 4, &v32, 4);
    v64 = (uintptr_t)mem->super.addr;
    memcpy(p + 8, &v64, 8);
    v64 = mem->super.len;
    memcpy(p + 16, &v64, 8);
    *len_p = VB_KEY_LEN;
    return CPN_OK;
}

static cpn_status_t vb_key_unpack(cpn_tp_ep_t *tep, const void *buf,
                                  size_t len, cpn_tp_rkey_t **rkey_p)
{
    const uint8_t *p = buf;
    vb_rkey_t *rk;
    uint32_t v32;

    if (len != VB_KEY_LEN) {
        return CPN_ERR_CORRUPT;
    }
    memcpy(&v32, p, 4);
    if (ntohl(v32) != VB_KEY_MAGIC) {
        return CPN_ERR_CORRUPT;
    }
    rk = calloc(1, sizeof(*rk));
    if (rk == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    memcpy(&v32, p + 4, 4);
    rk->rkey = ntohl(v32);
    memcpy(&rk->addr, p + 8, 8);
    memcpy(&rk->len, p + 16, 8);
    rk->super.ep = tep;
    *rkey_p = &rk->super;
    return CPN_OK;
}

static void vb_key_release(cpn_tp_rkey_t *trkey)
{
    free(cpn_container_of(trkey, vb_rkey_t, super));
}

/* ---- data -------------------------------------------------------------------- */

static cpn_status_t vb_ep_usable(vb_ep_t *ep)
{
    if (ep->closed) {
        return CPN_ERR_CANCELED;
    }
    if (ep->state == VB_EP_FAILED) {
        return ep->err != CPN_OK ? ep->err : CPN_ERR_CONN_RESET;
    }
    return CPN_OK;
}

static cpn_status_t vb_send(cpn_tp_ep_t *tep, const void *buf, size_t len,
                            cpn_tp_comp_cb_t cb, void *arg)
{
    vb_ep_t *ep = vb_ep_of(tep);
    vb_op_t *op;
    cpn_status_t st = vb_ep_usable(ep);

    if (st != CPN_OK) {
        return st;
    }
    if (len > ep->iface->cfg.max_msg || len > UINT32_MAX) {
        cpn_error("verbs[%s]: a %zu-byte message to %s exceeds "
                  "CPN_VERBS_MAX_MSG (%zu)", ep->iface->site, len,
                  ep->super.peer_addr, ep->iface->cfg.max_msg);
        return CPN_ERR_TOO_BIG;
    }
    op = vb_op_get(ep->iface);
    if (op == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    op->kind = VB_OP_SEND;
    op->buf = buf;
    op->len = len;
    op->cb = cb;
    op->arg = arg;
    if (ep->pend_head == NULL && ep->state == VB_EP_READY &&
        vb_post_send_op(ep, op)) {
        vb_op_put(ep->iface, op);
        return CPN_OK;
    }
    if (ep->state == VB_EP_FAILED) {
        vb_op_put(ep->iface, op);
        return ep->err;
    }
    op->deferred = 1;
    vb_enqueue(ep, op);
    return CPN_INPROGRESS;
}

static cpn_status_t vb_put(cpn_tp_ep_t *tep, const void *buf, size_t len,
                           cpn_tp_mem_t *tmem, uint64_t raddr,
                           cpn_tp_rkey_t *trkey, const void *notify,
                           size_t notify_len, cpn_tp_comp_cb_t cb, void *arg)
{
    vb_ep_t *ep = vb_ep_of(tep);
    vb_iface_t *iface = ep->iface;
    vb_rkey_t *rk = cpn_container_of(trkey, vb_rkey_t, super);
    vb_op_t *op;
    cpn_status_t st = vb_ep_usable(ep);

    if (st != CPN_OK) {
        return st;
    }
    if (notify_len > CPN_TP_NOTIFY_MAX || len > UINT32_MAX ||
        (len > 0 && buf == NULL)) {
        return CPN_ERR_INVALID;
    }
    if (raddr < rk->addr || raddr - rk->addr > rk->len ||
        len > rk->len - (raddr - rk->addr)) {
        cpn_error("verbs[%s]: put of %zu bytes at 0x%llx to %s is outside "
                  "the peer's region [0x%llx, +%llu) of rkey 0x%x", iface->site,
                  len, (unsigned long long)raddr, ep->super.peer_addr,
                  (unsigned long long)rk->addr, (unsigned long long)rk->len,
                  rk->rkey);
        return CPN_ERR_INVALID;
    }
    op = vb_op_get(iface);
    if (op == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    op->kind = VB_OP_PUT;
    op->buf = buf;
    op->len = len;
    op->cb = cb;
    op->arg = arg;
    op->raddr = raddr;
    op->rkey = rk->rkey;
    op->nlen = (uint8_t)notify_len;
    if (notify_len > 0) {
        memcpy(op->notify, notify, notify_len);
    }
    if (len > 0) {
        const uint8_t *b = buf;

        if (tmem != NULL && b >= (const uint8_t *)tmem->addr &&
            b + len <= (const uint8_t *)tmem->addr + tmem->len) {
            op->lkey = cpn_container_of(tmem, vb_mem_t, super)->mr->lkey;
        } else {
            /* Not registered by the caller: for this put only. */
            op->tmp_mr = ibv_reg_mr(iface->pd, (void *)(uintptr_t)buf, len,
                                    IBV_ACCESS_LOCAL_WRITE);
            if (op->tmp_mr == NULL) {
                cpn_error("verbs[%s]: cannot register the %zu-byte source of "
                          "a put on %s: %s", iface->site, len, iface->dev_name,
                          strerror(errno));
                vb_op_put(iface, op);
                return CPN_ERR_NO_MEMORY;
            }
            op->lkey = op->tmp_mr->lkey;
        }
    }
    if (!(ep->pend_head == NULL && ep->state == VB_EP_READY &&
          vb_post_put_op(ep, op))) {
        if (ep->state == VB_EP_FAILED) {
            vb_op_put(iface, op);
            return ep->err;
        }
        vb_enqueue(ep, op);
    }
    return CPN_INPROGRESS;
}

/* ---- iface ----------------------------------------------------------------- */

static int vb_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void vb_close(cpn_tp_iface_t *tif)
{
    vb_iface_t *iface = vb_iface_of(tif);
    vb_ep_t *ep;
    vb_op_t *op;

    while ((ep = iface->eps) != NULL) {
        iface->eps = ep->next;
        if (ep->id != NULL && !ep->disconnect_sent &&
            ep->state != VB_EP_RESOLVING) {
            rdma_disconnect(ep->id);
        }
        /* no callbacks: drop every op silently */
        if (ep->sq_op != NULL) {
            for (; ep->sq_tail < ep->sq_head; ep->sq_tail++) {
                op = ep->sq_op[ep->sq_tail % ep->sq_depth];
                if (op != NULL) {
                    vb_op_put(iface, op);
                }
            }
        }
        while ((op = ep->pend_head) != NULL) {
            ep->pend_head = op->next;
            vb_op_put(iface, op);
        }
        vb_ep_free_res(ep);
        free(ep);
    }
    while ((op = iface->free_ops) != NULL) {
        iface->free_ops = op->next;
        free(op);
    }
    if (iface->listen_id != NULL) {
        rdma_destroy_id(iface->listen_id);
    }
    if (iface->cc != NULL) {
        ibv_destroy_comp_channel(iface->cc);
    }
    if (iface->pd != NULL) {
        ibv_dealloc_pd(iface->pd);
    }
    if (iface->devs != NULL) {
        rdma_free_devices(iface->devs);
    }
    if (iface->ec != NULL) {
        rdma_destroy_event_channel(iface->ec);
    }
    cpn__verbs_model_free(&iface->model);
    free(iface);
}

static cpn_status_t vb_open(const cpn_tp_params_t *params,
                            const cpn_tp_handlers_t *handlers,
                            cpn_tp_iface_t **iface_p)
{
    vb_iface_t *iface = calloc(1, sizeof(*iface));
    cpn_verbs_want_t want;
    cpn_verbs_pick_t pick;
    char err[512];
    int i, n = 0;
    cpn_status_t st;

    if (iface == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    iface->super.handlers = *handlers;
    snprintf(iface->site, sizeof(iface->site), "%s",
             params && params->site_name ? params->site_name : "?");
    st = cpn__verbs_config_load(&iface->cfg);
    if (st != CPN_OK) {
        goto err;
    }
    cpn__verbs_parse_mtu(iface->cfg.mtu, &iface->cfg_mtu);
    cpn__verbs_parse_gid_index(iface->cfg.gid_index, &iface->cfg_gid);

    st = cpn__verbs_model_load(iface->cfg.sysfs, &iface->model);
    if (st != CPN_OK) {
        goto err;
    }
    memset(&want, 0, sizeof(want));
    want.device = iface->cfg.device;
    want.netdev = iface->cfg.netdev;
    want.port = iface->cfg.port;
    want.gid_index = iface->cfg_gid;
    if (cpn__verbs_pick(&iface->model, &want, &pick, err, sizeof(err)) !=
        CPN_OK) {
        cpn_error("verbs[%s]: %s", iface->site, err);
        st = iface->model.nport == 0 ? CPN_ERR_UNSUPPORTED : CPN_ERR_NOT_FOUND;
        goto err;
    }
    snprintf(iface->dev_name, sizeof(iface->dev_name), "%s",
             pick.port->device);
    iface->port = pick.port->port;
    iface->gid_index = pick.gid_index;

    iface->ec = rdma_create_event_channel();
    if (iface->ec == NULL || vb_set_nonblock(iface->ec->fd) != 0) {
        cpn_error("verbs[%s]: rdma_create_event_channel: %s (is rdma_ucm "
                  "loaded, /dev/infiniband/rdma_cm there?)", iface->site,
                  strerror(errno));
        st = CPN_ERR_UNSUPPORTED;
        goto err;
    }
    iface->devs = rdma_get_devices(&n);
    for (i = 0; iface->devs != NULL && i < n; i++) {
        if (strcmp(ibv_get_device_name(iface->devs[i]->device),
                   iface->dev_name) == 0) {
            iface->ctx = iface->devs[i];
        }
    }
    if (iface->ctx == NULL) {
        cpn_error("verbs[%s]: sysfs lists device %s but librdmacm cannot "
                  "open it (is its user-space provider installed? "
                  "ibv_devices should list it)", iface->site, iface->dev_name);
        st = CPN_ERR_UNSUPPORTED;
        goto err;
    }
    if (ibv_query_port(iface->ctx, (uint8_t)iface->port, &iface->pattr) != 0) {
        cpn_error("verbs[%s]: ibv_query_port(%s, %u): %s", iface->site,
                  iface->dev_name, iface->port, strerror(errno));
        st = CPN_ERR_TRANSPORT;
        goto err;
    }
    iface->pd = ibv_alloc_pd(iface->ctx);
    iface->cc = ibv_create_comp_channel(iface->ctx);
    if (iface->pd == NULL || iface->cc == NULL ||
        vb_set_nonblock(iface->cc->fd) != 0) {
        cpn_error("verbs[%s]: cannot allocate a PD / completion channel on "
                  "%s: %s", iface->site, iface->dev_name, strerror(errno));
        st = CPN_ERR_NO_MEMORY;
        goto err;
    }
    cpn_debug("verbs[%s]: %s port %u, GID[%d] (%s), active MTU %u",
              iface->site, iface->dev_name, iface->port, iface->gid_index,
              pick.why, cpn__verbs_mtu_bytes(iface->pattr.active_mtu));
    *iface_p = &iface->super;
    return CPN_OK;

err:
    vb_close(&iface->super);
    return st;
}

static void vb_info(FILE *out)
{
    cpn_verbs_config_t cfg;
    cpn_verbs_model_t model;
    cpn_verbs_want_t want;

    if (cpn__verbs_config_load(&cfg) != CPN_OK ||
        cpn__verbs_model_load(cfg.sysfs, &model) != CPN_OK) {
        fprintf(out, "verbs: configuration or sysfs unreadable\n");
        return;
    }
    memset(&want, 0, sizeof(want));
    want.device = cfg.device;
    want.netdev = cfg.netdev;
    want.port = cfg.port;
    cpn__verbs_parse_gid_index(cfg.gid_index, &want.gid_index);
    cpn__verbs_model_print(&model, &want, out);
    cpn__verbs_model_free(&model);
}

const cpn_transport_ops_t cpn__tp_verbs_ops = {
    .name = "verbs",
    .caps = CPN_TP_CAP_ZCOPY | CPN_TP_CAP_WAKEUP,

    .open = vb_open,
    .close = vb_close,
    .progress = vb_progress,
    .wait = vb_wait,

    .listen = vb_listen,
    .connect = vb_connect,
    .ep_close = vb_ep_close,
    .ep_lanes = vb_ep_lanes,

    .mem_reg = vb_mem_reg,
    .mem_dereg = vb_mem_dereg,
    .mem_alloc = vb_mem_alloc,
    .key_pack = vb_key_pack,
    .key_unpack = vb_key_unpack,
    .key_release = vb_key_release,

    .send = vb_send,
    .put = vb_put,
    .info = vb_info,
};
