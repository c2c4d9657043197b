/* SPDX-License-Identifier: Apache-2.0 */
/* Deadlines and keepalive, so that nothing waits forever. Every task, on
 * both sides, has a deadline (CPN_SITE_TASK_DEADLINE from its start); every
 * ready peer gets a PING every CPN_SITE_KEEPALIVE; a peer that has tasks
 * in flight with this site and sent nothing for CPN_SITE_PEER_TIMEOUT is
 * declared dead, which fails its tasks with words that name the peer and
 * the phase each task was in. Runs from cpn_site_progress, at most every
 * few milliseconds (a clock read per 64 progress calls in between). */
#include <stdio.h>

#include "core/clock.h"
#include "core/log.h"
#include "runtime/site_int.h"

#define LIVE_PERIOD_NS 20000000ull   /* look at most every 20 ms */

static int peer_has_tasks(const cpn_peer_t *peer)
{
    const cpn_task_t *t;
    const cpn_rtask_t *rt;

    for (t = peer->site->active; t != NULL; t = t->next) {
        if (t->peer == peer) {
            return 1;
        }
    }
    for (rt = peer->site->rtasks; rt != NULL; rt = rt->next) {
        if (rt->peer == peer) {
            return 1;
        }
    }
    return 0;
}

static void send_ping(cpn_peer_t *peer, uint64_t now)
{
    cpn_msg_t *m = cpn__msg_get(peer->site);

    if (m == NULL) {
        return;
    }
    if (cpn_wire_encode_ping(&m->buf, now) != CPN_OK) {
        cpn__msg_put(m);
        return;
    }
    cpn__peer_send(peer, m);
}

static void check_peers(cpn_site_t *site, uint64_t now)
{
    uint64_t every = (uint64_t)site->params.keepalive_ms * 1000000ull;
    uint64_t dead = (uint64_t)site->params.peer_timeout_ms * 1000000ull;
    cpn_peer_t *peer;

    for (peer = site->peers; peer != NULL; peer = peer->next) {
        if (peer->state != CPN_PEER_READY || peer->ep == NULL) {
            continue;
        }
        if (peer->last_rx_ns == 0) {
            peer->last_rx_ns = now;  /* first sight since READY */
        }
        if (site->params.keepalive_ms > 0 && now - peer->last_tx_ns >= every) {
            peer->last_tx_ns = now;
            send_ping(peer, now);
        }
        if (site->params.peer_timeout_ms > 0 && now - peer->last_rx_ns > dead &&
            peer_has_tasks(peer)) {
            cpn__peer_fail(peer, CPN_ERR_TIMEOUT, "peer %s (%s) is dead: "
                           "nothing from it for %llu ms, not even a "
                           "keepalive (CPN_SITE_PEER_TIMEOUT %d ms)",
                           peer->name, peer->addr,
                           (unsigned long long)((now - peer->last_rx_ns) /
                                                1000000ull),
                           site->params.peer_timeout_ms);
        }
    }
}

static void check_deadlines(cpn_site_t *site, uint64_t now)
{
    uint64_t limit = (uint64_t)site->params.task_deadline_ms * 1000000ull;
    cpn_task_t *t;
    cpn_rtask_t *rt;

    if (site->params.task_deadline_ms <= 0) {
        return;
    }
again_send:
    for (t = site->active; t != NULL; t = t->next) {
        if (t->t_start != 0 && now - t->t_start > limit) {
            cpn__task_fail(t, CPN_ERR_TIMEOUT, "task %s to peer %s (%s) "
                           "missed its deadline of %d ms (CPN_SITE_TASK_"
                           "DEADLINE) %s", t->job,
                           t->peer ? t->peer->name : "?",
                           t->peer ? t->peer->addr : "?",
                           site->params.task_deadline_ms,
                           cpn__task_phase(t));
            goto again_send; /* the list changed under us */
        }
    }
again_recv:
    for (rt = site->rtasks; rt != NULL; rt = rt->next) {
        if (now - rt->t_start > limit) {
            cpn__rtask_expire(rt, site->params.task_deadline_ms);
            goto again_recv;
        }
    }
}

void cpn__liveness_tick(cpn_site_t *site)
{
    uint64_t now = cpn_time_ns();

    if (now < site->live_next_ns) {
        return;
    }
    site->live_next_ns = now + LIVE_PERIOD_NS;
    check_peers(site, now);
    check_deadlines(site, now);
    (void)cpn__resume_sweep(site, now);
}
