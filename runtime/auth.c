/* SPDX-License-Identifier: Apache-2.0 */
/* Mutual authentication of sites with Ed25519 keys (libsodium).
 *
 * A site may have a key file (its secret key) and a peers file (the public
 * keys of the sites it trusts, "cpn-ed25519 HEX NAME" per line). The
 * handshake, on top of HELLO (protocol 2):
 *
 *   connecting C -> receiving S   HELLO   {nonce_c, pk_c or none}
 *   S: refuse a nonce_c seen before (replayed HELLO); refuse when S has a
 *      peers file and C presents no key (no key) or a key other than the
 *      one listed for C's name (wrong key)
 *   S -> C   AUTH(1) {nonce_s, pk_s, sign_S("cpn-auth-2 S" nonce_c nonce_s pk_c pk_s)}
 *   C: when C has a peers file, pk_s must be listed and the signature
 *      verify, else C gives up (wrong key); the HELLO_ACK must then carry
 *      the name listed for pk_s
 *   C -> S   AUTH(2) {sign_C("cpn-auth-2 C" nonce_c nonce_s pk_c pk_s)}
 *   S: verify against the listed key (wrong key), then HELLO_ACK.
 *
 * A site without a key sends no AUTH(1) and answers HELLO at once; a site
 * with a peers file requires the other side's proof (in both roles), so a
 * stranger can never reach OFFER. Each side signs over both fresh nonces:
 * an old AUTH(2) never verifies against a new challenge, and the receiver
 * also remembers recent nonces to name a replay as such. */
#include "runtime/auth.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <cpn/auth.h>

#include "core/log.h"
#include "runtime/site_int.h"

#define AUTH_MAX_PEERS   4096
#define AUTH_SEEN_NONCES 4096   /* HELLO nonces remembered against replays */
#define AUTH_CTX_S       "cpn-auth-2 S"
#define AUTH_CTX_C       "cpn-auth-2 C"

typedef struct auth_peer_key {
    char name[256];
    uint8_t pk[CPN_WIRE_PUBKEY_LEN];
} auth_peer_key_t;

struct cpn_auth {
    int has_key;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    auth_peer_key_t *peers;       /* NULL: no peers file, nobody checked */
    size_t npeers;
    int check_peers;
    char peers_file[256];
    uint8_t (*seen)[CPN_WIRE_NONCE_LEN];
    size_t nseen, seen_next;
};

/* ---- files ---- */

static int hex_decode(const char *hex, size_t hexlen, uint8_t *out,
                      size_t outlen)
{
    size_t bin_len = 0;

    return sodium_hex2bin(out, outlen, hex, hexlen, NULL, &bin_len, NULL) ==
               0 && bin_len == outlen;
}

/* Read a small text file after checking its mode: @p forbid are the mode
 * bits it must not have. @return malloc'd NUL-terminated text, or NULL
 * (logged, *st_p says why). */
static char *read_key_file(const char *path, mode_t forbid, const char *what,
                           cpn_status_t *st_p)
{
    struct stat sb;
    char *text;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        cpn_error("cannot open %s %s: %s", what, path, strerror(errno));
        *st_p = CPN_ERR_IO;
        return NULL;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        cpn_error("%s %s is not a regular file", what, path);
        close(fd);
        *st_p = CPN_ERR_CONFIG;
        return NULL;
    }
    if ((sb.st_mode & forbid) != 0) {
        cpn_error("%s %s has unsafe permissions %04o (%s): run chmod %s %s",
                  what, path, (unsigned)(sb.st_mode & 07777),
                  (forbid & 044) ? "readable by group or others"
                                 : "writable by group or others",
                  (forbid & 044) ? "600" : "go-w", path);
        close(fd);
        *st_p = CPN_ERR_CONFIG;
        return NULL;
    }
    if (sb.st_size > (1 << 20)) {
        cpn_error("%s %s is larger than 1 MiB", what, path);
        close(fd);
        *st_p = CPN_ERR_CONFIG;
        return NULL;
    }
    text = malloc((size_t)sb.st_size + 1);
    if (text == NULL) {
        close(fd);
        *st_p = CPN_ERR_NO_MEMORY;
        return NULL;
    }
    n = read(fd, text, (size_t)sb.st_size);
    close(fd);
    if (n != sb.st_size) {
        cpn_error("cannot read %s %s", what, path);
        free(text);
        *st_p = CPN_ERR_IO;
        return NULL;
    }
    text[n] = '\0';
    return text;
}

