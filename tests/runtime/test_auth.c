/* SPDX-License-Identifier: Apache-2.0 */
/* Site authentication in HELLO (runtime/auth.c), over UCX on this machine:
 * keys from `cpn_keygen`, a delivery between sites that trust each other,
 * and every refusal the issue names, each with nothing written at the
 * receiver and an error that says which: no key, wrong key (a stranger's
 * key, a key under a trusted name, a bad signature, the receiving site's
 * key not trusted by the sender), a replayed HELLO (the recorded bytes of a
 * real HELLO sent again, through a raw transport endpoint), and key files
 * with unsafe permissions. The receiving site runs on its own thread. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <cpn/cpn.h>

#include "core/clock.h"
#include "runtime/wire.h"
#include "transport/transport.h"

typedef struct rx {
    cpn_site_t *site;
    pthread_t thread;
    atomic_int stop;
    atomic_int landed;
    char addr[80];
} rx_t;

static rx_t rx;
static char dir[256], land[300];

static int rm_cb(const char *p, const struct stat *sb, int f, struct FTW *w)
{
    (void)sb; (void)f; (void)w;
    return remove(p);
}

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* Write @p text to DIR/@p name with @p mode. */
static void write_file(const char *name, const char *text, mode_t mode)
{
    char p[512];
    FILE *f;

    path_of(p, sizeof(p), name);
    f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(p, mode), 0);
}

static char *read_text(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n;

    cr_assert_not_null(f, "%s", path);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void keygen(const char *file, const char *name)
{
    char p[512];

    path_of(p, sizeof(p), file);
    cr_assert_eq(cpn_keygen(p, name), CPN_OK);
}

/* "peers" file DIR/@p name made of the .pub files given. */
static void peers_file(const char *name, const char *pub1, const char *pub2)
{
    char p[512], text[4096] = "# trusted sites\n";

    path_of(p, sizeof(p), pub1);
    strcat(text, read_text(p));
    if (pub2 != NULL) {
        path_of(p, sizeof(p), pub2);
        strcat(text, read_text(p));
    }
    write_file(name, text, 0644);
}

static void on_landed(void *arg, cpn_status_t status, const cpn_receipt_t *r)
{
    (void)r;
    if (status == CPN_OK) {
        atomic_fetch_add(&((rx_t *)arg)->landed, 1);
    }
}

static void *rx_main(void *arg)
{
    rx_t *x = arg;

    while (!atomic_load(&x->stop)) {
        cpn_site_wait(x->site, 5);
    }
    return NULL;
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/cpn-sec-auth.%d", getpid());
    snprintf(land, sizeof(land), "%s/land", dir);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(mkdir(dir, 0700), 0);
    cr_assert_geq(sodium_init(), 0);
    keygen("a.key", "site-a");
    keygen("b.key", "site-b");
    keygen("evil.key", "site-a");      /* a stranger claiming site-a's name */
    keygen("other-b.key", "site-b");   /* a stranger claiming site-b's name */
    peers_file("b.peers", "a.key.pub", NULL);
    peers_file("a.peers", "b.key.pub", NULL);
    peers_file("a-wrong.peers", "other-b.key.pub", NULL);
}

static void teardown(void)
{
    if (rx.site != NULL) {
        atomic_store(&rx.stop, 1);
        pthread_join(rx.thread, NULL);
        cpn_site_close(rx.site);
    }
    memset(&rx, 0, sizeof(rx));
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 120);

/* The receiving site-b; @p key/@p peers are file names under DIR or NULL. */
static void start_rx(const char *key, const char *peers)
{
    cpn_site_params_t p;
    char kp[512], pp[512];

    cr_assert_eq(cpn_site_params_init(&p), CPN_OK);
    p.name = "site-b";
    p.land_dir = land;
    p.pool_size = 4u << 20;
    p.chunk_size = 1u << 20;
    p.landed_cb = on_landed;
    p.landed_arg = &rx;
    if (key != NULL) {
        path_of(kp, sizeof(kp), key);
        p.key_file = kp;
    }
    if (peers != NULL) {
        path_of(pp, sizeof(pp), peers);
        p.peers_file = pp;
    }
    cr_assert_eq(cpn_site_open(&p, &rx.site), CPN_OK);
    cr_assert_eq(cpn_site_listen(rx.site, "127.0.0.1:0", rx.addr,
                                 sizeof(rx.addr)), CPN_OK);
    cr_assert_eq(pthread_create(&rx.thread, NULL, rx_main, &rx), 0);
}

static cpn_status_t open_tx(const char *key, const char *peers,
                            cpn_site_t **tx_p)
{
    cpn_site_params_t p;
    char kp[512], pp[512];

    cr_assert_eq(cpn_site_params_init(&p), CPN_OK);
    p.name = "site-a";
    p.pool_size = 4u << 20;
    p.chunk_size = 1u << 20;
    if (key != NULL) {
        path_of(kp, sizeof(kp), key);
        p.key_file = kp;
    }
    if (peers != NULL) {
        path_of(pp, sizeof(pp), peers);
        p.peers_file = pp;
    }
    return cpn_site_open(&p, tx_p);
}

/* Run cpn_site_connect with stderr captured; the log lines go to @p log. */
static cpn_status_t connect_logged(cpn_site_t *tx, cpn_peer_t **peer_p,
                                   char *log, size_t loglen)
{
    char p[512];
    int fd, saved;
    cpn_status_t st;
    FILE *f;
    size_t n;

    path_of(p, sizeof(p), "stderr.log");
    fflush(stderr);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    saved = dup(2);
    dup2(fd, 2);
    close(fd);
    st = cpn_site_connect(tx, rx.addr, 5000, peer_p);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    f = fopen(p, "r");
    cr_assert_not_null(f);
    n = fread(log, 1, loglen - 1, f);
    log[n] = '\0';
    fclose(f);
    return st;
}

static int land_entries(void)
{
    char cmd[600];
    FILE *f;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "find '%s' -mindepth 1 | wc -l", land);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%d", &n), 1);
    pclose(f);
    return n;
}

