/* SPDX-License-Identifier: Apache-2.0 */
/* The UCX backend: the transport contract (transport/transport.h) on UCP.
 *
 *   open      one ucp context (AM | RMA | WAKEUP, UCX_* variables honoured)
 *             and one single-threaded worker; wait() sleeps on its event fd
 *   listen    ucp_listener on a socket address; each connection request is
 *             accepted at once and reported through handlers.accept
 *   connect   a client-server ucp_ep; a flush on it completes when the
 *             wireup does, and that is when handlers.connected runs
 *   send      ucp_am_send_nbx, AM id 0, with the reply flag so the receiver
 *             knows the endpoint; rendezvous messages land in a malloc'ed
 *             buffer and are delivered once whole
 *   put       where UCX has an RMA lane to the peer: ucp_put_nbx, then an
 *             ep flush (the bytes are then visible at the target), then the
 *             notify as AM id 1; elsewhere (tcp): one AM (id 2) carrying
 *             region, address, notify and bytes, which the target checks
 *             against its registered regions, places, then notifies.
 *             CPN_UCX_PUT forces either way. Keys carry the region's id and
 *             bounds before UCX's rkey, and every put is checked against
 *             them at the source too. Unpacked keys are cached per ep.
 *   key_ptr   ucp_rkey_ptr: where UCX maps the peer's memory here (regions
 *             its shared-memory md allocated, also with tcp-only lanes),
 *             the runtime copies chunks in itself; notify sends the put's
 *             notify AM after a fence.
 *
 * Every ucs_status_t is converted at this boundary and logged once with the
 * peer it concerns. Callbacks reach the runtime only from progress (and from
 * ep_close, for the operations it cancels). Closing an endpoint never blocks:
 * a healthy endpoint is flushed (bounded by CPN_UCX_CLOSE_FLUSH), then
 * closed with UCP_EP_CLOSE_FLAG_FORCE, so a close never waits for the peer
 * application to close its side. Not thread-safe: one thread per iface.
 *
 * Endpoints use UCP_ERR_HANDLING_MODE_PEER (ep_error is in the contract). In
 * UCX 1.13 only transports that declare error handling qualify, so shared
 * memory is used only with CPN_UCX_SHM=y (see cpn_ucx_config_shm); puts go
 * as active messages where UCX has no RMA lane (see cpn_ucx_put_am); and
 * IPv6 is refused, as UCX 1.13's tcp transport corrupts its heap on IPv6
 * client-server connections. */
#include "transport/ucx/ucx_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/compiler.h"
#include "core/config.h"
#include "core/log.h"

/** ucp_worker_progress calls per progress(), at most (while it finds work). */
#define CPN_UCX_PROGRESS_BURST 32
/** Ops added to the pool each time it runs dry. */
#define CPN_UCX_OP_SLAB 64
/** Initial size of the ucp_ep_h -> ep table (a power of two). */
#define CPN_UCX_TABLE_INIT 64

/* ---- configuration (CPN_UCX_*) ------------------------------------------- */

typedef struct cpn_ucx_config {
    const char *put;
    int close_flush_ms;
    int shm;
    unsigned rkey_cache;
} cpn_ucx_config_t;

static const cpn_config_field_t cpn_ucx_config_field[] = {
    CPN_CONFIG_FIELD("PUT", "auto",
                     "how put moves bytes: rma (ucp_put_nbx, flush, notify), "
                     "am (an active message the target copies into the "
                     "region), auto (rma where UCX has an RMA lane, else am)",
                     CPN_CFG_STRING, cpn_ucx_config_t, put),
    CPN_CONFIG_FIELD("CLOSE_FLUSH", "1s",
                     "how long ep_close lets a healthy endpoint flush before "
                     "it is closed by force",
                     CPN_CFG_TIME_MS, cpn_ucx_config_t, close_flush_ms),
    CPN_CONFIG_FIELD("SHM", "n",
                     "let sites on one host use shared memory (UCX 1.13 needs "
                     "UCX_MM_ERROR_HANDLING=y for it): fast, but a peer that "
                     "dies mid-send can stall this site's shared-memory queue",
                     CPN_CFG_BOOL, cpn_ucx_config_t, shm),
    CPN_CONFIG_FIELD("RKEY_CACHE", "8",
                     "unpacked remote keys kept per peer once released, so "
                     "the next task into the same region reuses the mapping "
                     "(a shared-memory key holds the peer's segment mapped "
                     "while cached); 0 = none",
                     CPN_CFG_UINT, cpn_ucx_config_t, rkey_cache),
};

static cpn_config_table_t cpn_ucx_config_table = {
    .area = "UCX",
    .title = "transport: ucx",
    .field = cpn_ucx_config_field,
    .nfield = CPN_ARRAY_SIZE(cpn_ucx_config_field),
};
CPN_CONFIG_REGISTER(cpn_ucx_config_table)

static void cpn_ucx_rkey_drop_all(cpn_ucx_ep_t *ep);

#define cpn_ucx_iface_of(_tif) cpn_container_of(_tif, cpn_ucx_iface_t, super)
#define cpn_ucx_ep_of(_tep)    cpn_container_of(_tep, cpn_ucx_ep_t, super)
#define cpn_ucx_ep_iface(_ep)  cpn_ucx_iface_of((_ep)->super.iface)

/* ---- status conversion --------------------------------------------------- */

/** UCX status to ours, for an established endpoint or a local call. */
static cpn_status_t cpn_ucx_status(ucs_status_t status)
{
    switch (status) {
    case UCS_OK:
        return CPN_OK;
    case UCS_INPROGRESS:
        return CPN_INPROGRESS;
    case UCS_ERR_NO_MEMORY:
        return CPN_ERR_NO_MEMORY;
    case UCS_ERR_INVALID_PARAM:
    case UCS_ERR_INVALID_ADDR:
        return CPN_ERR_INVALID;
    case UCS_ERR_UNSUPPORTED:
        return CPN_ERR_UNSUPPORTED;
    case UCS_ERR_TIMED_OUT:
        return CPN_ERR_TIMEOUT;
    case UCS_ERR_CANCELED:
        return CPN_ERR_CANCELED;
    case UCS_ERR_BUSY:
    case UCS_ERR_NO_RESOURCE:
        return CPN_ERR_BUSY;
    case UCS_ERR_NO_ELEM:
        return CPN_ERR_NOT_FOUND;
    case UCS_ERR_ALREADY_EXISTS:
        return CPN_ERR_EXISTS;
    case UCS_ERR_MESSAGE_TRUNCATED:
        return CPN_ERR_TRUNCATED;
    case UCS_ERR_EXCEEDS_LIMIT:
    case UCS_ERR_OUT_OF_RANGE:
        return CPN_ERR_TOO_BIG;
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_REJECTED:
        return CPN_ERR_UNREACHABLE;
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_NOT_CONNECTED:
    case UCS_ERR_ENDPOINT_TIMEOUT:
        return CPN_ERR_CONN_RESET;
    default:
        return CPN_ERR_TRANSPORT;
    }
}

/** UCX status to ours, for an endpoint that never finished connecting:
 *  every way of losing the peer means it could not be reached. */
static cpn_status_t cpn_ucx_connect_status(ucs_status_t status)
{
    cpn_status_t s = cpn_ucx_status(status);

    return CPN_STATUS_IS_ENDPOINT(s) || s == CPN_ERR_TIMEOUT
               ? CPN_ERR_UNREACHABLE
               : s;
}

/* "HOST:PORT", or "[V6]:PORT" when the host holds a colon. */
static void cpn_ucx_fmt_hostport(char *buf, size_t len, const char *host,
                                 unsigned port)
{
    int bracket = host[0] != '[' && strchr(host, ':') != NULL;

    snprintf(buf, len, bracket ? "[%s]:%u" : "%s:%u", host, port);
}

static void cpn_ucx_fmt_sockaddr(char *buf, size_t len,
                                 const struct sockaddr *sa)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    cpn_ucx_fmt_hostport(buf, len, host, port);
}

static uint16_t cpn_ucx_sockaddr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    }
    return 0;
}

/* UCX 1.13's tcp transport overflows a heap buffer when a client-server
 * connection runs over IPv6 (ASan: uct_tcp_cm_conn_start reading a
 * sockaddr_in6 from a tcp ep sized for sockaddr_in, on the accepting side),
 * and glibc then aborts. Refuse IPv6 there rather than corrupt the heap. */
static int cpn_ucx_ipv6_broken(void)
{
    unsigned major, minor, release;

    ucp_get_version(&major, &minor, &release);
    return major == 1 && minor < 14;
}

/* Resolve @p host (brackets allowed) and @p port to one stream sockaddr,
 * into @p ss. @p passive: for a listener, where NULL, "" and "*" mean any
 * address. Where IPv6 is broken an IPv4 address is taken if there is one. */
static cpn_status_t cpn_ucx_resolve(cpn_ucx_iface_t *iface, const char *host,
                                    uint16_t port, int passive,
                                    const char *addr,
                                    struct sockaddr_storage *ss,
                                    socklen_t *sslen_p)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
    };
    struct addrinfo *res, *ai, *pick = NULL;
    char hbuf[256];
    char pbuf[8];
    size_t n;
    int rc;

    if (host == NULL || host[0] == '\0' || strcmp(host, "*") == 0) {
        host = NULL;
    } else if (host[0] == '[') {
        n = strlen(host);
        if (n < 3 || host[n - 1] != ']' || n - 2 >= sizeof(hbuf)) {
            cpn_error("ucx[%s]: '%s' is not a host", iface->site, host);
            return CPN_ERR_INVALID;
        }
        memcpy(hbuf, host + 1, n - 2);
        hbuf[n - 2] = '\0';
        host = hbuf;
    }
    if (host == NULL && !passive) {
        return CPN_ERR_INVALID;
    }
    if (host == NULL && cpn_ucx_ipv6_broken()) {
        hints.ai_family = AF_INET;
    }
    snprintf(pbuf, sizeof(pbuf), "%u", (unsigned)port);
    rc = getaddrinfo(host, pbuf, &hints, &res);
    if (rc != 0) {
        cpn_warn("ucx[%s]: cannot resolve %s: %s", iface->site, addr,
                 gai_strerror(rc));
        return passive ? CPN_ERR_INVALID : CPN_ERR_UNREACHABLE;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET ||
            (ai->ai_family == AF_INET6 && !cpn_ucx_ipv6_broken())) {
            pick = ai;
            break;
        }
    }
    if (pick == NULL || pick->ai_addrlen > sizeof(*ss)) {
        cpn_error("ucx[%s]: %s: no IPv4 address, and UCX %s cannot carry "
                  "connections over IPv6 safely",
                  iface->site, addr, ucp_get_version_string());
        freeaddrinfo(res);
        return CPN_ERR_UNSUPPORTED;
    }
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    *sslen_p = pick->ai_addrlen;
    freeaddrinfo(res);
    return CPN_OK;
}

/* ---- the ucp_ep_h -> ep table ------------------------------------------ */

static size_t cpn_ucx_table_slot(size_t size, ucp_ep_h uep)
{
    uint64_t x = (uint64_t)(uintptr_t)uep;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (size - 1);
}

