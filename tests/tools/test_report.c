/* SPDX-License-Identifier: Apache-2.0 */
/* `cpn report` end to end: a short bench run, then the page; the page is
 * self-contained (no external reference), has its charts (inline SVG drawn
 * by gnuplot) and tables; headless Chromium renders it (the DOM it builds
 * has them) and takes a screenshot. Skips, saying why, where gnuplot or
 * Chromium is missing or cannot run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/cpn-report-test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) {
        n++;
    }
    return n;
}

Test(report, page_renders, .init = setup, .fini = teardown, .timeout = 280)
{
    const char *cli = getenv("CPN_CLI");
    char cmd[2048], path[256], *html, *dom, *md;
    struct stat st;
    int rc;

    cr_assert_not_null(cli);
    if (system("gnuplot --version > /dev/null 2>&1") != 0) {
        cr_skip_test("gnuplot is not installed (apt-get install gnuplot-nox)");
    }
    snprintf(cmd, sizeof(cmd),
             "%s bench -q -T put_bw,put_lat,send_lat,task_lat -s 64,4K -n 50 "
             "-w 5 --trials 2 -j %s/b.json > /dev/null 2>&1; "
             "%s report --line-rate 10 -o %s/r.html --md %s/r.md %s/b.json "
             "2> %s/report.err",
             cli, dir, cli, dir, dir, dir, dir);
    rc = system(cmd);
    cr_assert_eq(WEXITSTATUS(rc), 0, "cpn report exit %d", WEXITSTATUS(rc));
    snprintf(path, sizeof(path), "%s/r.html", dir);
    html = slurp(path);
    cr_expect_geq(count(html, "<svg"), 5, "inline charts: %d",
                  count(html, "<svg"));
    cr_expect_geq(count(html, "<table"), 4, "tables: %d", count(html, "<table"));
    cr_expect_eq(count(html, "src=\"http"), 0, "an external reference");
    cr_expect_eq(count(html, "href=\"http"), 0, "an external reference");
    cr_expect(strstr(html, "acatech stage") != NULL);
    cr_expect(strstr(html, "ucx_perftest") != NULL ||
                  access("/usr/bin/ucx_perftest", X_OK) != 0,
              "the reference tool is in the page");
    snprintf(path, sizeof(path), "%s/r.md", dir);
    md = slurp(path);
    cr_expect_geq(count(md, "data:image/svg+xml;base64,"), 5);
    cr_expect_geq(count(md, "| indicator |"), 1);
    free(md);

    if (system("chromium --version > /dev/null 2>&1") != 0) {
        free(html);
        cr_skip_test("chromium is not installed (apt-get install chromium): "
                     "the page was checked as text only");
    }
    snprintf(cmd, sizeof(cmd),
             "cd %s && timeout 90 chromium --headless --no-sandbox "
             "--disable-gpu --hide-scrollbars --user-data-dir=%s/chrome "
             "--window-size=1200,3000 --screenshot=%s/shot.png file://%s/r.html "
             "> %s/chrome.log 2>&1 && timeout 90 chromium --headless "
             "--no-sandbox --disable-gpu --user-data-dir=%s/chrome --dump-dom "
             "file://%s/r.html > %s/dom.html 2>> %s/chrome.log",
             dir, dir, dir, dir, dir, dir, dir, dir, dir);
    rc = system(cmd);
    if (rc != 0) {
        snprintf(path, sizeof(path), "%s/chrome.log", dir);
        free(html);
        cr_skip_test("chromium cannot run here (exit %d); see its log: %.300s",
                     WEXITSTATUS(rc), slurp(path));
    }
    snprintf(path, sizeof(path), "%s/shot.png", dir);
    cr_expect_eq(stat(path, &st), 0, "no screenshot");
    cr_expect_gt(st.st_size, 20000, "screenshot of %lld bytes: blank?",
                 (long long)st.st_size);
    snprintf(path, sizeof(path), "%s/dom.html", dir);
    dom = slurp(path);
    /* The DOM Chromium built: charts (SVG with plotted paths) and tables. */
    cr_expect_geq(count(dom, "<svg"), 5, "rendered charts: %d",
                  count(dom, "<svg"));
    cr_expect_geq(count(dom, "<path"), 20, "plotted paths: %d",
                  count(dom, "<path"));
    cr_expect_geq(count(dom, "<table"), 4, "rendered tables: %d",
                  count(dom, "<table"));
    cr_expect(strstr(dom, "Maturity assessment") != NULL);
    free(dom);
    free(html);
}

Test(report, bad_input, .init = setup, .fini = teardown)
{
    const char *cli = getenv("CPN_CLI");
    char cmd[512];
    int rc;

    cr_assert_not_null(cli);
    snprintf(cmd, sizeof(cmd),
             "echo '{\"schema\": \"nope/1\"}' > %s/x.json; %s report -o "
             "%s/r.html %s/x.json 2> %s/err.txt",
             dir, cli, dir, dir, dir);
    rc = system(cmd);
    cr_expect_eq(WEXITSTATUS(rc), 4);
    snprintf(cmd, sizeof(cmd), "grep -q 'x.json' %s/err.txt", dir);
    cr_expect_eq(system(cmd), 0, "the error names the file");
}