static cpn_status_t load_secret(cpn_auth_t *a, const char *path)
{
    cpn_status_t st = CPN_OK;
    char *text = read_key_file(path, 077, "key file", &st);
    char *hex, *end;

    if (text == NULL) {
        return st;
    }
    hex = strstr(text, "cpn-ed25519-secret ");
    if (hex != text) {
        goto bad;
    }
    hex += strlen("cpn-ed25519-secret ");
    end = hex + strcspn(hex, " \n");
    if (!hex_decode(hex, (size_t)(end - hex), a->sk, sizeof(a->sk))) {
        goto bad;
    }
    crypto_sign_ed25519_sk_to_pk(a->pk, a->sk);
    a->has_key = 1;
    sodium_memzero(text, strlen(text));
    free(text);
    return CPN_OK;
bad:
    sodium_memzero(text, strlen(text));
    free(text);
    cpn_error("key file %s is not a cpn secret key (make one with `cpn "
              "keygen`)", path);
    return CPN_ERR_CONFIG;
}

static cpn_status_t load_peers(cpn_auth_t *a, const char *path)
{
    cpn_status_t st = CPN_OK;
    char *text = read_key_file(path, 022, "peers file", &st);
    char *line, *save = NULL;
    unsigned lineno = 0;

    if (text == NULL) {
        return st;
    }
    snprintf(a->peers_file, sizeof(a->peers_file), "%s", path);
    a->peers = calloc(AUTH_MAX_PEERS, sizeof(*a->peers));
    if (a->peers == NULL) {
        free(text);
        return CPN_ERR_NO_MEMORY;
    }
    a->check_peers = 1;
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char kind[32], hex[80], name[256];
        auth_peer_key_t *p;

        lineno++;
        line += strspn(line, " \t");
        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        if (sscanf(line, "%31s %79s %255s", kind, hex, name) != 3 ||
            strcmp(kind, "cpn-ed25519") != 0 || a->npeers >= AUTH_MAX_PEERS) {
            goto bad;
        }
        p = &a->peers[a->npeers];
        if (!hex_decode(hex, strlen(hex), p->pk, sizeof(p->pk))) {
            goto bad;
        }
        snprintf(p->name, sizeof(p->name), "%s", name);
        a->npeers++;
    }
    free(text);
    return CPN_OK;
bad:
    free(text);
    cpn_error("peers file %s, line %u: expected \"cpn-ed25519 HEX NAME\" (the "
              "line of a .pub file from `cpn keygen`), at most %u lines",
              path, lineno, AUTH_MAX_PEERS);
    return CPN_ERR_CONFIG;
}

