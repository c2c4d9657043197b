/* SPDX-License-Identifier: Apache-2.0 */
/* Sites and peers: opening a site on a transport, listening, connecting with
 * a HELLO that checks protocol versions, the dispatch of every incoming
 * message to the sender (task.c) or receiver (recv.c) side, and progress. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/compiler.h"
#include "core/config.h"
#include "core/log.h"
#include "runtime/site_int.h"

/* ---- outgoing message buffers ---- */

cpn_msg_t *cpn__msg_get(cpn_site_t *site)
{
    cpn_msg_t *m = site->msg_free;

    if (m != NULL) {
        site->msg_free = m->next;
        cpn_wire_buf_reset(&m->buf);
        return m;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    cpn_wire_buf_init(&m->buf);
    m->site = site;
    return m;
}

void cpn__msg_put(cpn_msg_t *m)
{
    /* Keep small buffers for reuse; give big ones (offers) back. */
    if (m->buf.cap > (256u << 10)) {
        cpn_wire_buf_free(&m->buf);
        cpn_wire_buf_init(&m->buf);
    }
    m->next = m->site->msg_free;
    m->site->msg_free = m;
}

static void msg_sent_cb(void *arg, cpn_status_t status)
{
    cpn_msg_t *m = arg;

    (void)status; /* a failed send shows up as an endpoint error */
    cpn__msg_put(m);
}

cpn_status_t cpn__peer_send(cpn_peer_t *peer, cpn_msg_t *m)
{
    cpn_status_t st;

    if (m->buf.failed) {
        cpn__msg_put(m);
        return CPN_ERR_NO_MEMORY;
    }
    if (peer->state == CPN_PEER_FAILED || peer->ep == NULL) {
        cpn__msg_put(m);
        return peer->status < 0 ? peer->status : CPN_ERR_CONN_RESET;
    }
    st = peer->site->ops->send(peer->ep, m->buf.data, m->buf.len, msg_sent_cb,
                               m);
    if (st != CPN_INPROGRESS) {
        cpn__msg_put(m);
    }
    return st == CPN_INPROGRESS ? CPN_OK : st;
}

void cpn__send_cancel(cpn_peer_t *peer, uint64_t task_id, cpn_status_t status,
                      const char *reason)
{
    cpn_wire_cancel_t c;
    cpn_msg_t *m;

    if (peer == NULL || peer->state != CPN_PEER_READY) {
        return;
    }
    m = cpn__msg_get(peer->site);
    if (m == NULL) {
        return;
    }
    c.status = status;
    c.reason = cpn_wire_str(reason);
    if (cpn_wire_encode_cancel(&m->buf, task_id, &c) != CPN_OK) {
        cpn__msg_put(m);
        return;
    }
    cpn__peer_send(peer, m);
}

/* ---- errors ---- */

void cpn__errtext(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

void cpn__peer_fail(cpn_peer_t *peer, cpn_status_t status, const char *fmt,
                    ...)
{
    va_list ap;

    if (peer->state == CPN_PEER_FAILED) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(peer->err, sizeof(peer->err), fmt, ap);
    va_end(ap);
    peer->state = CPN_PEER_FAILED;
    peer->status = status;
    peer->close_pending = 1;
    peer->site->dead_peers = 1;
    cpn_info("site %s: peer %s (%s): %s", peer->site->name,
             peer->name[0] ? peer->name : "?", peer->addr, peer->err);
    /* Its tasks fail from cpn_site_progress (reap_dead_peers), never from
     * inside the transport callback or send that noticed: the caller up the
     * stack may still hold one of those tasks. */
}

/* ---- peers ---- */

static cpn_peer_t *peer_new(cpn_site_t *site, cpn_tp_ep_t *ep, int incoming)
{
    cpn_peer_t *peer = calloc(1, sizeof(*peer));

    if (peer == NULL) {
        return NULL;
    }
    peer->site = site;
    peer->ep = ep;
    peer->incoming = incoming;
    peer->state = incoming ? CPN_PEER_ACCEPTED : CPN_PEER_CONNECTING;
    snprintf(peer->addr, sizeof(peer->addr), "%s", ep->peer_addr);
    snprintf(peer->lanes, sizeof(peer->lanes), "?");
    ep->user = peer;
    peer->next = site->peers;
    site->peers = peer;
    return peer;
}

static void peer_unlink(cpn_peer_t *peer)
{
    cpn_peer_t **pp;

    for (pp = &peer->site->peers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == peer) {
            *pp = peer->next;
            return;
        }
    }
}

static void peer_close_ep(cpn_peer_t *peer)
{
    if (peer->site->hpool != NULL) {
        cpn_hpool_drain(peer->site->hpool); /* may write where the key maps */
    }
    if (peer->pool_rkey != NULL) {
        peer->site->ops->key_release(peer->pool_rkey);
        peer->pool_rkey = NULL;
    }
    if (peer->ep != NULL) {
        peer->ep->user = NULL;
        peer->site->ops->ep_close(peer->ep);
        peer->ep = NULL;
    }
}

static void peer_free(cpn_peer_t *peer)
{
    peer_unlink(peer);
    peer_close_ep(peer);
    free(peer);
}

void cpn_peer_close(cpn_peer_t *peer)
{
    if (peer == NULL) {
        return;
    }
    if (peer->state != CPN_PEER_FAILED) {
        peer->state = CPN_PEER_FAILED;
        peer->status = CPN_ERR_CANCELED;
        snprintf(peer->err, sizeof(peer->err), "peer closed by this site");
    }
    cpn__task_peer_failed(peer);
    cpn__recv_peer_failed(peer);
    peer_free(peer);
}

const char *cpn_peer_name(const cpn_peer_t *peer)
{
    return peer->name;
}

const char *cpn_peer_addr(const cpn_peer_t *peer)
{
    return peer->addr;
}

const char *cpn_peer_lanes(const cpn_peer_t *peer)
{
    return peer->lanes;
}

static void peer_query_lanes(cpn_peer_t *peer)
{
    if (peer->ep == NULL ||
        peer->site->ops->ep_lanes(peer->ep, peer->lanes,
                                  sizeof(peer->lanes)) != CPN_OK) {
        snprintf(peer->lanes, sizeof(peer->lanes), "unknown");
    }
}

/* ---- HELLO ---- */

static void copy_str(char *dst, size_t dlen, cpn_wire_str_t s)
{
    size_t n = s.len < dlen - 1 ? s.len : dlen - 1;

    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void hello_ack_send(cpn_peer_t *peer, uint64_t task_id, cpn_status_t st,
                           const char *error)
{
    cpn_site_t *site = peer->site;
    cpn_wire_hello_ack_t ack;
    cpn_msg_t *m = cpn__msg_get(site);

    if (m == NULL) {
        return;
    }
    memset(&ack, 0, sizeof(ack));
    ack.status = st;
    ack.proto = CPN_PROTO_VERSION;
    ack.site = cpn_wire_str(site->name);
    ack.error = cpn_wire_str(error);
    ack.max_objects = site->params.max_objects;
    ack.max_task_bytes = site->params.max_task_bytes;
    ack.max_name_len = site->params.max_name_len;
    ack.inline_max = (uint32_t)CPN_MIN(site->params.inline_max,
                                          CPN_OFFER_INLINE_BUDGET);
    ack.slot_size = site->slot_size;
    ack.nslots = site->nslots;
    ack.pool_addr = (uintptr_t)site->pool;
    ack.pool_rkey.ptr = (const char *)site->pool_rkey;
    ack.pool_rkey.len = site->pool_rkey_len;
    (void)task_id;
    if (cpn_wire_encode_hello_ack(&m->buf, &ack) != CPN_OK) {
        cpn__msg_put(m);
        return;
    }
    cpn__peer_send(peer, m);
}

static void on_hello(cpn_peer_t *peer, const void *buf, size_t len)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_hello_t h;
    char why[CPN_ERRTEXT_MAX];
    cpn_status_t st;

    if (peer->state != CPN_PEER_ACCEPTED || peer->auth.state != CPN_AUTH_NONE) {
        cpn__peer_fail(peer, CPN_ERR_PROTO, "HELLO from %s out of turn",
                       peer->addr);
        return;
    }
    st = cpn_wire_decode_hello(buf, len, &hdr, &h);
    if (st != CPN_OK) {
        hello_ack_send(peer, 0, st, "malformed HELLO");
        cpn__peer_fail(peer, st, "malformed HELLO: %s", cpn_status_str(st));
        return;
    }
    copy_str(peer->name, sizeof(peer->name), h.site);
    if (h.proto_min > CPN_PROTO_VERSION || h.proto_max < CPN_PROTO_VERSION) {
        snprintf(why, sizeof(why),
                 "protocol version mismatch: peer %s speaks cpn protocol "
                 "%u..%u, site %s speaks %u",
                 peer->name, h.proto_min, h.proto_max, peer->site->name,
                 CPN_PROTO_VERSION);
        hello_ack_send(peer, 0, CPN_ERR_VERSION, why);
        cpn_warn("site %s: %s (%s)", peer->site->name, why, peer->addr);
        /* Keep the endpoint until the peer closes it, so the ACK arrives. */
        peer->state = CPN_PEER_FAILED;
        peer->status = CPN_ERR_VERSION;
        snprintf(peer->err, sizeof(peer->err), "%s", why);
        return;
    }
    if (cpn__auth_on_hello(peer, &h) != CPN_OK) {
        return; /* challenged (accepted on AUTH) or refused */
    }
    cpn__hello_accept(peer);
}

void cpn__hello_accept(cpn_peer_t *peer)
{
    peer->state = CPN_PEER_READY;
    peer_query_lanes(peer);
    hello_ack_send(peer, 0, CPN_OK, NULL);
    cpn_debug("site %s: peer %s connected from %s over %s", peer->site->name,
              peer->name, peer->addr, peer->lanes);
}

void cpn__hello_refuse(cpn_peer_t *peer, cpn_status_t status, const char *why)
{
    hello_ack_send(peer, 0, status, why);
    /* Keep the endpoint until the peer closes it, so the ACK arrives. */
    peer->state = CPN_PEER_FAILED;
    peer->status = status;
    snprintf(peer->err, sizeof(peer->err), "%s", why);
}

static void on_hello_ack(cpn_peer_t *peer, const void *buf, size_t len)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_hello_ack_t a;
    cpn_status_t st;

    if (peer->state != CPN_PEER_CONNECTING) {
        return;
    }
    st = cpn_wire_decode_hello_ack(buf, len, &hdr, &a);
    if (st != CPN_OK) {
        cpn__peer_fail(peer, st, "malformed HELLO_ACK from %s: %s",
                       peer->addr, cpn_status_str(st));
        return;
    }
    copy_str(peer->name, sizeof(peer->name), a.site);
    if (a.status != CPN_OK) {
        char text[CPN_ERRTEXT_MAX];

        copy_str(text, sizeof(text), a.error);
        cpn__peer_fail(peer, (cpn_status_t)a.status, "%s refused HELLO: %s",
                       peer->addr, text[0] ? text
                                           : cpn_status_str(a.status));
        return;
    }
    if (cpn__auth_on_hello_ack(peer, peer->name) != CPN_OK) {
        return;
    }
    peer->max_objects = a.max_objects;
    peer->max_task_bytes = a.max_task_bytes;
    peer->max_name_len = a.max_name_len;
    peer->inline_max = a.inline_max;
    peer->slot_size = a.slot_size;
    peer->nslots = a.nslots;
    peer->pool_addr = a.pool_addr;
    if (a.pool_rkey.len > 0) {
        st = peer->site->ops->key_unpack(peer->ep, a.pool_rkey.ptr,
                                         a.pool_rkey.len, &peer->pool_rkey);
        if (st != CPN_OK) {
            cpn__peer_fail(peer, st, "cannot unpack the staging pool key of "
                           "%s (%s): %s", peer->name, peer->addr,
                           cpn_status_str(st));
            return;
        }
    }
    peer->state = CPN_PEER_READY;
    peer_query_lanes(peer);
}

