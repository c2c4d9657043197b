/* SPDX-License-Identifier: Apache-2.0 */
/* Host unit tests of the verbs backend's device-free half (verbs_sel.c):
 * CPN_VERBS_* parsing and checks, device/port/GID selection on the recorded
 * sysfs trees in tests/transport/verbs-sysfs/ (Soft-RoCE, InfiniBand, RoCE
 * with v1/v2 GIDs and a VLAN, a port that is down), the words and statuses
 * of work completion errors, QP transition hints, and the rdma_cm private
 * data codec. No RDMA device is needed. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/verbs/verbs_int.h"

static cpn_verbs_model_t model;

static void load_fixture(void)
{
    const char *src = getenv("CPN_SOURCE_DIR");
    char root[1024];

    cr_assert_not_null(src, "CPN_SOURCE_DIR is not set (meson sets it)");
    snprintf(root, sizeof(root), "%s/tests/transport/verbs-sysfs", src);
    cr_assert_eq(cpn__verbs_model_load(root, &model), CPN_OK);
}

static void free_fixture(void)
{
    cpn__verbs_model_free(&model);
}

TestSuite(verbs_pick, .init = load_fixture, .fini = free_fixture);

static cpn_verbs_pick_t pick_ok(const char *dev, const char *ndev,
                                const char *ip, int gid_index)
{
    cpn_verbs_want_t w = {.device = dev, .netdev = ndev,
                          .gid_index = gid_index};
    cpn_verbs_pick_t p;
    char err[256];

    if (ip != NULL) {
        inet_pton(AF_INET, ip, &w.ipv4);
    }
    cr_assert_eq(cpn__verbs_pick(&model, &w, &p, err, sizeof(err)), CPN_OK,
                 "pick(%s, %s, %s): %s", dev, ndev, ip, err);
    return p;
}

Test(verbs_pick, model_reads_every_port_and_skips_zero_gids)
{
    cr_assert_eq(model.nport, 4);
    cr_assert_str_eq(model.port[0].device, "mlx5_0");
    cr_assert_str_eq(model.port[3].device, "rxe0");
    cr_assert_eq(model.port[3].ngid, 2, "rxe0's zero GID 2 was kept");
    cr_assert(model.port[3].ethernet && model.port[3].active);
    cr_assert(!model.port[0].ethernet);
    cr_assert_eq(model.port[0].lid, 5);
    cr_assert(!model.port[2].active, "mlx5_2 is DOWN");
    cr_assert_eq(model.port[1].gid[5].type, CPN_VERBS_GID_ROCE_V2);
    cr_assert_str_eq(model.port[1].gid[5].ndev, "eth2.100");
    cr_assert_eq(model.port[1].gid[2].type, CPN_VERBS_GID_IB);
}

Test(verbs_pick, automatic_takes_the_first_active_port)
{
    cpn_verbs_pick_t p = pick_ok(NULL, NULL, NULL, -1);

    cr_assert_str_eq(p.port->device, "mlx5_0");
    cr_assert_eq(p.gid_index, -1, "InfiniBand uses the LID");
}

Test(verbs_pick, roce_v2_ipv4_gid_by_device)
{
    cr_assert_eq(pick_ok("rxe0", NULL, NULL, -1).gid_index, 1);
    cr_assert_eq(pick_ok("mlx5_1", NULL, NULL, -1).gid_index, 3,
                 "not the v1 GID 2 of the same address, nor link-local 1");
}

Test(verbs_pick, gid_of_the_local_address)
{
    cr_assert_eq(pick_ok("mlx5_1", NULL, "192.168.8.5", -1).gid_index, 5);
    cr_assert_eq(pick_ok("mlx5_1", NULL, "192.168.7.5", -1).gid_index, 3);
    cr_assert_eq(pick_ok(NULL, NULL, "10.77.0.1", -1).gid_index, -1,
                 "auto prefers the IB port, where addresses play no part");
}

Test(verbs_pick, by_netdev)
{
    cpn_verbs_pick_t p = pick_ok(NULL, "eth2.100", NULL, -1);

    cr_assert_str_eq(p.port->device, "mlx5_1");
    cr_assert_eq(p.gid_index, 5);
    p = pick_ok(NULL, "veth0", NULL, -1);
    cr_assert_str_eq(p.port->device, "rxe0");
    cr_assert_eq(p.gid_index, 1);
}

Test(verbs_pick, explicit_gid_index_wins)
{
    cr_assert_eq(pick_ok("mlx5_1", NULL, NULL, 2).gid_index, 2);
}

Test(verbs_pick, a_down_port_only_when_named_and_says_so)
{
    cpn_verbs_pick_t p = pick_ok("mlx5_2", NULL, NULL, -1);

    cr_assert_eq(p.gid_index, 0);
    cr_assert(strstr(p.why, "NOT active") != NULL, "why: %s", p.why);
}

Test(verbs_pick, errors_name_what_is_missing)
{
    cpn_verbs_want_t w = {.device = "mlx9_9", .gid_index = -1};
    cpn_verbs_pick_t p;
    char err[256];

    cr_assert_eq(cpn__verbs_pick(&model, &w, &p, err, sizeof(err)),
                 CPN_ERR_NOT_FOUND);
    cr_assert(strstr(err, "mlx9_9") && strstr(err, "cpn info"), "%s", err);

    w.device = "mlx5_1";
    inet_pton(AF_INET, "10.1.1.1", &w.ipv4);
    cr_assert_eq(cpn__verbs_pick(&model, &w, &p, err, sizeof(err)),
                 CPN_ERR_NOT_FOUND);
    cr_assert(strstr(err, "10.1.1.1") && strstr(err, "CPN_VERBS_GID_INDEX"),
              "%s", err);
}

Test(verbs_pick, no_device_at_all)
{
    cpn_verbs_model_t empty;
    cpn_verbs_want_t w = {.gid_index = -1};
    cpn_verbs_pick_t p;
    char err[256];

    cr_assert_eq(cpn__verbs_model_load("/nonexistent-cpnverbs", &empty),
                 CPN_OK);
    cr_assert_eq(empty.nport, 0);
    cr_assert_eq(cpn__verbs_pick(&empty, &w, &p, err, sizeof(err)),
                 CPN_ERR_NOT_FOUND);
    cr_assert(strstr(err, "no RDMA device") && strstr(err, "rxe"), "%s", err);
    cpn__verbs_model_free(&empty);
}

Test(verbs_pick, info_lists_gids_and_the_pick)
{
    cpn_verbs_want_t w = {.device = "rxe0", .gid_index = -1};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    cpn__verbs_model_print(&model, &w, f);
    fclose(f);
    cr_assert(strstr(buf, "GID[1] ::ffff:10.77.0.1") != NULL, "%s", buf);
    cr_assert(strstr(buf, "mlx5_0 port 1: ACTIVE, InfiniBand, LID 5"), "%s",
              buf);
    cr_assert(strstr(buf, "would use: rxe0 port 1 GID[1]") != NULL, "%s", buf);
    free(buf);
}

/* ---- parsing ---------------------------------------------------------- */