cpn_status_t cpn__auth_open(cpn_site_t *site)
{
    const char *key = site->params.key_file, *peers = site->params.peers_file;
    cpn_auth_t *a;
    cpn_status_t st;

    site->auth = NULL;
    if ((key == NULL || key[0] == '\0') && (peers == NULL || peers[0] == '\0')) {
        return CPN_OK;
    }
    if (sodium_init() < 0) {
        cpn_error("site %s: libsodium failed to initialise", site->name);
        return CPN_ERR_CONFIG;
    }
    if (key == NULL || key[0] == '\0') {
        cpn_error("site %s: a peers file (%s) needs a key file too, so this "
                  "site can prove itself: make one with `cpn keygen` and set "
                  "CPN_SITE_KEY_FILE (--key)", site->name, peers);
        return CPN_ERR_CONFIG;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    a->seen = calloc(AUTH_SEEN_NONCES, sizeof(*a->seen));
    if (a->seen == NULL) {
        free(a);
        return CPN_ERR_NO_MEMORY;
    }
    st = load_secret(a, key);
    if (st == CPN_OK && peers != NULL && peers[0] != '\0') {
        st = load_peers(a, peers);
    }
    if (st != CPN_OK) {
        site->auth = a;
        cpn__auth_close(site);
        return st;
    }
    site->auth = a;
    return CPN_OK;
}

void cpn__auth_close(cpn_site_t *site)
{
    cpn_auth_t *a = site->auth;

    if (a == NULL) {
        return;
    }
    sodium_memzero(a->sk, sizeof(a->sk));
    free(a->peers);
    free(a->seen);
    free(a);
    site->auth = NULL;
}

cpn_status_t cpn_keygen(const char *secret_path, const char *name)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char hex[2 * crypto_sign_SECRETKEYBYTES + 1], pub_path[4096];
    const char *c;
    FILE *f;
    int fd;

    if (secret_path == NULL || name == NULL || name[0] == '\0' ||
        strlen(name) > 255) {
        return CPN_ERR_INVALID;
    }
    for (c = name; *c != '\0'; c++) {
        if (*c <= ' ' || *c == 0x7f) {
            cpn_error("site name \"%s\" has a space or control character; a "
                      "key line cannot hold it", name);
            return CPN_ERR_INVALID;
        }
    }
    if (sodium_init() < 0) {
        return CPN_ERR_IO;
    }
    snprintf(pub_path, sizeof(pub_path), "%s.pub", secret_path);
    if (access(pub_path, F_OK) == 0) {
        cpn_error("%s exists; not overwriting a key", pub_path);
        return CPN_ERR_EXISTS;
    }
    fd = open(secret_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        cpn_error("cannot create key file %s: %s", secret_path,
                  strerror(errno));
        return errno == EEXIST ? CPN_ERR_EXISTS : CPN_ERR_IO;
    }
    crypto_sign_keypair(pk, sk);
    sodium_bin2hex(hex, sizeof(hex), sk, sizeof(sk));
    f = fdopen(fd, "w");
    if (f == NULL || fprintf(f, "cpn-ed25519-secret %s %s\n", hex, name) < 0 ||
        fclose(f) != 0) {
        cpn_error("cannot write key file %s", secret_path);
        sodium_memzero(sk, sizeof(sk));
        sodium_memzero(hex, sizeof(hex));
        unlink(secret_path);
        return CPN_ERR_IO;
    }
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(hex, sizeof(hex));
    sodium_bin2hex(hex, sizeof(hex), pk, sizeof(pk));
    fd = open(pub_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL || fprintf(f, "cpn-ed25519 %s %s\n", hex, name) < 0 ||
        fclose(f) != 0) {
        cpn_error("cannot write public key file %s: %s", pub_path,
                  strerror(errno));
        unlink(secret_path);
        return CPN_ERR_IO;
    }
    return CPN_OK;
}

/* ---- the handshake ---- */

static const auth_peer_key_t *peer_by_name(const cpn_auth_t *a,
                                           const char *name)
{
    size_t i;

    for (i = 0; i < a->npeers; i++) {
        if (strcmp(a->peers[i].name, name) == 0) {
            return &a->peers[i];
        }
    }
    return NULL;
}

static const auth_peer_key_t *peer_by_key(const cpn_auth_t *a,
                                          const uint8_t *pk)
{
    size_t i;

    for (i = 0; i < a->npeers; i++) {
        if (sodium_memcmp(a->peers[i].pk, pk, CPN_WIRE_PUBKEY_LEN) == 0) {
            return &a->peers[i];
        }
    }
    return NULL;
}

