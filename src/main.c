/* dispatch-proxy: options -> links -> listeners -> event loops, until SIGINT/SIGTERM. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "admin.h"
#include "balancer.h"
#include "bufpool.h"
#include "cli.h"
#include "common.h"
#include "config.h"
#include "options.h"
#include "dialer.h"
#include "health.h"
#include "iface.h"
#include "link.h"
#include "log.h"
#include "relay.h"
#include "dns_resolver.h"
#include "resolver.h"
#include "os.h"
#include "server.h"
#include "status.h"

#define RESOLVER_THREADS 4
#define FDS_RESERVED 64 /* listeners, signal pipe, resolver sockets, logs */

struct app {
    struct config cfg;
    struct link links[LINK_MAX];
    struct balancer bal;
    struct health health; /* link watcher, probes, adaptive weights: on server 0's loop */
    struct shared sh;
    struct status status; /* the snapshot's sampler, on server 0's loop */
    struct admin admin;   /* -status: page, API, metrics, on server 0's loop */
    struct server *servers;
    pthread_t *threads; /* of servers 1..n-1 (here, not on main's stack: every exit path
                         * leaves what was allocated reachable or freed) */
    unsigned n_servers;
    struct loop_io signal_io;
    struct access access;    /* -allow, -auth, -auth-file */
    struct dns_settings dns; /* per-link DNS (unless -dns system) */
    unsigned n_links;        /* links set up in links[] (removed ones drain, never reused) */
    int argc;                /* what a reload parses again */
    char **argv;
    /* Replaced snapshots: kept until exit, since a connection may still read one. */
    struct retired {
        struct config *cfg;
        struct access *access;
        struct retired *next;
    } * retired;
};

static struct app app;

static int
access_guarded(const struct config *cfg)
{
    return cfg->n_auth > 0 || cfg->auth_file != NULL || cfg->n_allow > 0;
}

/* Refuses an open proxy on every address unless -open says so; loads credentials.
 * Returns 0, or -1 (one-line message printed). */
/* The -open guard, judged on an address the listener binds (not on how -lhost is
 * spelled: a name in /etc/hosts may stand for 0.0.0.0). 1 when it must be refused (and
 * said why). */
static int
open_proxy_refused(const struct config *cfg, const struct sockaddr *bound)
{
    if (access_guarded(cfg) || cfg->open || access_exposure(bound) != ACCESS_EVERYWHERE)
        return 0;
    fprintf(stderr,
            "dispatch-proxy: refusing to listen on every address (-lhost %s) without -auth or "
            "-allow: anyone who can reach this host could use it as an open proxy; add -auth "
            "or -allow, or -open to accept that\n",
            cfg->listen_host);
    return 1;
}

static int
setup_access(struct config *cfg)
{
    /* Resolved as the listener resolves it (src/front/server.c): the first answer. */
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char err[300];

    if (getaddrinfo(cfg->listen_host, NULL, &hints, &res) == 0) {
        int refused = open_proxy_refused(cfg, res->ai_addr);
        freeaddrinfo(res);
        if (refused)
            return -1;
    }
    if (access_init(&app.access, cfg->allow, cfg->n_allow, cfg->auth, cfg->n_auth, cfg->auth_file,
                    err, sizeof(err)) == -1) {
        fprintf(stderr, "dispatch-proxy: %s\n", err);
        return -1;
    }
    app.sh.access = &app.access;
    return 0;
}

/* SIGHUP: parse the command line and the -config file again into a new snapshot. Links
 * added are set up and used at once, links removed drain (no new connection; established
 * ones finish), ratios, policy, timeouts, -auth/-auth-file and -allow apply to new
 * connections. Settings that shape the running process stay (see restart_only). Anything
 * wrong leaves the configuration in force and says why. Runs on loop 0 (as health). */
static int default_links(struct config *cfg);

static const char *
restart_only(const struct config *old, const struct config *nc)
{
    if (strcmp(old->listen_host, nc->listen_host) != 0 || old->listen_port != nc->listen_port)
        return "-listen/-lhost/-lport";
    if (old->tunnel != nc->tunnel)
        return "-tunnel";
    if (strcmp(old->user, nc->user) != 0)
        return "-user";
    if (strcmp(old->status_listen, nc->status_listen) != 0)
        return "-status";
    if (strcmp(old->dns, nc->dns) != 0)
        return "-dns";
    return NULL;
}

