/* SPDX-License-Identifier: Apache-2.0 */
/* The half of the verbs backend that needs no RDMA device: CPN_VERBS_*
 * configuration, the device/port/GID model read from sysfs and the rules
 * that pick one, the words for verbs errors, and the rdma_cm private data
 * codec. Kept apart from verbs.c so host unit tests cover it on recorded
 * sysfs trees (tests/transport/verbs-sysfs/). */
#include "transport/verbs/verbs_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rdma/rdma_cma.h>

#include "core/compiler.h"
#include "core/config.h"
#include "core/log.h"

/* ---- configuration ------------------------------------------------------ */

static const cpn_config_field_t cpn_verbs_config_field[] = {
    CPN_CONFIG_FIELD("DEVICE", "",
                     "RDMA device to use (ibv_devices lists them); empty: the "
                     "first device with an active port",
                     CPN_CFG_STRING, cpn_verbs_config_t, device),
    CPN_CONFIG_FIELD("NETDEV", "",
                     "network interface whose RDMA port to use (e.g. eth0), "
                     "instead of naming the device",
                     CPN_CFG_STRING, cpn_verbs_config_t, netdev),
    CPN_CONFIG_FIELD("PORT", "0", "port of the device; 0: the first active",
                     CPN_CFG_UINT, cpn_verbs_config_t, port),
    CPN_CONFIG_FIELD("GID_INDEX", "auto",
                     "GID index; auto: the RoCE v2 GID of the local IPv4 "
                     "address on Ethernet, the LID on InfiniBand",
                     CPN_CFG_STRING, cpn_verbs_config_t, gid_index),
    CPN_CONFIG_FIELD("MTU", "auto",
                     "path MTU (256, 512, 1024, 2048, 4096); auto: the "
                     "smaller of both ports' active MTUs",
                     CPN_CFG_STRING, cpn_verbs_config_t, mtu),
    CPN_CONFIG_FIELD("SQ_DEPTH", "256",
                     "send queue depth (work requests); more are queued "
                     "inside cpn (back-pressure), never refused",
                     CPN_CFG_UINT, cpn_verbs_config_t, sq_depth),
    CPN_CONFIG_FIELD("RX_DEPTH", "128",
                     "receive buffers posted per endpoint: the credits the "
                     "peer may spend on sends and puts before it waits",
                     CPN_CFG_UINT, cpn_verbs_config_t, rx_depth),
    CPN_CONFIG_FIELD("RX_SIZE", "8K",
                     "bytes per receive buffer; larger messages are sent in "
                     "fragments of this size",
                     CPN_CFG_SIZE, cpn_verbs_config_t, rx_size),
    CPN_CONFIG_FIELD("MAX_INLINE", "128",
                     "sends up to this many bytes go inline in the work "
                     "request (the device may allow less)",
                     CPN_CFG_SIZE, cpn_verbs_config_t, max_inline),
    CPN_CONFIG_FIELD("SIGNAL_EVERY", "16",
                     "request a completion for one send in this many "
                     "(selective signalling); at most half of SQ_DEPTH",
                     CPN_CFG_UINT, cpn_verbs_config_t, signal_every),
    CPN_CONFIG_FIELD("TIMEOUT", "14",
                     "local ACK timeout exponent: 4.096 us * 2^N per try "
                     "(14: 67 ms; 0: infinite)",
                     CPN_CFG_UINT, cpn_verbs_config_t, timeout_exp),
    CPN_CONFIG_FIELD("RETRY_COUNT", "7",
                     "transport retries (0..7) before a send fails with "
                     "'retry exceeded' and the endpoint goes down",
                     CPN_CFG_UINT, cpn_verbs_config_t, retry_count),
    CPN_CONFIG_FIELD("RNR_RETRY", "7",
                     "receiver-not-ready retries (0..7, 7: forever)",
                     CPN_CFG_UINT, cpn_verbs_config_t, rnr_retry),
    CPN_CONFIG_FIELD("CM_TIMEOUT", "2s",
                     "rdma_cm address and route resolution timeout",
                     CPN_CFG_TIME_MS, cpn_verbs_config_t, cm_timeout_ms),
    CPN_CONFIG_FIELD("MAX_MSG", "64M",
                     "largest message send() accepts (reassembled from "
                     "fragments at the receiver)",
                     CPN_CFG_SIZE, cpn_verbs_config_t, max_msg),
    CPN_CONFIG_FIELD("SYSFS", "/sys",
                     "where sysfs is (device, port and GID discovery)",
                     CPN_CFG_STRING, cpn_verbs_config_t, sysfs),
};

