/* SPDX-License-Identifier: Apache-2.0 */
/* Mutual authentication of sites in HELLO (runtime/auth.c): keys loaded
 * from files, the nonce record that refuses replayed HELLOs, and the
 * AUTH challenge-response. site.c calls these hooks; nothing else does. */
#ifndef CPN_RUNTIME_AUTH_H
#define CPN_RUNTIME_AUTH_H

#include <stdint.h>

#include <cpn/status.h>

#include "runtime/wire.h"

typedef struct cpn_auth cpn_auth_t;
typedef struct cpn_site cpn_site_t;
typedef struct cpn_peer cpn_peer_t;

typedef enum cpn_auth_state {
    CPN_AUTH_NONE = 0,      /* nothing exchanged yet */
    CPN_AUTH_CHALLENGED,    /* receiver: AUTH(1) sent, waiting for AUTH(2) */
    CPN_AUTH_VERIFIED,      /* the other side proved its key */
    CPN_AUTH_ANSWERED,      /* sender: AUTH(2) sent, unverified receiver */
} cpn_auth_state_t;

/** Per-peer state of the handshake (embedded in cpn_peer). */
typedef struct cpn_auth_peer {
    cpn_auth_state_t state;
    uint8_t has_key;                          /* the connecting side's */
    uint8_t nonce_c[CPN_WIRE_NONCE_LEN];      /* connecting side's nonce */
    uint8_t nonce_s[CPN_WIRE_NONCE_LEN];      /* receiving side's nonce */
    uint8_t pk_c[CPN_WIRE_PUBKEY_LEN];        /* connecting side's key */
    uint8_t pk_s[CPN_WIRE_PUBKEY_LEN];        /* receiving side's key */
    char listed_name[256];                    /* name the peers file gives pk_s */
} cpn_auth_peer_t;

/**
 * Load the site's keys from params.key_file and params.peers_file (either
 * may be NULL). Sets site->auth (NULL when neither is given).
 * @return CPN_OK; CPN_ERR_CONFIG for an unsafe mode, a malformed file, or a
 *         peers file without a key file (logged, naming the file and what
 *         to do); CPN_ERR_IO when a file cannot be read.
 */
cpn_status_t cpn__auth_open(cpn_site_t *site);
void cpn__auth_close(cpn_site_t *site);

/** Connecting side: fill the authentication block of @p hello for @p peer
 *  (a fresh nonce, the public key when the site has one). */
cpn_status_t cpn__auth_hello_fill(cpn_peer_t *peer, cpn_wire_hello_t *hello);

/**
 * Receiving side, on a HELLO of the right version: check the replay record
 * and the peer's key, send the challenge when the site has a key.
 * @return CPN_OK: no handshake, accept now; CPN_INPROGRESS: challenge
 *         sent, wait for AUTH(2); an error: the HELLO was refused (the
 *         peer was told why and marked failed).
 */
cpn_status_t cpn__auth_on_hello(cpn_peer_t *peer, const cpn_wire_hello_t *h);

/** Either side: an AUTH message arrived. */
void cpn__auth_on_msg(cpn_peer_t *peer, const void *buf, size_t len);

/**
 * Connecting side, on a HELLO_ACK that accepts: whether the receiving
 * site proved itself as this site requires.
 * @return CPN_OK, or CPN_ERR_AUTH with the peer failed and the reason.
 */
cpn_status_t cpn__auth_on_hello_ack(cpn_peer_t *peer, const char *ack_site);

#endif /* CPN_RUNTIME_AUTH_H */
