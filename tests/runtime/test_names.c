/* SPDX-License-Identifier: Apache-2.0 */
/* Object and job names: good names pass; each kind of bad name (a ".." or
 * "." part, an absolute path, a NUL, an empty part, a trailing '/', a
 * control character, a part or a whole over its limit) is refused with
 * words that say which; and quoting a name for a log line escapes what is
 * not printable and cuts what is long. */
#include <string.h>

#include <criterion/criterion.h>

#include "runtime/names.h"

#define MAX_LEN 4096

static cpn_status_t check(const char *name, const char **why)
{
    return cpn__name_check(name, strlen(name), MAX_LEN, why);
}

/* @p name (len bytes) is refused, and the words contain @p want. */
static void expect_bad_n(const char *name, size_t len, size_t max_len,
                         const char *want)
{
    const char *why = NULL;
    char q[128];

    cpn__name_quote(name, len, q, sizeof(q));
    cr_expect_eq(cpn__name_check(name, len, max_len, &why), CPN_ERR_BAD_NAME,
                 "'%s' accepted", q);
    cr_expect_not_null(why, "'%s': no words", q);
    if (why != NULL) {
        cr_expect_not_null(strstr(why, want), "'%s': \"%s\" does not say \"%s\"",
                           q, why, want);
    }
    /* the check does not need the words */
    cr_expect_eq(cpn__name_check(name, len, max_len, NULL), CPN_ERR_BAD_NAME);
}

static void expect_bad(const char *name, const char *want)
{
    expect_bad_n(name, strlen(name), MAX_LEN, want);
}

Test(names, good_names)
{
    static const char *const good[] = {
        "a",
        "model.bin",
        "model/shard-00001-of-00008.safetensors",
        "a/b/c/d/e",
        ".hidden",
        "..data",
        "a../b",
        "a/.../b",
        "dir/.x",
        "with space/and-dash_under",
        "\xe6\xa8\xa1\xe5\x9e\x8b/utf8-\xc3\xa9", /* UTF-8 is fine */
        "~/not-home",
        "a:b",
        "back\\slash",
    };
    const char *why = "untouched";

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cr_expect_eq(check(good[i], &why), CPN_OK, "'%s' refused: %s", good[i], why);
    }
    cr_expect_str_eq(why, "untouched", "why is written only on error");
}

Test(names, dot_dot)
{
    expect_bad("..", "'..'");
    expect_bad("../etc/passwd", "'..'");
    expect_bad("a/../../b", "'..'");
    expect_bad("a/b/..", "'..'");
}

Test(names, dot)
{
    expect_bad(".", "'.'");
    expect_bad("./a", "'.'");
    expect_bad("a/./b", "'.'");
    expect_bad("a/.", "'.'");
}

Test(names, absolute)
{
    expect_bad("/etc/passwd", "absolute");
    expect_bad("/", "absolute");
    expect_bad("//a", "absolute");
}

Test(names, nul_inside)
{
    expect_bad_n("a\0b", 3, MAX_LEN, "NUL");
    expect_bad_n("ab\0", 3, MAX_LEN, "NUL");
    expect_bad_n("\0", 1, MAX_LEN, "NUL");
}

Test(names, empty_part_and_trailing_slash)
{
    expect_bad("a//b", "empty part");
    expect_bad("a/b//c", "empty part");
    expect_bad("a/", "ends with a '/'");
    expect_bad("a/b/", "ends with a '/'");
}

Test(names, empty)
{
    expect_bad("", "empty");
    expect_bad_n(NULL, 0, MAX_LEN, "empty");
}

Test(names, control_chars)
{
    char name[] = "ab?cd";

    for (int c = 1; c < 0x20; c++) {
        name[2] = (char)c;
        expect_bad(name, "control character");
    }
    name[2] = 0x7f;
    expect_bad(name, "control character");
    expect_bad("new\nline", "control character");
    expect_bad("\x1b[31mred", "control character");
}

Test(names, too_long)
{
    char name[600];
    const char *why = NULL;

    /* one part of 255 bytes passes, 256 does not */
    memset(name, 'p', sizeof(name));
    cr_expect_eq(cpn__name_check(name, 255, MAX_LEN, &why), CPN_OK);
    expect_bad_n(name, 256, MAX_LEN, "255");
    /* also as the last of several parts */
    memcpy(name, "dir/", 4);
    cr_expect_eq(cpn__name_check(name, 4 + 255, MAX_LEN, &why), CPN_OK);
    expect_bad_n(name, 4 + 256, MAX_LEN, "255");

    /* the whole name: at most max_len */
    memset(name, 'a', sizeof(name));
    for (size_t i = 100; i < sizeof(name); i += 100) {
        name[i] = '/';
    }
    cr_expect_eq(cpn__name_check(name, 550, 550, &why), CPN_OK);
    expect_bad_n(name, 551, 550, "longer");
    expect_bad_n("abc", 3, 2, "longer");
}