Test(verbs_params, mtu)
{
    int m = -5;

    cr_assert_eq(cpn__verbs_parse_mtu("auto", &m), CPN_OK);
    cr_assert_eq(m, 0);
    cr_assert_eq(cpn__verbs_parse_mtu("4096", &m), CPN_OK);
    cr_assert_eq(m, IBV_MTU_4096);
    cr_assert_eq(cpn__verbs_mtu_bytes(IBV_MTU_1024), 1024);
    cr_assert_eq(cpn__verbs_mtu_bytes(0), 0);
    cr_assert_eq(cpn__verbs_parse_mtu("1000", &m), CPN_ERR_CONFIG);
    cr_assert_eq(cpn__verbs_parse_mtu("", &m), CPN_ERR_CONFIG);
    cr_assert_eq(cpn__verbs_parse_mtu(NULL, &m), CPN_ERR_CONFIG);
}

Test(verbs_params, gid_index)
{
    int i = 7;

    cr_assert_eq(cpn__verbs_parse_gid_index("auto", &i), CPN_OK);
    cr_assert_eq(i, -1);
    cr_assert_eq(cpn__verbs_parse_gid_index("3", &i), CPN_OK);
    cr_assert_eq(i, 3);
    cr_assert_eq(cpn__verbs_parse_gid_index("65535", &i), CPN_OK);
    cr_assert_eq(cpn__verbs_parse_gid_index("65536", &i), CPN_ERR_CONFIG);
    cr_assert_eq(cpn__verbs_parse_gid_index("-1", &i), CPN_ERR_CONFIG);
    cr_assert_eq(cpn__verbs_parse_gid_index("1x", &i), CPN_ERR_CONFIG);
    cr_assert_eq(cpn__verbs_parse_gid_index("", &i), CPN_ERR_CONFIG);
}