/* The bytes each side signs: context, both nonces, both keys. */
static void transcript(const cpn_auth_peer_t *ap, const char *ctx,
                       uint8_t *out, size_t *len_p)
{
    size_t n = strlen(ctx);

    memcpy(out, ctx, n);
    memcpy(out + n, ap->nonce_c, CPN_WIRE_NONCE_LEN);
    n += CPN_WIRE_NONCE_LEN;
    memcpy(out + n, ap->nonce_s, CPN_WIRE_NONCE_LEN);
    n += CPN_WIRE_NONCE_LEN;
    memcpy(out + n, ap->pk_c, CPN_WIRE_PUBKEY_LEN);
    n += CPN_WIRE_PUBKEY_LEN;
    memcpy(out + n, ap->pk_s, CPN_WIRE_PUBKEY_LEN);
    n += CPN_WIRE_PUBKEY_LEN;
    *len_p = n;
}

#define AUTH_TRANSCRIPT_MAX (32 + 2 * CPN_WIRE_NONCE_LEN + 2 * CPN_WIRE_PUBKEY_LEN)

static void key_hint(const uint8_t *pk, char *out, size_t outlen)
{
    char hex[2 * CPN_WIRE_PUBKEY_LEN + 1];

    sodium_bin2hex(hex, sizeof(hex), pk, CPN_WIRE_PUBKEY_LEN);
    snprintf(out, outlen, "%.16s...", hex);
}

cpn_status_t cpn__auth_hello_fill(cpn_peer_t *peer, cpn_wire_hello_t *hello)
{
    cpn_auth_t *a = peer->site->auth;
    cpn_auth_peer_t *ap = &peer->auth;

    if (sodium_init() < 0) {
        return CPN_ERR_IO;
    }
    randombytes_buf(ap->nonce_c, sizeof(ap->nonce_c));
    hello->has_auth = 1; /* proto_max is 2: the block goes out */
    memcpy(hello->nonce, ap->nonce_c, sizeof(ap->nonce_c));
    if (a != NULL && a->has_key) {
        hello->has_key = 1;
        memcpy(hello->pubkey, a->pk, sizeof(a->pk));
        memcpy(ap->pk_c, a->pk, sizeof(a->pk));
        ap->has_key = 1;
    }
    return CPN_OK;
}

