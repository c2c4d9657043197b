/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration tables: the registry every layer adds its table of knobs
 * to, the parsers for their value types (sizes, times, booleans, unsigned
 * integers, strings), cpn__config_fill() that applies defaults and then the
 * CPN_<AREA>_<NAME> environment variables, and cpn_config_print() behind
 * `cpn info --config`. Nothing here allocates: tables are static, values
 * land in the caller's struct, and strings point into the environment or
 * the table's default. */
#include "core/config.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/compiler.h"
#include "core/log.h"

#ifndef CPN_VERSION_STR
#error "CPN_VERSION_STR must be defined by the build (meson does it)"
#endif

/* Longest CPN_<AREA>_<NAME> we build; a longer one is a bug in a table. */
#define CPN_CONFIG_VAR_MAX 128

/* Widest value column cpn_config_print() pads to; longer values overflow. */
#define CPN_CONFIG_VALUE_COL_MAX 32

/* Registered tables, kept sorted by area then title so the listing is
 * stable whatever order the constructors ran in. */
static pthread_mutex_t cpn_config_lock = PTHREAD_MUTEX_INITIALIZER;
static cpn_config_table_t *cpn_config_head;

/* A parsed value before it is stored at its field's size. */
typedef union cpn_config_value {
    uint64_t u;
    int i;
    const char *s;
} cpn_config_value_t;

const char *cpn_version(void)
{
    return CPN_VERSION_STR;
}

void cpn__config_register(cpn_config_table_t *table)
{
    cpn_config_table_t **pos;
    cpn_config_table_t *t;

    pthread_mutex_lock(&cpn_config_lock);
    for (t = cpn_config_head; t != NULL; t = t->next) {
        if (t == table) {
            goto out; /* already there */
        }
    }
    for (pos = &cpn_config_head; *pos != NULL; pos = &(*pos)->next) {
        int cmp = strcmp(table->area, (*pos)->area);

        if (cmp == 0) {
            cmp = strcmp(table->title, (*pos)->title);
        }
        if (cmp < 0) {
            break;
        }
    }
    table->next = *pos;
    *pos = table;
out:
    pthread_mutex_unlock(&cpn_config_lock);
}

/* ---- parsers: pure, they log nothing; the caller knows the variable ---- */

/* Decimal digits at *sp into *value_p; at least one, no sign, no overflow.
 * Leaves *sp after the digits. */
static int cpn_config_parse_digits(const char **sp, uint64_t *value_p)
{
    const char *s = *sp;
    uint64_t v = 0;

    if (*s < '0' || *s > '9') {
        return -1;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');

        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *sp = s;
    *value_p = v;
    return 0;
}

cpn_status_t cpn__config_parse_size(const char *s, uint64_t *value_p)
{
    static const char units[] = "kmgtpe"; /* 2^10, 2^20, ... 2^60 */
    const char *unit;
    unsigned shift = 0;
    uint64_t v;

    if (s == NULL || value_p == NULL) {
        return CPN_ERR_INVALID;
    }
    if (cpn_config_parse_digits(&s, &v) != 0) {
        return CPN_ERR_CONFIG;
    }
    if (*s != '\0' && *s != 'b' && *s != 'B') {
        unit = strchr(units, *s | 0x20); /* ASCII tolower */
        if (unit == NULL || *unit == '\0') {
            return CPN_ERR_CONFIG;
        }
        shift = 10 * (unsigned)(unit - units + 1);
        s++;
        /* "4M", "4MB", "4MiB": every unit is a power of 1024. */
        if ((s[0] == 'i' || s[0] == 'I') && (s[1] == 'B' || s[1] == 'b')) {
            s += 2;
        } else if (s[0] == 'B' || s[0] == 'b') {
            s++;
        }
    } else if (*s != '\0') {
        s++; /* "512B" */
    }
    if (*s != '\0' || v > (UINT64_MAX >> shift)) {
        return CPN_ERR_CONFIG;
    }
    *value_p = v << shift;
    return CPN_OK;
}

cpn_status_t cpn__config_parse_time_ms(const char *s, int *value_p)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {
        {"", 1},      {"ms", 1},      {"s", 1000},
        {"m", 60000}, {"min", 60000}, {"h", 3600000},
    };
    uint64_t v;
    size_t i;

    if (s == NULL || value_p == NULL) {
        return CPN_ERR_INVALID;
    }
    if (strcasecmp(s, "inf") == 0 || strcasecmp(s, "infinity") == 0) {
        *value_p = -1;
        return CPN_OK;
    }
    if (cpn_config_parse_digits(&s, &v) != 0) {
        return CPN_ERR_CONFIG;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(s, units[i].suffix) == 0) {
            if (v > (uint64_t)INT_MAX / units[i].ms) {
                return CPN_ERR_CONFIG; /* over ~24 days: say "inf" */
            }
            *value_p = (int)(v * units[i].ms);
            return CPN_OK;
        }
    }
    return CPN_ERR_CONFIG;
}