static void
reload(void)
{
    const struct config *old = atomic_load(&app.sh.cfg);
    struct config *nc = malloc(sizeof(*nc));
    struct access *acc = calloc(1, sizeof(*acc));
    struct retired *r = calloc(1, sizeof(*r));
    unsigned ratio[LINK_MAX] = {0}, n = app.n_links, added = 0, drained = 0;
    char err[400];
    const char *fixed;

    if (nc == NULL || acc == NULL || r == NULL) {
        log_warn("SIGHUP: out of memory; the configuration in force stays");
        goto fail;
    }
    cli_defaults(nc);
    if (cli_parse(app.argc, app.argv, nc, err, sizeof(err)) != CLI_RUN) {
        log_warn("SIGHUP: %s; the configuration in force stays", err);
        goto fail;
    }
    if (nc->n_links == 0 && default_links(nc) == -1) {
        log_warn("SIGHUP: no link given and no interface has a default route; the "
                 "configuration in force stays");
        goto fail;
    }
    if ((fixed = restart_only(old, nc)) != NULL)
        log_warn("SIGHUP: %s changed: that takes a restart (kept as it was)", fixed);
    /* What the running process was built with, whatever the file says now. */
    snprintf(nc->listen_host, sizeof(nc->listen_host), "%s", old->listen_host);
    snprintf(nc->user, sizeof(nc->user), "%s", old->user);
    snprintf(nc->status_listen, sizeof(nc->status_listen), "%s", old->status_listen);
    nc->listen_port = old->listen_port;
    nc->tunnel = old->tunnel;
    nc->threads = old->threads;
    nc->no_splice = old->no_splice;
    if (nc->max_clients == 0)
        nc->max_clients = old->max_clients;

    /* Links: the same label is the same link (it keeps its counters and connections). */
    for (unsigned i = 0; i < nc->n_links; i++) {
        unsigned k;

        if (n >= LINK_MAX) {
            log_warn("SIGHUP: more than %d links over the process's life; the configuration "
                     "in force stays (restart)",
                     LINK_MAX);
            goto fail_links;
        }
        if (link_init(&app.links[n], &nc->links[i], err, sizeof(err)) == -1) {
            log_warn("SIGHUP: bad link \"%s\": %s; the configuration in force stays",
                     app.links[n].label[0] ? app.links[n].label : "?", err);
            goto fail_links;
        }
        for (k = 0; k < n; k++)
            if (strcmp(app.links[k].label, app.links[n].label) == 0)
                break;
        if (k < n) {
            if (strcmp(app.links[k].spec.dns, nc->links[i].dns) != 0)
                log_warn("SIGHUP: link %s: /dns= changed: that takes a restart (kept as it was)",
                         app.links[k].label);
            link_destroy(&app.links[n]);
            ratio[k] = nc->links[i].ratio;
            continue;
        }
        if (nc->links[i].dns[0] != '\0')
            log_warn("SIGHUP: new link %s: its /dns= takes a restart (until then it asks "
                     "what links without /dns= ask)",
                     app.links[n].label);
        app.links[n].index = n;
        app.links[n].fail_threshold = old->fail_threshold;
        app.links[n].trials = !app.health.probing;
        ratio[n++] = nc->links[i].ratio;
    }
    if (access_init(acc, nc->allow, nc->n_allow, nc->auth, nc->n_auth, nc->auth_file, err,
                    sizeof(err)) == -1) {
        log_warn("SIGHUP: %s; the configuration in force stays", err);
        goto fail_links;
    }
    if (balancer_reconfigure(&app.bal, n, ratio) == -1) {
        log_warn("SIGHUP: the ratios add up to more than %d; the configuration in force stays",
                 BALANCER_MAX_SLOTS);
        access_free(acc);
        goto fail_links;
    }
    /* Committed from here on. */
    for (unsigned i = 0; i < n; i++) {
        if (i >= app.n_links)
            added++;
        else if (ratio[i] == 0)
            drained++;
        if (ratio[i] > 0)
            app.links[i].spec.ratio = ratio[i]; /* read on this loop only (adaptive prior) */
    }
    app.n_links = n;
    app.health.n_links = n;
    app.health.ad.n = n;
    if (balancer_set_policy(&app.bal, (enum balancer_policy)nc->policy, old->sticky_ttl_ms,
                            BALANCER_STICKY_ENTRIES) == -1)
        log_warn("SIGHUP: out of memory for -policy sticky; the policy in force stays");
    app.health.adaptive = nc->policy == POLICY_ADAPTIVE;
    dialer_set_race_delay(nc->race_delay_ms);
    r->cfg = (struct config *)old;
    r->access = atomic_exchange(&app.sh.access, acc);
    r->next = app.retired;
    app.retired = r;
    atomic_store(&app.sh.cfg, nc);
    log_info("Reloaded%s%s: %u links (%u new, %u draining), policy %s", old->config_file ? " " : "",
             old->config_file ? old->config_file : "", nc->n_links, added, drained,
             balancer_policy_name((enum balancer_policy)nc->policy));
    for (unsigned i = 0; i < n; i++)
        log_info("Load balancer %u: %s, contention ratio: %u%s", i + 1, app.links[i].label,
                 ratio[i], ratio[i] == 0 ? " (draining)" : "");
    return;

fail_links:
    for (unsigned i = app.n_links; i < n; i++)
        link_destroy(&app.links[i]);
fail:
    if (nc != NULL)
        options_free(nc);
    free(nc);
    free(acc);
    free(r);
}

