/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration: the value parsers (units, limits, bad input), filling a
 * struct from defaults and CPN_* environment variables (overrides, a bad
 * value keeps its default and is reported, 4-byte fields are range checked
 * and written without touching their neighbours), and the listing. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/config.h"
#include "core/log.h"

/* ---- parsers ---- */

Test(config, parse_size_units)
{
    static const struct {
        const char *text;
        uint64_t value;
    } ok[] = {
        {"0", 0},
        {"65536", 65536},
        {"512B", 512},
        {"4k", 4096},
        {"4K", 4096},
        {"4KiB", 4096},
        {"4KB", 4096},
        {"4M", 4u << 20},
        {"64MiB", 64u << 20},
        {"1G", 1u << 30},
        {"1gib", 1u << 30},
        {"2T", 2ull << 40},
        {"15E", 15ull << 60},
        {"18446744073709551615", UINT64_MAX},
    };
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 1234;

        cr_expect_eq(cpn__config_parse_size(ok[i].text, &v), CPN_OK, "'%s'",
                     ok[i].text);
        cr_expect_eq(v, ok[i].value, "'%s' gave %llu", ok[i].text,
                     (unsigned long long)v);
    }
}

Test(config, parse_size_rejects_bad_input)
{
    static const char *const bad[] = {"",
                                      "M",
                                      "12Q",
                                      "-1",
                                      "+4",
                                      " 4M",
                                      "4M ",
                                      "4.5M",
                                      "4Mi",
                                      "4MiBs",
                                      "4 M",
                                      "0x10",
                                      "16E",
                                      "18446744073709551616",
                                      "99999999999999999999"};
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 1234;

        cr_expect_eq(cpn__config_parse_size(bad[i], &v), CPN_ERR_CONFIG,
                     "'%s' accepted", bad[i]);
        cr_expect_eq(v, 1234, "'%s' wrote its output on failure", bad[i]);
    }
}

Test(config, parse_time_units)
{
    static const struct {
        const char *text;
        int ms;
    } ok[] = {
        {"0", 0},       {"500", 500},     {"500ms", 500},  {"10s", 10000},
        {"2m", 120000}, {"2min", 120000}, {"1h", 3600000}, {"596h", 2145600000},
        {"inf", -1},    {"INF", -1},      {"10S", 10000},
    };
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int v = 1234;

        cr_expect_eq(cpn__config_parse_time_ms(ok[i].text, &v), CPN_OK, "'%s'",
                     ok[i].text);
        cr_expect_eq(v, ok[i].ms, "'%s' gave %d", ok[i].text, v);
    }
}

Test(config, parse_time_rejects_bad_input)
{
    /* 597h is past INT_MAX milliseconds */
    static const char *const bad[] = {
        "",    "s",    "10x",        "-1",       "1.5s",  "10 s",
        "25d", "597h", "2147483648", "infinite", "10sec",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int v = 1234;

        cr_expect_eq(cpn__config_parse_time_ms(bad[i], &v), CPN_ERR_CONFIG,
                     "'%s' accepted", bad[i]);
        cr_expect_eq(v, 1234, "'%s' wrote its output on failure", bad[i]);
    }
}

Test(config, parse_bool)
{
    static const char *const yes[] = {"y",    "yes", "on",  "1",
                                      "true", "YES", "True"};
    static const char *const no[] = {"n", "no", "off", "0", "false", "OFF"};
    static const char *const bad[] = {"", "2", "yess", "nope", "-1", " y"};
    size_t i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        int v = 7;

        cr_expect_eq(cpn__config_parse_bool(yes[i], &v), CPN_OK, "'%s'",
                     yes[i]);
        cr_expect_eq(v, 1, "'%s'", yes[i]);
    }
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        int v = 7;

        cr_expect_eq(cpn__config_parse_bool(no[i], &v), CPN_OK, "'%s'", no[i]);
        cr_expect_eq(v, 0, "'%s'", no[i]);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int v = 7;

        cr_expect_eq(cpn__config_parse_bool(bad[i], &v), CPN_ERR_CONFIG,
                     "'%s' accepted", bad[i]);
        cr_expect_eq(v, 7, "'%s'", bad[i]);
    }
}