/* A refused connection: CPN_ERR_AUTH, the log says @p words, and nothing
 * is under the landing directory. */
static void expect_refused(const char *key, const char *peers,
                           const char *words)
{
    cpn_site_t *tx;
    cpn_peer_t *peer = NULL;
    char log[8192];

    cr_assert_eq(open_tx(key, peers, &tx), CPN_OK);
    cr_assert_eq(connect_logged(tx, &peer, log, sizeof(log)), CPN_ERR_AUTH,
                 "log: %s", log);
    cr_assert_null(peer);
    cr_assert(strstr(log, words) != NULL, "want \"%s\" in: %s", words, log);
    cpn_site_close(tx);
    cr_assert_eq(land_entries(), 0, "something was written under %s", land);
}

/* Two sites with keys that list each other: HELLO, AUTH both ways, and a
 * task lands byte-exact. */
Test(auth, trusted_sites_deliver)
{
    static const char data[] = "weights of a trusted site";
    cpn_site_t *tx;
    cpn_peer_t *peer;
    cpn_task_t *task;
    char path[600];
    uint64_t deadline;

    start_rx("b.key", "b.peers");
    cr_assert_eq(open_tx("a.key", "a.peers", &tx), CPN_OK);
    cr_assert_eq(cpn_site_connect(tx, rx.addr, 5000, &peer), CPN_OK);
    cr_assert_str_eq(cpn_peer_name(peer), "site-b");
    cr_assert_eq(cpn_task_create(tx, "job-auth", &task), CPN_OK);
    cr_assert_eq(cpn_task_add_mem(task, "w.bin", data, sizeof(data), NULL),
                 CPN_OK);
    cr_assert_eq(cpn_task_deliver(task, peer, NULL), CPN_INPROGRESS);
    cr_assert_eq(cpn_task_wait(task, 10000), CPN_OK, "%s",
                 cpn_task_error(task));
    deadline = cpn_time_ns() + 5000000000ull;
    while (atomic_load(&rx.landed) < 1 && cpn_time_ns() < deadline) {
        cpn_site_progress(tx);
    }
    snprintf(path, sizeof(path), "%s/job-auth/w.bin", land);
    cr_assert_str_eq(read_text(path), data);
    cpn_task_destroy(task);
    cpn_peer_close(peer);
    cpn_site_close(tx);
}