static cpn_status_t refuse(cpn_peer_t *peer, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static cpn_status_t refuse(cpn_peer_t *peer, const char *fmt, ...)
{
    char why[CPN_ERRTEXT_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    cpn_warn("site %s: %s (%s)", peer->site->name, why, peer->addr);
    cpn__hello_refuse(peer, CPN_ERR_AUTH, why);
    return CPN_ERR_AUTH;
}

/* Remember @p nonce; @return 1 when it was seen before. */
static int nonce_seen(cpn_auth_t *a, const uint8_t *nonce)
{
    size_t i;

    for (i = 0; i < a->nseen; i++) {
        if (memcmp(a->seen[i], nonce, CPN_WIRE_NONCE_LEN) == 0) {
            return 1;
        }
    }
    memcpy(a->seen[a->seen_next], nonce, CPN_WIRE_NONCE_LEN);
    a->seen_next = (a->seen_next + 1) % AUTH_SEEN_NONCES;
    if (a->nseen < AUTH_SEEN_NONCES) {
        a->nseen++;
    }
    return 0;
}

cpn_status_t cpn__auth_on_hello(cpn_peer_t *peer, const cpn_wire_hello_t *h)
{
    cpn_site_t *site = peer->site;
    cpn_auth_t *a = site->auth;
    cpn_auth_peer_t *ap = &peer->auth;
    uint8_t msg[AUTH_TRANSCRIPT_MAX];
    cpn_wire_auth_t auth;
    char hint[40];
    cpn_msg_t *m;
    size_t n;

    if (a == NULL) {
        return CPN_OK; /* this site checks nobody and proves nothing */
    }
    if (a->check_peers) {
        const auth_peer_key_t *listed;

        if (!h->has_auth) {
            return refuse(peer, "no key: peer %s sent no authentication; "
                          "site %s requires a key (cpn keygen; --key or "
                          "CPN_SITE_KEY_FILE)", peer->name, site->name);
        }
        if (nonce_seen(a, h->nonce)) {
            return refuse(peer, "replayed HELLO: peer \"%s\" sent a nonce "
                          "this site has seen before; refused", peer->name);
        }
        if (!h->has_key) {
            return refuse(peer, "no key: peer %s presented no key; site %s "
                          "requires one listed in %s (cpn keygen; --key or "
                          "CPN_SITE_KEY_FILE there)", peer->name, site->name,
                          a->peers_file);
        }
        listed = peer_by_name(a, peer->name);
        if (listed == NULL ||
            sodium_memcmp(listed->pk, h->pubkey, CPN_WIRE_PUBKEY_LEN) != 0) {
            key_hint(h->pubkey, hint, sizeof(hint));
            return refuse(peer, "wrong key: peer %s presented key %s, which "
                          "%s lists %s", peer->name, hint, a->peers_file,
                          listed == NULL ? "no key for it (add its .pub line)"
                                         : "under another key for it");
        }
    } else if (h->has_auth) {
        (void)nonce_seen(a, h->nonce);
    }
    if (!h->has_auth) {
        return CPN_OK; /* cannot challenge it; nothing required */
    }
    memcpy(ap->nonce_c, h->nonce, CPN_WIRE_NONCE_LEN);
    ap->has_key = h->has_key;
    memcpy(ap->pk_c, h->pubkey, CPN_WIRE_PUBKEY_LEN);
    randombytes_buf(ap->nonce_s, sizeof(ap->nonce_s));
    memcpy(ap->pk_s, a->pk, sizeof(a->pk));
    memset(&auth, 0, sizeof(auth));
    auth.step = 1;
    memcpy(auth.nonce, ap->nonce_s, sizeof(auth.nonce));
    memcpy(auth.pubkey, a->pk, sizeof(auth.pubkey));
    transcript(ap, AUTH_CTX_S, msg, &n);
    crypto_sign_detached(auth.sig, NULL, msg, n, a->sk);
    m = cpn__msg_get(site);
    if (m == NULL || cpn_wire_encode_auth(&m->buf, &auth) != CPN_OK) {
        if (m != NULL) {
            cpn__msg_put(m);
        }
        cpn__peer_fail(peer, CPN_ERR_NO_MEMORY, "out of memory at AUTH");
        return CPN_ERR_NO_MEMORY;
    }
    ap->state = CPN_AUTH_CHALLENGED;
    cpn__peer_send(peer, m);
    return CPN_INPROGRESS;
}

/* Connecting side: AUTH(1) arrived. */
static void on_challenge(cpn_peer_t *peer, const cpn_wire_auth_t *in)
{
    cpn_site_t *site = peer->site;
    cpn_auth_t *a = site->auth;
    cpn_auth_peer_t *ap = &peer->auth;
    uint8_t msg[AUTH_TRANSCRIPT_MAX];
    cpn_wire_auth_t out;
    char hint[40];
    cpn_msg_t *m;
    size_t n;

    if (peer->state != CPN_PEER_CONNECTING || ap->state != CPN_AUTH_NONE) {
        cpn__peer_fail(peer, CPN_ERR_PROTO, "unexpected AUTH from %s",
                       peer->addr);
        return;
    }
    memcpy(ap->nonce_s, in->nonce, CPN_WIRE_NONCE_LEN);
    memcpy(ap->pk_s, in->pubkey, CPN_WIRE_PUBKEY_LEN);
    transcript(ap, AUTH_CTX_S, msg, &n);
    if (a != NULL && a->check_peers) {
        const auth_peer_key_t *listed = peer_by_key(a, in->pubkey);

        key_hint(in->pubkey, hint, sizeof(hint));
        if (listed == NULL) {
            cpn__peer_fail(peer, CPN_ERR_AUTH, "wrong key: the site at %s "
                           "presented key %s, which is not in %s",
                           peer->addr, hint, a->peers_file);
            return;
        }
        if (crypto_sign_verify_detached(in->sig, msg, n, in->pubkey) != 0) {
            cpn__peer_fail(peer, CPN_ERR_AUTH, "wrong key: the site at %s "
                           "failed to prove key %s (bad signature)",
                           peer->addr, hint);
            return;
        }
        snprintf(ap->listed_name, sizeof(ap->listed_name), "%s",
                 listed->name);
        ap->state = CPN_AUTH_VERIFIED;
    } else {
        ap->state = CPN_AUTH_ANSWERED;
    }
    memset(&out, 0, sizeof(out));
    out.step = 2;
    if (a != NULL && a->has_key) {
        transcript(ap, AUTH_CTX_C, msg, &n);
        crypto_sign_detached(out.sig, NULL, msg, n, a->sk);
    }
    m = cpn__msg_get(site);
    if (m == NULL || cpn_wire_encode_auth(&m->buf, &out) != CPN_OK) {
        if (m != NULL) {
            cpn__msg_put(m);
        }
        cpn__peer_fail(peer, CPN_ERR_NO_MEMORY, "out of memory at AUTH");
        return;
    }
    cpn__peer_send(peer, m);
}

/* Receiving side: AUTH(2) arrived. */
static void on_answer(cpn_peer_t *peer, const cpn_wire_auth_t *in)
{
    cpn_auth_t *a = peer->site->auth;
    cpn_auth_peer_t *ap = &peer->auth;
    uint8_t msg[AUTH_TRANSCRIPT_MAX];
    size_t n;

    if (peer->state != CPN_PEER_ACCEPTED || ap->state != CPN_AUTH_CHALLENGED ||
        a == NULL) {
        cpn__peer_fail(peer, CPN_ERR_PROTO, "unexpected AUTH from %s",
                       peer->addr);
        return;
    }
    if (a->check_peers) {
        transcript(ap, AUTH_CTX_C, msg, &n);
        if (crypto_sign_verify_detached(in->sig, msg, n, ap->pk_c) != 0) {
            refuse(peer, "wrong key: peer %s failed to prove the key %s "
                   "lists for it (bad signature to this connection's "
                   "challenge)", peer->name, a->peers_file);
            return;
        }
    }
    ap->state = CPN_AUTH_VERIFIED;
    cpn__hello_accept(peer);
}

void cpn__auth_on_msg(cpn_peer_t *peer, const void *buf, size_t len)
{
    cpn_wire_auth_t m;
    cpn_status_t st = cpn_wire_decode_auth(buf, len, NULL, &m);

    if (st != CPN_OK) {
        cpn__peer_fail(peer, st, "malformed AUTH from %s: %s", peer->addr,
                       cpn_status_str(st));
        return;
    }
    if (m.step == 1) {
        on_challenge(peer, &m);
    } else {
        on_answer(peer, &m);
    }
}

cpn_status_t cpn__auth_on_hello_ack(cpn_peer_t *peer, const char *ack_site)
{
    cpn_auth_t *a = peer->site->auth;
    cpn_auth_peer_t *ap = &peer->auth;

    if (a == NULL || !a->check_peers) {
        return CPN_OK;
    }
    if (ap->state != CPN_AUTH_VERIFIED) {
        cpn__peer_fail(peer, CPN_ERR_AUTH, "no key: the site at %s (%s) "
                       "presented no key, and this site accepts only sites "
                       "listed in %s", peer->addr, ack_site, a->peers_file);
        return CPN_ERR_AUTH;
    }
    if (strcmp(ap->listed_name, ack_site) != 0) {
        cpn__peer_fail(peer, CPN_ERR_AUTH, "wrong key: the site at %s calls "
                       "itself %s, but its key is listed in %s for %s",
                       peer->addr, ack_site, a->peers_file, ap->listed_name);
        return CPN_ERR_AUTH;
    }
    return CPN_OK;
}
