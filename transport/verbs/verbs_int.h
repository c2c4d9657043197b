/* SPDX-License-Identifier: Apache-2.0 */
/* Private header of the verbs backend (transport/verbs/). Two halves:
 *   - what needs no RDMA device and is unit-tested on any host
 *     (verbs_sel.c): the CPN_VERBS_* configuration and its parsing, the
 *     model of devices/ports/GIDs read from sysfs, the choice of device,
 *     port and GID, and the translation of verbs errors into cpn statuses
 *     and words;
 *   - the backend itself (verbs.c), which uses them.
 * Nothing here is visible outside transport/verbs/ and its tests. */
#ifndef CPN_TRANSPORT_VERBS_INT_H
#define CPN_TRANSPORT_VERBS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <infiniband/verbs.h>

#include <cpn/status.h>

/* ---- configuration (CPN_VERBS_*) ---------------------------------------- */

/** Every CPN_VERBS_* knob, as cpn__config_fill() leaves it. */
typedef struct cpn_verbs_config {
    const char *device;      /**< "" = automatic */
    const char *netdev;      /**< "" = any */
    unsigned port;           /**< 0 = automatic */
    const char *gid_index;   /**< "auto" or a number */
    const char *mtu;         /**< "auto" or 256..4096 */
    unsigned sq_depth;       /**< send queue work requests */
    unsigned rx_depth;       /**< posted receives = credits given to the peer */
    size_t rx_size;          /**< bytes per receive buffer (a send fragment) */
    size_t max_inline;       /**< sends up to this size go inline */
    unsigned signal_every;   /**< signal one send WR in this many */
    unsigned timeout_exp;    /**< local ACK timeout: 4.096 us * 2^exp */
    unsigned retry_count;    /**< transport retries before RETRY_EXC_ERR */
    unsigned rnr_retry;      /**< RNR retries (7 = forever) */
    int cm_timeout_ms;       /**< rdma_cm address/route resolution */
    size_t max_msg;          /**< largest message send() accepts */
    const char *sysfs;       /**< root of sysfs ("/sys"), for tests */
} cpn_verbs_config_t;

/** Fill @p cfg from defaults and CPN_VERBS_* variables, then check it.
 *  @return CPN_OK or CPN_ERR_CONFIG (logged with the variable and why). */
cpn_status_t cpn__verbs_config_load(cpn_verbs_config_t *cfg);

/** Check values that parse but cannot work together (depths, sizes).
 *  @return CPN_OK or CPN_ERR_CONFIG, logged with the variable named. */
cpn_status_t cpn__verbs_config_check(const cpn_verbs_config_t *cfg);

/** Parse CPN_VERBS_MTU: "auto" gives 0, 256/512/1024/2048/4096 give the
 *  IBV_MTU_* value. @return CPN_OK or CPN_ERR_CONFIG. */
cpn_status_t cpn__verbs_parse_mtu(const char *s, int *mtu_p);

/** Parse CPN_VERBS_GID_INDEX: "auto" gives -1, else 0..65535.
 *  @return CPN_OK or CPN_ERR_CONFIG. */
cpn_status_t cpn__verbs_parse_gid_index(const char *s, int *index_p);

/** Bytes of an IBV_MTU_* value (256..4096); 0 for an unknown one. */
unsigned cpn__verbs_mtu_bytes(int mtu);

/* ---- devices, ports and GIDs as sysfs shows them ----------------------- */

#define CPN_VERBS_NAME_MAX 64
#define CPN_VERBS_MAX_GIDS 32

typedef enum cpn_verbs_gid_type {
    CPN_VERBS_GID_IB = 0,     /**< "IB/RoCE v1" */
    CPN_VERBS_GID_ROCE_V2,    /**< "RoCE v2" */
} cpn_verbs_gid_type_t;

typedef struct cpn_verbs_gid {
    unsigned index;
    uint8_t raw[16];
    cpn_verbs_gid_type_t type;
    char ndev[CPN_VERBS_NAME_MAX]; /**< netdev of a RoCE GID ("" for IB) */
} cpn_verbs_gid_t;

typedef struct cpn_verbs_port {
    char device[CPN_VERBS_NAME_MAX];
    unsigned port;
    int active;               /**< state is "4: ACTIVE" */
    int ethernet;             /**< link_layer Ethernet (RoCE), else IB */
    unsigned lid;
    unsigned ngid;
    cpn_verbs_gid_t gid[CPN_VERBS_MAX_GIDS]; /**< non-zero GIDs only */
} cpn_verbs_port_t;

/** What sysfs says about every RDMA port of the host. */
typedef struct cpn_verbs_model {
    unsigned nport;
    cpn_verbs_port_t *port;   /**< sorted by device name, then port */
} cpn_verbs_model_t;

/**
 * Read @p root /class/infiniband/DEV/ports/N/ (state, link_layer, lid,
 * gids/I, gid_attrs/types/I, gid_attrs/ndevs/I) into @p model.
 * @return CPN_OK (maybe with no ports: no RDMA device), CPN_ERR_NO_MEMORY.
 * Free with cpn__verbs_model_free().
 */
