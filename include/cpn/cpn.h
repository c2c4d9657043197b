/* SPDX-License-Identifier: Apache-2.0 */
/* cpn: deliver AI tasks (model shards, checkpoints, job data) between compute
 * sites over UCX, RDMA verbs or DPDK, verified and timed. Include this one
 * header; it pulls in the rest. */
#ifndef CPN_CPN_H
#define CPN_CPN_H

#include <cpn/status.h>
#include <cpn/config.h>
#include <cpn/site.h>
#include <cpn/task.h>
#include <cpn/receipt.h>
#include <cpn/auth.h>

#endif /* CPN_CPN_H */
