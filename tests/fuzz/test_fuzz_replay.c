/* SPDX-License-Identifier: Apache-2.0 */
/* Replays every fuzz input kept in the repository through the fuzz target
 * bodies in a normal build: the seed corpus (tests/fuzz/corpus/<target>/)
 * and every crash or finding ever saved (tests/fuzz/regress/<target>/), so
 * a fixed bug stays fixed without clang or libFuzzer. A body aborts on a
 * broken property, which fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/fuzz/fuzz_body.h"

typedef void (*body_fn)(const uint8_t *data, size_t size);

/* Run every file of DIR/<sub>/<target> through @p fn; @return files run. */
static unsigned replay_dir(const char *sub, const char *target, body_fn fn)
{
    const char *root = getenv("CPN_FUZZ_DIR");
    char dir[4096], path[8192];
    struct dirent *e;
    unsigned n = 0;
    DIR *d;

    cr_assert_not_null(root, "CPN_FUZZ_DIR is not set (meson test sets it)");
    snprintf(dir, sizeof(dir), "%s/%s/%s", root, sub, target);
    d = opendir(dir);
    if (d == NULL) {
        return 0; /* no saved inputs of this kind */
    }
    while ((e = readdir(d)) != NULL) {
        FILE *f;
        uint8_t *buf;
        long len;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        f = fopen(path, "rb");
        cr_assert_not_null(f, "cannot open %s", path);
        cr_assert_eq(fseek(f, 0, SEEK_END), 0);
        len = ftell(f);
        rewind(f);
        /* an exact-size heap block: a sanitizer build catches any overread */
        buf = malloc(len > 0 ? (size_t)len : 1);
        cr_assert_not_null(buf);
        cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len, "%s", path);
        fclose(f);
        fn(buf, (size_t)len);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

/* Every committed wire seed and every saved fuzz finding through the
 * wire-decoder fuzz body (decode, re-encode, bounds). */
Test(fuzz_replay, wire_corpus_and_regressions)
{
    unsigned seeds = replay_dir("corpus", "wire", cpn_fuzz_wire_one);
    unsigned regs = replay_dir("regress", "wire", cpn_fuzz_wire_one);

    cr_assert_gt(seeds, 10, "the wire seed corpus is missing (%u files)", seeds);
    cr_log_info("wire: %u seeds, %u regression inputs replayed", seeds, regs);
}

/* Every committed OFFER seed and saved finding through the manifest fuzz
 * body (names, sizes, inline data). */
Test(fuzz_replay, offer_corpus_and_regressions)
{
    unsigned seeds = replay_dir("corpus", "offer", cpn_fuzz_offer_one);
    unsigned regs = replay_dir("regress", "offer", cpn_fuzz_offer_one);

    cr_assert_geq(seeds, 3, "the offer seed corpus is missing (%u files)", seeds);
    cr_log_info("offer: %u seeds, %u regression inputs replayed", seeds, regs);
}

/* Inputs a fuzzer is most likely to try first: nothing, one byte, a bare
 * header, and the header of every type with nothing behind it. */
Test(fuzz_replay, tiny_inputs)
{
    uint8_t hdr[16] = { 'C', 'P', 1, 0, 16, 0, 0, 0 };
    unsigned t;

    cpn_fuzz_wire_one((const uint8_t *)"", 0);
    cpn_fuzz_offer_one((const uint8_t *)"", 0);
    cpn_fuzz_wire_one((const uint8_t *)"C", 1);
    for (t = 0; t < 16; t++) {
        uint8_t *p = malloc(sizeof(hdr));

        cr_assert_not_null(p);
        memcpy(p, hdr, sizeof(hdr));
        p[3] = (uint8_t)t;
        cpn_fuzz_wire_one(p, sizeof(hdr));
        cpn_fuzz_offer_one(p, sizeof(hdr));
        free(p);
    }
}
