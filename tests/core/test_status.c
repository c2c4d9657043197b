/* SPDX-License-Identifier: Apache-2.0 */
/* Status codes: every code in CPN_STATUS_MAP has its own words and its own
 * symbolic name, unknown codes get a fixed answer, and the group macros put
 * each code in the group its number says. */
#include <string.h>

#include <criterion/criterion.h>

#include <cpn/status.h>

typedef struct status_entry {
    cpn_status_t code;
    const char *name;
    const char *text;
} status_entry_t;

static const status_entry_t all_status[] = {
#define STATUS_ENTRY(name, value, text) {name, #name, text},
    CPN_STATUS_MAP(STATUS_ENTRY)
#undef STATUS_ENTRY
};

#define NSTATUS (sizeof(all_status) / sizeof(all_status[0]))

Test(status, words_match_the_map)
{
    size_t i;

    for (i = 0; i < NSTATUS; i++) {
        const char *text = cpn_status_str(all_status[i].code);

        cr_assert_not_null(text);
        cr_expect_str_eq(text, all_status[i].text, "%s", all_status[i].name);
        cr_expect_str_neq(text, "unknown status", "%s", all_status[i].name);
    }
}

Test(status, names_match_the_enum)
{
    size_t i;

    for (i = 0; i < NSTATUS; i++) {
        const char *name = cpn_status_name(all_status[i].code);

        cr_assert_not_null(name);
        cr_expect_str_eq(name, all_status[i].name);
    }
}

Test(status, codes_words_and_names_are_distinct)
{
    size_t i, j;

    for (i = 0; i < NSTATUS; i++) {
        for (j = i + 1; j < NSTATUS; j++) {
            cr_expect_neq(all_status[i].code, all_status[j].code,
                          "%s and %s share a number", all_status[i].name,
                          all_status[j].name);
            cr_expect_str_neq(cpn_status_str(all_status[i].code),
                              cpn_status_str(all_status[j].code),
                              "%s and %s share their words", all_status[i].name,
                              all_status[j].name);
            cr_expect_str_neq(cpn_status_name(all_status[i].code),
                              cpn_status_name(all_status[j].code));
        }
    }
}

Test(status, ok_progress_and_errors_have_their_signs)
{
    size_t i;

    cr_expect_eq(CPN_OK, 0);
    cr_expect_eq(CPN_INPROGRESS, 1);
    for (i = 0; i < NSTATUS; i++) {
        if (all_status[i].code != CPN_OK &&
            all_status[i].code != CPN_INPROGRESS) {
            cr_expect_lt((int)all_status[i].code, 0, "%s", all_status[i].name);
            cr_expect(strncmp(all_status[i].name, "CPN_ERR_", 8) == 0, "%s",
                      all_status[i].name);
        }
    }
}

Test(status, unknown_codes)
{
    /* -10 lies in a gap of the call group; the others are out of range. */
    static const int unknown[] = {2, -10, -19, -25, -70, 12345, -12345};
    size_t i;

    for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        cpn_status_t s = (cpn_status_t)unknown[i];

        cr_expect_str_eq(cpn_status_str(s), "unknown status", "%d", unknown[i]);
        cr_expect_str_eq(cpn_status_name(s), "CPN_STATUS_UNKNOWN", "%d",
                         unknown[i]);
    }
}

Test(status, groups)
{
    cr_expect(CPN_STATUS_IS_ENDPOINT(CPN_ERR_UNREACHABLE));
    cr_expect(CPN_STATUS_IS_ENDPOINT(CPN_ERR_CONN_RESET));
    cr_expect(CPN_STATUS_IS_ENDPOINT(CPN_ERR_TRANSPORT));
    cr_expect_not(CPN_STATUS_IS_ENDPOINT(CPN_ERR_CHECKSUM));
    cr_expect_not(CPN_STATUS_IS_ENDPOINT(CPN_ERR_CORRUPT));
    cr_expect_not(CPN_STATUS_IS_ENDPOINT(CPN_OK));

    cr_expect(CPN_STATUS_IS_TASK(CPN_ERR_CHECKSUM));
    cr_expect(CPN_STATUS_IS_TASK(CPN_ERR_LIMIT));
    cr_expect_not(CPN_STATUS_IS_TASK(CPN_ERR_CONN_RESET));
    cr_expect_not(CPN_STATUS_IS_TASK(CPN_ERR_NO_SPACE));
    cr_expect_not(CPN_STATUS_IS_TASK(CPN_OK));
}