Test(config, parse_null_is_invalid)
{
    uint64_t u;
    int i;

    cr_expect_eq(cpn__config_parse_size(NULL, &u), CPN_ERR_INVALID);
    cr_expect_eq(cpn__config_parse_time_ms(NULL, &i), CPN_ERR_INVALID);
    cr_expect_eq(cpn__config_parse_bool(NULL, &i), CPN_ERR_INVALID);
}

/* ---- filling ---- */

/* Guards around the 4-byte fields catch a store of the wrong width. */
typedef struct test_cfg {
    uint32_t guard0;
    uint32_t size32;
    uint32_t guard1;
    uint64_t size64;
    size_t size_t_field;
    unsigned count;
    uint32_t guard2;
    uint64_t count64;
    int timeout_ms;
    int enabled;
    const char *name;
    uint32_t guard3;
} test_cfg_t;

#define GUARD 0xdeadbeefu

static const cpn_config_field_t test_field[] = {
    CPN_CONFIG_FIELD("SIZE32", "4M", "a 4-byte size", CPN_CFG_SIZE, test_cfg_t,
                     size32),
    CPN_CONFIG_FIELD("SIZE", "64MiB", "an 8-byte size", CPN_CFG_SIZE,
                     test_cfg_t, size64),
    CPN_CONFIG_FIELD("SIZE_T", "1G", "a size_t size", CPN_CFG_SIZE, test_cfg_t,
                     size_t_field),
    CPN_CONFIG_FIELD("COUNT", "16", "a 4-byte count", CPN_CFG_UINT, test_cfg_t,
                     count),
    CPN_CONFIG_FIELD("COUNT64", "0x10", "an 8-byte count", CPN_CFG_UINT,
                     test_cfg_t, count64),
    CPN_CONFIG_FIELD("TIMEOUT", "10s", "a time", CPN_CFG_TIME_MS, test_cfg_t,
                     timeout_ms),
    CPN_CONFIG_FIELD("ENABLED", "yes", "a switch", CPN_CFG_BOOL, test_cfg_t,
                     enabled),
    CPN_CONFIG_FIELD("NAME", "alpha", "a string", CPN_CFG_STRING, test_cfg_t,
                     name),
};

static cpn_config_table_t test_table = {
    .area = "TESTCFG",
    .title = "tests: the config test table",
    .field = test_field,
    .nfield = sizeof(test_field) / sizeof(test_field[0]),
};

static const char *const test_vars[] = {
    "CPN_TESTCFG_SIZE32",  "CPN_TESTCFG_SIZE",    "CPN_TESTCFG_SIZE_T",
    "CPN_TESTCFG_COUNT",   "CPN_TESTCFG_COUNT64", "CPN_TESTCFG_TIMEOUT",
    "CPN_TESTCFG_ENABLED", "CPN_TESTCFG_NAME",
};

static void clean_env(void)
{
    size_t i;

    for (i = 0; i < sizeof(test_vars) / sizeof(test_vars[0]); i++) {
        unsetenv(test_vars[i]);
    }
    cpn__log_set_level(CPN_LOG_WARN);
}

static void cfg_poison(test_cfg_t *c)
{
    memset(c, 0xa5, sizeof(*c));
    c->guard0 = c->guard1 = c->guard2 = c->guard3 = GUARD;
}

static void expect_guards(const test_cfg_t *c)
{
    cr_expect_eq(c->guard0, GUARD);
    cr_expect_eq(c->guard1, GUARD);
    cr_expect_eq(c->guard2, GUARD);
    cr_expect_eq(c->guard3, GUARD);
}