/* ---- transport handlers ---- */

static void h_accept(void *arg, cpn_tp_ep_t *ep)
{
    cpn_site_t *site = arg;

    if (peer_new(site, ep, 1) == NULL) {
        site->ops->ep_close(ep);
    }
}

static void h_connected(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    cpn_peer_t *peer = ep->user;

    (void)arg;
    if (peer != NULL && status != CPN_OK) {
        cpn__peer_fail(peer, status == CPN_ERR_TIMEOUT ? status
                                                       : CPN_ERR_UNREACHABLE,
                       "cannot connect to %s: %s", peer->addr,
                       cpn_status_str(status));
    }
}

static void h_recv(void *arg, cpn_tp_ep_t *ep, const void *data, size_t len)
{
    cpn_peer_t *peer = ep->user;
    cpn_wire_hdr_t hdr;
    cpn_status_t st;

    (void)arg;
    if (peer == NULL) {
        return;
    }
    st = cpn_wire_decode_hdr(data, len, &hdr);
    if (st != CPN_OK) {
        cpn__peer_fail(peer, st, "bad message from %s (%s): %s",
                       peer->name[0] ? peer->name : "peer", peer->addr,
                       cpn_status_str(st));
        return;
    }
    switch (hdr.type) {
    case CPN_MSG_HELLO:
        on_hello(peer, data, len);
        return;
    case CPN_MSG_HELLO_ACK:
        on_hello_ack(peer, data, len);
        return;
    case CPN_MSG_AUTH:
        cpn__auth_on_msg(peer, data, len);
        return;
    case CPN_MSG_PING:
        peer->last_rx_ns = cpn_time_ns();
        return;
    default:
        break;
    }
    if (peer->state != CPN_PEER_READY) {
        cpn_warn("site %s: %s from %s before HELLO, dropped", peer->site->name,
                 cpn_wire_type_str(hdr.type), peer->addr);
        return;
    }
    switch (hdr.type) {
    case CPN_MSG_OFFER:
    case CPN_MSG_COMMIT:
        cpn__recv_on_msg(peer, &hdr, data, len);
        break;
    case CPN_MSG_ACCEPT:
    case CPN_MSG_HAVE:
    case CPN_MSG_GRANT:
    case CPN_MSG_NACK:
    case CPN_MSG_RECEIPT:
        cpn__task_on_msg(peer, &hdr, data, len);
        break;
    case CPN_MSG_CANCEL:
        /* Either side may cancel: the id names our sending task or one we
         * receive; each side ignores ids it does not know. */
        cpn__task_on_msg(peer, &hdr, data, len);
        cpn__recv_on_msg(peer, &hdr, data, len);
        break;
    default:
        cpn_warn("site %s: unexpected %s from %s, dropped", peer->site->name,
                 cpn_wire_type_str(hdr.type), peer->addr);
        break;
    }
}