static void
free_retired(void)
{
    while (app.retired != NULL) {
        struct retired *r = app.retired;

        app.retired = r->next;
        if (r->access != &app.access) {
            access_free(r->access);
            free(r->access);
        }
        if (r->cfg != &app.cfg) {
            options_free(r->cfg);
            free(r->cfg);
        }
        free(r);
    }
}

static void
signal_cb(struct loop_io *io, unsigned events)
{
    enum os_signal sig;

    DP_UNUSED(events);
    while ((sig = os_signals_read(io->fd)) != OS_SIGNAL_NONE) {
        if (sig == OS_SIGNAL_RELOAD) {
            reload();
            continue;
        }
        log_info("Signal %s received, shutting down", os_signals_last_name());
        for (unsigned i = 0; i < app.n_servers; i++)
            server_stop(&app.servers[i]);
    }
}

/* -user: once the listener is bound and the fd limit raised, give up root for good.
 * Nothing later needs privileges: SO_BINDTODEVICE is open to ordinary users since
 * Linux 5.7. Returns 0 or -1 (message printed). */
static int
drop_privileges(const char *user)
{
    char err[200];

    if (user[0] == '\0') {
        if (os_is_privileged())
            log_warn("%s", OS_PRIVILEGED_ADVICE);
        return 0;
    }
    if (os_drop_privileges(user, err, sizeof(err)) == -1) {
        fprintf(stderr, "dispatch-proxy: %s\n", err);
        return -1;
    }
    log_info("Running as user %s", user);
    return 0;
}

static void *
server_thread(void *arg)
{
    struct server *srv = arg;
    if (server_run(srv) == -1)
        log_error("event loop failed: %s", os_strerror(os_errno()));
    bufpool_trim();
#if OS_HAVE_SPLICE
    os_pipe_trim();
#endif
    return NULL;
}

/* No link named: every interface with a default route. Returns 0 or -1. */
static int
default_links(struct config *cfg)
{
    char names[LINK_MAX][OS_IFNAME_MAX], err[200];
    int n = iface_default_route_ifaces(names, LINK_MAX);

    if (n <= 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (link_parse_spec(names[i], &cfg->links[cfg->n_links], err, sizeof(err)) == -1)
            continue;
        cfg->n_links++;
    }
    return 0;
}