static void expect_defaults(const test_cfg_t *c)
{
    cr_expect_eq(c->size32, 4u << 20);
    cr_expect_eq(c->size64, 64ull << 20);
    cr_expect_eq(c->size_t_field, (size_t)1 << 30);
    cr_expect_eq(c->count, 16);
    cr_expect_eq(c->count64, 16);
    cr_expect_eq(c->timeout_ms, 10000);
    cr_expect_eq(c->enabled, 1);
    cr_expect_str_eq(c->name, "alpha");
    expect_guards(c);
}

/* Run cpn__config_fill() with fd 2 going to a file; return what it logged
 * (in a static buffer) in *log_p. */
static cpn_status_t fill_capturing_stderr(const cpn_config_table_t *table,
                                          void *obj, const char **log_p)
{
    static char log[4096];
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    cpn_status_t status;
    size_t n;

    cr_assert_not_null(tmp);
    cr_assert_geq(saved, 0);
    fflush(stderr);
    cr_assert_geq(dup2(fileno(tmp), STDERR_FILENO), 0);
    status = cpn__config_fill(table, obj);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(log, 1, sizeof(log) - 1, tmp);
    log[n] = '\0';
    fclose(tmp);
    *log_p = log;
    return status;
}

Test(config, fill_defaults, .init = clean_env)
{
    test_cfg_t c;
    const char *log;

    cfg_poison(&c);
    cr_assert_eq(fill_capturing_stderr(&test_table, &c, &log), CPN_OK);
    cr_expect_str_empty(log);
    expect_defaults(&c);
}

Test(config, fill_env_overrides, .init = clean_env)
{
    test_cfg_t c;
    const char *log;

    setenv("CPN_TESTCFG_SIZE32", "1G", 1);
    setenv("CPN_TESTCFG_SIZE", "5G", 1);
    setenv("CPN_TESTCFG_SIZE_T", "65536", 1);
    setenv("CPN_TESTCFG_COUNT", "4294967295", 1);
    setenv("CPN_TESTCFG_COUNT64", "4294967296", 1);
    setenv("CPN_TESTCFG_TIMEOUT", "inf", 1);
    setenv("CPN_TESTCFG_ENABLED", "off", 1);
    setenv("CPN_TESTCFG_NAME", "beta", 1);
    cfg_poison(&c);
    cr_assert_eq(fill_capturing_stderr(&test_table, &c, &log), CPN_OK);
    cr_expect_str_empty(log);
    cr_expect_eq(c.size32, 1u << 30);
    cr_expect_eq(c.size64, 5ull << 30);
    cr_expect_eq(c.size_t_field, 65536);
    cr_expect_eq(c.count, 4294967295u);
    cr_expect_eq(c.count64, 4294967296ull);
    cr_expect_eq(c.timeout_ms, -1);
    cr_expect_eq(c.enabled, 0);
    /* a string points into the environment, not at a copy */
    cr_expect_eq(c.name, getenv("CPN_TESTCFG_NAME"));
    expect_guards(&c);
}

Test(config, fill_bad_value_keeps_default, .init = clean_env)
{
    test_cfg_t c;
    const char *log;

    setenv("CPN_TESTCFG_SIZE", "12Q", 1);
    setenv("CPN_TESTCFG_TIMEOUT", "5s", 1); /* good: still applied */
    cfg_poison(&c);
    cr_expect_eq(fill_capturing_stderr(&test_table, &c, &log), CPN_ERR_CONFIG);
    cr_expect_eq(c.size64, 64ull << 20, "the default was not kept");
    cr_expect_eq(c.timeout_ms, 5000, "fields after the bad one not filled");
    cr_expect_str_eq(c.name, "alpha");
    cr_expect(strstr(log, "CPN_TESTCFG_SIZE='12Q': expected a size") != NULL,
              "log was: %s", log);
    cr_expect(strstr(log, "ERROR") != NULL, "log was: %s", log);
    expect_guards(&c);
}

