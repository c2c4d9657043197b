/* SPDX-License-Identifier: Apache-2.0 */
/* Private helpers of the bench library: the TCP bootstrap framing (boot.c)
 * shared by the client, the server and the rank-0 rendezvous. */
#ifndef CPN_BENCH_LIB_BOOT_H
#define CPN_BENCH_LIB_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bench/bench.h"

/** Send @p msg framed (4-byte length + JSON). @return 0 or -errno. */
int cpn__bench_boot_send(int fd, const json_t *msg, int timeout_ms);

/** Receive one framed message into a new reference @p msg_p.
 *  @return 0, -ETIMEDOUT, -EPIPE (peer closed), -EPROTO, or -errno. */
int cpn__bench_boot_recv(int fd, int timeout_ms, json_t **msg_p);

/** Connect to "HOST:PORT", retrying refused connections until the timeout.
 *  @return the socket or -1 with @p err naming the address. */
int cpn__bench_tcp_connect(const char *addr, int timeout_ms, char *err,
                           size_t errlen);

/** Listen on "HOST:PORT" (port 0: any). @return the socket with @p port_p
 *  set, or -1 with @p err naming the address. */
int cpn__bench_tcp_listen(const char *addr, uint16_t *port_p, char *err,
                          size_t errlen);

#endif /* CPN_BENCH_LIB_BOOT_H */