static cpn_status_t cpn_ucx_table_grow(cpn_ucx_iface_t *iface)
{
    size_t nsize = iface->table_size * 2;
    cpn_ucx_ep_t **ntab;
    size_t i;

    ntab = calloc(nsize, sizeof(*ntab));
    if (ntab == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    for (i = 0; i < iface->table_size; i++) {
        cpn_ucx_ep_t *ep = iface->table[i];

        while (ep != NULL) {
            cpn_ucx_ep_t *next = ep->hnext;
            size_t slot = cpn_ucx_table_slot(nsize, ep->ucp_ep);

            ep->hnext = ntab[slot];
            ntab[slot] = ep;
            ep = next;
        }
    }
    free(iface->table);
    iface->table = ntab;
    iface->table_size = nsize;
    return CPN_OK;
}

static cpn_status_t cpn_ucx_table_add(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep)
{
    size_t slot;

    if (iface->table_count >= iface->table_size &&
        cpn_ucx_table_grow(iface) != CPN_OK) {
        return CPN_ERR_NO_MEMORY;
    }
    slot = cpn_ucx_table_slot(iface->table_size, ep->ucp_ep);
    ep->hnext = iface->table[slot];
    iface->table[slot] = ep;
    ep->in_table = 1;
    iface->table_count++;
    return CPN_OK;
}

static void cpn_ucx_table_del(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep)
{
    cpn_ucx_ep_t **pp;

    if (!ep->in_table) {
        return;
    }
    pp = &iface->table[cpn_ucx_table_slot(iface->table_size, ep->ucp_ep)];
    while (*pp != NULL && *pp != ep) {
        pp = &(*pp)->hnext;
    }
    if (*pp == ep) {
        *pp = ep->hnext;
        iface->table_count--;
    }
    ep->in_table = 0;
    ep->hnext = NULL;
}

static cpn_ucx_ep_t *cpn_ucx_table_find(cpn_ucx_iface_t *iface, ucp_ep_h uep)
{
    cpn_ucx_ep_t *ep = iface->table[cpn_ucx_table_slot(iface->table_size, uep)];

    while (ep != NULL && ep->ucp_ep != uep) {
        ep = ep->hnext;
    }
    return ep;
}

/* ---- ep lists ------------------------------------------------------------ */

static void cpn_ucx_list_add(cpn_ucx_ep_t **head, cpn_ucx_ep_t *ep)
{
    ep->prev = NULL;
    ep->next = *head;
    if (*head != NULL) {
        (*head)->prev = ep;
    }
    *head = ep;
}

static void cpn_ucx_list_del(cpn_ucx_ep_t **head, cpn_ucx_ep_t *ep)
{
    if (ep->prev != NULL) {
        ep->prev->next = ep->next;
    } else {
        *head = ep->next;
    }
    if (ep->next != NULL) {
        ep->next->prev = ep->prev;
    }
    ep->prev = ep->next = NULL;
}

/* ---- op pool and deferred completions ------------------------------------ */

static cpn_ucx_op_t *cpn_ucx_op_get(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep,
                                    cpn_ucx_op_kind_t kind)
{
    cpn_ucx_op_t *op;

    if (cpn_unlikely(iface->free_ops == NULL)) {
        cpn_ucx_op_slab_t *slab;
        unsigned i;

        slab =
            calloc(1, sizeof(*slab) + CPN_UCX_OP_SLAB * sizeof(slab->ops[0]));
        if (slab == NULL) {
            return NULL;
        }
        slab->count = CPN_UCX_OP_SLAB;
        slab->next = iface->slabs;
        iface->slabs = slab;
        for (i = 0; i < CPN_UCX_OP_SLAB; i++) {
            slab->ops[i].next = iface->free_ops;
            iface->free_ops = &slab->ops[i];
        }
    }
    op = iface->free_ops;
    iface->free_ops = op->next;

    op->next = NULL;
    op->ep = ep;
    op->cb = NULL;
    op->arg = NULL;
    op->status = CPN_OK;
    op->kind = (uint8_t)kind;
    op->in_use = 1;
    op->queued = 0;
    op->flushed = 0;
    op->pending = 0;
    op->rbuf = NULL;
    op->rq = 0;
    op->rq_next = NULL;
    ep->nops++;
    return op;
}

/* Back to the pool once nothing refers to it any more: no UCX request
 * outstanding, not on the deferred queue or an ep's receive queue, and its
 * user callback done. */
static void cpn_ucx_op_try_put(cpn_ucx_iface_t *iface, cpn_ucx_op_t *op)
{
    if (op->pending != 0 || op->queued || op->cb != NULL || op->rq) {
        return;
    }
    free(op->rbuf);
    op->rbuf = NULL;
    op->in_use = 0;
    op->ep->nops--;
    op->next = iface->free_ops;
    iface->free_ops = op;
}

/* Run @p op's completion from the next progress instead of now: the contract
 * forbids calling back from inside the call that started an operation. */
static void cpn_ucx_op_defer(cpn_ucx_iface_t *iface, cpn_ucx_op_t *op)
{
    op->queued = 1;
    op->next = NULL;
    if (iface->defer_tail != NULL) {
        iface->defer_tail->next = op;
    } else {
        iface->defer_head = op;
    }
    iface->defer_tail = op;
}

/* Hand @p status to the op's user callback, once; CPN_ERR_CANCELED for every
 * op of an endpoint the runtime closed, CPN_ERR_CONN_RESET for those UCX
 * canceled itself; nothing at all while closing. */
static void cpn_ucx_op_complete(cpn_ucx_iface_t *iface, cpn_ucx_op_t *op,
                                cpn_status_t status)
{
    cpn_tp_comp_cb_t cb = op->cb;

    op->cb = NULL;
    if (cb == NULL || iface->closing) {
        return;
    }
    if (op->ep->closing) {
        status = CPN_ERR_CANCELED;
    } else if (status == CPN_ERR_CANCELED) {
        /* UCX cancels what was in flight on an endpoint that failed, and
         * may do so before its error handler runs: to the runtime this is
         * a lost connection (worth a resume), not a cancel it asked for */
        status = CPN_ERR_CONN_RESET;
    }
    cb(op->arg, status);
}

/* ---- the ep's fate ------------------------------------------------------- */

/* The wireup finished (or an AM proved it): tell the runtime once. */
static void cpn_ucx_ep_ready(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep)
{
    const cpn_tp_handlers_t *h = &iface->super.handlers;

    if (ep->state != CPN_UCX_EP_CONNECTING) {
        return;
    }
    ep->state = CPN_UCX_EP_READY;
    cpn_debug("ucx[%s]: connected to %s", iface->site, ep->super.peer_addr);
    if (!ep->closing && !iface->closing && h->connected != NULL) {
        h->connected(h->arg, &ep->super, CPN_OK);
    }
}

/* The ep failed: report it once, as a failed connect or as an ep_error. */
static void cpn_ucx_ep_failed(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep,
                              ucs_status_t ustatus, const char *what)
{
    const cpn_tp_handlers_t *h = &iface->super.handlers;
    cpn_ucx_ep_state_t prev = ep->state;
    cpn_status_t status;

    if (prev == CPN_UCX_EP_FAILED) {
        return;
    }
    ep->state = CPN_UCX_EP_FAILED;
    if (ep->closing || iface->closing) {
        cpn_debug("ucx[%s]: %s %s after close: %s", iface->site, what,
                  ep->super.peer_addr, ucs_status_string(ustatus));
        return;
    }

    if (prev == CPN_UCX_EP_CONNECTING) {
        status = cpn_ucx_connect_status(ustatus);
        cpn_warn("ucx[%s]: cannot connect to %s: %s (%s)", iface->site,
                 ep->super.peer_addr, ucs_status_string(ustatus), what);
        if (h->connected != NULL) {
            h->connected(h->arg, &ep->super, status);
        }
    } else {
        /* ep_error speaks of the endpoint: keep to that class of codes */
        status = cpn_ucx_status(ustatus);
        if (!CPN_STATUS_IS_ENDPOINT(status)) {
            status = CPN_ERR_CONN_RESET;
        }
        cpn_info("ucx[%s]: connection to %s lost: %s (%s)", iface->site,
                 ep->super.peer_addr, ucs_status_string(ustatus), what);
        if (h->ep_error != NULL) {
            h->ep_error(h->arg, &ep->super, status);
        }
    }
}

/* UCX's error handler; UCX runs it from worker progress. */
static void cpn_ucx_ep_err_cb(void *arg, ucp_ep_h uep, ucs_status_t status)
{
    cpn_ucx_ep_t *ep = arg;

    (void)uep;
    cpn_ucx_ep_failed(cpn_ucx_ep_iface(ep), ep, status, "error handler");
}

/* ---- closing ------------------------------------------------------------- */

/* Drop a ucp_ep that never became one of ours (a failed connect or accept):
 * forced, no callback; a request left over is freed when it completes. */
static void cpn_ucx_uep_destroy(ucp_ep_h uep)
{
    ucp_request_param_t param = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
        .flags = UCP_EP_CLOSE_FLAG_FORCE,
    };
    ucs_status_ptr_t r = ucp_ep_close_nbx(uep, &param);

    if (UCS_PTR_IS_PTR(r)) {
        ucp_request_free(r);
    }
}

static void cpn_ucx_ep_close_cb(void *request, ucs_status_t status,
                                void *user_data)
{
    cpn_ucx_ep_t *ep = user_data;

    (void)status;
    ucp_request_free(request);
    ep->close_done = 1;
}

/* Release the ucp_ep now. UCX completes every request still outstanding on
 * it with UCS_ERR_CANCELED from inside this call. */
static void cpn_ucx_ep_force_close(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep)
{
    ucp_request_param_t param = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK |
                        UCP_OP_ATTR_FIELD_USER_DATA,
        .flags = UCP_EP_CLOSE_FLAG_FORCE,
        .cb.send = cpn_ucx_ep_close_cb,
        .user_data = ep,
    };
    ucs_status_ptr_t r;

    if (ep->forced) {
        return;
    }
    ep->forced = 1;
    r = ucp_ep_close_nbx(ep->ucp_ep, &param);
    if (!UCS_PTR_IS_PTR(r)) {
        if (UCS_PTR_IS_ERR(r)) {
            cpn_debug("ucx[%s]: closing the endpoint to %s: %s", iface->site,
                      ep->super.peer_addr,
                      ucs_status_string(UCS_PTR_STATUS(r)));
        }
        ep->close_done = 1;
    }
}

static void cpn_ucx_close_flush_cb(void *request, ucs_status_t status,
                                   void *user_data)
{
    cpn_ucx_op_t *op = user_data;

    (void)status;
    ucp_request_free(request);
    op->ep->flushed = 1;
    op->pending--;
    cpn_ucx_op_try_put(cpn_ucx_ep_iface(op->ep), op);
}

/* First step of a close, outside any UCX callback: flush a healthy ep so
 * what it already accepted leaves, else go straight to the forced close. */
static void cpn_ucx_ep_start_close(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep)
{
    ucp_request_param_t param = {
        .op_attr_mask =
            UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.send = cpn_ucx_close_flush_cb,
    };
    ucs_status_ptr_t r;
    cpn_ucx_op_t *op;

    ep->close_started = 1;
    if (ep->state == CPN_UCX_EP_READY &&
        (op = cpn_ucx_op_get(iface, ep, CPN_UCX_OP_CLOSE_FLUSH)) != NULL) {
        param.user_data = op;
        r = ucp_ep_flush_nbx(ep->ucp_ep, &param);
        if (UCS_PTR_IS_PTR(r)) {
            op->pending = 1;
            ep->close_deadline = cpn_deadline_ns(iface->close_flush_ms);
            return;
        }
        cpn_ucx_op_try_put(iface, op);
    }
    cpn_ucx_ep_force_close(iface, ep);
}