Test(names, job_names)
{
    char job[300];
    const char *why = NULL;

    cr_expect_eq(cpn__job_check("train-42", 8, &why), CPN_OK);
    cr_expect_eq(cpn__job_check("a.b", 3, &why), CPN_OK);
    cr_expect_eq(cpn__job_check("..x", 3, &why), CPN_OK);

    cr_expect_eq(cpn__job_check("", 0, &why), CPN_ERR_BAD_NAME);
    cr_expect_not_null(strstr(why, "empty"));
    cr_expect_eq(cpn__job_check("a/b", 3, &why), CPN_ERR_BAD_NAME);
    cr_expect_not_null(strstr(why, "'/'"));
    cr_expect_eq(cpn__job_check("/a", 2, &why), CPN_ERR_BAD_NAME);
    cr_expect_eq(cpn__job_check(".", 1, &why), CPN_ERR_BAD_NAME);
    cr_expect_not_null(strstr(why, "'.'"));
    cr_expect_eq(cpn__job_check("..", 2, &why), CPN_ERR_BAD_NAME);
    cr_expect_not_null(strstr(why, "'..'"));
    cr_expect_eq(cpn__job_check("a\0b", 3, &why), CPN_ERR_BAD_NAME);
    cr_expect_not_null(strstr(why, "NUL"));
    cr_expect_eq(cpn__job_check("a\tb", 3, &why), CPN_ERR_BAD_NAME);
    cr_expect_not_null(strstr(why, "control"));

    memset(job, 'j', sizeof(job));
    cr_expect_eq(cpn__job_check(job, 255, &why), CPN_OK);
    cr_expect_eq(cpn__job_check(job, 256, &why), CPN_ERR_BAD_NAME);
    cr_expect_not_null(strstr(why, "255"));
    cr_expect_eq(cpn__job_check(job, 256, NULL), CPN_ERR_BAD_NAME);
}

Test(names, quote)
{
    char out[64];
    char tiny[4];

    cpn__name_quote("plain/name.bin", 14, out, sizeof(out));
    cr_expect_str_eq(out, "plain/name.bin");
    cpn__name_quote("a\0b\n\x7f\xff\\", 7, out, sizeof(out));
    cr_expect_str_eq(out, "a\\x00b\\x0a\\x7f\\xff\\x5c");
    cpn__name_quote("say \"hi\"", 8, out, sizeof(out));
    cr_expect_str_eq(out, "say \\x22hi\\x22");
    cpn__name_quote(NULL, 0, out, sizeof(out));
    cr_expect_str_eq(out, "");

    /* exactly fits: 63 bytes and the NUL */
    {
        char in[64];
        memset(in, 'x', sizeof(in));
        cpn__name_quote(in, 63, out, sizeof(out));
        cr_expect_eq(strlen(out), 63);
        cr_expect_eq(strchr(out, '.'), NULL);
        /* one more: cut, with "..." at the end, still within the buffer */
        cpn__name_quote(in, 64, out, sizeof(out));
        cr_expect_eq(strlen(out), 63);
        cr_expect_str_eq(out + 60, "...");
        cr_expect_eq(out[59], 'x');
    }
    /* an escape is never split */
    {
        char in[40];
        memset(in, 1, sizeof(in)); /* each is "\x01" */
        cpn__name_quote(in, sizeof(in), out, sizeof(out));
        /* 63 - 3 = 60 bytes for escapes: 15 of them */
        cr_expect_eq(strlen(out), 15 * 4 + 3);
        cr_expect_str_eq(out + 60, "...");
    }
    /* tiny buffers */
    cpn__name_quote("abcdef", 6, tiny, sizeof(tiny));
    cr_expect_str_eq(tiny, "...");
    cpn__name_quote("abcdef", 6, tiny, 2);
    cr_expect_str_eq(tiny, ".");
    cpn__name_quote("abc", 3, tiny, sizeof(tiny));
    cr_expect_str_eq(tiny, "abc");
    tiny[0] = 'z';
    cpn__name_quote("abc", 3, tiny, 0); /* writes nothing */
    cr_expect_eq(tiny[0], 'z');
    cpn__name_quote("abc", 3, tiny, 1);
    cr_expect_str_eq(tiny, "");
}
