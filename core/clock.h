/* SPDX-License-Identifier: Apache-2.0 */
/* The monotonic clock every measurement in cpn is taken with. */
#ifndef CPN_CORE_CLOCK_H
#define CPN_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/** Nanoseconds on CLOCK_MONOTONIC: never jumps, comparable across threads. */
static inline uint64_t cpn_time_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/** A deadline @p timeout_ms from now; <0 means never (UINT64_MAX). */
static inline uint64_t cpn_deadline_ns(int timeout_ms)
{
    return timeout_ms < 0 ? UINT64_MAX
                          : cpn_time_ns() + (uint64_t)timeout_ms * 1000000ull;
}

#endif /* CPN_CORE_CLOCK_H */
