/* SPDX-License-Identifier: Apache-2.0 */
/* Deadlines, keepalive and reconnection (runtime/liveness.c), two sites
 * over UCX on this machine. A receiver that hangs (its thread stops making
 * progress, as a stopped or wedged process would) is declared dead by the
 * sender's keepalive; a task past its deadline fails on the sender and on
 * the receiver, each error naming the peer and the phase; and a site that
 * restarts (receiver or sender) is connected to and delivered to again
 * without restarting the other one. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpn/cpn.h>

#include "core/clock.h"

#define MiB (1024u * 1024u)

typedef struct rx {
    cpn_site_t *site;
    pthread_t thread;
    atomic_int stop;
    atomic_int pause;          /* 1: stop making progress (a hung site) */
    atomic_int paused;         /* the thread saw pause and stands still */
    atomic_int pause_on_offer; /* pause as soon as an offer was accepted */
    atomic_int landed, failed;
    char last_err[512];
} rx_t;

static rx_t rx;
static cpn_site_t *tx;
static char land[256], addr[80];

static int rm_cb(const char *p, const struct stat *sb, int f, struct FTW *w)
{
    (void)sb; (void)f; (void)w;
    return remove(p);
}

static void on_landed(void *arg, cpn_status_t status, const cpn_receipt_t *r)
{
    rx_t *x = arg;

    (void)r;
    atomic_fetch_add(status == CPN_OK ? &x->landed : &x->failed, 1);
}

static cpn_status_t on_offer(void *arg, cpn_offer_t *offer)
{
    rx_t *x = arg;

    (void)offer;
    if (atomic_load(&x->pause_on_offer)) {
        atomic_store(&x->pause, 1);
    }
    return CPN_OK;
}

static void *rx_main(void *arg)
{
    rx_t *x = arg;

    while (!atomic_load(&x->stop)) {
        if (atomic_load(&x->pause)) {
            atomic_store(&x->paused, 1);
            usleep(1000);
            continue;
        }
        atomic_store(&x->paused, 0);
        cpn_site_wait(x->site, 5);
    }
    return NULL;
}

/* Hang site-b: return once its thread stands still (not inside a wait). */
static void rx_pause(void)
{
    atomic_store(&rx.pause, 1);
    while (!atomic_load(&rx.paused)) {
        usleep(100);
    }
}

/* Open site-b listening on @p listen ("127.0.0.1:0" or a fixed address). */
static void rx_open(const char *listen, int deadline_ms, int peer_timeout_ms)
{
    cpn_site_params_t p;

    cr_assert_eq(cpn_site_params_init(&p), CPN_OK);
    p.name = "site-b";
    p.land_dir = land;
    p.pool_size = 8 * MiB;
    p.chunk_size = 1 * MiB;
    p.keepalive_ms = 100;
    p.peer_timeout_ms = peer_timeout_ms;
    p.task_deadline_ms = deadline_ms;
    p.landed_cb = on_landed;
    p.landed_arg = &rx;
    p.offer_cb = on_offer;
    p.offer_arg = &rx;
    cr_assert_eq(cpn_site_open(&p, &rx.site), CPN_OK);
    {
        /* a restarted site takes its port again at once, although the
         * old one's closed connections still hold it (TIME_WAIT) */
        cpn_status_t st = cpn_site_listen(rx.site, listen, addr, sizeof(addr));

        cr_assert_eq(st, CPN_OK, "cannot listen on %s: %s", listen,
                     cpn_status_str(st));
    }
    atomic_store(&rx.stop, 0);
    cr_assert_eq(pthread_create(&rx.thread, NULL, rx_main, &rx), 0);
}

static void rx_close(void)
{
    atomic_store(&rx.stop, 1);
    pthread_join(rx.thread, NULL);
    cpn_site_close(rx.site);
    rx.site = NULL;
}

static void tx_open(int deadline_ms, int peer_timeout_ms)
{
    cpn_site_params_t p;

    cr_assert_eq(cpn_site_params_init(&p), CPN_OK);
    p.name = "site-a";
    p.pool_size = 8 * MiB;
    p.chunk_size = 1 * MiB;
    p.keepalive_ms = 100;
    p.peer_timeout_ms = peer_timeout_ms;
    p.task_deadline_ms = deadline_ms;
    cr_assert_eq(cpn_site_open(&p, &tx), CPN_OK);
}