Test(config, fill_rejects_too_big_for_4_bytes, .init = clean_env)
{
    test_cfg_t c;
    const char *log;

    setenv("CPN_TESTCFG_SIZE32", "4G", 1); /* one more than UINT32_MAX */
    setenv("CPN_TESTCFG_COUNT", "4294967296", 1);
    cfg_poison(&c);
    cr_expect_eq(fill_capturing_stderr(&test_table, &c, &log), CPN_ERR_CONFIG);
    expect_defaults(&c);
    cr_expect(strstr(log, "CPN_TESTCFG_SIZE32='4G'") != NULL, "log: %s", log);
    cr_expect(strstr(log, "CPN_TESTCFG_COUNT='4294967296'") != NULL, "log: %s",
              log);

    /* the largest value a 4-byte field holds is accepted */
    setenv("CPN_TESTCFG_SIZE32", "4294967295", 1);
    unsetenv("CPN_TESTCFG_COUNT");
    cfg_poison(&c);
    cr_expect_eq(fill_capturing_stderr(&test_table, &c, &log), CPN_OK);
    cr_expect_eq(c.size32, UINT32_MAX);
    expect_guards(&c);
}

Test(config, fill_bad_bool_and_time, .init = clean_env)
{
    test_cfg_t c;
    const char *log;

    setenv("CPN_TESTCFG_ENABLED", "maybe", 1);
    setenv("CPN_TESTCFG_TIMEOUT", "10 s", 1);
    cfg_poison(&c);
    cr_expect_eq(fill_capturing_stderr(&test_table, &c, &log), CPN_ERR_CONFIG);
    expect_defaults(&c);
    cr_expect(strstr(log, "CPN_TESTCFG_ENABLED='maybe'") != NULL, "%s", log);
    cr_expect(strstr(log, "CPN_TESTCFG_TIMEOUT='10 s'") != NULL, "%s", log);
}

/* A table with bugs in it: a field too narrow for its type, and a default
 * that does not parse. Neither may write out of bounds or stop the rest. */
typedef struct bad_cfg {
    uint16_t narrow;
    uint16_t guard;
    int timeout_ms;
    int enabled;
} bad_cfg_t;

static const cpn_config_field_t bad_field[] = {
    CPN_CONFIG_FIELD("NARROW", "1", "a 2-byte field", CPN_CFG_UINT, bad_cfg_t,
                     narrow),
    CPN_CONFIG_FIELD("TIMEOUT", "soon", "a bad default", CPN_CFG_TIME_MS,
                     bad_cfg_t, timeout_ms),
    CPN_CONFIG_FIELD("ENABLED", "on", "a good field", CPN_CFG_BOOL, bad_cfg_t,
                     enabled),
};

static const cpn_config_table_t bad_table = {
    .area = "BADCFG",
    .title = "tests: a malformed table",
    .field = bad_field,
    .nfield = sizeof(bad_field) / sizeof(bad_field[0]),
};

Test(config, fill_malformed_table_is_invalid, .init = clean_env)
{
    bad_cfg_t c;
    const char *log;

    memset(&c, 0x5a, sizeof(c));
    cr_expect_eq(fill_capturing_stderr(&bad_table, &c, &log), CPN_ERR_INVALID);
    cr_expect(strstr(log, "NARROW") != NULL, "log: %s", log);
    cr_expect(strstr(log, "CPN_BADCFG_TIMEOUT") != NULL, "log: %s", log);
    cr_expect_eq(c.narrow, 0x5a5a, "a 2-byte field was written");
    cr_expect_eq(c.guard, 0x5a5a, "wrote past a 2-byte field");
    cr_expect_eq(c.timeout_ms, 0, "a bad default must leave zero");
    cr_expect_eq(c.enabled, 1, "good fields must still be filled");
}

/* ---- listing ---- */

/* cpn_config_print() into a string; caller frees. */
static char *print_to_string(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    cr_assert_not_null(out);
    cpn_config_print(out);
    fclose(out);
    cr_assert_not_null(text);
    return text;
}