static void h_put_notify(void *arg, cpn_tp_ep_t *ep, const void *data,
                         size_t len, const cpn_tp_landed_t *landed)
{
    cpn_peer_t *peer = ep->user;

    (void)arg;
    if (peer != NULL && peer->state == CPN_PEER_READY) {
        cpn__recv_on_chunk(peer, data, len, landed);
    }
}

static void h_ep_error(void *arg, cpn_tp_ep_t *ep, cpn_status_t status)
{
    cpn_peer_t *peer = ep->user;

    (void)arg;
    if (peer == NULL) {
        return;
    }
    if (peer->state == CPN_PEER_FAILED) {
        /* Already failed (e.g. refused at HELLO): now it can go. */
        peer->close_pending = 1;
        peer->site->dead_peers = 1;
        return;
    }
    if (peer->state == CPN_PEER_CONNECTING) {
        cpn__peer_fail(peer, CPN_ERR_UNREACHABLE,
                       "cannot connect to %s: %s", peer->addr,
                       cpn_status_str(status));
    } else {
        cpn__peer_fail(peer, CPN_ERR_CONN_RESET,
                       "connection to %s (%s) lost: %s",
                       peer->name[0] ? peer->name : "peer", peer->addr,
                       cpn_status_str(status));
    }
}

/* ---- sites ---- */