/* Move every closing ep forward; free those that are done. Runs outside UCX
 * callbacks (a ucp_ep must not be closed from inside one). */
static unsigned cpn_ucx_reap(cpn_ucx_iface_t *iface)
{
    cpn_ucx_ep_t *ep, *next;
    unsigned n = 0;

    for (ep = iface->closing_eps; ep != NULL; ep = next) {
        next = ep->next;
        if (!ep->close_started) {
            cpn_ucx_ep_start_close(iface, ep);
        } else if (!ep->forced &&
                   (ep->flushed || cpn_time_ns() >= ep->close_deadline)) {
            if (!ep->flushed) {
                cpn_debug("ucx[%s]: flush to %s did not finish in %d ms, "
                          "closing it anyway",
                          iface->site, ep->super.peer_addr,
                          iface->close_flush_ms);
            }
            cpn_ucx_ep_force_close(iface, ep);
        }
        if (ep->close_done && ep->nops == 0) {
            cpn_ucx_list_del(&iface->closing_eps, ep);
            free(ep);
            n++;
        }
    }
    return n;
}

static void cpn_ucx_ep_close(cpn_tp_ep_t *tep)
{
    cpn_ucx_ep_t *ep = cpn_ucx_ep_of(tep);
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(ep);

    if (ep->closing) {
        return;
    }
    ep->closing = 1;
    cpn_ucx_rkey_drop_all(ep);
    cpn_ucx_table_del(iface, ep);
    cpn_ucx_list_del(&iface->eps, ep);
    cpn_ucx_list_add(&iface->closing_eps, ep);
    cpn_debug("ucx[%s]: closing the endpoint to %s", iface->site,
              ep->super.peer_addr);

    /* From inside a callback the ucp_ep may be in use below us: leave the
     * close to the end of progress. */
    if (iface->in_cb == 0) {
        iface->in_cb++;
        cpn_ucx_reap(iface);
        iface->in_cb--;
    }
}

/* ---- connections --------------------------------------------------------- */

static cpn_ucx_ep_t *cpn_ucx_ep_alloc(cpn_ucx_iface_t *iface,
                                      cpn_ucx_ep_state_t state)
{
    cpn_ucx_ep_t *ep = calloc(1, sizeof(*ep));

    if (ep == NULL) {
        return NULL;
    }
    ep->super.iface = &iface->super;
    ep->state = state;
    return ep;
}

static void cpn_ucx_conn_cb(ucp_conn_request_h conn_request, void *arg)
{
    cpn_ucx_iface_t *iface = arg;
    const cpn_tp_handlers_t *h = &iface->super.handlers;
    ucp_conn_request_attr_t attr = {
        .field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR,
    };
    ucp_ep_params_t params = {
        .field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST |
                      UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER,
        .conn_request = conn_request,
        .err_mode = UCP_ERR_HANDLING_MODE_PEER,
        .err_handler = {.cb = cpn_ucx_ep_err_cb},
    };
    char peer[sizeof(((cpn_tp_ep_t *)0)->peer_addr)] = "?";
    cpn_ucx_ep_t *ep;
    ucs_status_t status;

    if (ucp_conn_request_query(conn_request, &attr) == UCS_OK) {
        cpn_ucx_fmt_sockaddr(peer, sizeof(peer),
                             (struct sockaddr *)&attr.client_address);
    }
    if (iface->closing) {
        ucp_listener_reject(iface->listener, conn_request);
        return;
    }

    ep = cpn_ucx_ep_alloc(iface, CPN_UCX_EP_READY);
    if (ep == NULL) {
        cpn_error("ucx[%s]: no memory to accept %s", iface->site, peer);
        ucp_listener_reject(iface->listener, conn_request);
        return;
    }
    memcpy(ep->super.peer_addr, peer, sizeof(peer));
    params.err_handler.arg = ep;

    /* ucp_ep_create consumes the request, whether it succeeds or not. */
    status = ucp_ep_create(iface->worker, &params, &ep->ucp_ep);
    if (status != UCS_OK) {
        cpn_warn("ucx[%s]: cannot accept %s: %s", iface->site, peer,
                 ucs_status_string(status));
        free(ep);
        return;
    }
    if (cpn_ucx_table_add(iface, ep) != CPN_OK) {
        cpn_error("ucx[%s]: no memory to accept %s", iface->site, peer);
        cpn_ucx_uep_destroy(ep->ucp_ep);
        free(ep);
        return;
    }
    cpn_ucx_list_add(&iface->eps, ep);
    cpn_debug("ucx[%s]: accepted %s", iface->site, peer);
    if (h->accept != NULL) {
        h->accept(h->arg, &ep->super);
    }
}

static cpn_status_t cpn_ucx_listen(cpn_tp_iface_t *tif, const char *host,
                                   uint16_t port, uint16_t *port_p)
{
    cpn_ucx_iface_t *iface = cpn_ucx_iface_of(tif);
    ucp_listener_params_t params;
    ucp_listener_attr_t attr = {
        .field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR,
    };
    struct sockaddr_storage ss;
    socklen_t sslen;
    char addr[64];
    ucs_status_t status;
    cpn_status_t ret;
    uint16_t bound;

    cpn_ucx_fmt_hostport(addr, sizeof(addr),
                         (host != NULL && host[0] != '\0') ? host : "*", port);
    if (iface->listener != NULL) {
        cpn_error("ucx[%s]: already listening on %s, cannot also listen on %s",
                  iface->site, iface->listen_addr, addr);
        return CPN_ERR_EXISTS;
    }
    ret = cpn_ucx_resolve(iface, host, port, 1, addr, &ss, &sslen);
    if (ret != CPN_OK) {
        return ret;
    }

    memset(&params, 0, sizeof(params));
    params.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR |
                        UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
    params.sockaddr.addr = (struct sockaddr *)&ss;
    params.sockaddr.addrlen = sslen;
    params.conn_handler.cb = cpn_ucx_conn_cb;
    params.conn_handler.arg = iface;
    status = ucp_listener_create(iface->worker, &params, &iface->listener);
    if (status != UCS_OK) {
        iface->listener = NULL;
        cpn_error("ucx[%s]: cannot listen on %s: %s", iface->site, addr,
                  ucs_status_string(status));
        /* UCX's sockcm says BUSY for EADDRINUSE, and only for that here */
        return status == UCS_ERR_BUSY ? CPN_ERR_ADDR_IN_USE
                                      : cpn_ucx_status(status);
    }

    status = ucp_listener_query(iface->listener, &attr);
    if (status != UCS_OK) {
        cpn_error("ucx[%s]: cannot query the listener on %s: %s", iface->site,
                  addr, ucs_status_string(status));
        ucp_listener_destroy(iface->listener);
        iface->listener = NULL;
        return cpn_ucx_status(status);
    }
    bound = cpn_ucx_sockaddr_port((struct sockaddr *)&attr.sockaddr);
    cpn_ucx_fmt_sockaddr(iface->listen_addr, sizeof(iface->listen_addr),
                         (struct sockaddr *)&attr.sockaddr);
    cpn_info("ucx[%s]: listening on %s", iface->site, iface->listen_addr);
    if (port_p != NULL) {
        *port_p = bound;
    }
    return CPN_OK;
}

static void cpn_ucx_connect_flush_cb(void *request, ucs_status_t status,
                                     void *user_data)
{
    cpn_ucx_op_t *op = user_data;
    cpn_ucx_ep_t *ep = op->ep;
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(ep);

    ucp_request_free(request);
    op->pending--;
    if (status == UCS_OK) {
        cpn_ucx_ep_ready(iface, ep);
    } else {
        cpn_ucx_ep_failed(iface, ep, status, "connect");
    }
    cpn_ucx_op_try_put(iface, op);
}