static cpn_config_table_t cpn_verbs_config_table = {
    .area = "VERBS",
    .title = "transport: verbs (libibverbs RC)",
    .field = cpn_verbs_config_field,
    .nfield = CPN_ARRAY_SIZE(cpn_verbs_config_field),
};
CPN_CONFIG_REGISTER(cpn_verbs_config_table)

cpn_status_t cpn__verbs_parse_mtu(const char *s, int *mtu_p)
{
    static const struct {
        const char *text;
        int mtu;
    } map[] = {
        {"auto", 0},
        {"256", IBV_MTU_256},
        {"512", IBV_MTU_512},
        {"1024", IBV_MTU_1024},
        {"2048", IBV_MTU_2048},
        {"4096", IBV_MTU_4096},
    };
    size_t i;

    if (s == NULL) {
        return CPN_ERR_CONFIG;
    }
    for (i = 0; i < CPN_ARRAY_SIZE(map); i++) {
        if (strcmp(s, map[i].text) == 0) {
            *mtu_p = map[i].mtu;
            return CPN_OK;
        }
    }
    return CPN_ERR_CONFIG;
}

unsigned cpn__verbs_mtu_bytes(int mtu)
{
    return (mtu >= IBV_MTU_256 && mtu <= IBV_MTU_4096)
               ? 128u << (unsigned)mtu
               : 0;
}

cpn_status_t cpn__verbs_parse_gid_index(const char *s, int *index_p)
{
    unsigned long v = 0;
    const char *p;

    if (s == NULL || *s == '\0') {
        return CPN_ERR_CONFIG;
    }
    if (strcmp(s, "auto") == 0) {
        *index_p = -1;
        return CPN_OK;
    }
    if (strlen(s) > 5) {
        return CPN_ERR_CONFIG;
    }
    for (p = s; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p)) {
            return CPN_ERR_CONFIG;
        }
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535) {
        return CPN_ERR_CONFIG;
    }
    *index_p = (int)v;
    return CPN_OK;
}

cpn_status_t cpn__verbs_config_check(const cpn_verbs_config_t *cfg)
{
    int v;

    if (cpn__verbs_parse_mtu(cfg->mtu, &v) != CPN_OK) {
        cpn_error("CPN_VERBS_MTU='%s': expected auto, 256, 512, 1024, 2048 "
                  "or 4096", cfg->mtu);
        return CPN_ERR_CONFIG;
    }
    if (cpn__verbs_parse_gid_index(cfg->gid_index, &v) != CPN_OK) {
        cpn_error("CPN_VERBS_GID_INDEX='%s': expected auto or a GID index "
                  "(cpn info lists them)", cfg->gid_index);
        return CPN_ERR_CONFIG;
    }
    if (cfg->sq_depth < 4 || cfg->sq_depth > 32768) {
        cpn_error("CPN_VERBS_SQ_DEPTH=%u: expected 4..32768", cfg->sq_depth);
        return CPN_ERR_CONFIG;
    }
    if (cfg->rx_depth < 4 || cfg->rx_depth > 32768) {
        cpn_error("CPN_VERBS_RX_DEPTH=%u: expected 4..32768", cfg->rx_depth);
        return CPN_ERR_CONFIG;
    }
    if (cfg->rx_size < 256 || cfg->rx_size > (1u << 24)) {
        cpn_error("CPN_VERBS_RX_SIZE=%zu: expected 256 bytes..16M",
                  cfg->rx_size);
        return CPN_ERR_CONFIG;
    }
    if (cfg->max_inline > 1024) {
        cpn_error("CPN_VERBS_MAX_INLINE=%zu: expected at most 1024",
                  cfg->max_inline);
        return CPN_ERR_CONFIG;
    }
    if (cfg->signal_every < 1 || cfg->signal_every > cfg->sq_depth / 2) {
        cpn_error("CPN_VERBS_SIGNAL_EVERY=%u: expected 1..%u (half of "
                  "CPN_VERBS_SQ_DEPTH)", cfg->signal_every, cfg->sq_depth / 2);
        return CPN_ERR_CONFIG;
    }
    if (cfg->timeout_exp > 31) {
        cpn_error("CPN_VERBS_TIMEOUT=%u: expected 0..31", cfg->timeout_exp);
        return CPN_ERR_CONFIG;
    }
    if (cfg->retry_count > 7 || cfg->rnr_retry > 7) {
        cpn_error("CPN_VERBS_RETRY_COUNT=%u / CPN_VERBS_RNR_RETRY=%u: "
                  "expected 0..7", cfg->retry_count, cfg->rnr_retry);
        return CPN_ERR_CONFIG;
    }
    if (cfg->max_msg < 1024 || cfg->max_msg > (1ull << 31)) {
        cpn_error("CPN_VERBS_MAX_MSG=%zu: expected 1K..2G", cfg->max_msg);
        return CPN_ERR_CONFIG;
    }
    return CPN_OK;
}

