/* SPDX-License-Identifier: Apache-2.0 */
/* `cpn assess`: score bench documents and delivery receipts against the
 * maturity model (data/maturity-model.json, or --model FILE), per
 * indicator and per dimension, with the acatech stage stated from what cpn
 * does; as a table or JSON ("cpn.assessment/1"). The work is in
 * bench/lib/assess.c; this file reads files and options. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/assess.h"
#include "cli.h"

enum { OPT_LINE_RATE = 256, OPT_DEVICE, OPT_DISTANCE, OPT_FORMAT };

static void usage(FILE *out)
{
    fprintf(out,
"Usage: cpn assess [OPTIONS] FILE...\n"
"Score bench results (cpn bench -j) and delivery receipts (cpn send --json)\n"
"against the maturity model: value, level, why and what reaches the next\n"
"level, per indicator; a level per dimension (network, resource, operation,\n"
"application); the acatech stage from what cpn does. An indicator with no\n"
"measurement is \"not measured\".\n"
"\n"
"  -m, --model FILE       the model (default: %s)\n"
"      --line-rate GBPS   the link's line rate in Gb/s (default: from the\n"
"                         device: /sys/class/net/DEV/speed or infiniband rate)\n"
"      --device DEV       the device to read it from (default: the devices of\n"
"                         the bench's lanes)\n"
"      --distance-km KM   fibre distance between the sites (latency stretch)\n"
"      --format F         table (default) or json\n"
"  -j, --json FILE        also write the assessment as JSON to FILE\n"
"  -h, --help             this help\n"
"\n"
"Exit: 0 scored, 2 usage, 4 an input or the model cannot be read or is\n"
"malformed (the error names the file, line and field).\n",
            CPN_MODEL_INSTALLED);
}

/* The model: --model, else the installed one, else the source tree's. */
static const char *default_model(void)
{
    if (access(CPN_MODEL_INSTALLED, R_OK) == 0) {
        return CPN_MODEL_INSTALLED;
    }
    return CPN_MODEL_SOURCE;
}

/* Line rate from the devices of the bench's lanes ("tcp/eth0" -> eth0). */
static void line_rate_from_lanes(cpn_assess_inputs_t *in)
{
    json_t *doc;
    size_t i;

    json_array_foreach(in->bench, i, doc)
    {
        const char *lanes = json_string_value(json_object_get(
            json_object_get(doc, "transport"), "lanes"));
        char copy[256], *save = NULL, *tok;

        if (lanes == NULL) {
            continue;
        }
        snprintf(copy, sizeof(copy), "%s", lanes);
        for (tok = strtok_r(copy, " ", &save); tok != NULL;
             tok = strtok_r(NULL, " ", &save)) {
            const char *dev = strchr(tok, '/') ? strchr(tok, '/') + 1 : tok;
            char src[128];
            char name[64];
            double g;

            snprintf(name, sizeof(name), "%.*s", (int)strcspn(dev, ":"), dev);
            g = cpn_assess_line_rate("", name, src, sizeof(src));
            if (g > in->line_rate_gbps) {
                in->line_rate_gbps = g;
                snprintf(in->line_rate_source, sizeof(in->line_rate_source),
                         "%s", src);
            }
        }
    }
}

int cli_cmd_assess(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"line-rate", required_argument, NULL, OPT_LINE_RATE},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"distance-km", required_argument, NULL, OPT_DISTANCE},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"json", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cpn_assess_inputs_t in = {0};
    const char *model_path = NULL, *device = NULL, *format = "table";
    const char *json_out = NULL;
    json_t *model = NULL, *metrics, *a;
    char err[512];
    int c, rc = CLI_EXIT_OK;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":m:j:h", opts, NULL)) != -1) {
        char *end;

        switch (c) {
        case 'm': model_path = optarg; break;
        case OPT_LINE_RATE:
            in.line_rate_gbps = strtod(optarg, &end);
            if (*end != '\0' || in.line_rate_gbps <= 0) {
                return cli_usage("assess", "--line-rate: Gb/s > 0, not '%s'",
                                 optarg);
            }
            snprintf(in.line_rate_source, sizeof(in.line_rate_source),
                     "--line-rate %s", optarg);
            break;
        case OPT_DEVICE: device = optarg; break;
        case OPT_DISTANCE:
            in.distance_km = strtod(optarg, &end);
            if (*end != '\0' || in.distance_km <= 0) {
                return cli_usage("assess", "--distance-km: km > 0, not '%s'",
                                 optarg);
            }
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "table") != 0 && strcmp(optarg, "json") != 0) {
                return cli_usage("assess", "--format: table or json");
            }
            format = optarg;
            break;
        case 'j': json_out = optarg; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_getopt_error("assess", c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage("assess", "no input: give bench JSON files or "
                         "receipts");
    }
    if (model_path == NULL) {
        model_path = default_model();
    }
    if (cpn_assess_model_load(model_path, &model, err, sizeof(err)) != CPN_OK) {
        fprintf(stderr, "cpn assess: %s\n", err);
        return CLI_EXIT_LOCAL;
    }
    in.bench = json_array();
    in.receipts = json_array();
    for (int i = optind; i < argc; i++) {
        char *text = cli_read_file(argv[i]);

        if (text == NULL) {
            fprintf(stderr, "cpn assess: cannot read %s: %s\n", argv[i],
                    strerror(errno));
            rc = CLI_EXIT_LOCAL;
            goto out;
        }
        if (cpn_assess_add_input(&in, argv[i], text, err, sizeof(err)) !=
            CPN_OK) {
            fprintf(stderr, "cpn assess: %s\n", err);
            free(text);
            rc = CLI_EXIT_LOCAL;
            goto out;
        }
        free(text);
    }
    if (in.line_rate_gbps <= 0 && device != NULL) {
        in.line_rate_gbps = cpn_assess_line_rate("", device,
                                                 in.line_rate_source,
                                                 sizeof(in.line_rate_source));
        if (in.line_rate_gbps <= 0) {
            fprintf(stderr, "cpn assess: %s reports no line rate (no "
                    "/sys/class/net/%s/speed or infiniband rate); give "
                    "--line-rate\n", device, device);
        }
    } else if (in.line_rate_gbps <= 0) {
        line_rate_from_lanes(&in);
    }
    metrics = cpn_assess_metrics(&in);
    a = cpn_assess_score(model, metrics, &in);
    json_object_set_new(json_object_get(a, "model"), "file",
                        json_string(model_path));
    json_object_set_new(a, "metrics", metrics);
    if (strcmp(format, "json") == 0) {
        json_dumpf(a, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        cpn_assess_print_table(a, stdout);
    }
    if (json_out != NULL &&
        json_dump_file(a, json_out, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0) {
        fprintf(stderr, "cpn assess: cannot write %s\n", json_out);
        rc = CLI_EXIT_LOCAL;
    }
    json_decref(a);
out:
    json_decref(in.bench);
    json_decref(in.receipts);
    json_decref(model);
    return rc;
}
