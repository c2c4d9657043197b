/* SPDX-License-Identifier: Apache-2.0 */
/* The harness of the runtime tests that run two sites in one process over
 * UCX: the receiving site ("site-b", landing into a temporary directory or
 * into one memory sink) on its own thread, the sending site ("site-a")
 * driven by the test's thread, and the checks they share. Included once
 * per test program: it defines the two sites as statics. */
#ifndef CPN_TESTS_TWO_SITES_H
#define CPN_TESTS_TWO_SITES_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
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

#define MiB (1024ull * 1024)

typedef struct rx {
    cpn_site_t *site;
    pthread_t thread;
    atomic_int stop;
    char addr[80];
    char land[256];
    /* landed_cb records */
    atomic_int landed;
    atomic_int failed;
    cpn_status_t last_status;
    char last_job[256];
    char last_name[256];
    /* memory sinks, when enabled */
    int use_sink;
    uint8_t *sink;
    size_t sink_len;
    cpn_mem_t *sink_mem;
    char spec_seen[256];
} rx_t;

static rx_t rx;
static cpn_site_t *tx;

static inline int rm_cb(const char *p, const struct stat *sb, int f, struct FTW *w)
{
    (void)sb; (void)f; (void)w;
    return remove(p);
}

static inline void rm_rf(const char *p)
{
    nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void on_landed(void *arg, cpn_status_t status, const cpn_receipt_t *r)
{
    rx_t *x = arg;

    x->last_status = status;
    snprintf(x->last_job, sizeof(x->last_job), "%s", r->job);
    if (status == CPN_OK) {
        atomic_fetch_add(&x->landed, 1);
    } else {
        atomic_fetch_add(&x->failed, 1);
    }
}

static inline cpn_status_t on_offer(void *arg, cpn_offer_t *offer)
{
    rx_t *x = arg;
    size_t i, off = 0, len;
    const void *spec = cpn_offer_spec(offer, &len);

    snprintf(x->spec_seen, sizeof(x->spec_seen), "%.*s", (int)len,
             (const char *)spec);
    if (!x->use_sink) {
        return CPN_OK;
    }
    for (i = 0; i < cpn_offer_count(offer); i++) {
        uint64_t sz = cpn_offer_size(offer, i);

        if (off + sz > x->sink_len) {
            return CPN_ERR_LIMIT;
        }
        cr_assert_eq(cpn_offer_set_sink(offer, i, x->sink + off, x->sink_mem),
                     CPN_OK);
        off += sz;
    }
    return CPN_OK;
}

static inline void *rx_main(void *arg)
{
    rx_t *x = arg;

    while (!atomic_load(&x->stop)) {
        cpn_site_wait(x->site, 5);
    }
    return NULL;
}

static inline void setup_sites(size_t pool, size_t chunk)
{
    cpn_site_params_t p;

    memset(&rx, 0, sizeof(rx));
    snprintf(rx.land, sizeof(rx.land), "/tmp/cpn-test-land.%d", getpid());
    rm_rf(rx.land);
    cr_assert_eq(cpn_site_params_init(&p), CPN_OK);
    p.name = "site-b";
    p.land_dir = rx.land;
    p.pool_size = pool;
    p.chunk_size = chunk;
    p.landed_cb = on_landed;
    p.landed_arg = &rx;
    p.offer_cb = on_offer;
    p.offer_arg = &rx;
    cr_assert_eq(cpn_site_open(&p, &rx.site), CPN_OK);
    cr_assert_eq(cpn_site_listen(rx.site, "127.0.0.1:0", rx.addr,
                                 sizeof(rx.addr)), CPN_OK);
    cr_assert_eq(cpn_site_params_init(&p), CPN_OK);
    p.name = "site-a";
    p.chunk_size = chunk;
    p.pool_size = pool;
    cr_assert_eq(cpn_site_open(&p, &tx), CPN_OK);
}

/* Land every object in one memory sink of @p len bytes, back to back,
 * registered with the receiving site (call after setup_sites). */
static inline void use_sink(size_t len)
{
    rx.use_sink = 1;
    rx.sink_len = len;
    rx.sink = calloc(1, len);
    cr_assert_not_null(rx.sink);
    cr_assert_eq(cpn_site_mem_reg(rx.site, rx.sink, len, &rx.sink_mem),
                 CPN_OK);
}

/* Write @p len bytes of @p data to a source file beside the landing
 * directory ("LAND.src", removed by teardown_sites); its path into @p path. */
static inline void src_file(char *path, size_t path_len, const uint8_t *data,
                            size_t len)
{
    FILE *f;

    snprintf(path, path_len, "%s.src", rx.land);
    f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static inline void start_rx(void)
{
    cr_assert_eq(pthread_create(&rx.thread, NULL, rx_main, &rx), 0);
}

static inline void teardown_sites(void)
{
    char src[300];

    atomic_store(&rx.stop, 1);
    pthread_join(rx.thread, NULL);
    cpn_site_close(tx);
    if (rx.sink_mem != NULL) {
        cpn_site_mem_dereg(rx.sink_mem);
    }
    cpn_site_close(rx.site);
    free(rx.sink);
    snprintf(src, sizeof(src), "%s.src", rx.land);
    unlink(src);
    rm_rf(rx.land);
}

static inline void fill(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    size_t i;

    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

static inline void assert_file_eq(const char *path, const uint8_t *want, size_t len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *got;
    size_t n;

    cr_assert_not_null(f, "landed file %s is missing: %s", path,
                       strerror(errno));
    got = malloc(len + 1);
    n = fread(got, 1, len + 1, f);
    fclose(f);
    cr_assert_eq(n, len, "%s has %zu bytes, want %zu", path, n, len);
    cr_assert(memcmp(got, want, len) == 0, "%s differs from its source", path);
    free(got);
}

static inline cpn_peer_t *connect_tx(void)
{
    cpn_peer_t *peer = NULL;

    cr_assert_eq(cpn_site_connect(tx, rx.addr, 5000, &peer), CPN_OK);
    cr_assert_str_eq(cpn_peer_name(peer), "site-b");
    cr_assert(strlen(cpn_peer_lanes(peer)) > 0);
    return peer;
}

static inline int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

static inline void wait_landed_or_failed(int landed, int failed)
{
    uint64_t deadline = cpn_time_ns() + 10000000000ull;

    while ((atomic_load(&rx.landed) < landed ||
            atomic_load(&rx.failed) < failed) &&
           cpn_time_ns() < deadline) {
        /* the sender's last messages (CANCEL) go out only with progress */
        cpn_site_progress(tx);
    }
}

#endif
