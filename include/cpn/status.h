/* SPDX-License-Identifier: Apache-2.0 */
/* Status codes of cpn. One X-macro defines every code, its number and its
 * words, so cpn_status_str() can never fall out of step with the enum.
 * Errors are grouped by what they take down, so a caller can decide:
 *   -1  .. -19  the call itself (bad argument, no memory, timeout)
 *   -20 .. -29  one message (malformed wire input); the endpoint survives
 *   -30 .. -39  an endpoint / peer (connection lost, unreachable)
 *   -40 .. -59  one task (checksum, refused, limits); the peer survives
 *   -60 .. -69  the site (storage, configuration) */
#ifndef CPN_STATUS_H
#define CPN_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CPN_BUILDING)
#define CPN_API __attribute__((visibility("default")))
#else
#define CPN_API
#endif

#define CPN_STATUS_MAP(X)                                                     \
    X(CPN_OK, 0, "success")                                                   \
    X(CPN_INPROGRESS, 1, "operation in progress")                             \
    X(CPN_ERR_INVALID, -1, "invalid argument")                                \
    X(CPN_ERR_NO_MEMORY, -2, "out of memory")                                 \
    X(CPN_ERR_UNSUPPORTED, -3, "operation not supported by this transport")   \
    X(CPN_ERR_TIMEOUT, -4, "timed out")                                       \
    X(CPN_ERR_CANCELED, -5, "canceled")                                       \
    X(CPN_ERR_BUSY, -6, "resource busy, try again")                           \
    X(CPN_ERR_NOT_FOUND, -7, "not found")                                     \
    X(CPN_ERR_EXISTS, -8, "already exists")                                   \
    X(CPN_ERR_IO, -9, "file I/O error")                                       \
    X(CPN_ERR_ADDR_IN_USE, -11,                                               \
      "address in use: another process listens on that port")                 \
    X(CPN_ERR_TRUNCATED, -20, "message truncated")                            \
    X(CPN_ERR_CORRUPT, -21, "malformed message")                              \
    X(CPN_ERR_TOO_BIG, -22, "message or field exceeds its limit")             \
    X(CPN_ERR_VERSION, -23, "protocol version mismatch")                      \
    X(CPN_ERR_PROTO, -24, "unexpected message for this state")                \
    X(CPN_ERR_UNREACHABLE, -30, "peer unreachable (nothing listens there?)")  \
    X(CPN_ERR_CONN_RESET, -31, "connection to peer lost")                     \
    X(CPN_ERR_TRANSPORT, -32, "transport error")                              \
    X(CPN_ERR_CHECKSUM, -40, "checksum mismatch")                             \
    X(CPN_ERR_BAD_NAME, -41, "invalid object name")                           \
    X(CPN_ERR_DUPLICATE, -42, "duplicate object name")                        \
    X(CPN_ERR_REFUSED, -43, "task refused by receiver")                       \
    X(CPN_ERR_LIMIT, -44, "task exceeds the receiver's limits")               \
    X(CPN_ERR_AUTH, -45, "peer authentication failed")                        \
    X(CPN_ERR_NO_SPACE, -60, "no space left on the landing device")           \
    X(CPN_ERR_CONFIG, -61, "invalid configuration value")

/** Status of every cpn call: CPN_OK, CPN_INPROGRESS, or a negative error. */
typedef enum cpn_status {
#define CPN__STATUS_ENUM(name, value, text) name = value,
    CPN_STATUS_MAP(CPN__STATUS_ENUM)
#undef CPN__STATUS_ENUM
} cpn_status_t;

/**
 * Words for a status code.
 * @param status  any value; unknown codes give "unknown status".
 * @return a static string; never NULL. Thread-safe.
 */
CPN_API const char *cpn_status_str(cpn_status_t status);

/**
 * Symbolic name of a status code ("CPN_ERR_TIMEOUT"), for logs and JSON.
 * @param status  any value; unknown codes give "CPN_STATUS_UNKNOWN".
 * @return a static string; never NULL. Thread-safe.
 */
CPN_API const char *cpn_status_name(cpn_status_t status);

/** True when @p s takes down one endpoint (and so every task on it). */
#define CPN_STATUS_IS_ENDPOINT(s) ((s) <= -30 && (s) >= -39)
/** True when @p s takes down one task only. */
#define CPN_STATUS_IS_TASK(s)     ((s) <= -40 && (s) >= -59)

#ifdef __cplusplus
}
#endif
#endif /* CPN_STATUS_H */
