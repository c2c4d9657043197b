/* SPDX-License-Identifier: Apache-2.0 */
/* `cpn keygen`: make a site's key pair (Ed25519, libsodium) for the
 * authenticated HELLO: the secret key file (mode 0600) for the site's own
 * --key / CPN_SITE_KEY_FILE, and FILE.pub, one line to append to the peers
 * file (--peers / CPN_SITE_PEERS_FILE) of every site that should trust it. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include <cpn/cpn.h>

#include "cli.h"

static void cli_keygen_help(FILE *out)
{
    fprintf(out,
            "Usage: cpn keygen --out FILE [--name NAME]\n"
            "Make a key pair for a site: FILE gets the secret key (mode 0600; give it\n"
            "to that site with --key or CPN_SITE_KEY_FILE), FILE.pub the public key\n"
            "as one line \"cpn-ed25519 HEX NAME\": append it to the --peers file\n"
            "(CPN_SITE_PEERS_FILE) of each site that should trust this one.\n"
            "Existing files are never overwritten.\n"
            "\n"
            "  -o, --out FILE   where to write the secret key\n"
            "  -n, --name NAME  the site's name, as in its HELLO (default: host name)\n"
            "  -h, --help       this text\n");
}

int cli_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *name = NULL;
    char host[256];
    cpn_status_t st;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'h':
            cli_keygen_help(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_getopt_error("keygen", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage("keygen", "unexpected argument '%s'", argv[optind]);
    }
    if (out == NULL) {
        return cli_usage("keygen", "missing --out FILE");
    }
    if (name == NULL) {
        if (gethostname(host, sizeof(host)) != 0) {
            return cli_usage("keygen", "no --name, and no host name to use");
        }
        host[sizeof(host) - 1] = '\0';
        name = host;
    }
    st = cpn_keygen(out, name);
    if (st == CPN_ERR_INVALID) {
        return cli_usage("keygen", "--name '%s' must be 1..255 bytes without "
                         "spaces or control characters", name);
    }
    if (st != CPN_OK) {
        fprintf(stderr, "cpn keygen: cannot write %s: %s\n", out,
                cpn_status_str(st));
        return CLI_EXIT_LOCAL;
    }
    printf("cpn keygen: secret key %s (mode 0600), public key %s.pub for "
           "site %s\n", out, out, name);
    return CLI_EXIT_OK;
}