cpn_status_t cpn__config_parse_bool(const char *s, int *value_p)
{
    static const char *const yes[] = {"y", "yes", "on", "1", "true"};
    static const char *const no[] = {"n", "no", "off", "0", "false"};
    size_t i;

    if (s == NULL || value_p == NULL) {
        return CPN_ERR_INVALID;
    }
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *value_p = 1;
            return CPN_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *value_p = 0;
            return CPN_OK;
        }
    }
    return CPN_ERR_CONFIG;
}

cpn_status_t cpn__config_parse_prob(const char *s, double *value_p)
{
    char *end;
    double v;

    if (s == NULL || value_p == NULL) {
        return CPN_ERR_INVALID;
    }
    v = strtod(s, &end);
    if (end != s && *end == '%') {
        v /= 100.0, end++;
    }
    if (end == s || *end != '\0' || !(v >= 0 && v <= 1)) {
        return CPN_ERR_CONFIG;
    }
    *value_p = v;
    return CPN_OK;
}

/* Unsigned integer: decimal, or hexadecimal with 0x. */
static cpn_status_t cpn_config_parse_uint(const char *s, uint64_t *value_p)
{
    uint64_t v = 0;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (*s == '\0') {
            return CPN_ERR_CONFIG;
        }
        for (; *s != '\0'; s++) {
            unsigned d;

            if (*s >= '0' && *s <= '9') {
                d = (unsigned)(*s - '0');
            } else if ((*s | 0x20) >= 'a' && (*s | 0x20) <= 'f') {
                d = (unsigned)((*s | 0x20) - 'a' + 10);
            } else {
                return CPN_ERR_CONFIG;
            }
            if (v > (UINT64_MAX >> 4)) {
                return CPN_ERR_CONFIG;
            }
            v = (v << 4) | d;
        }
    } else if (cpn_config_parse_digits(&s, &v) != 0 || *s != '\0') {
        return CPN_ERR_CONFIG;
    }
    *value_p = v;
    return CPN_OK;
}

/* ---- fields ---- */

/* Whether the table gives a size that the type can be stored in. Anything
 * else is a bug in the table, and storing would write past the field. */
static int cpn_config_field_valid(const cpn_config_field_t *f)
{
    switch (f->type) {
    case CPN_CFG_SIZE:
    case CPN_CFG_UINT:
        return f->size == 4 || f->size == 8;
    case CPN_CFG_TIME_MS:
    case CPN_CFG_BOOL:
        return f->size == sizeof(int);
    case CPN_CFG_STRING:
        return f->size == sizeof(const char *);
    }
    return 0;
}

