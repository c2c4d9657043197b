/* SPDX-License-Identifier: Apache-2.0 */
/* Site keys: each site may hold an Ed25519 key pair (libsodium). A site
 * given a key file proves who it is in HELLO; a site given a peers file
 * (the public keys of the sites it trusts, one per line) accepts only
 * those sites, and checks the site it connects to as well. The protocol
 * is a challenge-response with a fresh nonce from each side, so a
 * recorded HELLO cannot be replayed (runtime/auth.c). */
#ifndef CPN_AUTH_H
#define CPN_AUTH_H

#include <cpn/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Generate a key pair for site @p name: the secret key goes to
 * @p secret_path (created with mode 0600; an existing file is not
 * overwritten), the public key to @p secret_path + ".pub" (mode 0644),
 * as one line "cpn-ed25519 HEX NAME" that can be appended as is to
 * another site's peers file (CPN_SITE_PEERS_FILE).
 * @return CPN_OK; CPN_ERR_EXISTS when either file exists; CPN_ERR_INVALID
 *         for an empty or odd name (spaces, newlines); CPN_ERR_IO (logged
 *         with the file). Thread-safe.
 */
CPN_API cpn_status_t cpn_keygen(const char *secret_path, const char *name);

#ifdef __cplusplus
}
#endif
#endif /* CPN_AUTH_H */
