/* SPDX-License-Identifier: Apache-2.0 */
/* Logging for every layer. The level is read from CPN_LOG_LEVEL once, the
 * first time anything logs (or when cpn__log_level_init() is called), under
 * pthread_once so a bad value is reported once however many threads race to
 * log first. Each line is formatted into one buffer and written with one
 * write(2), so lines from threads never interleave mid-line (nor, up to
 * PIPE_BUF bytes, lines from processes sharing a pipe). Logging keeps errno
 * as it found it, so a caller can log a failure and then still report it. */
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/config.h"

/* Read with a relaxed atomic load by CPN_LOG(); written only atomically. */
int cpn__log_level = -1;

static const char *const cpn_log_word[] = {
    [CPN_LOG_ERROR] = "error", [CPN_LOG_WARN] = "warn",
    [CPN_LOG_INFO] = "info",   [CPN_LOG_DEBUG] = "debug",
    [CPN_LOG_TRACE] = "trace",
};

static const char *const cpn_log_tag[] = {
    [CPN_LOG_ERROR] = "ERROR", [CPN_LOG_WARN] = "WARN",
    [CPN_LOG_INFO] = "INFO",   [CPN_LOG_DEBUG] = "DEBUG",
    [CPN_LOG_TRACE] = "TRACE",
};

/* The knob, so `cpn info --config` lists it with the others. The level is
 * read with getenv() below rather than cpn__config_fill(): filling can log,
 * and logging before the level is known would re-enter the pthread_once. */
typedef struct cpn_log_config {
    const char *level;
} cpn_log_config_t;

static const cpn_config_field_t cpn_log_config_field[] = {
    CPN_CONFIG_FIELD("LEVEL", "warn",
                     "print messages up to this level: error, warn, info, "
                     "debug, trace (or 0..4)",
                     CPN_CFG_STRING, cpn_log_config_t, level),
};

static cpn_config_table_t cpn_log_config_table = {
    .area = "LOG",
    .title = "core: logging",
    .field = cpn_log_config_field,
    .nfield = CPN_ARRAY_SIZE(cpn_log_config_field),
};
CPN_CONFIG_REGISTER(cpn_log_config_table)

#define CPN_LOG_ENV "CPN_LOG_LEVEL"

static pthread_once_t cpn_log_once = PTHREAD_ONCE_INIT;

int cpn__log_level_parse(const char *s)
{
    size_t i;

    if (s == NULL) {
        return -1;
    }
    for (i = 0; i < CPN_ARRAY_SIZE(cpn_log_word); i++) {
        if (strcasecmp(s, cpn_log_word[i]) == 0) {
            return (int)i;
        }
    }
    if (s[0] >= '0' && s[0] <= '0' + CPN_LOG_TRACE && s[1] == '\0') {
        return s[0] - '0';
    }
    return -1;
}

static void cpn_log_read_env(void)
{
    const char *value = getenv(CPN_LOG_ENV);
    int level = cpn__log_level_parse(cpn_log_config_field[0].dflt);
    int parsed = value != NULL ? cpn__log_level_parse(value) : -1;
    int unset = -1;

    if (parsed >= 0) {
        level = parsed;
    }
    /* A level set by cpn__log_set_level() before this ran wins. */
    __atomic_compare_exchange_n(&cpn__log_level, &unset, level, 0,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    if (value != NULL && parsed < 0 &&
        __atomic_load_n(&cpn__log_level, __ATOMIC_RELAXED) >= CPN_LOG_WARN) {
        cpn__log(CPN_LOG_WARN, __FILE__, __LINE__,
                 "%s='%s': unknown level; expected error, warn, info, debug, "
                 "trace or 0..4; using %s",
                 CPN_LOG_ENV, value, cpn_log_word[level]);
    }
}

int cpn__log_level_init(void)
{
    int saved_errno = errno;

    pthread_once(&cpn_log_once, cpn_log_read_env);
    errno = saved_errno;
    return __atomic_load_n(&cpn__log_level, __ATOMIC_RELAXED);
}

void cpn__log_set_level(cpn_log_level_t level)
{
    if ((int)level < CPN_LOG_ERROR) {
        level = CPN_LOG_ERROR;
    } else if (level > CPN_LOG_TRACE) {
        level = CPN_LOG_TRACE;
    }
    __atomic_store_n(&cpn__log_level, (int)level, __ATOMIC_RELAXED);
}

/* "../core/log.c" -> "core/log.c": meson compiles from the build directory,
 * and the path relative to the source root is what a reader looks for. */
static const char *cpn_log_short_path(const char *file)
{
    for (;;) {
        if (strncmp(file, "../", 3) == 0) {
            file += 3;
        } else if (strncmp(file, "./", 2) == 0) {
            file += 2;
        } else {
            return file;
        }
    }
}

static void cpn_log_write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return; /* nowhere left to report it */
        }
        buf += n;
        len -= (size_t)n;
    }
}

void cpn__log(cpn_log_level_t level, const char *file, int line,
              const char *fmt, ...)
{
    int saved_errno = errno;
    char stack[1024];
    char *buf = stack;
    size_t cap = sizeof(stack);
    const char *tag = ((int)level >= CPN_LOG_ERROR && level <= CPN_LOG_TRACE)
                          ? cpn_log_tag[level]
                          : "?";
    int head, body;
    size_t len;
    va_list ap;

    head = snprintf(stack, cap, "cpn[%ld] %s %s:%d: ", (long)getpid(), tag,
                    cpn_log_short_path(file), line);
    if (head < 0) {
        goto out;
    }
    if ((size_t)head >= cap) {
        head = (int)cap - 1; /* absurdly long path: keep what fits */
    }

    va_start(ap, fmt);
    body = vsnprintf(stack + head, cap - (size_t)head, fmt, ap);
    va_end(ap);
    if (body < 0) {
        goto out;
    }

    len = (size_t)head + (size_t)body;
    if (len >= cap) {
        /* Too long for the stack: format again on the heap; if that fails,
         * write the truncated line rather than nothing. */
        char *big = malloc(len + 2);

        if (big != NULL) {
            memcpy(big, stack, (size_t)head);
            va_start(ap, fmt);
            vsnprintf(big + head, len + 1 - (size_t)head, fmt, ap);
            va_end(ap);
            buf = big;
        } else {
            len = cap - 1;
        }
    }
    buf[len++] = '\n';
    cpn_log_write_all(buf, len);
    if (buf != stack) {
        free(buf);
    }
out:
    errno = saved_errno;
}
