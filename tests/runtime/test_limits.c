/* SPDX-License-Identifier: Apache-2.0 */
/* Receiver limits and a disk that fills, over UCX on this machine. The
 * landing directory is a small tmpfs mounted for the test (needs root, or
 * the test skips saying so): a task larger than the free space is refused
 * before a byte is written; a disk that fills during a task (another
 * writer takes the space after the offer was accepted) fails that task
 * cleanly, with the sender told "no space", no temporary file left, and the
 * site serving the next task; the site-wide byte limit, the object count
 * and the name length refuse offers with words naming the knob. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpn/cpn.h>

#include "core/clock.h"

#define MiB (1024u * 1024u)

typedef struct rx {
    cpn_site_t *site;
    pthread_t thread;
    atomic_int stop;
    atomic_int fill_now;     /* offer seen: take the disk's space */
    atomic_int filled;
    atomic_int landed, failed;
} rx_t;

static rx_t rx;
static cpn_site_t *tx;
static char dir[256], land[300], filler[320], addr[80];
static int mounted;

static int rm_cb(const char *p, const struct stat *sb, int f, struct FTW *w)
{
    (void)sb; (void)f; (void)w;
    return remove(p);
}

static void on_landed(void *arg, cpn_status_t status, const cpn_receipt_t *r)
{
    (void)r;
    atomic_fetch_add(status == CPN_OK ? &((rx_t *)arg)->landed
                                      : &((rx_t *)arg)->failed, 1);
}

static cpn_status_t on_offer(void *arg, cpn_offer_t *offer)
{
    if (strcmp(cpn_offer_job(offer), "fills-up") == 0) {
        atomic_store(&((rx_t *)arg)->fill_now, 1);
    }
    return CPN_OK;
}

/* Another writer on the same file system: fill the free space with one
 * file, after the offer was checked and accepted. */
static void take_space(void)
{
    static char buf[64 * 1024];
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0) {
        return;
    }
    while (write(fd, buf, sizeof(buf)) > 0) {
    }
    close(fd);
}

static void *rx_main(void *arg)
{
    rx_t *x = arg;

    while (!atomic_load(&x->stop)) {
        cpn_site_wait(x->site, 5);
        if (atomic_exchange(&x->fill_now, 0)) {
            take_space();
            atomic_store(&x->filled, 1);
        }
    }
    return NULL;
}

static void setup(void)
{
    cpn_site_params_t p;
    char opts[64];

    memset(&rx, 0, sizeof(rx));
    snprintf(dir, sizeof(dir), "/tmp/cpn-sec-limits.%d", getpid());
    snprintf(land, sizeof(land), "%s/land", dir);
    snprintf(filler, sizeof(filler), "%s/filler", land);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(mkdir(dir, 0700), 0);
    cr_assert_eq(mkdir(land, 0700), 0);
    snprintf(opts, sizeof(opts), "size=%u,mode=0700", 8 * MiB);
    /* A mount namespace of this test's own (Criterion runs each test in a
     * child process): the tmpfs goes away with it, even after a crash. */
    if (unshare(CLONE_NEWNS) == 0) {
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    }
    if (mount("cpn-sec-tmpfs", land, "tmpfs", 0, opts) != 0) {
        int err = errno;

        rmdir(land);
        rmdir(dir);
        cr_skip_test("cannot mount an 8 MiB tmpfs on %s (%s): this test needs "
                     "root (or CAP_SYS_ADMIN)", land, strerror(err));
    }
    mounted = 1;
    cr_assert_eq(cpn_site_params_init(&p), CPN_OK);
    p.name = "site-b";
    p.land_dir = land;
    p.pool_size = 4 * MiB;
    p.chunk_size = 256 * 1024;
    p.window = 4;
    p.max_objects = 3;
    p.max_name_len = 32;
    p.max_site_bytes = 6 * MiB;
    p.landed_cb = on_landed;
    p.landed_arg = &rx;
    p.offer_cb = on_offer;
    p.offer_arg = &rx;
    cr_assert_eq(cpn_site_open(&p, &rx.site), CPN_OK);
    cr_assert_eq(cpn_site_listen(rx.site, "127.0.0.1:0", addr, sizeof(addr)),
                 CPN_OK);
    cr_assert_eq(pthread_create(&rx.thread, NULL, rx_main, &rx), 0);
    cr_assert_eq(cpn_site_params_init(&p), CPN_OK);
    p.name = "site-a";
    p.pool_size = 4 * MiB;
    p.chunk_size = 256 * 1024;
    p.window = 4;
    cr_assert_eq(cpn_site_open(&p, &tx), CPN_OK);
}