/* Chooses the links: the ones named, or every interface with a default route. */
static int
setup_links(struct config *cfg)
{
    char err[200];

    if (cfg->n_links == 0) {
        if (default_links(cfg) == -1) {
            fprintf(stderr, "dispatch-proxy: no interface is up with a default route; name "
                            "the links on the command line (see dispatch-proxy -list)\n");
            return -1;
        }
        log_info("No links given: using every interface with a default route");
    }
    for (unsigned i = 0; i < cfg->n_links; i++) {
        if (link_init(&app.links[i], &cfg->links[i], err, sizeof(err)) == -1) {
            fprintf(stderr, "dispatch-proxy: bad link \"%s\": %s\n",
                    app.links[i].label[0] ? app.links[i].label : "?", err);
            return -1;
        }
    }
    app.n_links = cfg->n_links;
    if (balancer_init(&app.bal, app.links, cfg->n_links) == -1) {
        fprintf(stderr, "dispatch-proxy: the ratios add up to more than %d\n", BALANCER_MAX_SLOTS);
        return -1;
    }
    for (unsigned i = 0; i < cfg->n_links; i++)
        log_info("Load balancer %u: %s, contention ratio: %u", i + 1, app.links[i].label,
                 cfg->links[i].ratio);
    return 0;
}

/* -status HOST:PORT: the status page's listener, guarded like the proxy's own (not on a
 * reachable address without -auth or -allow, unless -open). Checked before anything
 * starts; returns 0 or -1 (said why). */
static int
check_status_page(const struct config *cfg)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char host[64];
    uint16_t port;
    int exposed = 1;

    if (cfg->status_listen[0] == '\0')
        return 0;
    if (options_parse_hostport(cfg->status_listen, host, sizeof(host), &port) == -1)
        return -1; /* checked by the option already */
    if (getaddrinfo(host, NULL, &hints, &res) == 0) {
        exposed = access_exposure(res->ai_addr) != ACCESS_LOOPBACK;
        freeaddrinfo(res);
    }
    if (exposed && !access_guarded(cfg) && !cfg->open) {
        fprintf(stderr,
                "dispatch-proxy: refusing -status %s without -auth or -allow: anyone who can "
                "reach it could read the status and drain links; add -auth or -allow, listen "
                "on loopback, or -open to accept that\n",
                cfg->status_listen);
        return -1;
    }
    return 0;
}

/* Opens the -status listener on loop 0 (before privileges are dropped). 0 or -1. */
static int
start_status_page(const struct config *cfg)
{
    char host[64], err[300];
    uint16_t port;

    if (cfg->status_listen[0] == '\0')
        return 0;
    if (options_parse_hostport(cfg->status_listen, host, sizeof(host), &port) == -1 ||
        admin_start(&app.admin, &app.status, app.servers[0].loop, host, port, err, sizeof(err)) ==
            -1) {
        fprintf(stderr, "dispatch-proxy: %s\n", err);
        return -1;
    }
    {
        struct sockaddr_storage bound;
        socklen_t len = sizeof(bound);

        if (os_getsockname(app.admin.fd, &bound, &len) == 0)
            access_self_add((struct sockaddr *)&bound);
    }
    return 0;
}

/* -dns auto: 1 when the system names its own DNS servers for every local link (then
 * per-link DNS can ask each link's servers through it), and the log says which. */
static int
links_have_own_dns(void)
{
    struct sockaddr_storage ss[DNS_SERVERS_MAX];
    unsigned local = 0, known = 0;

    for (unsigned i = 0; i < app.n_links; i++)
        if (app.links[i].spec.kind != LINK_PROXY) {
            local++;
            known += link_sys_dns(&app.links[i], ss, DNS_SERVERS_MAX) > 0;
        }
    if (local == 0 || known < local)
        return 0;
    for (unsigned i = 0; i < app.n_links; i++) {
        char list[256];

        if (app.links[i].spec.kind != LINK_PROXY)
            log_info("DNS: link %s asks %s (the system's servers for its interface)",
                     app.links[i].label,
                     log_sockaddr_list(list, sizeof(list), ss,
                                       link_sys_dns(&app.links[i], ss, DNS_SERVERS_MAX)));
    }
    return 1;
}