static cpn_status_t cpn_ucx_connect(cpn_tp_iface_t *tif, const char *host,
                                    uint16_t port, cpn_tp_ep_t **ep_p)
{
    cpn_ucx_iface_t *iface = cpn_ucx_iface_of(tif);
    ucp_ep_params_t params;
    ucp_request_param_t fparam = {
        .op_attr_mask =
            UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.send = cpn_ucx_connect_flush_cb,
    };
    struct sockaddr_storage ss;
    socklen_t sslen;
    ucs_status_ptr_t r;
    ucs_status_t status;
    cpn_status_t ret;
    cpn_ucx_ep_t *ep;
    cpn_ucx_op_t *op;

    if (host == NULL || host[0] == '\0') {
        return CPN_ERR_INVALID;
    }
    ep = cpn_ucx_ep_alloc(iface, CPN_UCX_EP_CONNECTING);
    if (ep == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    cpn_ucx_fmt_hostport(ep->super.peer_addr, sizeof(ep->super.peer_addr), host,
                         port);

    ret =
        cpn_ucx_resolve(iface, host, port, 0, ep->super.peer_addr, &ss, &sslen);
    if (ret != CPN_OK) {
        goto err_free;
    }

    memset(&params, 0, sizeof(params));
    params.field_mask =
        UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
        UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
    params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    params.sockaddr.addr = (struct sockaddr *)&ss;
    params.sockaddr.addrlen = sslen;
    params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    params.err_handler.cb = cpn_ucx_ep_err_cb;
    params.err_handler.arg = ep;
    status = ucp_ep_create(iface->worker, &params, &ep->ucp_ep);
    if (status != UCS_OK) {
        cpn_warn("ucx[%s]: cannot connect to %s: %s", iface->site,
                 ep->super.peer_addr, ucs_status_string(status));
        ret = cpn_ucx_connect_status(status);
        goto err_free;
    }

    ret = cpn_ucx_table_add(iface, ep);
    if (ret != CPN_OK) {
        goto err_close;
    }
    cpn_ucx_list_add(&iface->eps, ep);

    /* The flush completes once the wireup has: that is "connected". */
    op = cpn_ucx_op_get(iface, ep, CPN_UCX_OP_CONNECT);
    if (op == NULL) {
        ret = CPN_ERR_NO_MEMORY;
        goto err_unlink;
    }
    fparam.user_data = op;
    r = ucp_ep_flush_nbx(ep->ucp_ep, &fparam);
    if (UCS_PTR_IS_PTR(r)) {
        op->pending = 1;
    } else if (r == NULL) {
        cpn_ucx_op_defer(iface, op);
    } else {
        cpn_warn("ucx[%s]: cannot connect to %s: %s", iface->site,
                 ep->super.peer_addr, ucs_status_string(UCS_PTR_STATUS(r)));
        ret = cpn_ucx_connect_status(UCS_PTR_STATUS(r));
        cpn_ucx_op_try_put(iface, op);
        goto err_unlink;
    }

    cpn_debug("ucx[%s]: connecting to %s", iface->site, ep->super.peer_addr);
    *ep_p = &ep->super;
    return CPN_OK;

err_unlink:
    cpn_ucx_list_del(&iface->eps, ep);
    cpn_ucx_table_del(iface, ep);
err_close:
    cpn_ucx_uep_destroy(ep->ucp_ep);
err_free:
    free(ep);
    return ret;
}

/* ---- memory -------------------------------------------------------------- */

/* Give @p mem a slot in the region table, so an AM put naming its id can
 * be checked against it; the generation makes a stale id miss. */
static cpn_status_t cpn_ucx_mem_slot(cpn_ucx_iface_t *iface, cpn_ucx_mem_t *mem)
{
    uint32_t slot, n;

    for (slot = 0; slot < iface->nmems && iface->mems[slot] != NULL; slot++) {
    }
    if (slot == iface->nmems) {
        cpn_ucx_mem_t **nm;

        n = iface->nmems ? iface->nmems * 2 : 16;
        if (n > 0x10000) {
            return CPN_ERR_NO_MEMORY;
        }
        nm = realloc(iface->mems, n * sizeof(*nm));
        if (nm == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        memset(nm + iface->nmems, 0, (n - iface->nmems) * sizeof(*nm));
        iface->mems = nm;
        iface->nmems = n;
    }
    if (++iface->mem_gen == 0) {
        iface->mem_gen = 1;
    }
    mem->id = slot | ((uint32_t)iface->mem_gen << 16);
    iface->mems[slot] = mem;
    return CPN_OK;
}

static cpn_ucx_mem_t *cpn_ucx_mem_find(cpn_ucx_iface_t *iface, uint32_t id)
{
    uint32_t slot = id & 0xffff;

    if (slot < iface->nmems && iface->mems[slot] != NULL &&
        iface->mems[slot]->id == id) {
        return iface->mems[slot];
    }
    return NULL;
}

/* Map memory with @p params (the caller's @p addr, or UCX's own allocation
 * with UCP_MEM_MAP_ALLOCATE), give it a slot in the region table and learn
 * where it lies. @p what says which in errors. */
static cpn_status_t cpn_ucx_mem_map(cpn_tp_iface_t *tif,
                                    const ucp_mem_map_params_t *params,
                                    const char *what, cpn_tp_mem_t **mem_p)
{
    cpn_ucx_iface_t *iface = cpn_ucx_iface_of(tif);
    ucp_mem_attr_t attr = {
        .field_mask = UCP_MEM_ATTR_FIELD_ADDRESS | UCP_MEM_ATTR_FIELD_LENGTH,
    };
    cpn_ucx_mem_t *mem;
    ucs_status_t status;

    mem = calloc(1, sizeof(*mem));
    if (mem == NULL || cpn_ucx_mem_slot(iface, mem) != CPN_OK) {
        free(mem);
        return CPN_ERR_NO_MEMORY;
    }
    status = ucp_mem_map(iface->context, params, &mem->memh);
    if (status == UCS_OK) {
        status = ucp_mem_query(mem->memh, &attr);
        if (status != UCS_OK) {
            ucp_mem_unmap(iface->context, mem->memh);
        }
    }
    if (status != UCS_OK) {
        cpn_error("ucx[%s]: cannot %s %zu bytes: %s", iface->site, what,
                  params->length, ucs_status_string(status));
        iface->mems[mem->id & 0xffff] = NULL;
        free(mem);
        return cpn_ucx_status(status);
    }
    mem->super.iface = tif;
    /* registered memory is where the caller said; allocated, where UCX put
     * it (the length is the caller's either way: UCX may round up) */
    mem->super.addr = params->address != NULL ? params->address : attr.address;
    mem->super.len = params->length;
    *mem_p = &mem->super;
    return CPN_OK;
}

static cpn_status_t cpn_ucx_mem_reg(cpn_tp_iface_t *tif, void *addr, size_t len,
                                    cpn_tp_mem_t **mem_p)
{
    ucp_mem_map_params_t params = {
        .field_mask =
            UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH,
        .address = addr,
        .length = len,
    };

    if (addr == NULL || len == 0) {
        return CPN_ERR_INVALID;
    }
    return cpn_ucx_mem_map(tif, &params, "register", mem_p);
}

/* Memory UCX allocates itself (UCP_MEM_MAP_ALLOCATE): a sysv/posix segment
 * where the host has shared memory, which the peer's shared-memory transports
 * can put into directly, as ucx_perftest's buffers are. */
static cpn_status_t cpn_ucx_mem_alloc(cpn_tp_iface_t *tif, size_t len,
                                      cpn_tp_mem_t **mem_p)
{
    ucp_mem_map_params_t params = {
        .field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
                      UCP_MEM_MAP_PARAM_FIELD_LENGTH |
                      UCP_MEM_MAP_PARAM_FIELD_FLAGS,
        .address = NULL,
        .length = len,
        .flags = UCP_MEM_MAP_ALLOCATE,
    };

    if (len == 0) {
        return CPN_ERR_INVALID;
    }
    return cpn_ucx_mem_map(tif, &params, "allocate registered", mem_p);
}

static void cpn_ucx_mem_dereg(cpn_tp_mem_t *tmem)
{
    cpn_ucx_mem_t *mem = cpn_container_of(tmem, cpn_ucx_mem_t, super);
    cpn_ucx_iface_t *iface = cpn_ucx_iface_of(tmem->iface);
    ucs_status_t status;

    iface->mems[mem->id & 0xffff] = NULL;
    status = ucp_mem_unmap(iface->context, mem->memh);
    if (status != UCS_OK) {
        cpn_warn("ucx[%s]: cannot deregister %zu bytes at %p: %s", iface->site,
                 tmem->len, tmem->addr, ucs_status_string(status));
    }
    free(mem);
}

/* The packed key: our header (region id and bounds, for AM puts and for
 * checking every put at the source), then UCX's rkey (for RMA puts). */
static cpn_status_t cpn_ucx_key_pack(cpn_tp_mem_t *tmem, void *buf,
                                     size_t *len_p)
{
    cpn_ucx_mem_t *mem = cpn_container_of(tmem, cpn_ucx_mem_t, super);
    cpn_ucx_iface_t *iface = cpn_ucx_iface_of(tmem->iface);
    cpn_ucx_key_hdr_t hdr = {
        .magic = CPN_UCX_KEY_MAGIC,
        .region = mem->id,
        .base = (uint64_t)(uintptr_t)tmem->addr,
        .len = tmem->len,
    };
    ucs_status_t status;
    void *packed;
    size_t size;

    status = ucp_rkey_pack(iface->context, mem->memh, &packed, &size);
    if (status != UCS_OK) {
        cpn_error("ucx[%s]: cannot pack the key of %zu bytes at %p: %s",
                  iface->site, tmem->len, tmem->addr,
                  ucs_status_string(status));
        return cpn_ucx_status(status);
    }
    if (sizeof(hdr) + size > *len_p) {
        cpn_error("ucx[%s]: packed key needs %zu bytes, buffer has %zu",
                  iface->site, sizeof(hdr) + size, *len_p);
        ucp_rkey_buffer_release(packed);
        return CPN_ERR_TOO_BIG;
    }
    memcpy(buf, &hdr, sizeof(hdr));
    memcpy((uint8_t *)buf + sizeof(hdr), packed, size);
    ucp_rkey_buffer_release(packed);
    *len_p = sizeof(hdr) + size;
    return CPN_OK;
}

static void cpn_ucx_rkey_free(cpn_ucx_rkey_t *rkey)
{
    ucp_rkey_destroy(rkey->rkey);
    free(rkey);
}

/* Drop released keys from @p ep's cache, oldest first, until at most @p keep
 * entries are left (keys in use stay). */
static void cpn_ucx_rkey_trim(cpn_ucx_ep_t *ep, unsigned keep)
{
    cpn_ucx_rkey_t **pp = &ep->rkeys, *r;
    unsigned pos = 0;

    while ((r = *pp) != NULL) {
        if (pos >= keep && r->refs == 0) {
            *pp = r->cnext;
            ep->nrkeys--;
            cpn_ucx_rkey_free(r);
            continue;
        }
        pos++;
        pp = &r->cnext;
    }
}

/* The ep is going away: free its released keys, orphan the rest (each is
 * freed at its last release). */
static void cpn_ucx_rkey_drop_all(cpn_ucx_ep_t *ep)
{
    cpn_ucx_rkey_t *r, *next;

    for (r = ep->rkeys; r != NULL; r = next) {
        next = r->cnext;
        r->cnext = NULL;
        r->owner = NULL;
        if (r->refs == 0) {
            cpn_ucx_rkey_free(r);
        }
    }
    ep->rkeys = NULL;
    ep->nrkeys = 0;
}

static cpn_status_t cpn_ucx_key_unpack(cpn_tp_ep_t *tep, const void *buf,
                                       size_t len, cpn_tp_rkey_t **rkey_p)
{
    cpn_ucx_ep_t *ep = cpn_ucx_ep_of(tep);
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(ep);
    cpn_ucx_rkey_t *rkey, **pp;
    cpn_ucx_key_hdr_t hdr;
    ucs_status_t status;

    if (buf == NULL || len <= sizeof(hdr) || len > CPN_TP_RKEY_MAX) {
        return CPN_ERR_INVALID;
    }
    for (pp = &ep->rkeys; (rkey = *pp) != NULL; pp = &rkey->cnext) {
        if (rkey->packed_len == len && memcmp(rkey->packed, buf, len) == 0) {
            *pp = rkey->cnext; /* to the front */
            rkey->cnext = ep->rkeys;
            ep->rkeys = rkey;
            rkey->refs++;
            *rkey_p = &rkey->super;
            return CPN_OK;
        }
    }
    memcpy(&hdr, buf, sizeof(hdr));
    if (hdr.magic != CPN_UCX_KEY_MAGIC || hdr.base + hdr.len < hdr.base) {
        cpn_error("ucx[%s]: a key from %s is not a cpn ucx key", iface->site,
                  ep->super.peer_addr);
        return CPN_ERR_INVALID;
    }
    rkey = calloc(1, sizeof(*rkey) + len);
    if (rkey == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    status = ucp_ep_rkey_unpack(ep->ucp_ep, (const uint8_t *)buf + sizeof(hdr),
                                &rkey->rkey);
    if (status != UCS_OK) {
        cpn_error("ucx[%s]: cannot unpack a key from %s: %s", iface->site,
                  ep->super.peer_addr, ucs_status_string(status));
        free(rkey);
        return cpn_ucx_status(status);
    }
    rkey->region = hdr.region;
    rkey->base = hdr.base;
    rkey->len = hdr.len;
    rkey->super.ep = tep;
    rkey->refs = 1;
    {
        void *ptr;

        /* Once per key, not per chunk: is the region mapped here? */
        if (hdr.len > 0 &&
            ucp_rkey_ptr(rkey->rkey, hdr.base, &ptr) == UCS_OK) {
            rkey->mapped = ptr;
        }
    }
    rkey->packed_len = (uint16_t)len;
    memcpy(rkey->packed, buf, len);
    if (ep->closing) {
        rkey->owner = NULL; /* not cached: freed at release */
    } else {
        rkey->owner = ep;
        rkey->cnext = ep->rkeys;
        ep->rkeys = rkey;
        ep->nrkeys++;
        cpn_ucx_rkey_trim(ep, iface->rkey_cache);
    }
    *rkey_p = &rkey->super;
    return CPN_OK;
}

static void cpn_ucx_key_release(cpn_tp_rkey_t *trkey)
{
    cpn_ucx_rkey_t *rkey = cpn_container_of(trkey, cpn_ucx_rkey_t, super);
    cpn_ucx_ep_t *ep = rkey->owner;

    if (--rkey->refs > 0) {
        return;
    }
    if (ep == NULL) {
        cpn_ucx_rkey_free(rkey);
    } else {
        cpn_ucx_rkey_trim(ep, cpn_ucx_ep_iface(ep)->rkey_cache);
    }
}

/* ---- receiving ----------------------------------------------------------- */

static void cpn_ucx_deliver(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep,
                            unsigned am_id, const void *data, size_t len)
{
    const cpn_tp_handlers_t *h = &iface->super.handlers;

    if (am_id == CPN_UCX_AM_MSG) {
        if (h->recv != NULL) {
            h->recv(h->arg, &ep->super, data, len);
        }
    } else if (h->put_notify != NULL) {
        h->put_notify(h->arg, &ep->super, data, len, NULL);
    }
}

/* Hand every op at the head of @p ep's receive queue whose bytes are in to
 * its handler, in order; stop at the first still on its way. */
static void cpn_ucx_rq_drain(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep)
{
    cpn_ucx_op_t *op;

    while ((op = ep->rq_head) != NULL && op->rq_ready) {
        ep->rq_head = op->rq_next;
        if (ep->rq_head == NULL) {
            ep->rq_tail = NULL;
        }
        op->rq = 0;
        op->rq_next = NULL;
        if (op->rq_failed || ep->closing || iface->closing) {
            /* nothing to deliver, or no handler for a closed ep */
        } else if (op->am_id == CPN_UCX_AM_PUT) {
            /* the bytes are in the region: now the notify */
            cpn_ucx_deliver(iface, ep, CPN_UCX_AM_NOTIFY, cpn_ucx_op_notify(op),
                            op->notify_len);
        } else {
            cpn_ucx_deliver(iface, ep, op->am_id, op->rbuf, op->rlen);
        }
        cpn_ucx_op_try_put(iface, op);
    }
}

/* Queue @p op behind what @p ep already has on its way. */
static void cpn_ucx_rq_append(cpn_ucx_ep_t *ep, cpn_ucx_op_t *op)
{
    op->rq = 1;
    op->rq_ready = 0;
    op->rq_failed = 0;
    op->rq_next = NULL;
    if (ep->rq_tail != NULL) {
        ep->rq_tail->rq_next = op;
    } else {
        ep->rq_head = op;
    }
    ep->rq_tail = op;
}

/* @p op's bytes are in (or, @p failed, will never come): deliver what the
 * queue now allows. */
static void cpn_ucx_rq_ready(cpn_ucx_iface_t *iface, cpn_ucx_op_t *op,
                             int failed)
{
    op->rq_ready = 1;
    op->rq_failed = (uint8_t)(failed != 0);
    cpn_ucx_rq_drain(iface, op->ep);
}

static void cpn_ucx_rndv_recv_cb(void *request, ucs_status_t status,
                                 size_t length, void *user_data)
{
    cpn_ucx_op_t *op = user_data;
    cpn_ucx_ep_t *ep = op->ep;
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(ep);

    (void)length;
    ucp_request_free(request);
    op->pending--;
    if (status != UCS_OK) {
        cpn_debug("ucx[%s]: receiving %zu bytes from %s: %s", iface->site,
                  op->rlen, ep->super.peer_addr, ucs_status_string(status));
    }
    cpn_ucx_rq_ready(iface, op, status != UCS_OK);
}

/* Start receiving a rendezvous message into @p buf for @p op, queued in
 * order on its ep. */
static void cpn_ucx_rndv_start(cpn_ucx_iface_t *iface, cpn_ucx_op_t *op,
                               void *desc, void *buf, size_t length,
                               ucp_request_param_t *rparam)
{
    ucs_status_ptr_t r;

    cpn_ucx_rq_append(op->ep, op);
    rparam->user_data = op;
    r = ucp_am_recv_data_nbx(iface->worker, desc, buf, length, rparam);
    if (UCS_PTR_IS_PTR(r)) {
        op->pending = 1;
    } else if (r == NULL) {
        cpn_ucx_rq_ready(iface, op, 0);
    } else {
        cpn_warn("ucx[%s]: cannot receive %zu bytes from %s: %s", iface->site,
                 length, op->ep->super.peer_addr,
                 ucs_status_string(UCS_PTR_STATUS(r)));
        cpn_ucx_rq_ready(iface, op, 1);
    }
}

/* Our ep for an arriving AM (every cpn AM carries the reply flag); NULL if
 * it is unknown or closed, and then the message is dropped. */
static cpn_ucx_ep_t *cpn_ucx_am_ep(cpn_ucx_iface_t *iface,
                                   const ucp_am_recv_param_t *param,
                                   size_t length)
{
    cpn_ucx_ep_t *ep = NULL;

    if (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) {
        ep = cpn_ucx_table_find(iface, param->reply_ep);
    }
    if (ep == NULL || iface->closing) {
        cpn_debug("ucx[%s]: dropped a %zu-byte message from an endpoint "
                  "that is closed or unknown",
                  iface->site, length);
        return NULL;
    }
    /* A message proves the wireup: say "connected" before delivering it. */
    cpn_ucx_ep_ready(iface, ep);
    return ep;
}

static ucs_status_t cpn_ucx_am_recv(cpn_ucx_iface_t *iface, unsigned am_id,
                                    void *data, size_t length,
                                    const ucp_am_recv_param_t *param)
{
    ucp_request_param_t rparam = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                        UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_MEMORY_TYPE,
        .cb.recv_am = cpn_ucx_rndv_recv_cb,
        .memory_type = UCS_MEMORY_TYPE_HOST,
    };
    int rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
    cpn_ucx_ep_t *ep;
    cpn_ucx_op_t *op;

    ep = cpn_ucx_am_ep(iface, param, length);
    if (ep == NULL) {
        return rndv ? UCS_ERR_CANCELED : UCS_OK;
    }
    if (!rndv && ep->rq_head == NULL) {
        cpn_ucx_deliver(iface, ep, am_id, data, length);
        return UCS_OK;
    }

    /* a rendezvous message, or one behind it: copied, queued in order */
    op = cpn_ucx_op_get(iface, ep, CPN_UCX_OP_RNDV_RECV);
    if (op == NULL || (op->rbuf = malloc(length ? length : 1)) == NULL) {
        cpn_error("ucx[%s]: no memory for a %zu-byte message from %s",
                  iface->site, length, ep->super.peer_addr);
        if (op != NULL) {
            cpn_ucx_op_try_put(iface, op);
        }
        return UCS_ERR_NO_MEMORY;
    }
    op->rlen = length;
    op->am_id = (uint8_t)am_id;
    if (!rndv) {
        memcpy(op->rbuf, data, length);
        cpn_ucx_rq_append(ep, op);
        cpn_ucx_rq_ready(iface, op, 0);
        return UCS_OK;
    }
    cpn_ucx_rndv_start(iface, op, data, op->rbuf, length, &rparam);
    return UCS_OK;
}

static ucs_status_t cpn_ucx_am_msg_cb(void *arg, const void *header,
                                      size_t header_length, void *data,
                                      size_t length,
                                      const ucp_am_recv_param_t *param)
{
    (void)header, (void)header_length;
    return cpn_ucx_am_recv(arg, CPN_UCX_AM_MSG, data, length, param);
}

static ucs_status_t cpn_ucx_am_notify_cb(void *arg, const void *header,
                                         size_t header_length, void *data,
                                         size_t length,
                                         const ucp_am_recv_param_t *param)
{
    (void)header, (void)header_length;
    return cpn_ucx_am_recv(arg, CPN_UCX_AM_NOTIFY, data, length, param);
}

/* An AM put: check that [raddr, raddr + length) lies in a region registered
 * here (a peer writes nowhere else), place the bytes, then the notify. */
static ucs_status_t cpn_ucx_am_put_cb(void *arg, const void *header,
                                      size_t header_length, void *data,
                                      size_t length,
                                      const ucp_am_recv_param_t *param)
{
    cpn_ucx_iface_t *iface = arg;
    ucp_request_param_t rparam = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                        UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_MEMORY_TYPE | UCP_OP_ATTR_FIELD_MEMH,
        .cb.recv_am = cpn_ucx_rndv_recv_cb,
        .memory_type = UCS_MEMORY_TYPE_HOST,
    };
    int rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
    const uint8_t *notify;
    cpn_ucx_put_hdr_t hdr;
    cpn_ucx_mem_t *mem;
    cpn_ucx_ep_t *ep;
    cpn_ucx_op_t *op;
    uint64_t base;

    ep = cpn_ucx_am_ep(iface, param, length);
    if (ep == NULL) {
        return rndv ? UCS_ERR_CANCELED : UCS_OK;
    }
    if (header_length < sizeof(hdr)) {
        goto err_bad;
    }
    memcpy(&hdr, header, sizeof(hdr));
    notify = (const uint8_t *)header + sizeof(hdr);
    mem = cpn_ucx_mem_find(iface, hdr.region);
    if (hdr.notify_len > CPN_TP_NOTIFY_MAX ||
        header_length != sizeof(hdr) + hdr.notify_len || mem == NULL) {
        goto err_bad;
    }
    base = (uint64_t)(uintptr_t)mem->super.addr;
    if (hdr.raddr < base || length > mem->super.len ||
        hdr.raddr - base > mem->super.len - length) {
        goto err_bad;
    }

    if (!rndv) {
        memcpy((void *)(uintptr_t)hdr.raddr, data, length);
        if (ep->rq_head == NULL) {
            cpn_ucx_deliver(iface, ep, CPN_UCX_AM_NOTIFY, notify,
                            hdr.notify_len);
            return UCS_OK;
        }
    }

    /* Rendezvous: the bytes land in the region itself, no copy; the notify
     * waits its turn (as does an eager put's behind a rendezvous). */
    op = cpn_ucx_op_get(iface, ep, CPN_UCX_OP_RNDV_RECV);
    if (op == NULL) {
        cpn_error("ucx[%s]: no memory to receive a put from %s", iface->site,
                  ep->super.peer_addr);
        return UCS_ERR_NO_MEMORY;
    }
    op->am_id = CPN_UCX_AM_PUT;
    op->rlen = length;
    op->notify_len = (uint8_t)hdr.notify_len;
    memcpy(cpn_ucx_op_notify(op), notify, hdr.notify_len);
    if (!rndv) {
        cpn_ucx_rq_append(ep, op);
        cpn_ucx_rq_ready(iface, op, 0);
        return UCS_OK;
    }
    rparam.memh = mem->memh;
    cpn_ucx_rndv_start(iface, op, data, (void *)(uintptr_t)hdr.raddr, length,
                       &rparam);
    return UCS_OK;

err_bad:
    cpn_error("ucx[%s]: dropped a put of %zu bytes from %s: no region "
              "registered here holds it (region 0x%x)",
              iface->site, length, ep->super.peer_addr,
              header_length >= sizeof(hdr) ? hdr.region : 0);
    return rndv ? UCS_ERR_INVALID_PARAM : UCS_OK;
}

/* ---- send ---------------------------------------------------------------- */

static void cpn_ucx_send_cb(void *request, ucs_status_t status, void *user_data)
{
    cpn_ucx_op_t *op = user_data;
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(op->ep);

    ucp_request_free(request);
    op->pending--;
    if (status != UCS_OK) {
        cpn_debug("ucx[%s]: send to %s: %s", iface->site,
                  op->ep->super.peer_addr, ucs_status_string(status));
    }
    cpn_ucx_op_complete(iface, op, cpn_ucx_status(status));
    cpn_ucx_op_try_put(iface, op);
}

/* One active message: a runtime message (CPN_UCX_AM_MSG) from the caller's
 * @p buf, or a notify (CPN_UCX_AM_NOTIFY) copied into the op first. */
static cpn_status_t cpn_ucx_am_send(cpn_ucx_ep_t *ep, unsigned am_id,
                                    const void *buf, size_t len,
                                    cpn_tp_comp_cb_t cb, void *arg)
{
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(ep);
    ucp_request_param_t param = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                        UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS |
                        UCP_OP_ATTR_FIELD_MEMORY_TYPE,
        .flags = UCP_AM_SEND_FLAG_REPLY,
        .cb.send = cpn_ucx_send_cb,
        .memory_type = UCS_MEMORY_TYPE_HOST,
    };
    ucs_status_ptr_t r;
    cpn_ucx_op_t *op;

    if (cpn_unlikely(ep->closing)) {
        return CPN_ERR_CANCELED;
    }
    op = cpn_ucx_op_get(iface, ep, CPN_UCX_OP_SEND);
    if (cpn_unlikely(op == NULL)) {
        return CPN_ERR_NO_MEMORY;
    }
    if (am_id == CPN_UCX_AM_NOTIFY) {
        memcpy(op->hdr.bytes, buf, len);
        buf = op->hdr.bytes;
    }
    op->cb = cb;
    op->arg = arg;
    param.user_data = op;

    r = ucp_am_send_nbx(ep->ucp_ep, am_id, NULL, 0, buf, len, &param);
    if (cpn_likely(UCS_PTR_IS_PTR(r))) {
        op->pending = 1;
        return CPN_INPROGRESS;
    }
    op->cb = NULL;
    cpn_ucx_op_try_put(iface, op);
    if (r == NULL) {
        return CPN_OK;
    }
    cpn_debug("ucx[%s]: cannot send %zu bytes to %s: %s", iface->site, len,
              ep->super.peer_addr, ucs_status_string(UCS_PTR_STATUS(r)));
    return cpn_ucx_status(UCS_PTR_STATUS(r));
}