cpn_status_t cpn__verbs_config_load(cpn_verbs_config_t *cfg)
{
    cpn_status_t st = cpn__config_fill(&cpn_verbs_config_table, cfg);

    if (st != CPN_OK) {
        return st;
    }
    return cpn__verbs_config_check(cfg);
}

/* ---- sysfs model -------------------------------------------------------- */

/* Read the first line of @p path into @p buf (no newline). 0 on success. */
static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        return -1;
    }
    if (fgets(buf, (int)len, f) == NULL) {
        fclose(f);
        return -1;
    }
    fclose(f);
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) {
        buf[--n] = '\0';
    }
    return 0;
}

static int parse_gid(const char *s, uint8_t raw[16])
{
    /* sysfs writes eight groups of four hex digits separated by ':' */
    unsigned g[8];

    if (sscanf(s, "%4x:%4x:%4x:%4x:%4x:%4x:%4x:%4x", &g[0], &g[1], &g[2],
               &g[3], &g[4], &g[5], &g[6], &g[7]) != 8) {
        return -1;
    }
    for (int i = 0; i < 8; i++) {
        raw[2 * i] = (uint8_t)(g[i] >> 8);
        raw[2 * i + 1] = (uint8_t)g[i];
    }
    return 0;
}

static int gid_is_zero(const uint8_t raw[16])
{
    for (int i = 0; i < 16; i++) {
        if (raw[i] != 0) {
            return 0;
        }
    }
    return 1;
}

static int gid_is_ipv4(const uint8_t raw[16])
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    return memcmp(raw, pfx, sizeof(pfx)) == 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in @p dir (no dot entries), sorted; NULL-terminated, malloc'ed. */
static char **list_dir(const char *dir, unsigned *n_p)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    unsigned n = 0, cap = 0;

    *n_p = 0;
    if (d == NULL) {
        return NULL;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n + 1 >= cap) {
            char **nv;

            cap = cap ? cap * 2 : 16;
            nv = realloc(v, cap * sizeof(*v));
            if (nv == NULL) {
                break;
            }
            v = nv;
        }
        v[n] = strdup(e->d_name);
        if (v[n] == NULL) {
            break;
        }
        n++;
    }
    closedir(d);
    if (v != NULL) {
        qsort(v, n, sizeof(*v), cmp_name);
        v[n] = NULL;
    }
    *n_p = n;
    return v;
}

static void free_list(char **v)
{
    if (v != NULL) {
        for (char **p = v; *p != NULL; p++) {
            free(*p);
        }
        free(v);
    }
}

static int cmp_gid_index(const void *a, const void *b)
{
    const cpn_verbs_gid_t *x = a, *y = b;

    return (x->index > y->index) - (x->index < y->index);
}