/* What a value of this field should look like, for error messages. */
static const char *cpn_config_expected(const cpn_config_field_t *f)
{
    switch (f->type) {
    case CPN_CFG_SIZE:
        return f->size == 4 ? "expected a size below 4G, such as 4M or 65536"
                            : "expected a size such as 4M or 65536";
    case CPN_CFG_UINT:
        return f->size == 4 ? "expected an unsigned integer up to 4294967295"
                            : "expected an unsigned integer such as 16";
    case CPN_CFG_TIME_MS:
        return "expected a time such as 500ms, 10s, 2m or inf";
    case CPN_CFG_BOOL:
        return "expected y/yes/on/1/true or n/no/off/0/false";
    case CPN_CFG_STRING:
        break;
    }
    return "expected a valid value";
}

/* Parse @p text as field @p f would hold it, range included. */
static cpn_status_t cpn_config_parse(const cpn_config_field_t *f,
                                     const char *text,
                                     cpn_config_value_t *value_p)
{
    cpn_config_value_t v = {0};
    cpn_status_t status = CPN_ERR_CONFIG;

    switch (f->type) {
    case CPN_CFG_SIZE:
        status = cpn__config_parse_size(text, &v.u);
        break;
    case CPN_CFG_UINT:
        status = cpn_config_parse_uint(text, &v.u);
        break;
    case CPN_CFG_TIME_MS:
        status = cpn__config_parse_time_ms(text, &v.i);
        break;
    case CPN_CFG_BOOL:
        status = cpn__config_parse_bool(text, &v.i);
        break;
    case CPN_CFG_STRING:
        v.s = text;
        status = CPN_OK;
        break;
    }
    if (status != CPN_OK) {
        return status;
    }
    if ((f->type == CPN_CFG_SIZE || f->type == CPN_CFG_UINT) && f->size == 4 &&
        v.u > UINT32_MAX) {
        return CPN_ERR_CONFIG;
    }
    *value_p = v;
    return CPN_OK;
}

static void cpn_config_store(const cpn_config_field_t *f, void *obj,
                             const cpn_config_value_t *v)
{
    char *dst = (char *)obj + f->offset;

    switch (f->type) {
    case CPN_CFG_SIZE:
    case CPN_CFG_UINT:
        if (f->size == 4) {
            uint32_t u32 = (uint32_t)v->u;

            memcpy(dst, &u32, sizeof(u32));
        } else {
            memcpy(dst, &v->u, sizeof(v->u));
        }
        break;
    case CPN_CFG_TIME_MS:
    case CPN_CFG_BOOL:
        memcpy(dst, &v->i, sizeof(v->i));
        break;
    case CPN_CFG_STRING:
        memcpy(dst, &v->s, sizeof(v->s));
        break;
    }
}

