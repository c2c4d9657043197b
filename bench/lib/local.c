/* SPDX-License-Identifier: Apache-2.0 */
/* Local mode's two ends (`cpn bench --local`): what each side's process
 * needs in its environment before it opens the transport under test.
 *
 *   ucx, verbs  nothing: both ends listen and connect on 127.0.0.1 (verbs
 *               on the RDMA device the environment names).
 *   dpdk        each side needs a DPDK port of its own. Unless
 *               CPN_DPDK_PORTS is already set, local mode builds two
 *               net_memif pairs (one for the transport's interface, one
 *               for the task tests' site), memif server role in the bench
 *               server, client role in the bench client, on unix sockets
 *               /tmp/TAG-m0.sock and -m1.sock; the server's ports have IP
 *               10.78.99.2, the client's 10.78.99.1; file prefixes TAGs
 *               and TAGc; the server polls on CPU 0, the client on CPU 1.
 *   any         CPN_BENCH_LOCAL_HOST: the address the server listens on
 *               instead of 127.0.0.1 (verbs: an IP on the RDMA device's
 *               netdev, e.g. in the Soft-RoCE guest); then
 *               CPN_BENCH_SERVER_ENV / CPN_BENCH_CLIENT_ENV
 *               ("NAME=VALUE NAME=VALUE"), applied on that side only, on
 *               top: the way to give each side settings of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

#define LOCAL_SRV_IP "10.78.99.2"
#define LOCAL_CLI_IP "10.78.99.1"

void cpn_bench_local_tag(char *tag, size_t len)
{
    snprintf(tag, len, "cpnb%d", (int)getpid());
}

static void set_default(const char *name, const char *value)
{
    setenv(name, value, 0);
}

cpn_status_t cpn_bench_local_side(const char *transport, int server,
                                  const char *tag, char *host, size_t hostlen,
                                  char *err, size_t errlen)
{
    const char *extra = getenv(server ? "CPN_BENCH_SERVER_ENV"
                                      : "CPN_BENCH_CLIENT_ENV");
    int dpdk = strcmp(transport, "dpdk") == 0;

    snprintf(host, hostlen, "%s", getenv("CPN_BENCH_LOCAL_HOST")
                                      ? getenv("CPN_BENCH_LOCAL_HOST")
                                      : "127.0.0.1");
    if (dpdk && getenv("CPN_DPDK_PORTS") == NULL) {
        const char *role = server ? "server" : "client";
        const char *ip = server ? LOCAL_SRV_IP : LOCAL_CLI_IP;
        char v[512];

        snprintf(v, sizeof(v),
                 "net_memif0,role=%s,socket=/tmp/%s-m0.sock,socket-abstract=no;"
                 "net_memif1,role=%s,socket=/tmp/%s-m1.sock,socket-abstract=no",
                 role, tag, role, tag);
        setenv("CPN_DPDK_VDEVS", v, 1);
        snprintf(v, sizeof(v), "net_memif0@%s;net_memif1@%s", ip, ip);
        setenv("CPN_DPDK_PORTS", v, 1);
        snprintf(v, sizeof(v), "%s%c", tag, server ? 's' : 'c');
        setenv("CPN_DPDK_FILE_PREFIX", v, 1);
        if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
            set_default("CPN_DPDK_LCORES", server ? "0@0" : "0@1");
        }
    }
    if (extra != NULL) {
        char *copy = strdup(extra), *save = NULL, *tok;

        for (tok = strtok_r(copy, " ", &save); tok != NULL;
             tok = strtok_r(NULL, " ", &save)) {
            char *eq = strchr(tok, '=');

            if (eq == NULL || eq == tok) {
                snprintf(err, errlen, "%s: '%s' is not NAME=VALUE",
                         server ? "CPN_BENCH_SERVER_ENV"
                                : "CPN_BENCH_CLIENT_ENV", tok);
                free(copy);
                return CPN_ERR_CONFIG;
            }
            *eq = '\0';
            setenv(tok, eq + 1, 1);
        }
        free(copy);
    }
    if (dpdk && server) {
        /* The server listens on its first port's IP (SPEC@IP;...). */
        const char *ports = getenv("CPN_DPDK_PORTS");
        const char *at = ports ? strchr(ports, '@') : NULL;
        size_t n = at ? strcspn(at + 1, "; ") : 0;

        if (n == 0 || n >= hostlen) {
            snprintf(err, errlen, "CPN_DPDK_PORTS='%s': the bench server "
                     "needs SPEC@IP for its first port", ports ? ports : "");
            return CPN_ERR_CONFIG;
        }
        memcpy(host, at + 1, n);
        host[n] = '\0';
    }
    return CPN_OK;
}

void cpn_bench_local_cleanup(const char *tag)
{
    char path[128];

    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/tmp/%s-m%d.sock", tag, i);
        unlink(path);
    }
}
