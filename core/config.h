/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration tables. Each layer declares one table of knobs (name,
 * default, help, type, where in its struct the value goes) and registers it;
 * cpn__config_fill() applies defaults then CPN_<AREA>_<NAME> environment
 * variables, and cpn_config_print() (config.h) lists every table. Values
 * accept units: sizes "4M", "64MiB", "1G"; times "500ms", "10s", "2m". */
#ifndef CPN_CORE_CONFIG_H
#define CPN_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <cpn/config.h>
#include <cpn/status.h>

typedef enum cpn_cfg_type {
    CPN_CFG_SIZE,    /* uint64_t or size_t (by field size): bytes with units */
    CPN_CFG_UINT,    /* unsigned / uint32_t / uint64_t (by field size) */
    CPN_CFG_TIME_MS, /* int: milliseconds, units ms/s/m; "inf" = -1 */
    CPN_CFG_BOOL,    /* int: y/yes/on/1/true or n/no/off/0/false */
    CPN_CFG_STRING,  /* const char *: points into the environment or default */
} cpn_cfg_type_t;

typedef struct cpn_config_field {
    const char *name;    /* "CHUNK_SIZE": the variable is CPN_<AREA>_<NAME> */
    const char *dflt;    /* default as text ("4M"); NULL for none */
    const char *help;    /* one line */
    cpn_cfg_type_t type;
    size_t offset;       /* offsetof() the value in the filled struct */
    size_t size;         /* sizeof the value (for SIZE/UINT: 4 or 8) */
} cpn_config_field_t;

typedef struct cpn_config_table {
    const char *area;                 /* "SITE" -> CPN_SITE_* */
    const char *title;                /* "runtime: sites and tasks" */
    const cpn_config_field_t *field;
    size_t nfield;
    struct cpn_config_table *next;    /* registry link, set by register */
} cpn_config_table_t;

#define CPN_CONFIG_FIELD(_name, _dflt, _help, _type, _struct, _member)        \
    { _name, _dflt, _help, _type, offsetof(_struct, _member),                 \
      sizeof(((_struct *)0)->_member) }

/** Add a table to the list cpn_config_print() shows (kept sorted by area,
 *  then title). Idempotent; thread-safe. The table must outlive the process
 *  (a static), as its next link belongs to the registry from now on. */
void cpn__config_register(cpn_config_table_t *table);

/** Register a table at load time (from a constructor). Note that a static
 *  archive member nobody references is not linked, constructor and all. */
#define CPN_CONFIG_REGISTER(_table)                                           \
    __attribute__((constructor)) static void cpn__config_reg_##_table(void)   \
    {                                                                         \
        cpn__config_register(&(_table));                                      \
    }

/**
 * Fill @p obj with each field's default, then its environment variable.
 * A set but empty variable is a value (and so an error for a number).
 * SIZE and UINT values above UINT32_MAX are refused for 4-byte fields.
 * @return CPN_OK, or CPN_ERR_CONFIG for the first value that does not parse
 *         (logged with the variable name, its value, and what is expected);
 *         that field keeps its default and the rest are still filled.
 *         CPN_ERR_INVALID if the table itself is wrong (a size that does
 *         not suit the type: that field is not written; a default that does
 *         not parse: the field is zeroed), logged; a bug, not a user error.
 * Thread-safe as long as nobody calls setenv() meanwhile.
 */
cpn_status_t cpn__config_fill(const cpn_config_table_t *table, void *obj);

/**
 * Parse a size: decimal digits, then optionally a unit k, M, G, T, P or E
 * (any case, alone or followed by "iB" or "B"; all powers of 1024), or "B".
 * No sign, space or fraction.
 * @return CPN_OK; CPN_ERR_CONFIG if @p s does not parse or overflows 64
 *         bits; CPN_ERR_INVALID for NULL. @p value_p is written on success.
 */
cpn_status_t cpn__config_parse_size(const char *s, uint64_t *value_p);

/**
 * Parse a time to milliseconds: digits with no unit (ms) or ms, s, m (or
 * min), h, any case; "inf" or "infinity" gives -1.
 * @return CPN_OK; CPN_ERR_CONFIG if @p s does not parse or exceeds INT_MAX
 *         ms (about 24 days); CPN_ERR_INVALID for NULL.
 */
cpn_status_t cpn__config_parse_time_ms(const char *s, int *value_p);

/**
 * Parse a boolean: y, yes, on, 1, true give 1; n, no, off, 0, false give 0
 * (any case).
 * @return CPN_OK; CPN_ERR_CONFIG otherwise; CPN_ERR_INVALID for NULL.
 */
cpn_status_t cpn__config_parse_bool(const char *s, int *value_p);

/**
 * Parse a probability: a fraction such as 0.01, or a percentage such as 1%.
 * @return CPN_OK with @p value_p in [0, 1]; CPN_ERR_CONFIG otherwise;
 *         CPN_ERR_INVALID for NULL.
 */
cpn_status_t cpn__config_parse_prob(const char *s, double *value_p);

/**
 * The next number in [0, 1) of a seeded xorshift64* stream at @p state
 * (never 0): the same faults on every run for the fault injectors that
 * cpn__config_parse_prob() configures.
 */
static inline double cpn__fault_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *state = x;
    return (double)((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

#endif /* CPN_CORE_CONFIG_H */
