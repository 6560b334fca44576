/* POSIX functions the portable code uses that the msvcrt lacks (declared in
 * os_types.h). */
#include "os.h"

#include <stdlib.h>

/* getline(3): the next line of stream with its '\n', in *lineptr grown as needed. */
ssize_t
getline(char **lineptr, size_t *n, FILE *stream)
{
    size_t len = 0;
    int c;

    if (lineptr == NULL || n == NULL) {
        errno = EINVAL;
        return -1;
    }
    while ((c = getc(stream)) != EOF) {
        if (len + 2 > *n) {
            size_t cap = *n < 128 ? 128 : *n * 2;
            char *p = realloc(*lineptr, cap);

            if (p == NULL) {
                errno = ENOMEM;
                return -1;
            }
            *lineptr = p;
            *n = cap;
        }
        (*lineptr)[len++] = (char)c;
        if (c == '\n')
            break;
    }
    if (len == 0)
        return -1;
    (*lineptr)[len] = '\0';
    return (ssize_t)len;
}