/* -dns: the per-link resolver's servers, search list and hosts file (read once, here),
 * unless getaddrinfo is chosen ("system", or "auto" where the system does not say which
 * servers belong to which link). Returns 0, or -1 (one-line message printed). */
static int
setup_dns(struct config *cfg)
{
    struct dns_server_spec items[DNS_SPEC_MAX + LINK_MAX * DNS_SERVERS_MAX];
    char err[300];
    int n = dns_parse_servers(cfg->dns, items, DNS_SPEC_MAX, err, sizeof(err));

    /* Each link's own "/dns=" servers, as if given as -dns LINK=ADDR. */
    for (unsigned i = 0; n >= 0 && i < app.n_links; i++) {
        const struct link *l = &app.links[i];
        int k;

        if (l->spec.dns[0] == '\0')
            continue; /* (cli_parse refuses /dns= with -dns system) */
        k = dns_parse_servers(l->spec.dns, &items[n], DNS_SERVERS_MAX, err, sizeof(err));
        for (int j = 0; j < k; j++)
            snprintf(items[n + j].link, sizeof(items[n + j].link), "%s", l->label);
        n = k < 0 ? k : n + k;
    }
    if (n == 0 && (strcmp(cfg->dns, "system") == 0 || !links_have_own_dns())) {
        log_info("DNS: the system resolver (getaddrinfo), whatever the link (-dns %s%s)", cfg->dns,
                 strcmp(cfg->dns, "auto") == 0
                     ? ": the system does not say which name servers belong to which link; "
                       "-dns ADDR or LINK=ADDR asks servers through the links"
                     : "");
        return 0;
    }
    if (n < 0 || dns_settings_init(&app.dns, items, (unsigned)n, app.links, app.n_links, err,
                                   sizeof(err)) == -1) {
        fprintf(stderr, "dispatch-proxy: %s\n", err);
        return -1;
    }
    app.sh.dns = &app.dns;
    return 0;
}

/* Policy, link health settings, probe target (resolved once, here). */
static int
setup_health(struct config *cfg)
{
    char err[300];

    health_init(&app.health);
    if (cfg->probe[0] != '\0' &&
        health_set_probe(&app.health, cfg->probe, err, sizeof(err)) == -1) {
        fprintf(stderr, "dispatch-proxy: %s\n", err);
        return -1;
    }
    app.health.probe_up = cfg->probe_up;
    app.health.probe_interval_ms = cfg->probe_interval_ms;
    app.health.probe_timeout_ms = cfg->connect_timeout_ms < cfg->probe_interval_ms
                                      ? cfg->connect_timeout_ms
                                      : cfg->probe_interval_ms;
    app.health.adaptive = cfg->policy == POLICY_ADAPTIVE;
    for (unsigned i = 0; i < cfg->n_links; i++) {
        app.links[i].index = i;
        app.links[i].fail_threshold = cfg->fail_threshold;
        app.links[i].trials = !app.health.probing; /* no probe: real connections retry */
    }
    if (balancer_set_policy(&app.bal, (enum balancer_policy)cfg->policy, cfg->sticky_ttl_ms,
                            BALANCER_STICKY_ENTRIES) == -1) {
        fprintf(stderr, "dispatch-proxy: out of memory\n");
        return -1;
    }
    dialer_set_race_delay(cfg->race_delay_ms);
    if (cfg->policy != POLICY_WRR)
        log_info("Policy: %s", balancer_policy_name((enum balancer_policy)cfg->policy));
    return 0;
}

/* One event loop per thread. Each loop gets a listener of its own (SO_REUSEPORT: the
 * kernel spreads new connections over them, no lock, no hand-off) where the platform
 * balances that way; elsewhere (ENOPROTOOPT: Windows, macOS, the PORTABLE build) every loop
 * watches loop 0's listener and accepts from it (one wakes, the others find nothing), and
 * loop 0 closes it once all have stopped. Outside -tunnel, where clients speak first, the
 * listeners defer accept until the first bytes (a tunnelled protocol may wait for the
 * server to speak). Fills bound with the address listened on (the port the kernel picked
 * for -lport 0). Returns 0, or -1 (message printed). */
