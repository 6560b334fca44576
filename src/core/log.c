#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "os.h"

enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void
log_msg(enum log_level level, const char *fmt, ...)
{
    char line[1024];
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    va_list ap;
    int n;

    if (level > log_threshold)
        return;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S", &tm);
    n = snprintf(line, sizeof(line), "%s [%s] ", stamp, level_names[level]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line: stdio's lock keeps lines from several threads whole. */
    fprintf(stderr, "%s\n", line);
}

char *
log_escape(char *out, size_t outlen, const char *in, size_t inlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (outlen == 0)
        return out;
    for (size_t i = 0; i < inlen; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
            if (o + 1 >= outlen)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 4 >= outlen)
                break;
            out[o++] = '\\';
            if (c == '\\' || c == '"') {
                out[o++] = (char)c;
            } else {
                out[o++] = 'x';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
            }
        }
    }
    out[o] = '\0';
    return out;
}

char *
log_sockaddr(char *out, size_t outlen, const struct sockaddr *sa)
{
    char a[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
        snprintf(out, outlen, "%s:%u", a, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
        snprintf(out, outlen, "[%s]:%u", a, ntohs(sin6->sin6_port));
    } else {
        snprintf(out, outlen, "?");
    }
    return out;
}

char *
log_sockaddr_list(char *out, size_t outlen, const struct sockaddr_storage *v, unsigned n)
{
    size_t used = 0;

    snprintf(out, outlen, "none");
    for (unsigned i = 0; i < n && used + 1 < outlen; i++) {
        char a[LOG_SOCKADDR_MAX];

        log_sockaddr(a, sizeof(a), (const struct sockaddr *)&v[i]);
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? "," : "", a);
    }
    return out;
}