static void load_port(const char *pdir, cpn_verbs_port_t *p)
{
    char path[1200], line[256];
    char **gids;
    unsigned ngid, i;

    snprintf(path, sizeof(path), "%s/state", pdir);
    p->active = read_line(path, line, sizeof(line)) == 0 &&
                strstr(line, "ACTIVE") != NULL;
    snprintf(path, sizeof(path), "%s/link_layer", pdir);
    p->ethernet = read_line(path, line, sizeof(line)) == 0 &&
                  strcmp(line, "Ethernet") == 0;
    snprintf(path, sizeof(path), "%s/lid", pdir);
    if (read_line(path, line, sizeof(line)) == 0) {
        p->lid = (unsigned)strtoul(line, NULL, 0);
    }
    snprintf(path, sizeof(path), "%s/gids", pdir);
    gids = list_dir(path, &ngid);
    for (i = 0; gids != NULL && gids[i] != NULL &&
                p->ngid < CPN_VERBS_MAX_GIDS; i++) {
        cpn_verbs_gid_t *g = &p->gid[p->ngid];

        snprintf(path, sizeof(path), "%s/gids/%s", pdir, gids[i]);
        if (read_line(path, line, sizeof(line)) != 0 ||
            parse_gid(line, g->raw) != 0 || gid_is_zero(g->raw)) {
            continue;
        }
        g->index = (unsigned)strtoul(gids[i], NULL, 10);
        snprintf(path, sizeof(path), "%s/gid_attrs/types/%s", pdir, gids[i]);
        g->type = (read_line(path, line, sizeof(line)) == 0 &&
                   strstr(line, "v2") != NULL)
                      ? CPN_VERBS_GID_ROCE_V2
                      : CPN_VERBS_GID_IB;
        snprintf(path, sizeof(path), "%s/gid_attrs/ndevs/%s", pdir, gids[i]);
        if (read_line(path, g->ndev, sizeof(g->ndev)) != 0) {
            g->ndev[0] = '\0';
        }
        p->ngid++;
    }
    free_list(gids);
    qsort(p->gid, p->ngid, sizeof(p->gid[0]), cmp_gid_index);
}

cpn_status_t cpn__verbs_model_load(const char *root, cpn_verbs_model_t *model)
{
    char path[900];
    char **devs, **ports;
    unsigned ndev, nports, i, j;
    cpn_status_t st = CPN_OK;

    memset(model, 0, sizeof(*model));
    snprintf(path, sizeof(path), "%s/class/infiniband", root);
    devs = list_dir(path, &ndev);
    for (i = 0; devs != NULL && devs[i] != NULL; i++) {
        snprintf(path, sizeof(path), "%s/class/infiniband/%s/ports", root,
                 devs[i]);
        ports = list_dir(path, &nports);
        for (j = 0; ports != NULL && ports[j] != NULL; j++) {
            cpn_verbs_port_t *np, *p;

            np = realloc(model->port, (model->nport + 1) * sizeof(*np));
            if (np == NULL) {
                st = CPN_ERR_NO_MEMORY;
                break;
            }
            model->port = np;
            p = &np[model->nport++];
            memset(p, 0, sizeof(*p));
            snprintf(p->device, sizeof(p->device), "%s", devs[i]);
            p->port = (unsigned)strtoul(ports[j], NULL, 10);
            snprintf(path, sizeof(path), "%s/class/infiniband/%s/ports/%s",
                     root, devs[i], ports[j]);
            load_port(path, p);
        }
        free_list(ports);
    }
    free_list(devs);
    return st;
}

void cpn__verbs_model_free(cpn_verbs_model_t *model)
{
    free(model->port);
    memset(model, 0, sizeof(*model));
}

void cpn__verbs_gid_str(const uint8_t raw[16], char *buf, size_t len)
{
    if (inet_ntop(AF_INET6, raw, buf, (socklen_t)len) == NULL) {
        snprintf(buf, len, "?");
    }
}