static void setup(void)
{
    memset(&rx, 0, sizeof(rx));
    snprintf(land, sizeof(land), "/tmp/cpn-sec-live.%d", getpid());
    nftw(land, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void teardown(void)
{
    if (tx != NULL) {
        cpn_site_close(tx);
        tx = NULL;
    }
    if (rx.site != NULL) {
        atomic_store(&rx.pause, 0);
        rx_close();
    }
    nftw(land, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(liveness, .init = setup, .fini = teardown, .timeout = 120);

static uint8_t *pattern(size_t len)
{
    uint8_t *b = malloc(len);
    size_t i;

    cr_assert_not_null(b);
    for (i = 0; i < len; i++) {
        b[i] = (uint8_t)(i * 31 + (i >> 13));
    }
    return b;
}

/* Deliver @p len bytes as @p job on @p peer; @return status, words in err. */
static cpn_status_t deliver(cpn_peer_t *peer, const char *job, size_t len,
                            int wait_ms, char *err, size_t errlen)
{
    uint8_t *data = pattern(len);
    cpn_task_t *task;
    cpn_status_t st;

    cr_assert_eq(cpn_task_create(tx, job, &task), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "d.bin", data, len, NULL), CPN_OK);
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    st = cpn_task_wait(task, wait_ms);
    snprintf(err, errlen, "%s", cpn_task_error(task) ? cpn_task_error(task)
                                                     : "");
    cpn_task_destroy(task);
    free(data);
    return st;
}

/* Entries of the landing directory: those kept for a resume
 * (runtime/resume.c: a directory and its journal per task cut off with its
 * peer) when @p resume, every other one otherwise. */
static int leftovers(int resume)
{
    DIR *d = opendir(land);
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        int kept = strncmp(e->d_name, ".cpn-resume.", 12) == 0;

        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
             kept == resume;
    }
    closedir(d);
    return n;
}

static int land_leftovers(void)
{
    return leftovers(0);
}

static int resume_leftovers(void)
{
    return leftovers(1);
}

/* The receiver stops making progress (hung) just after accepting a 64 MiB
 * task: the sender's keepalive declares it dead within the peer timeout,
 * the error names site-b and the phase; the receiver, woken, fails its
 * task, keeping it only under a hidden resume name. */
Test(liveness, hung_receiver_is_declared_dead)
{
    cpn_peer_t *peer;
    char err[1024];
    uint64_t t0;
    cpn_status_t st;

    rx_open("127.0.0.1:0", 60000, 30000);
    tx_open(60000, 700);
    cr_assert_eq(cpn_site_connect(tx, addr, 5000, &peer), CPN_OK);
    atomic_store(&rx.pause_on_offer, 1);
    t0 = cpn_time_ns();
    st = deliver(peer, "hang", 64 * MiB, 20000, err, sizeof(err));
    cr_assert_eq(st, CPN_ERR_TIMEOUT, "%s: %s", cpn_status_str(st), err);
    cr_assert_lt(cpn_time_ns() - t0, 5000000000ull, "took too long to notice");
    cr_assert(strstr(err, "site-b") != NULL, "names no peer: %s", err);
    cr_assert(strstr(err, "dead") != NULL, "%s", err);
    cr_assert(strstr(err, "while sending chunks") != NULL ||
                  strstr(err, "waiting for") != NULL, "names no phase: %s",
              err);
    atomic_store(&rx.pause, 0);   /* the receiver wakes: its task goes */
    t0 = cpn_time_ns();
    while (atomic_load(&rx.failed) < 1 && cpn_time_ns() - t0 < 5000000000ull) {
        cpn_site_progress(tx);
    }
    cr_assert_eq(atomic_load(&rx.failed), 1);
    /* nothing under a visible name; what it verified is kept out of sight
     * for a resume: its directory and journal (none when the receiver
     * failed the task before its ACCEPT could go out) */
    cr_assert_eq(land_leftovers(), 0);
    cr_assert(resume_leftovers() == 0 || resume_leftovers() == 2,
              "%d resume entries", resume_leftovers());
    cpn_peer_close(peer);
}

/* The receiver never answers an offer: the sender's task fails at its 400
 * ms deadline, naming the peer and the phase. */
Test(liveness, sender_deadline_names_peer_and_phase)
{
    uint8_t *data = pattern(1 * MiB);
    cpn_peer_t *peer;
    cpn_task_t *task;
    const char *err;
    cpn_status_t st;

    rx_open("127.0.0.1:0", 60000, 30000);
    tx_open(400, 30000);
    cr_assert_eq(cpn_site_connect(tx, addr, 5000, &peer), CPN_OK);
    rx_pause();                   /* the offer is never answered */
    cr_assert_eq(cpn_task_create(tx, "late", &task), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "d.bin", data, 1 * MiB, NULL), CPN_OK);
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    st = cpn_task_wait(task, 10000);
    err = cpn_task_error(task);
    cr_assert_eq(st, CPN_ERR_TIMEOUT, "%s: %s", cpn_status_str(st), err);
    cr_assert(strstr(err, "deadline") != NULL, "%s", err);
    cr_assert(strstr(err, "site-b") != NULL, "%s", err);
    cr_assert(strstr(err, "waiting for the receiver to accept") != NULL,
              "not the phase it was in: %s", err);
    /* wake the receiver before the task goes, so that puts it may have
     * started complete (a task with puts in flight cannot be freed) */
    atomic_store(&rx.pause, 0);
    cpn_task_destroy(task);
    free(data);
    cpn_peer_close(peer);
}

/* The sender stalls after its offer: the receiver fails the task at its 400
 * ms deadline, leaves nothing, and the sender learns why. */
Test(liveness, receiver_deadline_fails_task_and_tells_sender)
{
    uint8_t *data = pattern(16 * MiB);
    cpn_peer_t *peer;
    cpn_task_t *task;
    uint64_t t0;
    cpn_status_t st;

    rx_open("127.0.0.1:0", 400, 30000);
    tx_open(60000, 30000);
    cr_assert_eq(cpn_site_connect(tx, addr, 5000, &peer), CPN_OK);
    cr_assert_eq(cpn_task_create(tx, "stalled", &task), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "d.bin", data, 16 * MiB, NULL),
                 CPN_OK);
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    /* the sender stalls (no progress) after its offer left */
    t0 = cpn_time_ns();
    while (atomic_load(&rx.failed) < 1 && cpn_time_ns() - t0 < 5000000000ull) {
        usleep(10000);
    }
    cr_assert_eq(atomic_load(&rx.failed), 1, "the receiver never gave up");
    st = cpn_task_wait(task, 5000);
    cr_assert_eq(st, CPN_ERR_TIMEOUT, "%s: %s", cpn_status_str(st),
                 cpn_task_error(task));
    cr_assert(strstr(cpn_task_error(task), "deadline") != NULL, "%s",
              cpn_task_error(task));
    cr_assert(strstr(cpn_task_error(task), "site-a") != NULL, "%s",
              cpn_task_error(task));
    cr_assert_eq(land_leftovers(), 0);
    cpn_task_destroy(task);
    free(data);
    cpn_peer_close(peer);
}

