/* Log lines users see: "2026/11/25 13:37:20 [INFO] message", on stderr.
 * Per-connection lines are DEBUG (shown with -v); -quiet keeps only warnings and errors. */
#ifndef DP_LOG_H
#define DP_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern enum log_level log_threshold;

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_threshold >= LOG_DEBUG)                                                            \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)

/* Copies in[0..inlen) to out as printable ASCII: anything else becomes \xHH, and a
 * backslash or double quote is escaped with a backslash (so a quoted name stays one
 * token). Always NUL-terminates (truncating if needed). Returns out.
 * Every client-supplied string goes through this before it reaches a log line. */
char *log_escape(char *out, size_t outlen, const char *in, size_t inlen);

/* An address and port for log lines: "192.0.2.1:443" or "[2001:db8::1]:443" ("?" for
 * other families). out should hold LOG_SOCKADDR_MAX bytes. Returns out. */
#define LOG_SOCKADDR_MAX 56
struct sockaddr;
char *log_sockaddr(char *out, size_t outlen, const struct sockaddr *sa);

/* n addresses as log_sockaddr writes them, comma-separated ("none" when n is 0),
 * truncated to outlen. Returns out. */
struct sockaddr_storage;
char *log_sockaddr_list(char *out, size_t outlen, const struct sockaddr_storage *v, unsigned n);

#endif