/* A sender with no key connects to a site that requires keys: refused, "no
 * key", nothing written. */
Test(auth, no_key_refused)
{
    start_rx("b.key", "b.peers");
    expect_refused(NULL, NULL, "no key");
}

/* A stranger with its own key claims a trusted site's name: refused, "wrong
 * key", nothing written. */
Test(auth, stranger_key_under_trusted_name_refused)
{
    start_rx("b.key", "b.peers");
    expect_refused("evil.key", NULL, "wrong key");
}

/* The receiving site's key is not the one the sender's peers file lists for
 * it (mutual check): the sender refuses, "wrong key". */
Test(auth, receiver_key_not_trusted_by_sender)
{
    start_rx("b.key", "b.peers");
    expect_refused("a.key", "a-wrong.peers", "wrong key");
}

/* A receiving site with no key at all, and a sender that requires one: the
 * sender refuses, "no key". */
Test(auth, receiver_without_key_refused_by_sender)
{
    start_rx(NULL, NULL);
    expect_refused("a.key", "a.peers", "no key");
}

/* Key file readable by the group (0640) and peers file writable by all
 * (0666): the site refuses to open, saying "unsafe permissions". */
Test(auth, unsafe_key_permissions_refused)
{
    cpn_site_t *tx = NULL;
    char p[512];

    path_of(p, sizeof(p), "a.key");
    cr_assert_eq(chmod(p, 0640), 0);
    cr_assert_eq(open_tx("a.key", NULL, &tx), CPN_ERR_CONFIG);
    cr_assert_null(tx);
    cr_assert_eq(chmod(p, 0600), 0);
    path_of(p, sizeof(p), "a.peers");
    cr_assert_eq(chmod(p, 0666), 0);
    cr_assert_eq(open_tx("a.key", "a.peers", &tx), CPN_ERR_CONFIG);
    cr_assert_eq(chmod(p, 0644), 0);
    cr_assert_eq(open_tx("a.key", "a.peers", &tx), CPN_OK);
    cpn_site_close(tx);
}

/* cpn_keygen over an existing key, and with a site name holding a space:
 * refused, the old key kept. */
Test(auth, keygen_does_not_overwrite)
{
    char p[512];

    path_of(p, sizeof(p), "a.key");
    cr_assert_eq(cpn_keygen(p, "site-a"), CPN_ERR_EXISTS);
    cr_assert_eq(cpn_keygen(p, "bad name"), CPN_ERR_INVALID);
}

/* ---- a raw endpoint: what an attacker on the path could send ---- */

typedef struct raw {
    const cpn_transport_ops_t *ops;
    cpn_tp_iface_t *iface;
    int got_ack, got_auth;
    int32_t ack_status;
    char ack_err[512];
    cpn_wire_auth_t auth;
} raw_t;

static void raw_recv(void *arg, cpn_tp_ep_t *ep, const void *data, size_t len)
{
    raw_t *r = arg;
    cpn_wire_hello_ack_t ack;

    (void)ep;
    if (cpn_wire_decode_hello_ack(data, len, NULL, &ack) == CPN_OK) {
        r->ack_status = ack.status;
        snprintf(r->ack_err, sizeof(r->ack_err), "%.*s", (int)ack.error.len,
                 ack.error.ptr);
        r->got_ack = 1;
    } else if (cpn_wire_decode_auth(data, len, NULL, &r->auth) == CPN_OK) {
        r->got_auth = 1;
    }
}