static void teardown(void)
{
    if (!mounted) {
        return;
    }
    cpn_site_close(tx);
    atomic_store(&rx.stop, 1);
    pthread_join(rx.thread, NULL);
    cpn_site_close(rx.site);
    umount2(land, MNT_DETACH);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    mounted = 0;
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 120);

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *b = malloc(len ? len : 1);
    size_t i;

    cr_assert_not_null(b);
    for (i = 0; i < len; i++) {
        b[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 12));
    }
    return b;
}

/* Deliver one object of @p len bytes as @p job; @return the task's status
 * and its error words in @p err. */
static cpn_status_t deliver(cpn_peer_t *peer, const char *job,
                            const char *name, size_t len, unsigned nobj,
                            char *err, size_t errlen)
{
    uint8_t *data = pattern(len, (unsigned)strlen(job));
    cpn_task_t *task;
    cpn_status_t st;
    unsigned i;
    char nm[300];

    cr_assert_eq(cpn_task_create(tx, job, &task), CPN_OK);
    for (i = 0; i < nobj; i++) {
        snprintf(nm, sizeof(nm), "%s%s%u", name, i ? "-" : "", i ? i : 0u);
        if (i == 0) {
            snprintf(nm, sizeof(nm), "%s", name);
        }
        cr_assert_eq(cpn_task_add_mem(task, nm, data, len, NULL), CPN_OK);
    }
    /* the sender knows the receiver's limits from HELLO_ACK and may refuse
     * before anything leaves; otherwise the receiver refuses the offer */
    st = cpn_task_deliver(task, peer, NULL);
    if (st == CPN_INPROGRESS) {
        st = cpn_task_wait(task, 30000);
    }
    snprintf(err, errlen, "%s", cpn_task_error(task) ? cpn_task_error(task) : "");
    cpn_task_destroy(task);
    free(data);
    return st;
}

/* Entries under land other than the filler (and lost+found-like dirs). */
static int land_leftovers(char *first, size_t len)
{
    DIR *d = opendir(land);
    struct dirent *e;
    int n = 0;

    cr_assert_not_null(d);
    first[0] = '\0';
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "filler") == 0) {
            continue;
        }
        if (n++ == 0) {
            snprintf(first, len, "%s", e->d_name);
        }
    }
    closedir(d);
    return n;
}

static cpn_peer_t *connect_tx(void)
{
    cpn_peer_t *peer = NULL;

    cr_assert_eq(cpn_site_connect(tx, addr, 5000, &peer), CPN_OK);
    return peer;
}

/* A 5 MiB task into an 8 MiB tmpfs already holding 4 MiB: refused with
 * CPN_ERR_NO_SPACE before a byte is written; once space is back, it lands. */
Test(limits, larger_than_free_space_refused_before_writing)
{
    cpn_peer_t *peer = connect_tx();
    char err[1024], left[256];

    /* 5 MiB fits the site limit (6 MiB) but not the disk once 4 MiB of
     * other data sit there */
    {
        uint8_t *b = pattern(4 * MiB, 1);
        FILE *f = fopen(filler, "w");

        cr_assert_not_null(f);
        cr_assert_eq(fwrite(b, 1, 4 * MiB, f), 4 * MiB);
        fclose(f);
        free(b);
    }
    cr_assert_eq(deliver(peer, "too-big", "a.bin", 5 * MiB, 1, err,
                         sizeof(err)), CPN_ERR_NO_SPACE, "%s", err);
    cr_assert(strstr(err, "free space") != NULL, "%s", err);
    cr_assert_eq(land_leftovers(left, sizeof(left)), 0, "left: %s", left);
    unlink(filler);
    cr_assert_eq(deliver(peer, "fits", "a.bin", 5 * MiB, 1, err, sizeof(err)),
                 CPN_OK, "%s", err);
    cpn_peer_close(peer);
}

