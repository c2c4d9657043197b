/* SPDX-License-Identifier: Apache-2.0 */
/* The runtime's configuration table (CPN_SITE_*): defaults for every field
 * of cpn_site_params_t, overridable from the environment and listed by
 * `cpn info --config`. */
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cpn/site.h>

#include "core/config.h"

#define F(_n, _d, _h, _t, _m) \
    CPN_CONFIG_FIELD(_n, _d, _h, _t, cpn_site_params_t, _m)

static const cpn_config_field_t site_fields[] = {
    F("NAME", NULL, "site name sent in HELLO (default: the host name)",
      CPN_CFG_STRING, name),
    F("TRANSPORT", "ucx", "transport backend: ucx (verbs, dpdk when built)",
      CPN_CFG_STRING, transport),
    F("CHUNK_SIZE", "1M", "bytes per put; a chunk is the unit of checking",
      CPN_CFG_SIZE, chunk_size),
    F("WINDOW", "16", "chunks in flight per task", CPN_CFG_UINT, window),
    F("POOL_SIZE", "64M",
      "receiver staging pool (registered once; bounds receive memory)",
      CPN_CFG_SIZE, pool_size),
    F("INLINE_MAX", "64K", "objects up to this size travel inside the offer",
      CPN_CFG_SIZE, inline_max),
    F("MAX_OBJECTS", "1000000", "receiver: most objects in one task",
      CPN_CFG_UINT, max_objects),
    F("MAX_TASK_BYTES", "16T", "receiver: most bytes in one task",
      CPN_CFG_SIZE, max_task_bytes),
    F("TASK_DEADLINE", "1h", "every task fails after this long (both "
      "sides); inf: never", CPN_CFG_TIME_MS, task_deadline_ms),
    F("KEEPALIVE", "1s", "PING each peer this often", CPN_CFG_TIME_MS,
      keepalive_ms),
    F("PEER_TIMEOUT", "15s", "a peer silent this long while tasks are in "
      "flight is dead", CPN_CFG_TIME_MS, peer_timeout_ms),
    F("MAX_SITE_BYTES", "0", "receiver: most bytes of all tasks in flight "
      "at once (0: no limit)", CPN_CFG_SIZE, max_site_bytes),
    F("MAX_NAME_LEN", "1024", "receiver: longest object name in bytes",
      CPN_CFG_UINT, max_name_len),
    F("TIMEOUT", "10s", "connect and HELLO timeout", CPN_CFG_TIME_MS,
      timeout_ms),
    F("FSYNC", "n", "receiver: fsync landed files before they appear",
      CPN_CFG_BOOL, fsync),
    F("HASH_THREADS", "1", "sender: threads beside the progress thread that "
      "copy and hash memory objects' chunks of 256K and more (0, or a "
      "progress thread bound to one CPU: none)", CPN_CFG_UINT, hash_threads),
    F("RESUME_KEEP", "24h", "receiver: remove what a cut-off task left for "
      "its resume when it was not offered again for this long; inf: keep",
      CPN_CFG_TIME_MS, resume_keep_ms),
    F("KEY_FILE", NULL, "this site's secret key (cpn keygen); must be mode 0600",
      CPN_CFG_STRING, key_file),
    F("FAULT_CORRUPT", "0", "tests: flip a byte of a received chunk before "
      "its check with this probability (0.05 or 5%), seeded: the chunk is "
      "asked for again", CPN_CFG_STRING, fault_corrupt),
    F("PEERS_FILE", NULL, "public keys of trusted sites; set: only they may "
      "connect or be connected to", CPN_CFG_STRING, peers_file),
};

static cpn_config_table_t site_table = {
    .area = "SITE",
    .title = "runtime: sites and tasks",
    .field = site_fields,
    .nfield = sizeof(site_fields) / sizeof(site_fields[0]),
};
CPN_CONFIG_REGISTER(site_table)

cpn_status_t cpn_site_params_init(cpn_site_params_t *params)
{
    memset(params, 0, sizeof(*params));
    return cpn__config_fill(&site_table, params);
}
