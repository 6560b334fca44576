/* libFuzzer harness for cli_parse (src/cli.c).
 *
 * Input: the arguments after argv[0], separated by NUL bytes; each argument gets its own
 * allocation of exactly its size so that ASan sees any read past its end.
 * stdout (where --help and --version go) is sent to /dev/null once at start.
 * Invariants (abort() when broken):
 * - the result is CLI_RUN, CLI_EXIT or CLI_ERROR, the same for a short error buffer;
 * - CLI_ERROR leaves a NUL-terminated message inside the buffer;
 * - CLI_RUN leaves a configuration within the documented ranges. */
#include <string.h>

#include "cli.h"
#include "options.h"
#include "fuzz.h"

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (freopen("/dev/null", "w", stdout) == NULL)
        abort();
    return 0;
}

static enum cli_result
parse(int argc, char **argv, struct config *cfg, size_t errlen)
{
    char *err = malloc(errlen ? errlen : 1);
    enum cli_result r;

    FUZZ_CHECK(err != NULL);
    memset(err, 'X', errlen ? errlen : 1);
    cli_defaults(cfg);
    r = cli_parse(argc, argv, cfg, err, errlen);
    FUZZ_CHECK(r == CLI_RUN || r == CLI_EXIT || r == CLI_ERROR);
    options_free(cfg);
    if (r == CLI_ERROR && errlen > 0)
        FUZZ_CHECK(fuzz_terminated(err, errlen) && (errlen == 1 || err[0] != '\0'));
    free(err);
    return r;
}

static void
check_config(const struct config *c)
{
    FUZZ_CHECK(fuzz_terminated(c->listen_host, sizeof(c->listen_host)));
    FUZZ_CHECK(c->listen_host[0] != '\0');
    FUZZ_CHECK(fuzz_terminated(c->user, sizeof(c->user)));
    FUZZ_CHECK(c->n_links <= LINK_MAX);
    FUZZ_CHECK(!c->tunnel || c->n_links >= 1);
    for (unsigned i = 0; i < c->n_links; i++) {
        FUZZ_CHECK(c->links[i].ratio >= 1 && c->links[i].ratio <= 1000);
        FUZZ_CHECK(c->links[i].kind == LINK_ADDR4 || c->links[i].kind == LINK_ADDR6 ||
                   c->links[i].kind == LINK_IFACE || c->links[i].kind == LINK_PROXY);
        /* -tunnel makes every link a tunnel, and only then is a link a tunnel. */
        FUZZ_CHECK(!c->tunnel || c->links[i].up.scheme == LINK_SCHEME_TUNNEL);
        FUZZ_CHECK(c->tunnel || c->links[i].up.scheme != LINK_SCHEME_TUNNEL);
        if (c->links[i].kind == LINK_PROXY)
            FUZZ_CHECK(c->links[i].up.port >= 1 && c->links[i].up.host[0] != '\0');
        if (c->links[i].kind == LINK_IFACE)
            FUZZ_CHECK(fuzz_terminated(c->links[i].name, sizeof(c->links[i].name)) &&
                       c->links[i].name[0] != '\0');
    }
    FUZZ_CHECK(c->verbosity >= -1 && c->verbosity <= 2);
    FUZZ_CHECK(c->connect_timeout_ms >= 1 && c->connect_timeout_ms <= 3600000);
    FUZZ_CHECK(c->handshake_timeout_ms >= 1 && c->handshake_timeout_ms <= 3600000);
    FUZZ_CHECK(c->idle_timeout_ms <= 86400000);
    FUZZ_CHECK(c->max_clients <= 10000000);
    FUZZ_CHECK(c->threads <= 64);
    FUZZ_CHECK(c->list == 0 || c->list == 1);
    FUZZ_CHECK(c->n_auth <= CFG_AUTH_MAX && c->n_allow <= CFG_ALLOW_MAX);
    for (unsigned i = 0; i < c->n_auth; i++)
        FUZZ_CHECK(c->auth[i] != NULL);
    FUZZ_CHECK(fuzz_terminated(c->probe, sizeof(c->probe)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char prog[] = "dispatch-proxy";
    char *argv[MAX_ARGS + 2];
    int argc = 1;
    size_t start = 0;
    struct config *cfg = malloc(sizeof(*cfg));
    enum cli_result r;

    FUZZ_CHECK(cfg != NULL);
    argv[0] = prog;
    while (start <= size && argc <= MAX_ARGS) {
        const uint8_t *nul = memchr(data + start, '\0', size - start);
        size_t len = nul != NULL ? (size_t)(nul - (data + start)) : size - start;

        if (nul == NULL && len == 0 && argc > 1)
            break; /* input ended with a NUL: no trailing empty argument */
        argv[argc] = malloc(len + 1);
        FUZZ_CHECK(argv[argc] != NULL);
        memcpy(argv[argc], data + start, len);
        argv[argc][len] = '\0';
        argc++;
        start += len + 1;
    }
    argv[argc] = NULL;
    for (int i = 1; i < argc; i++)
        if (strstr(argv[i], "config") != NULL) {
            /* -config reads a file (fuzz_config covers its parser): not from here. */
            for (int k = 1; k < argc; k++)
                free(argv[k]);
            free(cfg);
            return 0;
        }

    r = parse(argc, argv, cfg, 200);
    if (r == CLI_RUN)
        check_config(cfg);
    FUZZ_CHECK(parse(argc, argv, cfg, size % 16) == r);

    for (int i = 1; i < argc; i++)
        free(argv[i]);
    free(cfg);
    return 0;
}
