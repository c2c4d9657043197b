/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration tables: every knob of every layer with its default, its
 * CPN_* environment variable and a help line, printed by
 * `cpn info --config`. */
#ifndef CPN_CONFIG_H
#define CPN_CONFIG_H

#include <stdio.h>

#include <cpn/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Print every configuration knob (variable, current value, default, help)
 * to @p out, one per line, in aligned columns under a heading per table,
 * tables sorted by area. Values come from the environment, marked "(env)"
 * (or "(env, invalid: default used)" if they do not parse), else the
 * default. Thread-safe.
 */
CPN_API void cpn_config_print(FILE *out);

/** The library version string ("0.1.0"), static. Thread-safe. */
CPN_API const char *cpn_version(void);

/**
 * Names of the transports built into this library, separated by spaces
 * ("ucx"). Never NULL.
 */
CPN_API const char *cpn_transports(void);

/**
 * Print what each built transport sees on this host and would choose (for
 * verbs: RDMA devices, ports, GIDs, and the pick under CPN_VERBS_*) to
 * @p out; transports with nothing to say print nothing. Not thread-safe
 * against setenv().
 */
CPN_API void cpn_transports_info(FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* CPN_CONFIG_H */
