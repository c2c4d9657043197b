/* SPDX-License-Identifier: Apache-2.0 */
/* The maturity assessment behind `cpn assess` (internal): a maturity model
 * read from a data file (data/maturity-model.json, schema
 * "cpn.maturity-model/1": indicators with thresholds, units and each
 * threshold's source), the metrics cpn can observe from its own bench
 * documents ("cpn.bench/1") and delivery receipts ("cpn.receipt/1"), and
 * the scoring of one against the other. An indicator with no measurement
 * is "not measured", never estimated. Not thread-safe. */
#ifndef CPN_BENCH_ASSESS_H
#define CPN_BENCH_ASSESS_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include <cpn/status.h>

/** The schema of an assessment document. */
#define CPN_ASSESS_SCHEMA "cpn.assessment/1"

/**
 * Read and check a model file. Errors name the file, the line and the
 * field ("model.json:42: indicators[3] 'network.jitter': levels[1].threshold:
 * not a number").
 * @return CPN_OK with a new reference in @p model_p; CPN_ERR_IO (cannot
 *         read), CPN_ERR_INVALID (malformed) with @p err set.
 */
cpn_status_t cpn_assess_model_load(const char *path, json_t **model_p,
                                   char *err, size_t errlen);

/** Check a parsed model; @p text (may be NULL) is its source, to find the
 *  line of an offending indicator; @p path names it in errors. */
cpn_status_t cpn_assess_model_check(const json_t *model, const char *text,
                                    const char *path, char *err,
                                    size_t errlen);

/** What the metrics are computed from. */
typedef struct cpn_assess_inputs {
    json_t *bench;            /**< array of cpn.bench/1 documents */
    json_t *receipts;         /**< array of cpn.receipt/1 documents */
    double line_rate_gbps;    /**< <= 0: not known */
    char line_rate_source[128]; /**< "flag", "sysfs /sys/class/net/eth0/speed" */
    double distance_km;       /**< fibre distance between the sites; <= 0: unknown */
} cpn_assess_inputs_t;

/**
 * Add one input file's JSON: a bench document, a receipt, an array of
 * receipts, or JSON lines of receipts (@p text). @return CPN_OK, or
 * CPN_ERR_INVALID with @p err naming the file and what it is not.
 */
cpn_status_t cpn_assess_add_input(cpn_assess_inputs_t *in, const char *path,
                                  const char *text, char *err, size_t errlen);

/**
 * The line rate of @p dev from sysfs: /sys/class/net/DEV/speed (Mb/s) or
 * /sys/class/infiniband/DEV/ports/1/rate ("200 Gb/sec"). @p sysroot is ""
 * (or a test's fake root). @return Gb/s, or -1 when the system does not
 * report it (virtual devices report -1 or nothing).
 */
double cpn_assess_line_rate(const char *sysroot, const char *dev, char *src,
                            size_t srclen);

/** The observable metrics: an object metric -> {"value": number|null,
 *  "why": "where it comes from"}. New reference. */
json_t *cpn_assess_metrics(const cpn_assess_inputs_t *in);

/**
 * The level of @p value for one indicator of a checked model, with @p why
 * (the threshold met and its source) and @p next (what reaches the next
 * level, or "" at the top). @return 1..5.
 */
int cpn_assess_level(const json_t *indicator, double value, char *why,
                     size_t whylen, char *next, size_t nextlen);

/** Score @p metrics against @p model: the assessment document
 *  ("cpn.assessment/1"), with the acatech stage stated from what cpn does.
 *  New reference. */
json_t *cpn_assess_score(const json_t *model, const json_t *metrics,
                         const cpn_assess_inputs_t *in);

/** Print an assessment as a table. */
void cpn_assess_print_table(const json_t *assessment, FILE *out);

#endif /* CPN_BENCH_ASSESS_H */
