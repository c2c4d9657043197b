/* SPDX-License-Identifier: Apache-2.0 */
/* Logging with levels. The level comes from CPN_LOG_LEVEL (error, warn,
 * info, debug, trace; default warn) the first time anything logs. A check
 * of the level is one load and compare, so debug lines cost nothing when
 * off. Lines go to stderr as "cpn[PID] LEVEL file:line: message". */
#ifndef CPN_CORE_LOG_H
#define CPN_CORE_LOG_H

typedef enum cpn_log_level {
    CPN_LOG_ERROR = 0,
    CPN_LOG_WARN,
    CPN_LOG_INFO,
    CPN_LOG_DEBUG,
    CPN_LOG_TRACE,
} cpn_log_level_t;

/* Current level; -1 until first read from the environment. */
extern int cpn__log_level;

/**
 * Read CPN_LOG_LEVEL (once per process) and return the level in force.
 * An unknown value is reported once on stderr and the default (warn) used;
 * a level set earlier with cpn__log_set_level() wins over the environment.
 * Thread-safe.
 */
int cpn__log_level_init(void);

/** Set the level for the whole process (tests, --verbose); it overrides
 *  CPN_LOG_LEVEL. Out-of-range levels are clamped. Thread-safe. */
void cpn__log_set_level(cpn_log_level_t level);

/** Parse "error".."trace" or "0".."4". @return level, or -1 if unknown. */
int cpn__log_level_parse(const char *s);

/** Write one log line (one write(2), errno preserved); use the macros
 *  below instead. Thread-safe. */
void cpn__log(cpn_log_level_t level, const char *file, int line,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The level is loaded relaxed-atomically: one plain load on every target,
 * but no data race with the first thread that sets it. */
#define CPN_LOG(_level, ...)                                                  \
    do {                                                                      \
        int cpn__lvl_ = __atomic_load_n(&cpn__log_level, __ATOMIC_RELAXED);  \
        if (cpn__lvl_ < 0) {                                                  \
            cpn__lvl_ = cpn__log_level_init();                                \
        }                                                                     \
        if ((int)(_level) <= cpn__lvl_) {                                     \
            cpn__log((_level), __FILE__, __LINE__, __VA_ARGS__);              \
        }                                                                     \
    } while (0)

#define cpn_error(...) CPN_LOG(CPN_LOG_ERROR, __VA_ARGS__)
#define cpn_warn(...)  CPN_LOG(CPN_LOG_WARN, __VA_ARGS__)
#define cpn_info(...)  CPN_LOG(CPN_LOG_INFO, __VA_ARGS__)
#define cpn_debug(...) CPN_LOG(CPN_LOG_DEBUG, __VA_ARGS__)
#define cpn_trace(...) CPN_LOG(CPN_LOG_TRACE, __VA_ARGS__)

#endif /* CPN_CORE_LOG_H */
