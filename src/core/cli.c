#include "cli.h"

#include <string.h>

#include "common.h"
#include "options.h"

void
cli_defaults(struct config *cfg)
{
    options_defaults(cfg);
}

void
cli_usage(FILE *out)
{
    options_usage(out);
}

/* The links (operands and "link" lines), once every option is known (-tunnel changes what
 * they are). A proxy link's password never reaches the message. */
static enum cli_result
parse_links(struct config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->n_pending; i++) {
        const struct cfg_link_text *lt = &cfg->pending[i];
        char why[200], shown[128], where[240] = "";
        int rc;

        if (lt->line > 0)
            snprintf(where, sizeof(where), "%.200s:%u: link: ", cfg->config_file, lt->line);
        if (cfg->n_links >= LINK_MAX) {
            snprintf(err, errlen, "%stoo many links (at most %d)", where, LINK_MAX);
            return CLI_ERROR;
        }
        rc = cfg->tunnel ? link_parse_tunnel(lt->text, &cfg->links[cfg->n_links], why, sizeof(why))
                         : link_parse_spec(lt->text, &cfg->links[cfg->n_links], why, sizeof(why));
        if (rc == -1) {
            snprintf(err, errlen, "%sbad %s \"%.100s\": %s", where, cfg->tunnel ? "tunnel" : "link",
                     link_redact(lt->text, shown, sizeof(shown)), why);
            return CLI_ERROR;
        }
        cfg->n_links++;
    }
    if (cfg->tunnel && (cfg->n_auth > 0 || cfg->auth_file != NULL)) {
        /* A tunnel reads nothing from the client: a password could never be asked for. */
        snprintf(err, errlen,
                 "-auth and -auth-file do not apply to -tunnel (client bytes go to "
                 "the upstream unchanged); use -allow");
        return CLI_ERROR;
    }
    if (cfg->tunnel && cfg->n_links == 0) {
        snprintf(err, errlen, "-tunnel needs at least one HOST:PORT[@RATIO]");
        return CLI_ERROR;
    }
    for (unsigned i = 0; i < cfg->n_links; i++)
        if (cfg->links[i].dns[0] != '\0' && strcmp(cfg->dns, "system") == 0) {
            snprintf(err, errlen,
                     "link %u has /dns= servers but -dns system asks the system resolver for "
                     "every name",
                     i + 1);
            return CLI_ERROR;
        }
    return CLI_RUN;
}

enum cli_result
cli_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
    int only_links = 0;

    /* Known before anything can fail: it decides the exit status of a failure. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-check-config") == 0 || strcmp(argv[i], "--check-config") == 0)
            cfg->check_config = 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *name, *value = NULL, *eq;
        const struct opt_row *o;
        size_t nlen;
        int rc;

        if (only_links || arg[0] != '-' || arg[1] == '\0') {
            if (cfg->n_pending > LINK_MAX) {
                snprintf(err, errlen, "too many links (at most %d)", LINK_MAX);
                return CLI_ERROR;
            }
            cfg->pending[cfg->n_pending].text = argv[i];
            cfg->pending[cfg->n_pending++].line = 0;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_links = 1;
            continue;
        }
        name = arg + 1 + (arg[1] == '-');
        eq = strchr(name, '=');
        nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        o = options_find(name, nlen);
        if (o == NULL) {
            snprintf(err, errlen, "unknown option \"%.100s\" (see --help)", arg);
            return CLI_ERROR;
        }
        if (o->arg != NULL) {
            if (eq != NULL)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else {
                snprintf(err, errlen, "option %s needs a value", arg);
                return CLI_ERROR;
            }
        } else if (eq != NULL) {
            snprintf(err, errlen, "option -%s takes no value", o->name);
            return CLI_ERROR;
        }
        rc = options_apply(cfg, o, value, err, errlen);
        if (rc == OPT_EXIT)
            return CLI_EXIT;
        if (rc != 0)
            return CLI_ERROR;
    }
    return parse_links(cfg, err, errlen);
}
