/* The option table: one row per option (name, type, where it is stored in struct config,
 * limits, default, help). The command line (cli.c), the -config file and the usage text
 * all read it, so nothing about an option is written twice.
 *
 * Adding an option: a field in struct config (config.h) and one row in options_table
 * (options.c); a type from enum opt_type, or OPT_T_CUSTOM with a set() for anything else.
 * The usage text, the -config key and test_options' checks of the row come with it. */
#ifndef DP_OPTIONS_H
#define DP_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum opt_type {
    OPT_T_FLAG,    /* int at off set to 1 (file: "key", "key yes", "key no") */
    OPT_T_UINT,    /* unsigned (size 4) or uint16_t (size 2) within [min, max] */
    OPT_T_SECONDS, /* seconds, decimals allowed, stored as unsigned milliseconds in [min, max] */
    OPT_T_STRING,  /* copied into a char array of size bytes; min 1: not empty */
    OPT_T_PATH,    /* a const char * kept pointing at the value (argv or the file's text) */
    OPT_T_CUSTOM,  /* set() does everything */
};

enum opt_where {
    OPT_ANYWHERE = 0,
    OPT_CLI_ONLY = 1, /* -config, -check-config, -help, -version, -list: not in a file */
};

/* set() results beyond 0 (done) and -1 (bad value: the generic message) */
#define OPT_EXIT 1   /* --help / --version printed: exit 0 */
#define OPT_ERRMSG 2 /* why holds the whole message */

struct opt_row {
    const char *name;  /* without dashes */
    const char *alias; /* another spelling or NULL */
    const char *arg;   /* the value's name in the usage text; NULL: takes no value */
    enum opt_type type;
    size_t off, size;       /* where in struct config, and its size */
    unsigned long min, max; /* UINT: the range; SECONDS: in ms; STRING: min 1 = not empty */
    const char *deflt;      /* applied by options_defaults and shown in the usage; NULL none */
    enum opt_where where;
    int (*set)(struct config *cfg, const struct opt_row *row, const char *value, char *why,
               size_t whylen); /* CUSTOM, or an extra check after the type's own (may be NULL) */
    const char *help;          /* lines separated by \n */
};

extern const struct opt_row options_table[];
extern const size_t options_count;

/* The row named name[0..nlen) (name or alias), or NULL. */
const struct opt_row *options_find(const char *name, size_t nlen);

/* Every field to its row's default (and the rest zero). */
void options_defaults(struct config *cfg);

/* Applies value (NULL for a flag) to cfg. 0 done; OPT_EXIT; -1 with err holding the message. */
int options_apply(struct config *cfg, const struct opt_row *row, const char *value, char *err,
                  size_t errlen);

/* "HOST:PORT" or "[V6]:PORT" into host (hostlen bytes) and *port. Returns 0 or -1. */
int options_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

/* The usage text (--help). */
void options_usage(FILE *out);

/* Parses a config file's text (NUL-terminated; modified in place: values point into it, so
 * it must live as long as cfg). name is used in messages "name:LINE: key: problem".
 * Links ("link SPEC") are queued in cfg->pending; cli_finish parses them. 0 or -1. */
int options_parse_text(struct config *cfg, const char *name, char *text, char *err, size_t errlen);

/* Reads FILE (at most CFG_FILE_MAX bytes) into cfg->file_text and parses it. 0 or -1. */
int options_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/* Frees what a configuration owns (the file's text). */
void options_free(struct config *cfg);

#endif
