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

/* In a busy-wait loop: tell the CPU (and a hyperthread sibling) so. */
static inline void cpn_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* CPN_CORE_COMPILER_H */