static char *xstrdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

cpn_status_t cpn_site_open(const cpn_site_params_t *params,
                           cpn_site_t **site_p)
{
    cpn_tp_handlers_t handlers;
    cpn_tp_params_t tp_params;
    char host[256];
    cpn_site_t *site;
    cpn_status_t st;

    if (params == NULL || site_p == NULL) {
        return CPN_ERR_INVALID;
    }
    if (params->chunk_size < 4096 || params->chunk_size > (1u << 30)) {
        cpn_error("chunk_size %zu is out of range: use 4 KiB to 1 GiB "
                  "(CPN_SITE_CHUNK_SIZE)", params->chunk_size);
        return CPN_ERR_INVALID;
    }
    if (params->window == 0 || params->window > 4096) {
        cpn_error("window %u is out of range: use 1 to 4096 "
                  "(CPN_SITE_WINDOW)", params->window);
        return CPN_ERR_INVALID;
    }
    if (params->pool_size < params->chunk_size) {
        cpn_error("pool_size %zu is smaller than one chunk (%zu): raise "
                  "CPN_SITE_POOL_SIZE or lower CPN_SITE_CHUNK_SIZE",
                  params->pool_size, params->chunk_size);
        return CPN_ERR_INVALID;
    }

    site = calloc(1, sizeof(*site));
    if (site == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    site->params = *params;
    if (params->name == NULL || params->name[0] == '\0') {
        if (gethostname(host, sizeof(host)) != 0) {
            snprintf(host, sizeof(host), "site");
        }
        host[sizeof(host) - 1] = '\0';
        site->name = strdup(host);
    } else {
        site->name = strdup(params->name);
    }
    site->transport = strdup(params->transport ? params->transport : "ucx");
    site->land_dir = xstrdup(params->land_dir);
    site->params.name = site->name;
    site->params.transport = site->transport;
    site->params.land_dir = site->land_dir;
    site->next_task_id = ((uint64_t)getpid() << 32) | 1;
    if (site->name == NULL || site->transport == NULL ||
        (params->land_dir != NULL && site->land_dir == NULL)) {
        st = CPN_ERR_NO_MEMORY;
        goto err_free;
    }

    site->ops = cpn__tp_find(site->transport);
    if (site->ops == NULL) {
        cpn_error("transport '%s' is not built into this cpn (built: %s)",
                  site->transport, cpn__tp_names());
        st = CPN_ERR_NOT_FOUND;
        goto err_free;
    }
    memset(&handlers, 0, sizeof(handlers));
    handlers.accept = h_accept;
    handlers.connected = h_connected;
    handlers.recv = h_recv;
    handlers.put_notify = h_put_notify;
    handlers.ep_error = h_ep_error;
    handlers.arg = site;
    tp_params.site_name = site->name;
    st = site->ops->open(&tp_params, &handlers, &site->iface);
    if (st != CPN_OK) {
        cpn_error("site %s: cannot open transport %s: %s", site->name,
                  site->transport, cpn_status_str(st));
        goto err_free;
    }
    st = cpn__auth_open(site);
    if (st != CPN_OK) {
        goto err_close_iface;
    }
    st = cpn__pool_open(site);
    if (st != CPN_OK) {
        goto err_close_auth;
    }
    if (site->params.fault_corrupt != NULL &&
        cpn__config_parse_prob(site->params.fault_corrupt,
                               &site->p_corrupt) != CPN_OK) {
        cpn_error("site %s: CPN_SITE_FAULT_CORRUPT='%s' is not a probability "
                  "(0.05 or 5%%)", site->name, site->params.fault_corrupt);
        st = CPN_ERR_CONFIG;
        goto err_close_pool;
    }
    site->params.fault_corrupt = NULL; /* not ours to keep */
    site->fault_rng = 0x9E3779B97F4A7C15ull;
    if (site->land_dir != NULL) {
        st = cpn__land_prepare(site);
        if (st != CPN_OK) {
            goto err_close_pool;
        }
    }
    *site_p = site;
    return CPN_OK;

err_close_pool:
    cpn__pool_close(site);
err_close_auth:
    cpn__auth_close(site);
err_close_iface:
    site->ops->close(site->iface);
err_free:
    free(site->land_dir);
    free(site->transport);
    free(site->name);
    free(site);
    return st;
}

void cpn_site_close(cpn_site_t *site)
{
    cpn_msg_t *m;

    if (site == NULL) {
        return;
    }
    while (site->peers != NULL) {
        cpn_peer_close(site->peers);
    }
    while (site->active != NULL) {
        cpn__task_fail(site->active, CPN_ERR_CANCELED, "site %s closed",
                       site->name);
    }
    if (site->hpool != NULL) {
        cpn_hpool_drain(site->hpool);
        cpn__task_hashed(site); /* hands the failed tasks their entries */
        cpn_hpool_destroy(site->hpool);
    }
    cpn__recv_close_all(site);
    cpn__pool_close(site);
    cpn__auth_close(site);
    site->ops->close(site->iface);
    while ((m = site->msg_free) != NULL) {
        site->msg_free = m->next;
        cpn_wire_buf_free(&m->buf);
        free(m);
    }
    free(site->land_dir);
    free(site->transport);
    free(site->name);
    free(site);
}

const char *cpn_site_name(const cpn_site_t *site)
{
    return site->name;
}

const char *cpn_site_transport(const cpn_site_t *site)
{
    return site->transport;
}

cpn_status_t cpn_site_listen(cpn_site_t *site, const char *addr, char *bound,
                             size_t bound_len)
{
    char host[256];
    uint16_t port, bound_port = 0;
    cpn_status_t st;

    st = cpn__tp_parse_addr(addr, host, sizeof(host), &port);
    if (st != CPN_OK) {
        cpn_error("site %s: bad listen address '%s': expected HOST:PORT, "
                  "e.g. 0.0.0.0:7200", site->name, addr ? addr : "(null)");
        return st;
    }
    st = site->ops->listen(site->iface, host, port, &bound_port);
    if (st != CPN_OK) {
        cpn_error("site %s: cannot listen on %s: %s", site->name, addr,
                  cpn_status_str(st));
        return st;
    }
    snprintf(site->listen_addr, sizeof(site->listen_addr),
             strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, bound_port);
    if (bound != NULL && bound_len > 0) {
        snprintf(bound, bound_len, "%s", site->listen_addr);
    }
    return CPN_OK;
}

static void reap_dead_peers(cpn_site_t *site)
{
    cpn_peer_t *peer, *next;

    site->dead_peers = 0;
    for (peer = site->peers; peer != NULL; peer = next) {
        next = peer->next;
        if (!peer->close_pending) {
            continue;
        }
        peer->close_pending = 0;
        cpn__task_peer_failed(peer);
        cpn__recv_peer_failed(peer);
        if (peer->incoming) {
            peer_free(peer);  /* ours: nobody else holds it */
        } else {
            peer_close_ep(peer); /* the user's: keep it for its name/error */
        }
    }
}

unsigned cpn_site_progress(cpn_site_t *site)
{
    unsigned n = site->ops->progress(site->iface);

    if (site->hpool != NULL && cpn_hpool_outstanding(site->hpool) > 0) {
        n += cpn__task_hashed(site);
    }
    if (site->pump_pending) {
        cpn__task_pump_all(site);
        n++;
    }
    if (site->nquar > 0) {
        cpn__pool_quarantine_check(site);
    }
    if ((++site->live_tick & 63) == 0) {
        cpn__liveness_tick(site);
    }
    if (site->dead_peers) {
        reap_dead_peers(site);
    }
    return n;
}

cpn_status_t cpn_site_wait(cpn_site_t *site, int timeout_ms)
{
    uint64_t spin_end = cpn_time_ns() + 50000; /* 50 us of busy polling */
    cpn_status_t st;

    do {
        if (cpn_site_progress(site) > 0) {
            return CPN_OK;
        }
    } while (cpn_time_ns() < spin_end);
    if (site->hpool != NULL && cpn_hpool_outstanding(site->hpool) > 0) {
        /* chunks on the hashing threads: theirs is the next event */
        cpn_hpool_wait(site->hpool, 200);
        cpn_site_progress(site);
        return CPN_OK;
    }
    st = site->ops->wait(site->iface, timeout_ms);
    if (st == CPN_ERR_UNSUPPORTED) {
        usleep(timeout_ms > 0 ? 1000 : 0);
        st = CPN_OK;
    }
    cpn_site_progress(site);
    return st;
}

cpn_status_t cpn_site_connect(cpn_site_t *site, const char *addr,
                              int timeout_ms, cpn_peer_t **peer_p)
{
    char host[256];
    uint16_t port;
    cpn_wire_hello_t hello;
    cpn_tp_ep_t *ep;
    cpn_peer_t *peer;
    cpn_msg_t *m;
    uint64_t deadline;
    cpn_status_t st;

    st = cpn__tp_parse_addr(addr, host, sizeof(host), &port);
    if (st != CPN_OK || port == 0) {
        cpn_error("site %s: bad peer address '%s': expected HOST:PORT, "
                  "e.g. 127.0.0.1:7200", site->name, addr ? addr : "(null)");
        return CPN_ERR_INVALID;
    }
    if (timeout_ms < 0) {
        timeout_ms = site->params.timeout_ms;
    }
    st = site->ops->connect(site->iface, host, port, &ep);
    if (st != CPN_OK) {
        cpn_error("site %s: cannot connect to %s: %s", site->name, addr,
                  cpn_status_str(st));
        return st;
    }
    peer = peer_new(site, ep, 0);
    if (peer == NULL) {
        site->ops->ep_close(ep);
        return CPN_ERR_NO_MEMORY;
    }
    snprintf(peer->addr, sizeof(peer->addr), "%s", addr);

    m = cpn__msg_get(site);
    if (m == NULL) {
        cpn_peer_close(peer);
        return CPN_ERR_NO_MEMORY;
    }
    memset(&hello, 0, sizeof(hello));
    hello.proto_min = CPN_PROTO_VERSION;
    hello.proto_max = CPN_PROTO_VERSION;
    hello.site = cpn_wire_str(site->name);
    hello.transport = cpn_wire_str(site->transport);
    st = cpn__auth_hello_fill(peer, &hello);
    if (st == CPN_OK) {
        st = cpn_wire_encode_hello(&m->buf, &hello);
    }
    if (st == CPN_OK) {
        st = cpn__peer_send(peer, m);
    } else {
        cpn__msg_put(m);
    }
    if (st != CPN_OK) {
        cpn_error("site %s: cannot send HELLO to %s: %s", site->name, addr,
                  cpn_status_str(st));
        cpn_peer_close(peer);
        return st == CPN_ERR_CONN_RESET ? CPN_ERR_UNREACHABLE : st;
    }

    deadline = cpn_deadline_ns(timeout_ms);
    while (peer->state == CPN_PEER_CONNECTING) {
        if (cpn_site_progress(site) == 0) {
            if (cpn_time_ns() >= deadline) {
                break;
            }
            site->ops->wait(site->iface, 1);
        }
    }
    if (peer->state == CPN_PEER_READY) {
        *peer_p = peer;
        return CPN_OK;
    }
    if (peer->state == CPN_PEER_CONNECTING) {
        cpn_error("site %s: no answer from %s within %d ms (is `cpn serve` "
                  "running there, and the address reachable?)", site->name,
                  addr, timeout_ms);
        st = CPN_ERR_TIMEOUT;
    } else {
        cpn_error("site %s: %s", site->name, peer->err);
        st = peer->status;
    }
    cpn_peer_close(peer);
    return st;
}

/* Memory a site registers is what peers put chunks into (memory sinks):
 * each chunk is hashed and checked before its task completes, and put
 * again on a mismatch, so it is marked CPN_TP_MEM_VERIFIED, once, here: a
 * transport may leave put payloads into it to that check. */
cpn_status_t cpn_site_mem_reg(cpn_site_t *site, void *addr, size_t len,
                              cpn_mem_t **mem_p)
{
    cpn_mem_t *mem;
    cpn_status_t st;

    if (site == NULL || addr == NULL || len == 0 || mem_p == NULL) {
        return CPN_ERR_INVALID;
    }
    mem = calloc(1, sizeof(*mem));
    if (mem == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    st = site->ops->mem_reg(site->iface, addr, len, &mem->tp);
    if (st != CPN_OK) {
        cpn_error("site %s: cannot register %zu bytes at %p with %s: %s",
                  site->name, len, addr, site->transport, cpn_status_str(st));
        free(mem);
        return st;
    }
    mem->tp->flags |= CPN_TP_MEM_VERIFIED;
    mem->site = site;
    mem->addr = addr;
    mem->len = len;
    *mem_p = mem;
    return CPN_OK;
}

cpn_status_t cpn_site_mem_alloc(cpn_site_t *site, size_t len,
                                cpn_mem_t **mem_p)
{
    cpn_mem_t *mem;
    cpn_status_t st;

    if (site == NULL || len == 0 || mem_p == NULL) {
        return CPN_ERR_INVALID;
    }
    mem = calloc(1, sizeof(*mem));
    if (mem == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    st = site->ops->mem_alloc(site->iface, len, &mem->tp);
    if (st == CPN_OK) {
        mem->addr = mem->tp->addr;
        mem->owned = 1;
    } else {
        /* No transport-placed memory: page-aligned heap, registered. */
        mem->addr = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);
        if (mem->addr == NULL) {
            free(mem);
            return CPN_ERR_NO_MEMORY;
        }
        st = site->ops->mem_reg(site->iface, mem->addr, len, &mem->tp);
        if (st != CPN_OK) {
            cpn_error("site %s: cannot register %zu bytes with %s: %s",
                      site->name, len, site->transport, cpn_status_str(st));
            free(mem->addr);
            free(mem);
            return st;
        }
        mem->owned = 2;
    }
    mem->tp->flags |= CPN_TP_MEM_VERIFIED; /* as in cpn_site_mem_reg */
    mem->site = site;
    mem->len = len;
    *mem_p = mem;
    return CPN_OK;
}

void *cpn_mem_addr(const cpn_mem_t *mem)
{
    return mem->addr;
}

void cpn_site_mem_dereg(cpn_mem_t *mem)
{
    if (mem == NULL) {
        return;
    }
    mem->site->ops->mem_dereg(mem->tp);
    if (mem->owned == 2) {
        free(mem->addr);
    }
    free(mem);
}