/* The receiving site is closed and started again: the sender, not
 * restarted, connects again and delivers. */
Test(liveness, receiver_restarts_sender_reconnects)
{
    cpn_peer_t *peer;
    char err[1024], fixed[80];
    uint64_t t0;
    cpn_status_t st = CPN_ERR_UNREACHABLE;

    rx_open("127.0.0.1:0", 60000, 30000);
    snprintf(fixed, sizeof(fixed), "%s", addr);
    tx_open(60000, 2000);
    cr_assert_eq(cpn_site_connect(tx, addr, 5000, &peer), CPN_OK);
    cr_assert_eq(deliver(peer, "before", 2 * MiB, 10000, err, sizeof(err)),
                 CPN_OK, "%s", err);
    rx_close();                               /* the receiver restarts */
    t0 = cpn_time_ns();                       /* the sender sees it go */
    while (cpn_time_ns() - t0 < 300000000ull) {
        cpn_site_progress(tx);
    }
    cpn_peer_close(peer);
    t0 = cpn_time_ns();
    while (cpn_time_ns() - t0 < 300000000ull) {
        cpn_site_progress(tx);
    }
    rx_open(fixed, 60000, 30000);             /* on the same address */
    cr_assert_str_eq(addr, fixed);
    t0 = cpn_time_ns();                       /* the sender is not restarted */
    while (cpn_time_ns() - t0 < 10000000000ull) {
        st = cpn_site_connect(tx, addr, 2000, &peer);
        if (st == CPN_OK) {
            break;
        }
        usleep(100000);
    }
    cr_assert_eq(st, CPN_OK, "cannot reconnect: %s", cpn_status_str(st));
    cr_assert_eq(deliver(peer, "after", 2 * MiB, 10000, err, sizeof(err)),
                 CPN_OK, "%s", err);
    cpn_peer_close(peer);
}

/* The sending site is closed and opened again three times: the receiver,
 * not restarted, serves each one. */
Test(liveness, sender_restarts_receiver_keeps_serving)
{
    cpn_peer_t *peer;
    char err[1024];
    int round;

    rx_open("127.0.0.1:0", 60000, 30000);
    for (round = 0; round < 3; round++) {
        char job[32];

        tx_open(60000, 30000);
        cr_assert_eq(cpn_site_connect(tx, addr, 5000, &peer), CPN_OK);
        snprintf(job, sizeof(job), "round-%d", round);
        cr_assert_eq(deliver(peer, job, 3 * MiB, 10000, err, sizeof(err)),
                     CPN_OK, "round %d: %s", round, err);
        cpn_site_close(tx);                   /* the sender goes away */
        tx = NULL;
    }
    cr_assert_eq(atomic_load(&rx.landed), 3);
}