Test(verbs_params, defaults_load_and_bad_values_are_refused)
{
    cpn_verbs_config_t c;

    cr_assert_eq(cpn__verbs_config_load(&c), CPN_OK);
    cr_assert_eq(c.sq_depth, 256);
    cr_assert_eq(c.rx_depth, 128);
    cr_assert_eq(c.rx_size, 8192);
    cr_assert_str_eq(c.mtu, "auto");

    setenv("CPN_VERBS_MTU", "1000", 1);
    cr_assert_eq(cpn__verbs_config_load(&c), CPN_ERR_CONFIG);
    setenv("CPN_VERBS_MTU", "2048", 1);
    cr_assert_eq(cpn__verbs_config_load(&c), CPN_OK);

    setenv("CPN_VERBS_SQ_DEPTH", "2", 1);
    cr_assert_eq(cpn__verbs_config_load(&c), CPN_ERR_CONFIG);
    setenv("CPN_VERBS_SQ_DEPTH", "16", 1);
    setenv("CPN_VERBS_SIGNAL_EVERY", "9", 1);
    cr_assert_eq(cpn__verbs_config_load(&c), CPN_ERR_CONFIG,
                 "signalling rarer than half the SQ can deadlock");
    setenv("CPN_VERBS_SIGNAL_EVERY", "8", 1);
    cr_assert_eq(cpn__verbs_config_load(&c), CPN_OK);

    setenv("CPN_VERBS_RETRY_COUNT", "8", 1);
    cr_assert_eq(cpn__verbs_config_load(&c), CPN_ERR_CONFIG);
    setenv("CPN_VERBS_RETRY_COUNT", "3", 1);
    setenv("CPN_VERBS_GID_INDEX", "two", 1);
    cr_assert_eq(cpn__verbs_config_load(&c), CPN_ERR_CONFIG);
    setenv("CPN_VERBS_GID_INDEX", "2", 1);
    setenv("CPN_VERBS_RX_SIZE", "64", 1);
    cr_assert_eq(cpn__verbs_config_load(&c), CPN_ERR_CONFIG);
    setenv("CPN_VERBS_RX_SIZE", "16K", 1);
    cr_assert_eq(cpn__verbs_config_load(&c), CPN_OK);
    cr_assert_eq(c.rx_size, 16384);
    cr_assert_eq(c.retry_count, 3);
}

/* ---- errors ------------------------------------------------------------ */

Test(verbs_errors, completion_status_in_words_and_codes)
{
    cr_assert_eq(cpn__verbs_wc_status(IBV_WC_SUCCESS), CPN_OK);
    cr_assert_eq(cpn__verbs_wc_status(IBV_WC_WR_FLUSH_ERR), CPN_ERR_CANCELED);
    cr_assert_eq(cpn__verbs_wc_status(IBV_WC_RETRY_EXC_ERR),
                 CPN_ERR_CONN_RESET);
    cr_assert_eq(cpn__verbs_wc_status(IBV_WC_RNR_RETRY_EXC_ERR),
                 CPN_ERR_CONN_RESET);
    cr_assert_eq(cpn__verbs_wc_status(IBV_WC_REM_ACCESS_ERR),
                 CPN_ERR_TRANSPORT);
    cr_assert(CPN_STATUS_IS_ENDPOINT(
        cpn__verbs_wc_status(IBV_WC_REM_ACCESS_ERR)));
    cr_assert(strstr(cpn__verbs_wc_words(IBV_WC_RETRY_EXC_ERR),
                     "peer is gone or the path is down"));
    cr_assert(strstr(cpn__verbs_wc_words(IBV_WC_REM_ACCESS_ERR),
                     "remote key"));
    cr_assert(strstr(cpn__verbs_wc_words(IBV_WC_LOC_LEN_ERR),
                     "CPN_VERBS_RX_SIZE"));
    cr_assert_not_null(cpn__verbs_wc_words((enum ibv_wc_status)999));
}

