/* SPDX-License-Identifier: Apache-2.0 */
/* Launching under a launcher: rank and size from each launcher's variables,
 * and `cpn bench` under Open MPI's mpirun with 4 ranks on this machine, in
 * the pairwise and many-to-one patterns (skipped, saying why, without
 * mpirun). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "bench/bench.h"

static void clear_env(void)
{
    static const char *const vars[] = {
        "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
        "PMI_RANK",             "PMI_SIZE",             "SLURM_PROCID",
        "SLURM_NTASKS"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        unsetenv(vars[i]);
    }
}

Test(bench_launch, detect)
{
    cpn_bench_launch_t l;

    clear_env();
    cr_expect_eq(cpn_bench_launch_detect(&l), 0);
    cr_expect_eq(l.size, 1);
    setenv("SLURM_PROCID", "3", 1);
    setenv("SLURM_NTASKS", "8", 1);
    cr_expect_eq(cpn_bench_launch_detect(&l), 1);
    cr_expect_eq(l.rank, 3);
    cr_expect_eq(l.size, 8);
    cr_expect_str_eq(l.source, "SLURM");
    setenv("PMI_RANK", "1", 1);
    setenv("PMI_SIZE", "2", 1);
    cr_expect_eq(cpn_bench_launch_detect(&l), 1);
    cr_expect_str_eq(l.source, "PMI", "PMI comes before Slurm's own");
    setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    cr_expect_eq(cpn_bench_launch_detect(&l), 1);
    cr_expect_str_eq(l.source, "OMPI");
    cr_expect_eq(l.size, 4);
    setenv("OMPI_COMM_WORLD_RANK", "9", 1); /* rank >= size: ignored */
    cr_expect_eq(cpn_bench_launch_detect(&l), 1);
    cr_expect_str_neq(l.source, "OMPI");
    setenv("OMPI_COMM_WORLD_RANK", "x", 1);
    cr_expect_eq(cpn_bench_launch_detect(&l), 1);
    cr_expect_str_neq(l.source, "OMPI");
    clear_env();
}

static void run_pattern(const char *pattern, const int *ranks, int nranks)
{
    const char *cli = getenv("CPN_CLI");
    char dir[] = "/tmp/cpn-mpi-test.XXXXXX", cmd[2048], path[256], err[256];
    int rc, port = 17800 + (int)(getpid() % 100) * 2 + (pattern[0] == 'm');

    cr_assert_not_null(cli);
    if (system("mpirun --version > /dev/null 2>&1") != 0) {
        cr_skip_test("mpirun is not installed (apt-get install openmpi-bin)");
    }
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "timeout 200 mpirun --allow-run-as-root --oversubscribe -np 4 "
             "%s bench -q --no-ref --pattern %s --rendezvous 127.0.0.1:%d "
             "-T put_bw,send_lat -s 4K -n 50 -w 5 --trials 2 -j %s/m.json "
             "--format csv > %s/out.txt 2>&1",
             cli, pattern, port, dir, dir);
    rc = system(cmd);
    cr_expect_eq(WEXITSTATUS(rc), 0, "mpirun exit %d (see %s/out.txt)",
                 WEXITSTATUS(rc), dir);
    for (int i = 0; i < nranks; i++) {
        json_t *j;

        snprintf(path, sizeof(path), "%s/m.rank%d.json", dir, ranks[i]);
        j = json_load_file(path, 0, NULL);
        cr_assert_not_null(j, "%s: missing or not JSON", path);
        cr_expect_eq(cpn_bench_doc_validate(j, err, sizeof(err)), CPN_OK, "%s",
                     err);
        cr_expect_str_eq(json_string_value(json_object_get(j, "status")), "ok");
        cr_expect_eq(json_integer_value(json_object_get(
                         json_object_get(j, "launch"), "size")), 4);
        cr_expect_str_eq(json_string_value(json_object_get(
                             json_object_get(j, "launch"), "pattern")),
                         pattern);
        cr_expect_eq(json_array_size(json_object_get(j, "results")), 2);
        json_decref(j);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(bench_mpi, pairwise, .timeout = 240)
{
    run_pattern("pairwise", (const int[]){0, 2}, 2);
}

Test(bench_mpi, many_to_one, .timeout = 240)
{
    run_pattern("many-to-one", (const int[]){1, 2, 3}, 3);
}
