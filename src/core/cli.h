/* The command line: seed-compatible (-lhost, -lport, -list, LINK[@RATIO]...), with GNU
 * double-dash spellings of every long option. */
#ifndef DP_CLI_H
#define DP_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

enum cli_result {
    CLI_RUN = 0,  /* cfg is ready */
    CLI_EXIT = 1, /* --help or --version printed: exit 0 */
    CLI_ERROR = 2 /* err holds a one-line message: exit 2 */
};

void cli_defaults(struct config *cfg);
enum cli_result cli_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen);
void cli_usage(FILE *out);

#endif
