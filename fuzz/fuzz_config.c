/* libFuzzer harness for the -config file parser (options_parse_text, src/core/options.c).
 *
 * Input: the file's text (up to its first NUL byte), in an allocation of exactly its size.
 * Invariants (abort() when broken):
 * - the result is 0 or -1; -1 leaves a one-line message "f.conf:LINE: ..." with a LINE
 *   no greater than the number of lines;
 * - 0 leaves a configuration within the table's ranges, and every queued link points into
 *   the text with a line number within it. */
#include <string.h>

#include "fuzz.h"
#include "options.h"

static void
check_config(const struct config *c, const char *text, size_t len, unsigned lines)
{
    FUZZ_CHECK(fuzz_terminated(c->listen_host, sizeof(c->listen_host)));
    FUZZ_CHECK(c->listen_host[0] != '\0');
    FUZZ_CHECK(fuzz_terminated(c->user, sizeof(c->user)));
    FUZZ_CHECK(fuzz_terminated(c->probe, sizeof(c->probe)));
    FUZZ_CHECK(c->verbosity >= -1 && c->verbosity <= 2);
    FUZZ_CHECK(c->connect_timeout_ms >= 1 && c->connect_timeout_ms <= 3600000);
    FUZZ_CHECK(c->handshake_timeout_ms >= 1 && c->handshake_timeout_ms <= 3600000);
    FUZZ_CHECK(c->idle_timeout_ms <= 86400000);
    FUZZ_CHECK(c->threads <= 64 && c->max_clients <= 10000000);
    FUZZ_CHECK(c->n_auth <= CFG_AUTH_MAX && c->n_allow <= CFG_ALLOW_MAX);
    FUZZ_CHECK(c->n_pending <= LINK_MAX + 1);
    FUZZ_CHECK(c->config_file == NULL && c->check_config == 0 && c->list == 0);
    for (unsigned i = 0; i < c->n_pending; i++) {
        FUZZ_CHECK(c->pending[i].text >= text && c->pending[i].text < text + len);
        FUZZ_CHECK(c->pending[i].text[0] != '\0');
        FUZZ_CHECK(c->pending[i].line >= 1 && c->pending[i].line <= lines);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = strnlen((const char *)data, size);
    char *text = malloc(len + 1), err[200];
    struct config *cfg = malloc(sizeof(*cfg));
    unsigned lines = 1;
    int rc;

    FUZZ_CHECK(text != NULL && cfg != NULL);
    memcpy(text, data, len);
    text[len] = '\0';
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    options_defaults(cfg);
    memset(err, 'X', sizeof(err));
    rc = options_parse_text(cfg, "f.conf", text, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == -1) {
        unsigned long line;
        char *end;

        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
        FUZZ_CHECK(strncmp(err, "f.conf:", 7) == 0);
        line = strtoul(err + 7, &end, 10);
        FUZZ_CHECK(line >= 1 && line <= lines && *end == ':');
        FUZZ_CHECK(strchr(err, '\n') == NULL);
    } else {
        check_config(cfg, text, len, lines);
    }
    options_free(cfg);
    free(cfg);
    free(text);
    return 0;
}
