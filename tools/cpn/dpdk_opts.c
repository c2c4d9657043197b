/* SPDX-License-Identifier: Apache-2.0 */
/* The --dpdk-* options of `cpn serve` and `cpn send`: a command-line face
 * for the CPN_DPDK_* variables a user needs to put a site on a DPDK port
 * (vdevs, the port and its IP, lcores, hugepages, file prefix, ...). The
 * transport reads its configuration from the environment when it opens, so
 * the options are applied by setting those variables, after parsing and
 * before the site opens: a flag overrides the variable, a variable not
 * named by a flag stays as it was. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
    CLI_DPDK_VDEV = CLI_OPT_DPDK,
    CLI_DPDK_PORT,
    CLI_DPDK_IP,
    CLI_DPDK_LCORES,
    CLI_DPDK_HUGE,
    CLI_DPDK_PREFIX,
    CLI_DPDK_MEM,
    CLI_DPDK_MTU,
    CLI_DPDK_NEIGH,
    CLI_DPDK_PCI,
    CLI_DPDK_EAL_ARGS,
    CLI_DPDK_END,
};

void cli_dpdk_help(FILE *out)
{
    fprintf(out,
            "DPDK options (imply --transport dpdk; each overrides its CPN_DPDK_*\n"
            "variable, see `cpn info --config`):\n"
            "      --dpdk-vdev SPEC    an EAL --vdev, e.g. net_memif0,role=server,\n"
            "                          socket=/tmp/m.sock (repeatable)\n"
            "      --dpdk-port SPEC[@IP]  the site's port: ethdev name, port number or\n"
            "                          PCI address, with its IPv4 (repeatable)\n"
            "      --dpdk-ip IP        the IPv4 of a --dpdk-port given without @IP\n"
            "                          (serve: default the --listen host)\n"
            "      --dpdk-lcores MAP   EAL --lcores, e.g. 0@2 (default: float)\n"
            "      --dpdk-hugepages y|n|auto  hugepages (default auto: y when free ones\n"
            "                          are mounted)\n"
            "      --dpdk-file-prefix NAME  EAL --file-prefix, one per process on a host\n"
            "      --dpdk-mem SIZE     EAL memory, e.g. 512M\n"
            "      --dpdk-mtu N        IP MTU of the port (9000: jumbo frames)\n"
            "      --dpdk-neigh IP=MAC a static neighbour instead of ARP (repeatable)\n"
            "      --dpdk-pci          probe PCI NICs bound to vfio-pci\n"
            "      --dpdk-eal-args ARGS  more EAL arguments, space-separated\n");
}

int cli_dpdk_is_option(int c)
{
    return c >= CLI_OPT_DPDK && c < CLI_DPDK_END;
}

/* Append @p item to the ';'-separated list @p list. */
static int cli_dpdk_append(char *list, size_t len, const char *item)
{
    size_t used = strlen(list);
    int n = snprintf(list + used, len - used, "%s%s", used ? ";" : "", item);

    return n < 0 || (size_t)n >= len - used ? -1 : 0;
}

int cli_dpdk_option(cli_dpdk_opts_t *d, const char *cmd, int c,
                    const char *arg)
{
    struct in_addr a;
    uint64_t v;

    d->given = 1;
    switch (c) {
    case CLI_DPDK_VDEV:
        if (*arg == '\0' || strchr(arg, ';') != NULL ||
            cli_dpdk_append(d->vdevs, sizeof(d->vdevs), arg) != 0) {
            return cli_usage(cmd, "--dpdk-vdev '%s': one vdev (no ';') per "
                             "option, %zu bytes in all", arg,
                             sizeof(d->vdevs) - 1);
        }
        return 0;
    case CLI_DPDK_PORT:
        if (*arg == '\0' || strchr(arg, ';') != NULL ||
            cli_dpdk_append(d->ports, sizeof(d->ports), arg) != 0) {
            return cli_usage(cmd, "--dpdk-port '%s': one SPEC[@IP] per "
                             "option", arg);
        }
        return 0;
    case CLI_DPDK_IP:
        if (inet_pton(AF_INET, arg, &a) != 1) {
            return cli_usage(cmd, "--dpdk-ip wants an IPv4 address, not "
                             "'%s'", arg);
        }
        snprintf(d->ip, sizeof(d->ip), "%s", arg);
        return 0;
    case CLI_DPDK_LCORES:
        d->lcores = arg;
        return 0;
    case CLI_DPDK_HUGE:
        if (strcmp(arg, "y") != 0 && strcmp(arg, "n") != 0 &&
            strcmp(arg, "auto") != 0) {
            return cli_usage(cmd, "--dpdk-hugepages wants y, n or auto, not "
                             "'%s'", arg);
        }
        d->huge = arg;
        return 0;
    case CLI_DPDK_PREFIX:
        if (*arg == '\0' || strchr(arg, '/') != NULL) {
            return cli_usage(cmd, "--dpdk-file-prefix wants a name without "
                             "'/', not '%s'", arg);
        }
        d->file_prefix = arg;
        return 0;
    case CLI_DPDK_MEM:
        if (cli_parse_size(arg, &v) != 0 || v < (1u << 20)) {
            return cli_usage(cmd, "--dpdk-mem wants a size of at least 1M, "
                             "not '%s'", arg);
        }
        d->mem = arg;
        return 0;
    case CLI_DPDK_MTU:
        if (cli_parse_uint(arg, 576, 9600, &v) != 0) {
            return cli_usage(cmd, "--dpdk-mtu wants 576..9600, not '%s'",
                             arg);
        }
        d->mtu = arg;
        return 0;
    case CLI_DPDK_NEIGH:
        if (strchr(arg, '=') == NULL || strchr(arg, ';') != NULL ||
            cli_dpdk_append(d->neigh, sizeof(d->neigh), arg) != 0) {
            return cli_usage(cmd, "--dpdk-neigh wants IP=MAC, not '%s'", arg);
        }
        return 0;
    case CLI_DPDK_PCI:
        d->pci = 1;
        return 0;
    case CLI_DPDK_EAL_ARGS:
        d->eal_args = arg;
        return 0;
    default:
        return cli_usage(cmd, "unknown DPDK option");
    }
}

