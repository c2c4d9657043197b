/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer entry point of the wire target (body in fuzz_body.c). Built only
 * by clang with -Dfuzz=enabled; run by scripts/fuzz.sh. */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cpn_fuzz_wire_one(data, size);
    return 0;
}
