/* SPDX-License-Identifier: Apache-2.0 */
/* cpn: the command line of the cpn data plane. `cpn serve` runs a receiving
 * site, `cpn send` delivers files and directories to one, `cpn demo` shows
 * both ends on this machine with a generated model, `cpn info` tells what
 * this build has, and `cpn bench`, `cpn assess` and `cpn report` measure,
 * score and show it. This file only dispatches to the subcommands.
 *
 * Exit codes, the same for every command:
 *   0  success
 *   1  the task failed (refused, checksum mismatch, receiver error, canceled)
 *   2  usage error (unknown command or option, bad argument)
 *   3  could not reach the peer or lost it (unreachable, connection lost,
 *      timeout, protocol version mismatch)
 *   4  local file error (unreadable path or spec file, demo directory)
 *   5  demo verification failed (a landed file differs from its source)
 * The mapping from cpn_status_t lives in one place: cli_exit_code(). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command_t;

static const cli_command_t cli_commands[] = {
    {"serve", cli_cmd_serve, "receive tasks: listen and land them in a directory"},
    {"send", cli_cmd_send, "deliver files and directories to a listening site"},
    {"demo", cli_cmd_demo, "generate a model, deliver it on this machine, verify it"},
    {"info", cli_cmd_info, "version, transports built, configuration knobs"},
    {"bench", cli_cmd_bench, "measure transports and tasks, with reference tools"},
    {"assess", cli_cmd_assess, "score bench results and receipts for maturity"},
    {"report", cli_cmd_report, "one HTML page (and Markdown) from results"},
    {"keygen", cli_cmd_keygen, "make a site key pair for authenticated HELLO"},
};

#define CLI_NCOMMANDS (sizeof(cli_commands) / sizeof(cli_commands[0]))

static void cli_main_help(FILE *out)
{
    size_t i;

    fprintf(out,
            "Usage: cpn COMMAND [OPTIONS] [ARGS]\n"
            "Deliver AI tasks (model shards, job data) between compute sites,\n"
            "verified (XXH3) and timed, with a receipt.\n"
            "\n"
            "Commands:\n");
    for (i = 0; i < CLI_NCOMMANDS; i++) {
        fprintf(out, "  %-7s %s\n", cli_commands[i].name,
                cli_commands[i].summary);
    }
    fprintf(out,
            "\n"
            "First time? Run `cpn demo`.\n"
            "`cpn COMMAND --help` (or `cpn help COMMAND`) describes a command.\n"
            "Every knob also has a CPN_* environment variable: see `cpn info --config`.\n"
            "\n"
            "Options:\n"
            "  -h, --help     this help\n"
            "  -V, --version  print the version\n"
            "\n"
            "Exit codes:\n"
            "  0  success\n"
            "  1  the task failed (refused, checksum mismatch, receiver error)\n"
            "  2  usage error\n"
            "  3  could not reach the peer or lost it (unreachable, timeout,\n"
            "     version mismatch)\n"
            "  4  local file error (unreadable path or spec file)\n"
            "  5  demo verification failed\n");
}

static const cli_command_t *cli_find(const char *name)
{
    size_t i;

    for (i = 0; i < CLI_NCOMMANDS; i++) {
        if (strcmp(cli_commands[i].name, name) == 0) {
            return &cli_commands[i];
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const cli_command_t *cmd;
    const char *name;

    if (argc < 2) {
        return cli_usage(NULL, "no command given (serve, send, demo, info, "
                               "bench, assess, report)");
    }
    name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        cli_main_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0) {
        printf("cpn %s\n", cpn_version());
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        char help_opt[] = "--help";
        char *help_argv[3];

        if (argc < 3) {
            cli_main_help(stdout);
            return CLI_EXIT_OK;
        }
        cmd = cli_find(argv[2]);
        if (cmd == NULL) {
            return cli_usage(NULL, "unknown command '%s'", argv[2]);
        }
        help_argv[0] = argv[2];
        help_argv[1] = help_opt;
        help_argv[2] = NULL;
        return cmd->run(2, help_argv);
    }
    if (name[0] == '-') {
        return cli_usage(NULL, "unknown option '%s' (a command comes first)",
                         name);
    }
    cmd = cli_find(name);
    if (cmd == NULL) {
        return cli_usage(NULL, "unknown command '%s'", name);
    }
    return cmd->run(argc - 1, argv + 1);
}