static int
start_servers(struct config *cfg, struct sockaddr_storage *bound)
{
    int defer = !cfg->tunnel, shared = 0;
    socklen_t len = sizeof(*bound);
    os_sock lfd = server_listen(cfg->listen_host, cfg->listen_port, cfg->threads > 1, &defer);

    if (lfd == OS_SOCK_INVALID && cfg->threads > 1 && os_errno() == ENOPROTOOPT) {
        shared = 1;
        lfd = server_listen(cfg->listen_host, cfg->listen_port, 0, &defer);
    }
    if (lfd == OS_SOCK_INVALID) {
        fprintf(stderr, "dispatch-proxy: cannot listen on %s:%u: %s\n", cfg->listen_host,
                cfg->listen_port, os_strerror(os_errno()));
        return -1;
    }
    /* With -lport 0 the kernel picked the port; the other loops' listeners need it too. */
    os_getsockname(lfd, bound, &len);
    cfg->listen_port =
        ntohs(bound->ss_family == AF_INET6 ? ((struct sockaddr_in6 *)bound)->sin6_port
                                           : ((struct sockaddr_in *)bound)->sin_port);
    for (unsigned i = 0; i < cfg->threads; i++) {
        enum server_listener role = shared ? SERVER_LISTENER_SHARED : SERVER_LISTENER_OWN;
        os_sock fd = lfd;
        int d = defer;

        if (i == 0 && shared)
            role = SERVER_LISTENER_OWNER;
        else if (i > 0 && !shared)
            fd = server_listen(cfg->listen_host, cfg->listen_port, 1, &d);
        if (fd == OS_SOCK_INVALID || server_init(&app.servers[i], &app.sh, fd, role) == -1) {
            fprintf(stderr, "dispatch-proxy: cannot start event loop %u: %s\n", i,
                    os_strerror(os_errno()));
            return -1;
        }
        app.servers[i].read_at_accept = d;
        app.n_servers++;
    }
    if (shared)
        log_info("%u event loops share one listener (no SO_REUSEPORT here)", cfg->threads);
    return 0;
}

