/* SPDX-License-Identifier: Apache-2.0 */
/* `cpn info`: what this build of cpn is: its version, the transports built
 * into the library, what each sees on this host (RDMA devices, ports and
 * GIDs for verbs, and which it would pick), and with --config every configuration knob with its
 * CPN_* variable, current value and default (cpn_config_print). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static void cli_info_help(FILE *out)
{
    fprintf(out,
            "Usage: cpn info [--config] [--json]\n"
            "Print the version of cpn and the transports built into it.\n"
            "\n"
            "  -c, --config  also print every configuration knob: its CPN_*\n"
            "                environment variable, current value, default, help\n"
            "  -j, --json    print one JSON object instead of text (with --config,\n"
            "                the table comes as an array of lines)\n"
            "  -h, --help    this help\n");
}

/* The transport names as a JSON array ("ucx verbs" -> ["ucx","verbs"]). */
static json_t *cli_info_transports(void)
{
    json_t *arr = json_array();
    char *names = strdup(cpn_transports()), *save = NULL, *tok;

    if (arr == NULL || names == NULL) {
        free(names);
        return arr;
    }
    for (tok = strtok_r(names, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        json_array_append_new(arr, json_string(tok));
    }
    free(names);
    return arr;
}

/* The configuration table as lines, from cpn_config_print into memory. */
static json_t *cli_info_config_lines(void)
{
    json_t *arr = json_array();
    char *buf = NULL, *save = NULL, *line;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);

    if (mem == NULL) {
        return arr;
    }
    cpn_config_print(mem);
    fclose(mem);
    for (line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_array_append_new(arr, json_string(line));
    }
    free(buf);
    return arr;
}

int cli_cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", no_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, config = 0, as_json = 0;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":cjh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = 1;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            cli_info_help(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_getopt_error("info", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage("info", "unexpected argument '%s'", argv[optind]);
    }

    if (as_json) {
        json_t *obj = json_object();
        char *text;

        json_object_set_new(obj, "version", json_string(cpn_version()));
        json_object_set_new(obj, "transports", cli_info_transports());
        if (config) {
            json_object_set_new(obj, "config", cli_info_config_lines());
        }
        text = json_dumps(obj, JSON_INDENT(2));
        json_decref(obj);
        if (text == NULL) {
            fprintf(stderr, "cpn info: out of memory\n");
            return CLI_EXIT_TASK;
        }
        printf("%s\n", text);
        free(text);
        return CLI_EXIT_OK;
    }

    printf("cpn %s\n", cpn_version());
    printf("transports: %s\n", cpn_transports());
    fflush(stdout);
    cpn_transports_info(stdout);
    if (config) {
        printf("\n");
        fflush(stdout);
        cpn_config_print(stdout);
    }
    return CLI_EXIT_OK;
}