static void noop_comp(void *arg, cpn_status_t status)
{
    (void)arg;
    (void)status;
}

static cpn_tp_ep_t *raw_connect(raw_t *r)
{
    char host[64];
    uint16_t port;
    cpn_tp_ep_t *ep;

    cr_assert_eq(cpn__tp_parse_addr(rx.addr, host, sizeof(host), &port),
                 CPN_OK);
    cr_assert_eq(r->ops->connect(r->iface, host, port, &ep), CPN_OK);
    return ep;
}

static void raw_send(raw_t *r, cpn_tp_ep_t *ep, const cpn_wire_buf_t *b)
{
    cr_assert_geq(r->ops->send(ep, b->data, b->len, noop_comp, NULL), CPN_OK);
}

static void raw_wait(raw_t *r, int *flag)
{
    uint64_t deadline = cpn_time_ns() + 5000000000ull;

    while (!*flag && cpn_time_ns() < deadline) {
        r->ops->progress(r->iface);
    }
    cr_assert(*flag, "no answer within 5 s");
}

static void raw_open(raw_t *r)
{
    cpn_tp_handlers_t h;
    cpn_tp_params_t tp = {.site_name = "attacker"};

    memset(r, 0, sizeof(*r));
    r->ops = cpn__tp_find("ucx");
    cr_assert_not_null(r->ops);
    memset(&h, 0, sizeof(h));
    h.recv = raw_recv;
    h.arg = r;
    cr_assert_eq(r->ops->open(&tp, &h, &r->iface), CPN_OK);
}

/* site-a's public key, from its .pub file. */
static void pub_of(const char *file, uint8_t *pk)
{
    char p[512], hex[80];
    size_t n = 0;

    path_of(p, sizeof(p), file);
    cr_assert_eq(sscanf(read_text(p), "cpn-ed25519 %79s", hex), 1);
    cr_assert_eq(sodium_hex2bin(pk, 32, hex, strlen(hex), NULL, &n, NULL), 0);
    cr_assert_eq(n, 32);
}

static void hello_bytes(cpn_wire_buf_t *b, const uint8_t *nonce)
{
    cpn_wire_hello_t h;

    memset(&h, 0, sizeof(h));
    h.proto_min = h.proto_max = CPN_PROTO_VERSION;
    h.site = cpn_wire_str("site-a");
    h.transport = cpn_wire_str("ucx");
    h.has_key = 1;
    memcpy(h.nonce, nonce, 32);
    pub_of("a.key.pub", h.pubkey);
    cpn_wire_buf_init(b);
    cr_assert_eq(cpn_wire_encode_hello(b, &h), CPN_OK);
}

/* The very bytes of a HELLO (site-a's real key and a nonce), sent again on
 * a new connection: refused as a replay before any challenge. */
Test(auth, replayed_hello_refused)
{
    uint8_t nonce[32];
    cpn_wire_buf_t b;
    cpn_tp_ep_t *ep1, *ep2;
    raw_t r;

    start_rx("b.key", "b.peers");
    raw_open(&r);
    randombytes_buf(nonce, sizeof(nonce));
    hello_bytes(&b, nonce);
    ep1 = raw_connect(&r);
    raw_send(&r, ep1, &b);
    raw_wait(&r, &r.got_auth);          /* first time: challenged */
    cr_assert_eq(r.auth.step, 1);
    cr_assert(!r.got_ack);
    ep2 = raw_connect(&r);
    raw_send(&r, ep2, &b);              /* the recorded HELLO again */
    raw_wait(&r, &r.got_ack);
    cr_assert_eq(r.ack_status, CPN_ERR_AUTH);
    cr_assert(strstr(r.ack_err, "replayed HELLO") != NULL, "%s", r.ack_err);
    r.ops->ep_close(ep2);
    r.ops->ep_close(ep1);
    r.ops->close(r.iface);
    cpn_wire_buf_free(&b);
    cr_assert_eq(land_entries(), 0);
}

