/* SPDX-License-Identifier: Apache-2.0 */
/* Small compiler helpers shared by every layer. */
#ifndef CPN_CORE_COMPILER_H
#define CPN_CORE_COMPILER_H

#include <stddef.h>

#define cpn_likely(x)   __builtin_expect(!!(x), 1)
#define cpn_unlikely(x) __builtin_expect(!!(x), 0)
#define CPN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define cpn_container_of(ptr, type, member)                                   \
    ((type *)((char *)(ptr) - offsetof(type, member)))
#define CPN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CPN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* CPN_CORE_COMPILER_H */