/* "CPN_" area "_" name into @p buf. @return 0, or -1 if it does not fit. */
static int cpn_config_var(const cpn_config_table_t *t,
                          const cpn_config_field_t *f, char *buf, size_t len)
{
    int n = snprintf(buf, len, "CPN_%s_%s", t->area, f->name);

    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

cpn_status_t cpn__config_fill(const cpn_config_table_t *table, void *obj)
{
    cpn_status_t status = CPN_OK;
    size_t i;

    for (i = 0; i < table->nfield; i++) {
        const cpn_config_field_t *f = &table->field[i];
        cpn_config_value_t v = {0};
        char var[CPN_CONFIG_VAR_MAX];
        const char *text;

        if (!cpn_config_field_valid(f) ||
            cpn_config_var(table, f, var, sizeof(var)) != 0) {
            cpn_error("config table %s: field %s: type %d cannot be stored "
                      "in %zu bytes, or the name is too long",
                      table->area, f->name, (int)f->type, f->size);
            if (status == CPN_OK) {
                status = CPN_ERR_INVALID;
            }
            continue;
        }

        if (f->dflt != NULL && cpn_config_parse(f, f->dflt, &v) != CPN_OK) {
            cpn_error("config table %s: default of %s '%s' is invalid: %s",
                      table->area, var, f->dflt, cpn_config_expected(f));
            memset(&v, 0, sizeof(v));
            if (status == CPN_OK) {
                status = CPN_ERR_INVALID;
            }
        }
        cpn_config_store(f, obj, &v);

        text = getenv(var);
        if (text == NULL) {
            continue;
        }
        if (cpn_config_parse(f, text, &v) != CPN_OK) {
            cpn_error("%s='%s': %s; using the default %s", var, text,
                      cpn_config_expected(f),
                      f->dflt != NULL ? f->dflt : "(none)");
            if (status == CPN_OK) {
                status = CPN_ERR_CONFIG;
            }
            continue;
        }
        cpn_config_store(f, obj, &v);
    }
    return status;
}

/* ---- listing ---- */

/* The text to show as a field's current value, and where it came from. */
static const char *cpn_config_current(const cpn_config_table_t *t,
                                      const cpn_config_field_t *f,
                                      const char **mark_p)
{
    char var[CPN_CONFIG_VAR_MAX];
    cpn_config_value_t v;
    const char *text = NULL;

    if (cpn_config_var(t, f, var, sizeof(var)) == 0) {
        text = getenv(var);
    }
    if (text == NULL) {
        *mark_p = "";
        return f->dflt != NULL ? f->dflt : "-";
    }
    *mark_p =
        (cpn_config_field_valid(f) && cpn_config_parse(f, text, &v) == CPN_OK)
            ? " (env)"
            : " (env, invalid: default used)";
    return text[0] != '\0' ? text : "''";
}

static void cpn_config_print_table(FILE *out, const cpn_config_table_t *t)
{
    int var_w = (int)strlen("VARIABLE");
    int value_w = (int)strlen("VALUE");
    int dflt_w = (int)strlen("DEFAULT");
    char var[CPN_CONFIG_VAR_MAX];
    size_t i;

    for (i = 0; i < t->nfield; i++) {
        const cpn_config_field_t *f = &t->field[i];
        const char *mark;
        int w;

        if (cpn_config_var(t, f, var, sizeof(var)) == 0) {
            var_w = CPN_MAX(var_w, (int)strlen(var));
        }
        w = (int)(strlen(cpn_config_current(t, f, &mark)) + strlen(mark));
        value_w = CPN_MAX(value_w, CPN_MIN(w, CPN_CONFIG_VALUE_COL_MAX));
        if (f->dflt != NULL) {
            dflt_w = CPN_MAX(dflt_w, (int)strlen(f->dflt));
        }
    }

    fprintf(out, "%s (CPN_%s_*)\n", t->title, t->area);
    fprintf(out, "  %-*s  %-*s  %-*s  %s\n", var_w, "VARIABLE", value_w,
            "VALUE", dflt_w, "DEFAULT", "DESCRIPTION");
    for (i = 0; i < t->nfield; i++) {
        const cpn_config_field_t *f = &t->field[i];
        const char *mark;
        const char *value = cpn_config_current(t, f, &mark);
        int pad = value_w - (int)(strlen(value) + strlen(mark));

        if (cpn_config_var(t, f, var, sizeof(var)) != 0) {
            snprintf(var, sizeof(var), "CPN_%s_?", t->area);
        }
        fprintf(out, "  %-*s  %s%s%*s  %-*s  %s\n", var_w, var, value, mark,
                CPN_MAX(pad, 0), "", dflt_w, f->dflt != NULL ? f->dflt : "-",
                f->help != NULL ? f->help : "");
    }
}

void cpn_config_print(FILE *out)
{
    const cpn_config_table_t *t;

    pthread_mutex_lock(&cpn_config_lock);
    for (t = cpn_config_head; t != NULL; t = t->next) {
        if (t != cpn_config_head) {
            fputc('\n', out);
        }
        cpn_config_print_table(out, t);
    }
    pthread_mutex_unlock(&cpn_config_lock);
}