cpn_status_t cpn__verbs_model_load(const char *root, cpn_verbs_model_t *model);

/** Free what cpn__verbs_model_load() allocated. */
void cpn__verbs_model_free(cpn_verbs_model_t *model);

/** What to choose: each field empty/0/-1 for "automatic". */
typedef struct cpn_verbs_want {
    const char *device;
    const char *netdev;
    unsigned port;
    int gid_index;
    uint32_t ipv4;            /**< local IPv4 (network order) the GID must
                                   carry; 0 for any */
} cpn_verbs_want_t;

/** The choice: a port, and on Ethernet the GID index (-1 on IB: LID). */
typedef struct cpn_verbs_pick {
    const cpn_verbs_port_t *port;
    int gid_index;
    char why[160];            /**< how it was chosen, for `cpn info` */
} cpn_verbs_pick_t;

/**
 * Choose a device, port and GID. Rules, in order: the named device (and
 * port) or the port whose GIDs sit on the named netdev; active ports before
 * inactive ones; on Ethernet a RoCE v2 GID holding an IPv4 address (that
 * address when @p want->ipv4 is set), else any RoCE v2 GID, else GID 0; on
 * InfiniBand the LID (gid_index -1), or the GID named by want->gid_index.
 * @return CPN_OK with @p pick_p filled; CPN_ERR_NOT_FOUND with @p err
 *         (size @p errlen) saying what is missing and what to do.
 */
cpn_status_t cpn__verbs_pick(const cpn_verbs_model_t *model,
                             const cpn_verbs_want_t *want,
                             cpn_verbs_pick_t *pick_p, char *err,
                             size_t errlen);

/** Format a GID as an IPv6 address ("::ffff:10.77.0.1"). */
void cpn__verbs_gid_str(const uint8_t raw[16], char *buf, size_t len);

/** Print every port and GID of @p model, and the pick for @p want, for
 *  `cpn info`. */
void cpn__verbs_model_print(const cpn_verbs_model_t *model,
                            const cpn_verbs_want_t *want, FILE *out);

/* ---- errors ------------------------------------------------------------- */

/** A work completion status in words, with what it usually means
 *  ("retry counter exceeded: the peer is gone or the path is down").
 *  Never NULL. */
const char *cpn__verbs_wc_words(enum ibv_wc_status status);

/** The cpn status a failed work completion becomes: CPN_ERR_CANCELED for a
 *  flush, CPN_ERR_CONN_RESET when the peer or path is gone, CPN_ERR_TRANSPORT
 *  otherwise (all but CANCELED take the endpoint down). */
cpn_status_t cpn__verbs_wc_status(enum ibv_wc_status status);

/** Hint for a failed QP state change to @p state (IBV_QPS_RTR/RTS/INIT),
 *  given errno @p err: what is usually wrong and which knob fixes it. */
const char *cpn__verbs_modify_hint(enum ibv_qp_state state, int err);

/** What an rdma_cm event that ends a connect attempt means, as status. */
cpn_status_t cpn__verbs_cm_status(int event, int status);

/* ---- the connection private data (rdma_cm REQ/REP, <= 56 bytes) -------- */

#define CPN_VERBS_PD_MAGIC   0x63706e76u /* "cpnv" */
#define CPN_VERBS_PD_VERSION 1
#define CPN_VERBS_PD_LEN     56

typedef struct cpn_verbs_pdata {
    uint8_t version;
    uint8_t mtu;              /**< IBV_MTU_* the sender can do */
    uint16_t lid;
    uint32_t qpn;
    uint32_t psn;
    uint32_t rx_depth;        /**< receives posted = initial credits */
    uint32_t rx_size;         /**< bytes per receive buffer */
    uint32_t ctrl_rkey;       /**< notify slots + credit word */
    uint64_t ctrl_addr;
    uint16_t sq_depth;
    uint8_t gid[16];
} cpn_verbs_pdata_t;

/** Encode @p pd into exactly CPN_VERBS_PD_LEN bytes (network order). */
void cpn__verbs_pdata_encode(const cpn_verbs_pdata_t *pd, uint8_t *out);

/** Decode; @return CPN_OK, CPN_ERR_TRUNCATED, CPN_ERR_CORRUPT (magic) or
 *  CPN_ERR_VERSION. */
cpn_status_t cpn__verbs_pdata_decode(const void *buf, size_t len,
                                     cpn_verbs_pdata_t *pd_p);

/* ---- the immediate of a put's RDMA WRITE WITH IMM ---------------------- */

/** imm = notify slot (low 16 bits) | notify length << 16 (8 bits). */
static inline uint32_t cpn__verbs_imm(unsigned slot, unsigned notify_len)
{
    return (uint32_t)(slot & 0xffffu) | ((uint32_t)notify_len << 16);
}

#endif /* CPN_TRANSPORT_VERBS_INT_H */