static cpn_status_t cpn_ucx_send(cpn_tp_ep_t *tep, const void *buf, size_t len,
                                 cpn_tp_comp_cb_t cb, void *arg)
{
    return cpn_ucx_am_send(cpn_ucx_ep_of(tep), CPN_UCX_AM_MSG, buf, len, cb,
                           arg);
}

/* The completion of a put the CPU did through key_ptr: every store before
 * it (non-temporal ones too) is made globally visible first, then the
 * notify goes as the same AM a put's notify uses. */
static cpn_status_t cpn_ucx_notify(cpn_tp_ep_t *tep, const void *notify,
                                   size_t notify_len, cpn_tp_comp_cb_t cb,
                                   void *arg)
{
    if (cpn_unlikely(notify_len > CPN_TP_NOTIFY_MAX)) {
        return CPN_ERR_TOO_BIG;
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return cpn_ucx_am_send(cpn_ucx_ep_of(tep), CPN_UCX_AM_NOTIFY, notify,
                           notify_len, cb, arg);
}

/* Where UCX maps the peer's memory here (its shared-memory transports: the
 * segment was attached when the key was unpacked), the CPU writes it
 * directly, and can hash what it copies in the same pass. CPN_UCX_PUT=rma
 * or am turn this off, to exercise those paths. */
static cpn_status_t cpn_ucx_key_ptr(cpn_tp_rkey_t *trkey, uint64_t raddr,
                                    size_t len, void **ptr_p)
{
    cpn_ucx_rkey_t *rkey = cpn_container_of(trkey, cpn_ucx_rkey_t, super);
    cpn_ucx_iface_t *iface = cpn_ucx_iface_of(trkey->ep->iface);

    if (rkey->mapped == NULL || iface->put_mode != CPN_UCX_PUT_AUTO) {
        return CPN_ERR_UNSUPPORTED;
    }
    if (cpn_unlikely(raddr < rkey->base || len > rkey->len ||
                     raddr - rkey->base > rkey->len - len)) {
        return CPN_ERR_INVALID;
    }
    *ptr_p = rkey->mapped + (raddr - rkey->base);
    return CPN_OK;
}

/* What UCX says about the ep (ucp_ep_print_info), as a string to free;
 * NULL if out of memory. UCX 1.13 has no ucp_ep_query for its lanes. */
static char *cpn_ucx_ep_info(cpn_ucx_ep_t *ep)
{
    char *text = NULL;
    size_t tlen = 0;
    FILE *f;

    f = open_memstream(&text, &tlen);
    if (f == NULL) {
        return NULL;
    }
    ucp_ep_print_info(ep->ucp_ep, f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* ---- put ----------------------------------------------------------------- */

static void cpn_ucx_notify_cb(void *request, ucs_status_t status,
                              void *user_data)
{
    cpn_ucx_op_t *op = user_data;
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(op->ep);

    ucp_request_free(request);
    op->pending--;
    if (status != UCS_OK) {
        cpn_debug("ucx[%s]: put notify to %s: %s", iface->site,
                  op->ep->super.peer_addr, ucs_status_string(status));
    }
    cpn_ucx_op_try_put(iface, op);
}

/* The put and its flush are both done: if they succeeded, the bytes are
 * visible at the target, so the notify may go. Then the user's callback,
 * now or (when called from put() itself) from the next progress. */
static void cpn_ucx_put_flushed(cpn_ucx_iface_t *iface, cpn_ucx_op_t *op,
                                int from_put)
{
    ucp_request_param_t param = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                        UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS |
                        UCP_OP_ATTR_FIELD_MEMORY_TYPE,
        .flags = UCP_AM_SEND_FLAG_REPLY,
        .cb.send = cpn_ucx_notify_cb,
        .user_data = op,
        .memory_type = UCS_MEMORY_TYPE_HOST,
    };
    cpn_ucx_ep_t *ep = op->ep;
    ucs_status_ptr_t r;

    if (op->status == CPN_OK && !ep->closing && !iface->closing) {
        r = ucp_am_send_nbx(ep->ucp_ep, CPN_UCX_AM_NOTIFY, NULL, 0,
                            cpn_ucx_op_notify(op), op->notify_len, &param);
        if (UCS_PTR_IS_PTR(r)) {
            op->pending++;
        } else if (r != NULL) {
            cpn_debug("ucx[%s]: cannot send a put notify to %s: %s",
                      iface->site, ep->super.peer_addr,
                      ucs_status_string(UCS_PTR_STATUS(r)));
            op->status = cpn_ucx_status(UCS_PTR_STATUS(r));
        }
    }
    if (from_put) {
        cpn_ucx_op_defer(iface, op);
        return;
    }
    cpn_ucx_op_complete(iface, op, op->status);
    cpn_ucx_op_try_put(iface, op);
}

static void cpn_ucx_put_req_cb(void *request, ucs_status_t status,
                               void *user_data)
{
    cpn_ucx_op_t *op = user_data;
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(op->ep);

    ucp_request_free(request);
    op->pending--;
    if (status != UCS_OK) {
        cpn_debug("ucx[%s]: put to %s: %s", iface->site,
                  op->ep->super.peer_addr, ucs_status_string(status));
        if (op->status == CPN_OK) {
            op->status = cpn_ucx_status(status);
        }
    }
    if (op->pending == 0 && op->flushed) {
        cpn_ucx_put_flushed(iface, op, 0);
    }
}

static void cpn_ucx_put_flush_cb(void *request, ucs_status_t status,
                                 void *user_data)
{
    cpn_ucx_op_t *op = user_data;

    op->flushed = 1;
    cpn_ucx_put_req_cb(request, status, user_data);
}

/* RMA put: ucp_put_nbx, then a flush of the ep, whose completion means the
 * bytes are visible at the target; only then the notify goes. */
static cpn_status_t cpn_ucx_put_rma(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep,
                                    cpn_ucx_op_t *op, const void *buf,
                                    size_t len, cpn_tp_mem_t *tmem,
                                    uint64_t raddr, cpn_ucx_rkey_t *rkey)
{
    ucp_request_param_t param = {
        .op_attr_mask =
            UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.send = cpn_ucx_put_req_cb,
        .user_data = op,
    };
    ucs_status_ptr_t r;

    if (tmem != NULL) {
        param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
        param.memh = cpn_container_of(tmem, cpn_ucx_mem_t, super)->memh;
    }
    r = ucp_put_nbx(ep->ucp_ep, buf, len, raddr, rkey->rkey, &param);
    if (UCS_PTR_IS_PTR(r)) {
        op->pending = 1;
    } else if (r != NULL) {
        cpn_debug("ucx[%s]: cannot put %zu bytes to %s: %s", iface->site, len,
                  ep->super.peer_addr, ucs_status_string(UCS_PTR_STATUS(r)));
        return cpn_ucx_status(UCS_PTR_STATUS(r));
    }

    param.cb.send = cpn_ucx_put_flush_cb;
    param.op_attr_mask &= ~(uint32_t)UCP_OP_ATTR_FIELD_MEMH;
    r = ucp_ep_flush_nbx(ep->ucp_ep, &param);
    if (UCS_PTR_IS_PTR(r)) {
        op->pending++;
    } else {
        op->flushed = 1;
        if (r != NULL) {
            cpn_debug("ucx[%s]: cannot flush a put to %s: %s", iface->site,
                      ep->super.peer_addr,
                      ucs_status_string(UCS_PTR_STATUS(r)));
            op->status = cpn_ucx_status(UCS_PTR_STATUS(r));
            if (op->pending == 0) {
                return op->status;
            }
        }
    }
    if (op->pending == 0) {
        cpn_ucx_put_flushed(iface, op, 1);
    }
    return CPN_INPROGRESS;
}

static void cpn_ucx_put_am_cb(void *request, ucs_status_t status,
                              void *user_data)
{
    cpn_ucx_op_t *op = user_data;
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(op->ep);

    ucp_request_free(request);
    op->pending--;
    if (status != UCS_OK) {
        cpn_debug("ucx[%s]: put to %s: %s", iface->site,
                  op->ep->super.peer_addr, ucs_status_string(status));
    }
    cpn_ucx_op_complete(iface, op, cpn_ucx_status(status));
    cpn_ucx_op_try_put(iface, op);
}

/* AM put: one active message carries the header (region, address, notify)
 * and the bytes; the target checks the range against its registered regions,
 * places the bytes (rendezvous ones straight into the region), then calls
 * put_notify. Used where UCX has no RMA lane: UCX 1.13 would emulate the
 * put itself, and its emulation aborts the target process when the source
 * dies mid-put (ucs_fatal in ucp_put_handler's completion). */
static cpn_status_t cpn_ucx_put_am(cpn_ucx_iface_t *iface, cpn_ucx_ep_t *ep,
                                   cpn_ucx_op_t *op, const void *buf,
                                   size_t len, cpn_tp_mem_t *tmem,
                                   uint64_t raddr, cpn_ucx_rkey_t *rkey)
{
    ucp_request_param_t param = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                        UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS |
                        UCP_OP_ATTR_FIELD_MEMORY_TYPE,
        .flags = UCP_AM_SEND_FLAG_REPLY,
        .cb.send = cpn_ucx_put_am_cb,
        .user_data = op,
        .memory_type = UCS_MEMORY_TYPE_HOST,
    };
    ucs_status_ptr_t r;

    if (tmem != NULL) {
        param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
        param.memh = cpn_container_of(tmem, cpn_ucx_mem_t, super)->memh;
    }
    op->hdr.put.raddr = raddr;
    op->hdr.put.region = rkey->region;
    op->hdr.put.notify_len = op->notify_len;
    r = ucp_am_send_nbx(ep->ucp_ep, CPN_UCX_AM_PUT, op->hdr.bytes,
                        sizeof(op->hdr.put) + op->notify_len, buf, len, &param);
    if (UCS_PTR_IS_PTR(r)) {
        op->pending = 1;
    } else if (r == NULL) {
        cpn_ucx_op_defer(iface, op);
    } else {
        cpn_debug("ucx[%s]: cannot put %zu bytes to %s: %s", iface->site, len,
                  ep->super.peer_addr, ucs_status_string(UCS_PTR_STATUS(r)));
        return cpn_ucx_status(UCS_PTR_STATUS(r));
    }
    return CPN_INPROGRESS;
}

/* The ep's put mode, once it is connected: RMA if UCX put an RMA lane in
 * its configuration ("put[N]:" lines of ucp_ep_print_info), else AM. */
static cpn_ucx_put_mode_t cpn_ucx_ep_put_mode(cpn_ucx_iface_t *iface,
                                              cpn_ucx_ep_t *ep)
{
    char *text;

    if (ep->put_mode != CPN_UCX_PUT_AUTO) {
        return (cpn_ucx_put_mode_t)ep->put_mode;
    }
    if (iface->put_mode != CPN_UCX_PUT_AUTO) {
        ep->put_mode = iface->put_mode;
    } else if (ep->state != CPN_UCX_EP_READY) {
        return CPN_UCX_PUT_AM; /* not wired up yet: decide later */
    } else if ((text = cpn_ucx_ep_info(ep)) == NULL) {
        return CPN_UCX_PUT_AM;
    } else {
        ep->put_mode =
            strstr(text, " put[") != NULL ? CPN_UCX_PUT_RMA : CPN_UCX_PUT_AM;
        free(text);
    }
    cpn_debug("ucx[%s]: puts to %s go as %s", iface->site, ep->super.peer_addr,
              ep->put_mode == CPN_UCX_PUT_RMA ? "RMA" : "active messages");
    return (cpn_ucx_put_mode_t)ep->put_mode;
}

static cpn_status_t cpn_ucx_put(cpn_tp_ep_t *tep, const void *buf, size_t len,
                                cpn_tp_mem_t *tmem, uint64_t raddr,
                                cpn_tp_rkey_t *trkey, const void *notify,
                                size_t notify_len, cpn_tp_comp_cb_t cb,
                                void *arg)
{
    cpn_ucx_ep_t *ep = cpn_ucx_ep_of(tep);
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(ep);
    cpn_ucx_rkey_t *rkey = cpn_container_of(trkey, cpn_ucx_rkey_t, super);
    cpn_status_t st;
    cpn_ucx_op_t *op;

    if (cpn_unlikely(notify_len > CPN_TP_NOTIFY_MAX)) {
        return CPN_ERR_TOO_BIG;
    }
    if (cpn_unlikely(raddr < rkey->base || len > rkey->len ||
                     raddr - rkey->base > rkey->len - len)) {
        cpn_error("ucx[%s]: put of %zu bytes at 0x%llx to %s is outside the "
                  "region of its key",
                  iface->site, len, (unsigned long long)raddr,
                  ep->super.peer_addr);
        return CPN_ERR_INVALID;
    }
    if (cpn_unlikely(ep->closing)) {
        return CPN_ERR_CANCELED;
    }
    op = cpn_ucx_op_get(iface, ep, CPN_UCX_OP_PUT);
    if (cpn_unlikely(op == NULL)) {
        return CPN_ERR_NO_MEMORY;
    }
    op->notify_len = (uint8_t)notify_len;
    if (notify_len > 0) {
        memcpy(cpn_ucx_op_notify(op), notify, notify_len);
    }
    /* Set before posting: a callback never runs inside the post itself, and
     * an immediate completion is deferred to progress. */
    op->cb = cb;
    op->arg = arg;

    if (cpn_ucx_ep_put_mode(iface, ep) == CPN_UCX_PUT_RMA) {
        st = cpn_ucx_put_rma(iface, ep, op, buf, len, tmem, raddr, rkey);
    } else {
        st = cpn_ucx_put_am(iface, ep, op, buf, len, tmem, raddr, rkey);
    }
    if (st != CPN_INPROGRESS) {
        op->cb = NULL; /* an error: @p cb is not called */
        cpn_ucx_op_try_put(iface, op);
    }
    return st;
}

/* ---- lanes --------------------------------------------------------------- */

/* Append "tl/dev" to @p out unless it is there already. */
static int cpn_ucx_lanes_add(char *out, size_t cap, const char *name,
                             size_t nlen)
{
    size_t used = strlen(out);
    const char *p;

    for (p = out; (p = strstr(p, name)) != NULL; p++) {
        if ((p == out || p[-1] == ' ') && strncmp(p, name, nlen) == 0 &&
            (p[nlen] == ' ' || p[nlen] == '\0')) {
            return 0;
        }
    }
    if (used + (used > 0) + nlen + 1 > cap) {
        return -1;
    }
    if (used > 0) {
        out[used++] = ' ';
    }
    memcpy(out + used, name, nlen);
    out[used + nlen] = '\0';
    return 0;
}

/* The lane lines of ucp_ep_print_info read "lane[0]:  3:tcp/lo.0 md[1] ->
 * ...": keep the distinct "tl/dev" names. */
static cpn_status_t cpn_ucx_ep_lanes(cpn_tp_ep_t *tep, char *buf, size_t len)
{
    cpn_ucx_ep_t *ep = cpn_ucx_ep_of(tep);
    cpn_ucx_iface_t *iface = cpn_ucx_ep_iface(ep);
    char out[256] = "";
    char *line, *save = NULL;
    char *text;

    if (ep->closing || ep->state == CPN_UCX_EP_FAILED) {
        return CPN_ERR_INVALID;
    }
    text = cpn_ucx_ep_info(ep);
    if (text == NULL) {
        return CPN_ERR_NO_MEMORY;
    }

    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *p = strstr(line, "lane[");
        size_t n;

        if (p == NULL || (p = strchr(p, ':')) == NULL) {
            continue;
        }
        p += strspn(p + 1, " ") + 1;
        if (strncmp(p, "cm ", 3) == 0) {
            continue; /* the connection manager lane carries no data */
        }
        p += strspn(p, "0123456789");
        if (*p != ':') {
            continue;
        }
        p++;
        n = strcspn(p, " ");
        /* drop the ".<path index>" that follows the device name */
        if (n > 2 && memchr(p, '.', n) != NULL) {
            size_t dot = n;

            while (dot > 0 && p[dot - 1] != '.') {
                dot--;
            }
            if (dot > 0 && strspn(p + dot, "0123456789") == n - dot) {
                n = dot - 1;
            }
        }
        if (n > 0 && cpn_ucx_lanes_add(out, sizeof(out), p, n) != 0) {
            break;
        }
    }
    free(text);

    if (out[0] == '\0') {
        cpn_debug("ucx[%s]: no lanes to %s yet", iface->site,
                  ep->super.peer_addr);
        return CPN_ERR_NOT_FOUND;
    }
    if (strlen(out) + 1 > len) {
        return CPN_ERR_TOO_BIG;
    }
    memcpy(buf, out, strlen(out) + 1);
    return CPN_OK;
}