/* The line of @p text that mentions @p var, copied into @p line. */
static int find_line(const char *text, const char *var, char *line, size_t size)
{
    const char *at = strstr(text, var);
    const char *end;
    size_t n;

    if (at == NULL) {
        return -1;
    }
    end = strchr(at, '\n');
    n = end != NULL ? (size_t)(end - at) : strlen(at);
    n = n < size - 1 ? n : size - 1;
    memcpy(line, at, n);
    line[n] = '\0';
    return 0;
}

static const cpn_config_field_t early_field[] = {
    CPN_CONFIG_FIELD("KNOB", "1", "early knob", CPN_CFG_UINT, test_cfg_t,
                     count),
};
static cpn_config_table_t early_table = {
    .area = "AAATEST",
    .title = "tests: sorts first",
    .field = early_field,
    .nfield = 1,
};

/* timeout: registering a table twice must not loop the list */
Test(config, print_lists_every_table, .init = clean_env, .timeout = 10)
{
    char line[512];
    char *text;

    /* registered twice on purpose: registering is idempotent */
    cpn__config_register(&test_table);
    cpn__config_register(&test_table);
    cpn__config_register(&early_table);
    setenv("CPN_TESTCFG_SIZE", "8M", 1);
    setenv("CPN_TESTCFG_TIMEOUT", "soon", 1);
    text = print_to_string();

    /* the log table is registered by core/log.c at load time */
    cr_expect(strstr(text, "CPN_LOG_LEVEL") != NULL, "%s", text);
    cr_expect(strstr(text, "tests: the config test table") != NULL);
    {
        const char *first = strstr(text, "tests: the config test table");
        cr_expect(first != NULL && strstr(first + 1, "tests: the config test "
                                                     "table") == NULL,
                  "table listed twice:\n%s", text);
    }

    /* sorted by area: AAATEST, LOG, TESTCFG */
    cr_expect(strstr(text, "CPN_AAATEST_KNOB") < strstr(text, "CPN_LOG_LEVEL"));
    cr_expect(strstr(text, "CPN_LOG_LEVEL") < strstr(text, "CPN_TESTCFG_NAME"));

    cr_assert_eq(find_line(text, "CPN_TESTCFG_SIZE ", line, sizeof(line)), 0,
                 "%s", text);
    cr_expect(strstr(line, "8M (env)") != NULL, "line: %s", line);
    cr_expect(strstr(line, "64MiB") != NULL, "default missing: %s", line);
    cr_expect(strstr(line, "an 8-byte size") != NULL, "help missing: %s", line);

    cr_assert_eq(find_line(text, "CPN_TESTCFG_TIMEOUT", line, sizeof(line)), 0);
    cr_expect(strstr(line, "soon (env, invalid") != NULL, "line: %s", line);

    cr_assert_eq(find_line(text, "CPN_TESTCFG_NAME", line, sizeof(line)), 0);
    cr_expect(strstr(line, "alpha") != NULL, "line: %s", line);
    cr_expect(strstr(line, "(env)") == NULL, "line: %s", line);
    free(text);
}

Test(config, print_aligns_columns, .init = clean_env)
{
    char a[512], b[512];
    char *text;

    cpn__config_register(&test_table);
    setenv("CPN_TESTCFG_NAME", "a-rather-long-value", 1);
    text = print_to_string();
    cr_assert_eq(find_line(text, "CPN_TESTCFG_SIZE32", a, sizeof(a)), 0);
    cr_assert_eq(find_line(text, "CPN_TESTCFG_ENABLED", b, sizeof(b)), 0);
    /* the help text starts in the same column on every line of a table */
    cr_expect_eq(strstr(a, "a 4-byte size") - a, strstr(b, "a switch") - b,
                 "\n%s\n%s", a, b);
    free(text);
}

Test(config, version)
{
    cr_expect_str_eq(cpn_version(), CPN_VERSION_STR);
}