static int cli_dpdk_setenv(const char *cmd, const char *var, const char *val)
{
    if (val != NULL && setenv(var, val, 1) != 0) {
        fprintf(stderr, "cpn %s: cannot set %s: out of memory\n", cmd, var);
        return CLI_EXIT_LOCAL;
    }
    return 0;
}

int cli_dpdk_apply(cli_dpdk_opts_t *d, const char *cmd,
                   const char **transport_p, const char *listen_addr)
{
    char ports[sizeof(d->ports) + 64] = "", host[64] = "", *save = NULL;
    const char *ip = d->ip[0] ? d->ip : NULL;
    int rc = 0;

    if (!d->given) {
        return 0;
    }
    if (*transport_p == NULL) {
        *transport_p = "dpdk";
    } else if (strcmp(*transport_p, "dpdk") != 0) {
        return cli_usage(cmd, "--dpdk-* options are for --transport dpdk, "
                         "not %s", *transport_p);
    }
    if (ip == NULL && listen_addr != NULL) {
        /* serve: the port's IP is the one it listens on, unless that is
         * the wildcard */
        const char *colon = strrchr(listen_addr, ':');
        struct in_addr a;

        if (colon != NULL && (size_t)(colon - listen_addr) < sizeof(host)) {
            snprintf(host, sizeof(host), "%.*s",
                     (int)(colon - listen_addr), listen_addr);
            if (inet_pton(AF_INET, host, &a) == 1 && a.s_addr != 0) {
                ip = host;
            }
        }
    }
    if (d->ports[0] != '\0') {
        char copy[sizeof(d->ports)];

        snprintf(copy, sizeof(copy), "%s", d->ports);
        for (char *tok = strtok_r(copy, ";", &save); tok != NULL;
             tok = strtok_r(NULL, ";", &save)) {
            char entry[sizeof(d->ports) + 32];

            if (strchr(tok, '@') != NULL) {
                snprintf(entry, sizeof(entry), "%s", tok);
            } else if (ip != NULL) {
                snprintf(entry, sizeof(entry), "%s@%s", tok, ip);
            } else {
                return cli_usage(cmd, "--dpdk-port %s: which IPv4? give "
                                 "SPEC@IP or --dpdk-ip IP", tok);
            }
            if (cli_dpdk_append(ports, sizeof(ports), entry) != 0) {
                return cli_usage(cmd, "--dpdk-port: too many ports");
            }
        }
    } else if (d->ip[0] != '\0') {
        return cli_usage(cmd, "--dpdk-ip %s: for which port? add "
                         "--dpdk-port SPEC", d->ip);
    }
    if (rc == 0 && d->vdevs[0] != '\0') {
        rc = cli_dpdk_setenv(cmd, "CPN_DPDK_VDEVS", d->vdevs);
    }
    if (rc == 0 && ports[0] != '\0') {
        rc = cli_dpdk_setenv(cmd, "CPN_DPDK_PORTS", ports);
    }
    if (rc == 0 && d->neigh[0] != '\0') {
        rc = cli_dpdk_setenv(cmd, "CPN_DPDK_NEIGH", d->neigh);
    }
    if (rc == 0) {
        rc = cli_dpdk_setenv(cmd, "CPN_DPDK_LCORES", d->lcores);
    }
    if (rc == 0) {
        rc = cli_dpdk_setenv(cmd, "CPN_DPDK_HUGE", d->huge);
    }
    if (rc == 0) {
        rc = cli_dpdk_setenv(cmd, "CPN_DPDK_FILE_PREFIX", d->file_prefix);
    }
    if (rc == 0) {
        rc = cli_dpdk_setenv(cmd, "CPN_DPDK_MEM", d->mem);
    }
    if (rc == 0) {
        rc = cli_dpdk_setenv(cmd, "CPN_DPDK_MTU", d->mtu);
    }
    if (rc == 0) {
        rc = cli_dpdk_setenv(cmd, "CPN_DPDK_PCI", d->pci ? "y" : NULL);
    }
    if (rc == 0) {
        rc = cli_dpdk_setenv(cmd, "CPN_DPDK_EAL_ARGS", d->eal_args);
    }
    return rc;
}