static int port_has_ndev(const cpn_verbs_port_t *p, const char *ndev)
{
    for (unsigned i = 0; i < p->ngid; i++) {
        if (strcmp(p->gid[i].ndev, ndev) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The GID to use on an Ethernet port, or -1 when none fits. */
static int pick_roce_gid(const cpn_verbs_port_t *p, uint32_t ipv4,
                         const char *ndev, const char **why_p)
{
    int v2_any = -1, v2_v4 = -1;

    for (unsigned i = 0; i < p->ngid; i++) {
        const cpn_verbs_gid_t *g = &p->gid[i];

        if (ndev != NULL && ndev[0] != '\0' && strcmp(g->ndev, ndev) != 0) {
            continue;
        }
        if (g->type != CPN_VERBS_GID_ROCE_V2) {
            continue;
        }
        if (gid_is_ipv4(g->raw)) {
            uint32_t a;

            memcpy(&a, g->raw + 12, 4);
            if (ipv4 != 0 && a == ipv4) {
                *why_p = "the RoCE v2 GID of the local IPv4 address";
                return (int)g->index;
            }
            if (v2_v4 < 0) {
                v2_v4 = (int)g->index;
            }
        } else if (v2_any < 0) {
            v2_any = (int)g->index;
        }
    }
    if (ipv4 != 0) {
        return -1;
    }
    if (v2_v4 >= 0) {
        *why_p = "the first RoCE v2 GID holding an IPv4 address";
        return v2_v4;
    }
    if (v2_any >= 0) {
        *why_p = "the first RoCE v2 GID (no IPv4 one)";
        return v2_any;
    }
    return -1;
}

cpn_status_t cpn__verbs_pick(const cpn_verbs_model_t *model,
                             const cpn_verbs_want_t *want,
                             cpn_verbs_pick_t *pick_p, char *err,
                             size_t errlen)
{
    const char *dev = want->device && want->device[0] ? want->device : NULL;
    const char *ndev = want->netdev && want->netdev[0] ? want->netdev : NULL;
    int pass, seen = 0;
    char ip[INET_ADDRSTRLEN] = "";

    if (want->ipv4 != 0) {
        inet_ntop(AF_INET, &want->ipv4, ip, sizeof(ip));
    }
    /* Pass 0 takes active ports only, pass 1 any port that matches. */
    for (pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < model->nport; i++) {
            const cpn_verbs_port_t *p = &model->port[i];
            const char *why = NULL;
            int gi;

            if ((dev && strcmp(p->device, dev) != 0) ||
                (want->port && p->port != want->port) ||
                (ndev && !port_has_ndev(p, ndev))) {
                continue;
            }
            seen = 1;
            if (pass == 0 && !p->active) {
                continue;
            }
            if (want->gid_index >= 0) {
                gi = want->gid_index;
                why = "CPN_VERBS_GID_INDEX";
            } else if (!p->ethernet) {
                gi = -1;
                why = "InfiniBand: the port's LID";
            } else {
                gi = pick_roce_gid(p, want->ipv4, ndev, &why);
                if (gi < 0) {
                    continue;
                }
            }
            pick_p->port = p;
            pick_p->gid_index = gi;
            snprintf(pick_p->why, sizeof(pick_p->why), "%s%s%s",
                     dev ? "CPN_VERBS_DEVICE, " : ndev ? "CPN_VERBS_NETDEV, "
                                                      : "",
                     p->active ? "" : "port NOT active, ", why);
            return CPN_OK;
        }
    }
    if (model->nport == 0) {
        snprintf(err, errlen, "no RDMA device found (ibv_devices lists "
                 "none): load the NIC's driver, or add Soft-RoCE with "
                 "`rdma link add rxe0 type rxe netdev ETH`");
    } else if (!seen) {
        snprintf(err, errlen, "no RDMA port matches%s%s%s%s%s%s: `cpn info` "
                 "lists the devices, ports and GIDs there are",
                 dev ? " device " : "", dev ? dev : "",
                 ndev ? " netdev " : "", ndev ? ndev : "",
                 want->port ? " port " : "",
                 want->port ? "(CPN_VERBS_PORT)" : "");
    } else {
        snprintf(err, errlen, "no RoCE v2 GID %s%s%s on %s%s: give the "
                 "interface an IPv4 address, or name a GID with "
                 "CPN_VERBS_GID_INDEX (`cpn info` lists them)",
                 ip[0] ? "for local address " : "", ip,
                 ndev ? " on that netdev" : "",
                 dev ? dev : "any device", ndev ? "" : "");
    }
    return CPN_ERR_NOT_FOUND;
}

void cpn__verbs_model_print(const cpn_verbs_model_t *model,
                            const cpn_verbs_want_t *want, FILE *out)
{
    cpn_verbs_pick_t pick;
    char err[256], g[INET6_ADDRSTRLEN];

    fprintf(out, "verbs devices:%s\n", model->nport ? "" : " none");
    for (unsigned i = 0; i < model->nport; i++) {
        const cpn_verbs_port_t *p = &model->port[i];

        fprintf(out, "  %s port %u: %s, %s", p->device, p->port,
                p->active ? "ACTIVE" : "not active",
                p->ethernet ? "Ethernet (RoCE)" : "InfiniBand");
        if (!p->ethernet) {
            fprintf(out, ", LID %u", p->lid);
        }
        fprintf(out, "\n");
        for (unsigned j = 0; j < p->ngid; j++) {
            const cpn_verbs_gid_t *gd = &p->gid[j];

            cpn__verbs_gid_str(gd->raw, g, sizeof(g));
            fprintf(out, "    GID[%u] %-40s %-10s %s\n", gd->index, g,
                    gd->type == CPN_VERBS_GID_ROCE_V2 ? "RoCE v2"
                                                      : "IB/RoCE v1",
                    gd->ndev);
        }
    }
    if (cpn__verbs_pick(model, want, &pick, err, sizeof(err)) == CPN_OK) {
        if (pick.gid_index >= 0) {
            fprintf(out, "verbs would use: %s port %u GID[%d] (%s)\n",
                    pick.port->device, pick.port->port, pick.gid_index,
                    pick.why);
        } else {
            fprintf(out, "verbs would use: %s port %u LID %u (%s)\n",
                    pick.port->device, pick.port->port, pick.port->lid,
                    pick.why);
        }
    } else {
        fprintf(out, "verbs would use: nothing: %s\n", err);
    }
}

/* ---- errors ------------------------------------------------------------- */

const char *cpn__verbs_wc_words(enum ibv_wc_status status)
{
    switch (status) {
    case IBV_WC_SUCCESS:
        return "success";
    case IBV_WC_LOC_LEN_ERR:
        return "local length error: a message exceeds the receive buffer "
               "(CPN_VERBS_RX_SIZE differs between the sites?)";
    case IBV_WC_LOC_QP_OP_ERR:
        return "local QP operation error: a malformed work request";
    case IBV_WC_LOC_PROT_ERR:
        return "local protection error: the buffer is not inside its "
               "registered region";
    case IBV_WC_WR_FLUSH_ERR:
        return "flushed: the queue pair went into error before this work "
               "request ran";
    case IBV_WC_REM_INV_REQ_ERR:
        return "remote invalid request: the peer refused the operation "
               "(length beyond its limits?)";
    case IBV_WC_REM_ACCESS_ERR:
        return "remote access error: bad remote key, or an address outside "
               "the peer's registered region";
    case IBV_WC_REM_OP_ERR:
        return "remote operation error: the peer could not complete it";
    case IBV_WC_RETRY_EXC_ERR:
        return "transport retry counter exceeded: the peer is gone or the "
               "path is down (CPN_VERBS_RETRY_COUNT, CPN_VERBS_TIMEOUT)";
    case IBV_WC_RNR_RETRY_EXC_ERR:
        return "receiver-not-ready retry counter exceeded: the peer posted "
               "no receive buffer in time (CPN_VERBS_RNR_RETRY)";
    case IBV_WC_REM_ABORT_ERR:
        return "remote aborted: the peer's queue pair went away";
    case IBV_WC_FATAL_ERR:
        return "fatal device error: the device needs a reset";
    case IBV_WC_RESP_TIMEOUT_ERR:
        return "response timeout: the peer does not answer";
    case IBV_WC_GENERAL_ERR:
        return "general error reported by the device";
    default:
        return "unexpected completion error (see ibv_wc_status_str)";
    }
}

cpn_status_t cpn__verbs_wc_status(enum ibv_wc_status status)
{
    switch (status) {
    case IBV_WC_SUCCESS:
        return CPN_OK;
    case IBV_WC_WR_FLUSH_ERR:
        return CPN_ERR_CANCELED;
    case IBV_WC_RETRY_EXC_ERR:
    case IBV_WC_RNR_RETRY_EXC_ERR:
    case IBV_WC_REM_ABORT_ERR:
    case IBV_WC_RESP_TIMEOUT_ERR:
        return CPN_ERR_CONN_RESET;
    default:
        return CPN_ERR_TRANSPORT;
    }
}

const char *cpn__verbs_modify_hint(enum ibv_qp_state state, int err)
{
    switch (state) {
    case IBV_QPS_INIT:
        return "the port number or P_Key index is wrong (CPN_VERBS_PORT)";
    case IBV_QPS_RTR:
        if (err == ENOMEM) {
            return "the device is out of resources (lower "
                   "CPN_VERBS_SQ_DEPTH/RX_DEPTH)";
        }
        return "failed to modify QP to RTR: usually a wrong GID index "
               "(CPN_VERBS_GID_INDEX: on RoCE use the RoCE v2 GID of an IPv4 "
               "address on the route to the peer; `cpn info` lists them), a "
               "path MTU above what the port allows (CPN_VERBS_MTU), or a "
               "remote GID/LID that is not reachable";
    case IBV_QPS_RTS:
        return "failed to modify QP to RTS: timeout or retry values out of "
               "range (CPN_VERBS_TIMEOUT, CPN_VERBS_RETRY_COUNT)";
    default:
        return "unexpected queue pair state change";
    }
}

cpn_status_t cpn__verbs_cm_status(int event, int status)
{
    switch (event) {
    case RDMA_CM_EVENT_REJECTED:
        /* rdma_cm reports "nobody listens" as a reject with status 28
         * (IB_CM_REJ_INVALID_SERVICE_ID) on IB and a consumer reject
         * otherwise; either way nothing accepted us. */
        (void)status;
        return CPN_ERR_UNREACHABLE;
    case RDMA_CM_EVENT_ADDR_ERROR:
    case RDMA_CM_EVENT_ROUTE_ERROR:
    case RDMA_CM_EVENT_UNREACHABLE:
        return CPN_ERR_UNREACHABLE;
    case RDMA_CM_EVENT_CONNECT_ERROR:
        return CPN_ERR_TRANSPORT;
    case RDMA_CM_EVENT_DISCONNECTED:
    case RDMA_CM_EVENT_DEVICE_REMOVAL:
    case RDMA_CM_EVENT_TIMEWAIT_EXIT:
        return CPN_ERR_CONN_RESET;
    default:
        return CPN_ERR_TRANSPORT;
    }
}

/* ---- private data -------------------------------------------------------- */

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    v = htons(v);
    memcpy(p, &v, 2);
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    v = htonl(v);
    memcpy(p, &v, 4);
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    p = put32(p, (uint32_t)(v >> 32));
    return put32(p, (uint32_t)v);
}

static const uint8_t *get16(const uint8_t *p, uint16_t *v)
{
    memcpy(v, p, 2);
    *v = ntohs(*v);
    return p + 2;
}

static const uint8_t *get32(const uint8_t *p, uint32_t *v)
{
    memcpy(v, p, 4);
    *v = ntohl(*v);
    return p + 4;
}

void cpn__verbs_pdata_encode(const cpn_verbs_pdata_t *pd, uint8_t *out)
{
    uint8_t *p = out;

    memset(out, 0, CPN_VERBS_PD_LEN);
    p = put32(p, CPN_VERBS_PD_MAGIC);
    *p++ = pd->version;
    *p++ = pd->mtu;
    p = put16(p, pd->lid);
    p = put32(p, pd->qpn);
    p = put32(p, pd->psn);
    p = put32(p, pd->rx_depth);
    p = put32(p, pd->rx_size);
    p = put32(p, pd->ctrl_rkey);
    p = put64(p, pd->ctrl_addr);
    p = put16(p, pd->sq_depth);
    memcpy(p, pd->gid, 16);
}

cpn_status_t cpn__verbs_pdata_decode(const void *buf, size_t len,
                                     cpn_verbs_pdata_t *pd_p)
{
    const uint8_t *p = buf;
    cpn_verbs_pdata_t pd;
    uint32_t magic, hi, lo;

    if (buf == NULL || len < CPN_VERBS_PD_LEN) {
        return CPN_ERR_TRUNCATED;
    }
    p = get32(p, &magic);
    if (magic != CPN_VERBS_PD_MAGIC) {
        return CPN_ERR_CORRUPT;
    }
    pd.version = *p++;
    if (pd.version != CPN_VERBS_PD_VERSION) {
        return CPN_ERR_VERSION;
    }
    pd.mtu = *p++;
    p = get16(p, &pd.lid);
    p = get32(p, &pd.qpn);
    p = get32(p, &pd.psn);
    p = get32(p, &pd.rx_depth);
    p = get32(p, &pd.rx_size);
    p = get32(p, &pd.ctrl_rkey);
    p = get32(p, &hi);
    p = get32(p, &lo);
    pd.ctrl_addr = ((uint64_t)hi << 32) | lo;
    p = get16(p, &pd.sq_depth);
    memcpy(pd.gid, p, 16);
    if (pd.rx_depth == 0 || pd.rx_size < 64 || cpn__verbs_mtu_bytes(pd.mtu) == 0 ||
        pd.qpn > 0xffffff) {
        return CPN_ERR_CORRUPT;
    }
    *pd_p = pd;
    return CPN_OK;
}