/* Another writer fills the tmpfs right after a 5 MiB task was accepted: the
 * task fails with CPN_ERR_NO_SPACE naming the object, the sender is told,
 * no temporary file stays, and the next task lands. */
Test(limits, disk_fills_during_task_fails_cleanly_then_serves)
{
    cpn_peer_t *peer = connect_tx();
    char err[1024], left[256], path[600];
    struct stat sb;
    uint64_t until;

    cr_assert_eq(deliver(peer, "fills-up", "big.bin", 5 * MiB, 1, err,
                         sizeof(err)), CPN_ERR_NO_SPACE, "%s", err);
    cr_assert(atomic_load(&rx.filled), "the filler never ran");
    cr_assert(strstr(err, "big.bin") != NULL, "error names no object: %s", err);
    cr_assert(strstr(err, "space") != NULL, "error says no space: %s", err);
    until = cpn_time_ns() + 3000000000ull;
    while (atomic_load(&rx.failed) < 1 && cpn_time_ns() < until) {
        cpn_site_progress(tx);
    }
    cr_assert_eq(land_leftovers(left, sizeof(left)), 0,
                 "temporary files left: %s", left);
    /* the space comes back; the same site serves the next task */
    unlink(filler);
    cr_assert_eq(deliver(peer, "next", "n.bin", 1 * MiB, 1, err, sizeof(err)),
                 CPN_OK, "%s", err);
    snprintf(path, sizeof(path), "%s/next/n.bin", land);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_size, 1 * MiB);
    cpn_peer_close(peer);
}

/* Four objects where the site takes three, and a 35-byte name where it
 * takes 32: refused, nothing written. */
Test(limits, objects_and_name_length_refused)
{
    cpn_peer_t *peer = connect_tx();
    char err[1024], left[256];

    cr_assert_neq(deliver(peer, "many", "o", 10, 4, err, sizeof(err)), CPN_OK);
    cr_assert(strstr(err, "objects") != NULL, "%s", err);
    cr_assert_neq(deliver(peer, "long", "a-name-that-is-longer-than-32-bytes",
                          10, 1, err, sizeof(err)), CPN_OK);
    cr_assert(strstr(err, "a-name-that-is-longer") != NULL, "%s", err);
    cr_assert_eq(land_leftovers(left, sizeof(left)), 0, "left: %s", left);
    cpn_peer_close(peer);
}

/* Two tasks in flight at once over the site-wide byte limit: the second
 * offer is refused naming CPN_SITE_MAX_SITE_BYTES; the first lands. */
Test(limits, site_bytes_in_flight_limit)
{
    cpn_peer_t *peer = connect_tx();
    uint8_t *a = pattern(4 * MiB, 3), *b = pattern(4 * MiB, 4);
    cpn_task_t *t1, *t2;
    cpn_status_t s1, s2;

    cr_assert_eq(cpn_task_create(tx, "first", &t1), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(t1, "a.bin", a, 4 * MiB, NULL), CPN_OK);
    cr_assert_eq(cpn_task_create(tx, "second", &t2), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(t2, "b.bin", b, 4 * MiB, NULL), CPN_OK);
    cr_assert_eq(cpn_task_deliver(t1, peer, NULL), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_deliver(t2, peer, NULL), CPN_INPROGRESS);
    s1 = cpn_task_wait(t1, 30000);
    s2 = cpn_task_wait(t2, 30000);
    cr_assert_eq(s1, CPN_OK, "%s", cpn_task_error(t1));
    cr_assert_neq(s2, CPN_OK);
    cr_assert(strstr(cpn_task_error(t2), "CPN_SITE_MAX_SITE_BYTES") != NULL,
              "%s", cpn_task_error(t2));
    cpn_task_destroy(t1);
    cpn_task_destroy(t2);
    free(a);
    free(b);
    cpn_peer_close(peer);
}