/* ---- progress and wait --------------------------------------------------- */

static unsigned cpn_ucx_drain_deferred(cpn_ucx_iface_t *iface)
{
    unsigned n = 0;

    while (iface->defer_head != NULL) {
        cpn_ucx_op_t *op = iface->defer_head;

        iface->defer_head = op->next;
        if (iface->defer_head == NULL) {
            iface->defer_tail = NULL;
        }
        op->next = NULL;
        op->queued = 0;
        if (op->kind == CPN_UCX_OP_CONNECT) {
            cpn_ucx_ep_ready(iface, op->ep);
        } else {
            cpn_ucx_op_complete(iface, op, op->status);
        }
        cpn_ucx_op_try_put(iface, op);
        n++;
    }
    return n;
}

static unsigned cpn_ucx_progress(cpn_tp_iface_t *tif)
{
    cpn_ucx_iface_t *iface = cpn_ucx_iface_of(tif);
    unsigned n = 0, k, i;

    iface->in_cb++;
    if (iface->defer_head != NULL) {
        n += cpn_ucx_drain_deferred(iface);
    }
    for (i = 0; i < CPN_UCX_PROGRESS_BURST; i++) {
        k = ucp_worker_progress(iface->worker);
        if (k == 0) {
            break;
        }
        n += k;
    }
    if (iface->closing_eps != NULL) {
        n += cpn_ucx_reap(iface);
    }
    iface->in_cb--;
    return n;
}

