/* SPDX-License-Identifier: Apache-2.0 */
/* `cpn keygen` and the --key/--peers options of `cpn serve` and `cpn send`,
 * run as a user would from a shell: two sites that trust each other
 * deliver; a sender without a key, or with a group-readable key file, is
 * refused with words that say so (and exit 3 / 1); nothing is written. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

/* Run @p script under sh with D (scratch dir) and CPN (the CLI) set; its
 * output goes to D/out. @return the exit status. */
static int sh(const char *script, char *out, size_t outlen)
{
    char cmd[8192], path[300];
    FILE *f;
    size_t n;
    int rc;

    snprintf(cmd, sizeof(cmd), "D='%s' CPN='%s' sh -c '%s' >'%s.out' 2>&1",
             dir, getenv("CPN_CLI"), script, dir);
    rc = system(cmd);
    snprintf(path, sizeof(path), "%s.out", dir);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void setup(void)
{
    char out[4096];

    cr_assert_not_null(getenv("CPN_CLI"), "CPN_CLI is not set (meson sets it)");
    snprintf(dir, sizeof(dir), "/tmp/cpn-sec-cli-keys.%d", getpid());
    cr_assert_eq(sh("rm -rf \"$D\"", out, sizeof(out)), 0);
    cr_assert_eq(sh("mkdir -p \"$D\" && cd \"$D\" && "
                    "$CPN keygen --out a.key --name site-a && "
                    "$CPN keygen --out b.key --name site-b && "
                    "cat a.key.pub > b.peers && cat b.key.pub > a.peers && "
                    "head -c 300000 /dev/urandom > data.bin && "
                    "stat -c %a a.key | grep -qx 600 && "
                    "stat -c %a a.key.pub | grep -qx 644", out, sizeof(out)),
                 0, "%s", out);
}

static void teardown(void)
{
    char out[512];

    sh("rm -rf \"$D\"", out, sizeof(out));
    snprintf(out, sizeof(out), "%s.out", dir);
    unlink(out);
}

TestSuite(cli_keys, .init = setup, .fini = teardown, .timeout = 120);

/* Start serve with keys in the background; $addr, $pid set after this. */
#define SERVE                                                                \
    "cd \"$D\" || exit 9; mkfifo ready || exit 9; "                                       \
    "UCX_TLS=tcp $CPN serve --listen 127.0.0.1:0 --land land --name site-b " \
    "--key b.key --peers b.peers --ready-fd 3 3>ready & pid=$!; "            \
    "read addr < ready; "

/* From the shell: keygen, serve --key --peers; a trusted send lands
 * byte-exact; a send with no key exits 3 saying "no key"; a 0640 key file
 * is refused; keygen never overwrites. */
Test(cli_keys, trusted_delivers_untrusted_refused)
{
    char out[8192];
    int rc;

    rc = sh(SERVE
            "trap \"kill $pid\" EXIT; "
            /* trusted: delivered, byte-exact */
            "CPN_SITE_NAME=site-a UCX_TLS=tcp $CPN send --to $addr --key a.key "
            "--peers a.peers --job good data.bin || exit 10; "
            "cmp data.bin land/good/data.bin || exit 11; "
            /* no key: refused, exit 3, says so, nothing landed */
            "CPN_SITE_NAME=site-a UCX_TLS=tcp $CPN send --to $addr --job nokey "
            "data.bin; rc=$?; [ $rc -eq 3 ] || exit 20; "
            "[ -e land/nokey ] && exit 21; "
            /* group-readable key: refused before connecting */
            "chmod 640 a.key; CPN_SITE_NAME=site-a UCX_TLS=tcp $CPN send "
            "--to $addr --key a.key --job perms data.bin && exit 30; "
            "chmod 600 a.key; "
            /* keygen never overwrites */
            "$CPN keygen --out a.key --name site-a && exit 40; "
            "exit 0",
            out, sizeof(out));
    cr_assert_eq(rc, 0, "step failed (exit %d); output:\n%s", rc, out);
    cr_assert(strstr(out, "no key") != NULL, "no \"no key\" in:\n%s", out);
    cr_assert(strstr(out, "unsafe permissions") != NULL,
              "no \"unsafe permissions\" in:\n%s", out);
    cr_assert(strstr(out, "not overwriting") != NULL ||
                  strstr(out, "exists") != NULL, "keygen:\n%s", out);
}