int
main(int argc, char **argv)
{
    struct config *cfg = &app.cfg;
    char err[256];
    os_sock sfd;
    struct sockaddr_storage ss;
    char host[INET6_ADDRSTRLEN];
    int status = 0;
    unsigned long nofile;

    if (os_init() == -1) {
        fprintf(stderr, "dispatch-proxy: cannot initialise the network stack\n");
        return 1;
    }
    app.argc = argc;
    app.argv = argv;
    cli_defaults(cfg);
    switch (cli_parse(argc, argv, cfg, err, sizeof(err))) {
    case CLI_EXIT:
        return 0;
    case CLI_ERROR:
        fprintf(stderr, "dispatch-proxy: %s\n", err);
        options_free(cfg);
        return cfg->check_config ? 1 : 2; /* -check-config: 1 like nginx -t */
    case CLI_RUN:
        break;
    }
    if (cfg->check_config) {
        printf("dispatch-proxy: configuration %s is valid (%u links)\n",
               cfg->config_file != NULL ? cfg->config_file : "(command line)", cfg->n_links);
        options_free(cfg);
        return 0;
    }
    if (cfg->list)
        return iface_list(stdout) == 0 ? 0 : 1;
    log_threshold = cfg->verbosity < 0 ? LOG_WARN : (enum log_level)(LOG_INFO + cfg->verbosity);

    if (setup_access(cfg) == -1 || check_status_page(cfg) == -1 || setup_links(cfg) == -1 ||
        setup_health(cfg) == -1 || setup_dns(cfg) == -1)
        return 2;

    nofile = os_raise_fd_limit();
    if (cfg->max_clients == 0)
        cfg->max_clients =
            nofile > FDS_RESERVED + 32 ? (unsigned)((nofile - FDS_RESERVED) / 2) : 16;
    if (cfg->threads == 0) {
        unsigned cpus = os_cpu_count();
        cfg->threads = cpus < CFG_THREADS_AUTO_MAX ? cpus : CFG_THREADS_AUTO_MAX;
    }

    relay_set_splice(!cfg->no_splice);
    /* Before any thread starts: POSIX blocks the signals in every thread we start. */
    sfd = os_signals_open();
    if (sfd == OS_SOCK_INVALID) {
        fprintf(stderr, "dispatch-proxy: cannot catch signals: %s\n", os_strerror(os_errno()));
        return 1;
    }

    app.sh.cfg = cfg;
    app.sh.bal = &app.bal;
    app.sh.resolver = resolver_new(RESOLVER_THREADS);
    if (app.sh.resolver == NULL) {
        fprintf(stderr, "dispatch-proxy: cannot start resolver threads\n");
        return 1;
    }

    app.servers = calloc(cfg->threads, sizeof(*app.servers));
    app.threads = calloc(cfg->threads, sizeof(*app.threads));
    if (app.servers == NULL || app.threads == NULL) {
        fprintf(stderr, "dispatch-proxy: out of memory\n");
        return 1;
    }
    if (start_servers(cfg, &ss) == -1)
        return 1;
    if (open_proxy_refused(cfg, (struct sockaddr *)&ss)) /* the name now means another */
        return 2;
    access_self_add((struct sockaddr *)&ss);
    status_init(&app.status, app.links, &app.bal, &app.sh, app.servers, app.n_servers);
    status_start(&app.status, app.servers[0].loop, log_threshold >= LOG_DEBUG);
    if (start_status_page(cfg) == -1)
        return 1;
    if (drop_privileges(cfg->user) == -1)
        return 2;
    if (!dialer_binds_device())
        log_warn("this build does not bind sockets to interfaces (NOBIND): Linux may "
                 "send connections out of the wrong uplink");
    inet_ntop(ss.ss_family,
              ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                       : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
              host, sizeof(host));
    if (!access_guarded(cfg) && access_exposure((struct sockaddr *)&ss) != ACCESS_LOOPBACK)
        log_warn("listening on %s without -auth or -allow: anyone who can reach it can "
                 "use this proxy to reach any host through your links (an open proxy)",
                 host);
    log_info("SOCKS server started at %s%s%s:%u (%u event loop%s)",
             ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "",
             cfg->listen_port, app.n_servers, app.n_servers == 1 ? "" : "s");

    loop_io_init(&app.signal_io, sfd, signal_cb);
    loop_io_set(app.servers[0].loop, &app.signal_io, LOOP_READ);
    app.health.resolver = app.sh.resolver;
    health_start(&app.health, app.servers[0].loop, &app.bal);

    for (unsigned i = 1; i < app.n_servers; i++)
        pthread_create(&app.threads[i], NULL, server_thread, &app.servers[i]);
    if (server_run(&app.servers[0]) == -1) {
        log_error("event loop failed: %s", os_strerror(os_errno()));
        status = 1;
    }
    for (unsigned i = 1; i < app.n_servers; i++)
        pthread_join(app.threads[i], NULL);

    loop_io_stop(app.servers[0].loop, &app.signal_io);
    os_signals_close(sfd);
    admin_stop(&app.admin);
    status_log_lines(&app.status, LOG_DEBUG);
    status_stop(&app.status);
    health_stop(&app.health);
    balancer_destroy(&app.bal);
    dns_settings_free(&app.dns);
    {
        struct access *acc = atomic_load(&app.sh.access);
        const struct config *now = atomic_load(&app.sh.cfg);

        if (acc != &app.access) {
            access_free(acc);
            free(acc);
        }
        access_free(&app.access);
        if (now != cfg) {
            options_free((struct config *)now);
            free((struct config *)now);
        }
        free_retired();
    }
    for (unsigned i = 0; i < app.n_servers; i++)
        server_destroy(&app.servers[i]);
    resolver_free(app.sh.resolver); /* after the sessions: they may cancel lookups */
    for (unsigned i = 0; i < app.n_links; i++)
        link_destroy(&app.links[i]);
    bufpool_trim();
#if OS_HAVE_SPLICE
    os_pipe_trim();
#endif
    free(app.servers);
    free(app.threads);
    options_free(cfg);
    os_cleanup();
    return status;
}