/* A trusted name and key in HELLO, but the answer to the challenge is not
 * signed by that key (an attacker who copied the public key): refused. */
Test(auth, bad_signature_refused)
{
    uint8_t nonce[32];
    cpn_wire_auth_t ans;
    cpn_wire_buf_t b;
    cpn_tp_ep_t *ep;
    raw_t r;

    start_rx("b.key", "b.peers");
    raw_open(&r);
    randombytes_buf(nonce, sizeof(nonce));
    hello_bytes(&b, nonce);
    ep = raw_connect(&r);
    raw_send(&r, ep, &b);
    raw_wait(&r, &r.got_auth);
    memset(&ans, 0, sizeof(ans));
    ans.step = 2;
    randombytes_buf(ans.sig, sizeof(ans.sig));
    cpn_wire_buf_free(&b);   /* the HELLO send completed: AUTH(1) came back */
    cpn_wire_buf_init(&b);
    cr_assert_eq(cpn_wire_encode_auth(&b, &ans), CPN_OK);
    raw_send(&r, ep, &b);
    raw_wait(&r, &r.got_ack);
    cr_assert_eq(r.ack_status, CPN_ERR_AUTH);
    cr_assert(strstr(r.ack_err, "wrong key") != NULL, "%s", r.ack_err);
    cr_assert(strstr(r.ack_err, "bad signature") != NULL, "%s", r.ack_err);
    r.ops->ep_close(ep);
    r.ops->close(r.iface);
    cpn_wire_buf_free(&b);
    cr_assert_eq(land_entries(), 0);
}

/* An OFFER sent without any HELLO, and one after a refused HELLO, are
 * dropped: no byte lands. */
Test(auth, offer_without_auth_writes_nothing)
{
    static const uint8_t payload[] = "stranger data";
    cpn_wire_object_t obj;
    cpn_wire_buf_t b, b2;   /* two buffers: a send may still read the first */
    cpn_wire_hello_t h;
    cpn_tp_ep_t *ep;
    raw_t r;
    uint64_t until;

    start_rx("b.key", "b.peers");
    raw_open(&r);
    ep = raw_connect(&r);
    cpn_wire_buf_init(&b);
    memset(&h, 0, sizeof(h));
    h.proto_min = h.proto_max = CPN_PROTO_VERSION;
    h.site = cpn_wire_str("site-a");
    h.transport = cpn_wire_str("ucx");
    randombytes_buf(h.nonce, sizeof(h.nonce));   /* no key */
    cr_assert_eq(cpn_wire_encode_hello(&b, &h), CPN_OK);
    raw_send(&r, ep, &b);
    cpn_wire_buf_init(&b2);
    cr_assert_eq(cpn_wire_offer_begin(&b2, 1, cpn_wire_str("stolen"),
                                      cpn_wire_str(NULL), 1u << 20), CPN_OK);
    obj = (cpn_wire_object_t){ .name = cpn_wire_str("x.bin"),
                               .size = sizeof(payload),
                               .flags = CPN_WIRE_OBJ_INLINE,
                               .data = payload };
    cr_assert_eq(cpn_wire_offer_add(&b2, &obj), CPN_OK);
    cr_assert_eq(cpn_wire_offer_end(&b2), CPN_OK);
    raw_send(&r, ep, &b2);
    raw_wait(&r, &r.got_ack);
    cr_assert_eq(r.ack_status, CPN_ERR_AUTH);
    cr_assert(strstr(r.ack_err, "no key") != NULL, "%s", r.ack_err);
    until = cpn_time_ns() + 300000000ull;
    while (cpn_time_ns() < until) {
        r.ops->progress(r.iface);
    }
    r.ops->ep_close(ep);
    r.ops->close(r.iface);
    cpn_wire_buf_free(&b);
    cpn_wire_buf_free(&b2);
    cr_assert_eq(land_entries(), 0);
    cr_assert_eq(atomic_load(&rx.landed), 0);
}