static cpn_status_t cpn_ucx_wait(cpn_tp_iface_t *tif, int timeout_ms)
{
    cpn_ucx_iface_t *iface = cpn_ucx_iface_of(tif);
    struct pollfd pfd = {.fd = iface->efd, .events = POLLIN};
    ucs_status_t status;
    int rc;

    if (iface->defer_head != NULL) {
        return CPN_OK;
    }
    /* A closing ep may be waiting for its flush deadline: look again soon. */
    if (iface->closing_eps != NULL && (timeout_ms < 0 || timeout_ms > 50)) {
        timeout_ms = 50;
    }
    status = ucp_worker_arm(iface->worker);
    if (status == UCS_ERR_BUSY) {
        return CPN_OK;
    } else if (status != UCS_OK) {
        cpn_error("ucx[%s]: cannot arm the worker: %s", iface->site,
                  ucs_status_string(status));
        return cpn_ucx_status(status);
    }
    rc = poll(&pfd, 1, timeout_ms);
    if (rc > 0 || (rc < 0 && errno == EINTR)) {
        return CPN_OK;
    } else if (rc == 0) {
        return CPN_ERR_TIMEOUT;
    }
    cpn_error("ucx[%s]: poll on the worker fd: %s", iface->site,
              strerror(errno));
    return CPN_ERR_TRANSPORT;
}

/* ---- open and close ------------------------------------------------------ */

static cpn_status_t cpn_ucx_set_am(cpn_ucx_iface_t *iface, unsigned id,
                                   ucp_am_recv_callback_t cb)
{
    ucp_am_handler_param_t param = {
        .field_mask =
            UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
            UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .id = id,
        .flags = UCP_AM_FLAG_WHOLE_MSG,
        .cb = cb,
        .arg = iface,
    };
    ucs_status_t status;

    status = ucp_worker_set_am_recv_handler(iface->worker, &param);
    if (status != UCS_OK) {
        cpn_error("ucx[%s]: cannot set the AM handler %u: %s", iface->site, id,
                  ucs_status_string(status));
    }
    return cpn_ucx_status(status);
}