Test(verbs_errors, qp_transition_hints)
{
    const char *h = cpn__verbs_modify_hint(IBV_QPS_RTR, 22);

    cr_assert(strstr(h, "RTR") && strstr(h, "GID index") &&
              strstr(h, "CPN_VERBS_MTU"), "%s", h);
    cr_assert(strstr(cpn__verbs_modify_hint(IBV_QPS_RTS, 22),
                     "CPN_VERBS_TIMEOUT"));
    cr_assert(strstr(cpn__verbs_modify_hint(IBV_QPS_INIT, 22),
                     "CPN_VERBS_PORT"));
}

/* ---- private data and immediates --------------------------------------- */

Test(verbs_wire, private_data_round_trip_and_rejects)
{
    cpn_verbs_pdata_t a = {
        .version = CPN_VERBS_PD_VERSION, .mtu = IBV_MTU_4096, .lid = 0x1234,
        .qpn = 0xabcdef, .psn = 0x123456, .rx_depth = 128, .rx_size = 8192,
        .ctrl_rkey = 0xdeadbeef, .ctrl_addr = 0x0123456789abcdefull,
        .sq_depth = 256,
    }, b;
    uint8_t buf[CPN_VERBS_PD_LEN];

    cr_assert_leq(CPN_VERBS_PD_LEN, 56, "REQ private data holds 56 bytes");
    for (int i = 0; i < 16; i++) {
        a.gid[i] = (uint8_t)(i * 17);
    }
    cpn__verbs_pdata_encode(&a, buf);
    cr_assert_eq(cpn__verbs_pdata_decode(buf, sizeof(buf), &b), CPN_OK);
    cr_assert_eq(b.qpn, a.qpn);
    cr_assert_eq(b.psn, a.psn);
    cr_assert_eq(b.lid, a.lid);
    cr_assert_eq(b.mtu, a.mtu);
    cr_assert_eq(b.rx_depth, a.rx_depth);
    cr_assert_eq(b.rx_size, a.rx_size);
    cr_assert_eq(b.ctrl_rkey, a.ctrl_rkey);
    cr_assert_eq(b.ctrl_addr, a.ctrl_addr);
    cr_assert_eq(b.sq_depth, a.sq_depth);
    cr_assert(memcmp(b.gid, a.gid, 16) == 0);

    cr_assert_eq(cpn__verbs_pdata_decode(buf, 20, &b), CPN_ERR_TRUNCATED);
    cr_assert_eq(cpn__verbs_pdata_decode(NULL, 56, &b), CPN_ERR_TRUNCATED);
    buf[0] ^= 1;
    cr_assert_eq(cpn__verbs_pdata_decode(buf, sizeof(buf), &b),
                 CPN_ERR_CORRUPT);
    buf[0] ^= 1;
    buf[4] = 99;
    cr_assert_eq(cpn__verbs_pdata_decode(buf, sizeof(buf), &b),
                 CPN_ERR_VERSION);
    a.rx_depth = 0;
    cpn__verbs_pdata_encode(&a, buf);
    cr_assert_eq(cpn__verbs_pdata_decode(buf, sizeof(buf), &b),
                 CPN_ERR_CORRUPT, "zero credits would hang the sender");
}

Test(verbs_wire, immediate_names_slot_and_length)
{
    uint32_t imm = cpn__verbs_imm(513, 48);

    cr_assert_eq(imm & 0xffff, 513);
    cr_assert_eq((imm >> 16) & 0xff, 48);
}