/* Our endpoints need UCP_ERR_HANDLING_MODE_PEER (ep_error is part of the
 * contract), and UCX 1.13 gives that mode only to transports that declare
 * error handling; its shared-memory transports do so only when asked, and
 * with reason: a sender that dies half-way through writing into a receiver's
 * FIFO leaves it stuck, and every later shared-memory message to that
 * receiver waits behind it (seen in tests/transport/test_ucx.c). So ask only
 * with CPN_UCX_SHM=y, and never over the user's own UCX variables; without
 * it two sites on one host talk over tcp. */
/* Set @p key to @p value in @p config unless the user's environment sets
 * @p env. A transport's own variable goes by its key inside the
 * transport's table: UCX_TCP_PUT_ENABLE is "PUT_ENABLE". */
static void cpn_ucx_config_set(cpn_ucx_iface_t *iface, ucp_config_t *config,
                               const char *env, const char *key,
                               const char *value)
{
    ucs_status_t status;

    if (getenv(env) != NULL) {
        return;
    }
    status = ucp_config_modify(config, key, value);
    if (status != UCS_OK) {
        cpn_debug("ucx[%s]: cannot set %s=%s: %s", iface->site, env, value,
                  ucs_status_string(status));
    }
}

static void cpn_ucx_config_shm(cpn_ucx_iface_t *iface, ucp_config_t *config)
{
    const char *tls = getenv("UCX_TLS");

    /* Only where shared memory may be used: else UCX warns of a key that
     * matched nothing. */
    if (tls != NULL && tls[0] != '^' && strstr(tls, "all") == NULL &&
        strstr(tls, "sm") == NULL && strstr(tls, "shm") == NULL &&
        strstr(tls, "posix") == NULL && strstr(tls, "sysv") == NULL &&
        strstr(tls, "mm") == NULL) {
        return;
    }
    /* One key reaches both posix and sysv: their "MM_" sub-table. */
    if (getenv("UCX_POSIX_ERROR_HANDLING") == NULL &&
        getenv("UCX_SYSV_ERROR_HANDLING") == NULL) {
        cpn_ucx_config_set(iface, config, "UCX_MM_ERROR_HANDLING",
                           "MM_ERROR_HANDLING", "y");
    }
    /* Keep tcp out of the endpoints that have shared memory: as the RMA
     * lane for unshared memory it stays active in the worker, and every
     * ucp_worker_progress then polls its epoll set, a system call on the
     * path of every message (small tasks: 4.5 us -> 2.9 us here). Puts to
     * unshared memory go as active messages instead, as over tcp. */
    cpn_ucx_config_set(iface, config, "UCX_TCP_PUT_ENABLE", "PUT_ENABLE",
                       "n");
}

static cpn_status_t cpn_ucx_open(const cpn_tp_params_t *tparams,
                                 const cpn_tp_handlers_t *handlers,
                                 cpn_tp_iface_t **iface_p)
{
    ucp_params_t params = {
        .field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME,
        .features = UCP_FEATURE_AM | UCP_FEATURE_RMA | UCP_FEATURE_WAKEUP,
    };
    ucp_worker_params_t wparams = {
        .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
        .thread_mode = UCS_THREAD_MODE_SINGLE,
    };
    ucp_worker_attr_t wattr = {
        .field_mask = UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER,
    };
    cpn_ucx_iface_t *iface;
    cpn_ucx_config_t cfg;
    ucp_config_t *config;
    ucs_status_t status;
    cpn_status_t ret;

    iface = calloc(1, sizeof(*iface));
    if (iface == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    iface->super.ops = &cpn__tp_ucx_ops;
    if (handlers != NULL) {
        iface->super.handlers = *handlers;
    }
    snprintf(iface->site, sizeof(iface->site), "%s",
             (tparams != NULL && tparams->site_name != NULL)
                 ? tparams->site_name
                 : "-");
    iface->efd = -1;
    iface->table_size = CPN_UCX_TABLE_INIT;
    iface->table = calloc(iface->table_size, sizeof(*iface->table));
    if (iface->table == NULL) {
        ret = CPN_ERR_NO_MEMORY;
        goto err_free;
    }

    /* A value that does not parse is logged and keeps its default. */
    (void)cpn__config_fill(&cpn_ucx_config_table, &cfg);
    if (strcmp(cfg.put, "auto") == 0) {
        iface->put_mode = CPN_UCX_PUT_AUTO;
    } else if (strcmp(cfg.put, "rma") == 0) {
        iface->put_mode = CPN_UCX_PUT_RMA;
    } else if (strcmp(cfg.put, "am") == 0) {
        iface->put_mode = CPN_UCX_PUT_AM;
    } else {
        cpn_error("ucx[%s]: CPN_UCX_PUT=%s: expected auto, rma or am",
                  iface->site, cfg.put);
        ret = CPN_ERR_CONFIG;
        goto err_free;
    }
    iface->close_flush_ms = cfg.close_flush_ms;
    iface->rkey_cache = cfg.rkey_cache;

    /* NULL prefix: the usual UCX_* variables (UCX_TLS, UCX_NET_DEVICES...). */
    status = ucp_config_read(NULL, NULL, &config);
    if (status != UCS_OK) {
        cpn_error("ucx[%s]: cannot read the UCX configuration: %s", iface->site,
                  ucs_status_string(status));
        ret = CPN_ERR_CONFIG;
        goto err_free;
    }
    if (cfg.shm) {
        cpn_ucx_config_shm(iface, config);
    }
    /* A site that restarts must listen on its port again at once, while
     * the connections its previous life closed sit in TIME_WAIT or
     * FIN_WAIT on that port (its peers reconnect there to resume); UCX
     * binds without SO_REUSEADDR by default, and the bind then fails for
     * a minute with "Address already in use". UCX 1.13 reads its
     * connection managers' settings from the environment only (a
     * ucp_config_modify key does not reach them), so the default goes
     * there, never over the user's own. */
    if (getenv("UCX_CM_REUSEADDR") == NULL &&
        setenv("UCX_TCP_CM_REUSEADDR", "y", 0) != 0) {
        cpn_debug("ucx[%s]: cannot set UCX_TCP_CM_REUSEADDR: %s", iface->site,
                  strerror(errno));
    }
    params.name = iface->site;
    status = ucp_init(&params, config, &iface->context);
    ucp_config_release(config);
    if (status != UCS_OK) {
        cpn_error("ucx[%s]: ucp_init failed: %s", iface->site,
                  ucs_status_string(status));
        ret = cpn_ucx_status(status);
        goto err_free;
    }

    status = ucp_worker_create(iface->context, &wparams, &iface->worker);
    if (status != UCS_OK) {
        cpn_error("ucx[%s]: cannot create a worker: %s", iface->site,
                  ucs_status_string(status));
        ret = cpn_ucx_status(status);
        goto err_cleanup;
    }
    status = ucp_worker_get_efd(iface->worker, &iface->efd);
    if (status != UCS_OK) {
        cpn_error("ucx[%s]: the worker has no event fd: %s", iface->site,
                  ucs_status_string(status));
        ret = cpn_ucx_status(status);
        goto err_worker;
    }
    ret = cpn_ucx_set_am(iface, CPN_UCX_AM_MSG, cpn_ucx_am_msg_cb);
    if (ret != CPN_OK) {
        goto err_worker;
    }
    ret = cpn_ucx_set_am(iface, CPN_UCX_AM_NOTIFY, cpn_ucx_am_notify_cb);
    if (ret != CPN_OK) {
        goto err_worker;
    }
    ret = cpn_ucx_set_am(iface, CPN_UCX_AM_PUT, cpn_ucx_am_put_cb);
    if (ret != CPN_OK) {
        goto err_worker;
    }
    if (iface->put_mode != CPN_UCX_PUT_RMA &&
        (ucp_worker_query(iface->worker, &wattr) != UCS_OK ||
         wattr.max_am_header < CPN_UCX_PUT_HDR_MAX)) {
        cpn_warn("ucx[%s]: AM headers too small for AM puts: using RMA",
                 iface->site);
        iface->put_mode = CPN_UCX_PUT_RMA;
    }

    cpn_debug("ucx[%s]: open", iface->site);
    *iface_p = &iface->super;
    return CPN_OK;

err_worker:
    ucp_worker_destroy(iface->worker);
err_cleanup:
    ucp_cleanup(iface->context);
err_free:
    free(iface->table);
    free(iface);
    return ret;
}

static void cpn_ucx_close(cpn_tp_iface_t *tif)
{
    cpn_ucx_iface_t *iface = cpn_ucx_iface_of(tif);
    cpn_ucx_op_slab_t *slab;
    cpn_ucx_ep_t *ep;
    unsigned i;

    iface->closing = 1;
    iface->in_cb++;
    if (iface->listener != NULL) {
        ucp_listener_destroy(iface->listener);
        iface->listener = NULL;
    }
    /* Every UCX request completes (canceled) inside the forced closes; no
     * callback reaches the runtime while closing is set. */
    while ((ep = iface->eps) != NULL) {
        cpn_ucx_list_del(&iface->eps, ep);
        cpn_ucx_table_del(iface, ep);
        ep->closing = 1;
        cpn_ucx_rkey_drop_all(ep);
        cpn_ucx_list_add(&iface->closing_eps, ep);
    }
    for (ep = iface->closing_eps; ep != NULL; ep = ep->next) {
        cpn_ucx_ep_force_close(iface, ep);
    }
    for (i = 0; i < CPN_UCX_PROGRESS_BURST; i++) {
        if (ucp_worker_progress(iface->worker) == 0) {
            break;
        }
    }
    ucp_worker_destroy(iface->worker);
    for (i = 0; i < iface->nmems; i++) {
        cpn_ucx_mem_t *mem = iface->mems[i];

        if (mem != NULL) {
            cpn_warn("ucx[%s]: %zu bytes at %p still registered at close",
                     iface->site, mem->super.len, mem->super.addr);
            ucp_mem_unmap(iface->context, mem->memh);
            free(mem);
        }
    }
    free(iface->mems);
    ucp_cleanup(iface->context);

    while ((ep = iface->closing_eps) != NULL) {
        cpn_ucx_list_del(&iface->closing_eps, ep);
        free(ep);
    }
    while ((slab = iface->slabs) != NULL) {
        iface->slabs = slab->next;
        for (i = 0; i < slab->count; i++) {
            if (slab->ops[i].in_use) {
                free(slab->ops[i].rbuf);
            }
        }
        free(slab);
    }
    free(iface->table);
    cpn_debug("ucx[%s]: closed", iface->site);
    free(iface);
}

const cpn_transport_ops_t cpn__tp_ucx_ops = {
    .name = "ucx",
    .caps = CPN_TP_CAP_ZCOPY | CPN_TP_CAP_WAKEUP,

    .open = cpn_ucx_open,
    .close = cpn_ucx_close,
    .progress = cpn_ucx_progress,
    .wait = cpn_ucx_wait,

    .listen = cpn_ucx_listen,
    .connect = cpn_ucx_connect,
    .ep_close = cpn_ucx_ep_close,
    .ep_lanes = cpn_ucx_ep_lanes,

    .mem_reg = cpn_ucx_mem_reg,
    .mem_dereg = cpn_ucx_mem_dereg,
    .mem_alloc = cpn_ucx_mem_alloc,
    .key_pack = cpn_ucx_key_pack,
    .key_unpack = cpn_ucx_key_unpack,
    .key_release = cpn_ucx_key_release,
    .key_ptr = cpn_ucx_key_ptr,
    .notify = cpn_ucx_notify,

    .send = cpn_ucx_send,
    .put = cpn_ucx_put,
};
