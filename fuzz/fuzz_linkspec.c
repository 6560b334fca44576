/* libFuzzer harness for link_parse_spec (src/link.c): LINK[@RATIO] from the command line.
 *
 * Input: the spec's bytes (an embedded NUL ends the C string, as in argv).
 * Invariants (abort() when broken):
 * - returns 0 or -1, the same whatever the size of the error buffer;
 * - on -1: the reason is NUL-terminated inside the buffer (ASan watches the bytes past
 *   it) and is one printable line, even when the spec holds control bytes;
 * - a proxy URL (SCHEME://...) parses to a host, port 1..65535, credentials under 256
 *   bytes; its label plus @ratio parses back to the same upstream; link_redact() of a
 *   spec does not depend on the password: another password of the same shape (written
 *   as is) redacts to the same line. (Counting the password in the output is not enough:
 *   the user name plus the ":***" mask may spell it, as in "u0X:X:*@host".)
 * - on 0: ratio 1..1000; a "/dns=" value gives 1..4 servers and no LINK=; an interface name is
 * NUL-terminated, 1..OS_IFNAME_MAX-1 bytes of [A-Za-z0-9._:-]; and the canonical spelling
 * (inet_ntop or the name, then @ratio) parses back to the same link. */
#include <arpa/inet.h>
#include <string.h>

#include "dns_resolver.h"
#include "fuzz.h"
#include "link.h"

static int
parse(const char *spec, struct link_spec *out, size_t errlen)
{
    char *err = malloc(errlen ? errlen : 1);
    int rc;

    FUZZ_CHECK(err != NULL);
    memset(err, 'X', errlen ? errlen : 1);
    rc = link_parse_spec(spec, out, err, errlen);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == -1 && errlen > 0) {
        FUZZ_CHECK(fuzz_terminated(err, errlen));
        for (const char *c = err; *c != '\0'; c++)
            FUZZ_CHECK(*c >= 0x20 && *c <= 0x7e);
    }
    free(err);
    return rc;
}

static int
name_char(char c)
{
    /* Interface names, and Windows friendly names ("Wi-Fi 2", "vEthernet (WSL)"). */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == ':' || c == ' ' || c == '(' || c == ')' || c == '*' ||
           c == '#' || c == '&' || c == '+' || c == ',' || (unsigned char)c >= 0x80;
}

static void
check_spec(const struct link_spec *s)
{
    char canon[OS_IFNAME_MAX + 16], text[OS_IFNAME_MAX];
    struct link_spec again;
    size_t len;

    FUZZ_CHECK(s->ratio >= 1 && s->ratio <= 1000);
    /* "/dns=": 1..DNS_SERVERS_MAX servers the resolver takes, for this link only. */
    FUZZ_CHECK(fuzz_terminated(s->dns, sizeof(s->dns)));
    if (s->dns[0] != '\0') {
        struct dns_server_spec items[DNS_SERVERS_MAX];
        char why[200];
        int k = dns_parse_servers(s->dns, items, DNS_SERVERS_MAX, why, sizeof(why));

        FUZZ_CHECK(s->kind != LINK_PROXY && k >= 1 && k <= DNS_SERVERS_MAX);
        for (int i = 0; i < k; i++)
            FUZZ_CHECK(items[i].link[0] == '\0');
    }
    switch (s->kind) {
    case LINK_ADDR4:
        FUZZ_CHECK(inet_ntop(AF_INET, &s->addr4, text, sizeof(text)) != NULL);
        break;
    case LINK_ADDR6:
        FUZZ_CHECK(inet_ntop(AF_INET6, &s->addr6, text, sizeof(text)) != NULL);
        break;
    case LINK_IFACE:
        FUZZ_CHECK(fuzz_terminated(s->name, sizeof(s->name)));
        len = strlen(s->name);
        FUZZ_CHECK(len >= 1 && len < OS_IFNAME_MAX);
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK(name_char(s->name[i]));
        FUZZ_CHECK(s->name[0] != ' ' && s->name[len - 1] != ' ');
        memcpy(text, s->name, len + 1);
        break;
    case LINK_PROXY: {
        const struct link_upstream *up = &s->up;
        char url[LINK_HOST_MAX + 64], label[LINK_HOST_MAX + 32];

        FUZZ_CHECK(up->port >= 1);
        FUZZ_CHECK(fuzz_terminated(up->host, sizeof(up->host)) && up->host[0] != '\0');
        FUZZ_CHECK(up->user_len < LINK_CRED_MAX && up->pass_len < LINK_CRED_MAX);
        FUZZ_CHECK(up->scheme >= LINK_SCHEME_SOCKS5 && up->scheme <= LINK_SCHEME_HTTP);
        /* Without credentials and options, the label and the ratio parse back. */
        link_proxy_label(s, label, sizeof(label));
        snprintf(url, sizeof(url), "%s@%u", label, s->ratio);
        FUZZ_CHECK(parse(url, &again, 160) == 0);
        FUZZ_CHECK(again.kind == LINK_PROXY && again.ratio == s->ratio);
        FUZZ_CHECK(again.up.port == up->port && strcmp(again.up.host, up->host) == 0);
        FUZZ_CHECK(again.up.literal == up->literal);
        return;
    }
    default:
        FUZZ_CHECK(!"unknown link kind");
        return;
    }
    snprintf(canon, sizeof(canon), "%s@%u", text, s->ratio);
    FUZZ_CHECK(parse(canon, &again, 160) == 0);
    FUZZ_CHECK(again.kind == s->kind && again.ratio == s->ratio);
    if (s->kind == LINK_ADDR4)
        FUZZ_CHECK(memcmp(&again.addr4, &s->addr4, sizeof(s->addr4)) == 0);
    else if (s->kind == LINK_ADDR6)
        FUZZ_CHECK(memcmp(&again.addr6, &s->addr6, sizeof(s->addr6)) == 0);
    else
        FUZZ_CHECK(strcmp(again.name, s->name) == 0);
}

/* Where the parsed password sits in the spec as written: after a ':' and before an '@'
 * (NULL when it was percent-encoded, so no such place exists). */
static char *
pass_in_spec(char *spec, const char *pass, size_t len)
{
    char *last = NULL;

    for (char *p = strstr(spec, pass); p != NULL; p = strstr(p + 1, pass))
        if (p > spec && p[-1] == ':' && p[len] == '@')
            last = p;
    return last;
}

/* The same password shape with other bytes: separators stay, digits stay digits. */
static void
swap_pass(char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (strchr(":@/%", p[i]) != NULL)
            continue;
        if (p[i] >= '0' && p[i] <= '9')
            p[i] = p[i] == '0' ? '1' : '0';
        else
            p[i] = p[i] == 'a' ? 'b' : 'a';
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    struct link_spec a, b;
    int rc;

    FUZZ_CHECK(spec != NULL);
    memcpy(spec, data, size);
    spec[size] = '\0';

    rc = parse(spec, &a, 160);
    if (rc == 0)
        check_spec(&a);
    {
        /* Redaction: one line, and a URL password never survives it. */
        char shown[128];

        link_redact(spec, shown, sizeof(shown));
        FUZZ_CHECK(fuzz_terminated(shown, sizeof(shown)));
        if (rc == 0 && a.kind == LINK_PROXY && a.up.pass_len > 0 && a.up.auth_file[0] == '\0') {
            char *at = pass_in_spec(spec, a.up.pass, a.up.pass_len);

            if (at != NULL) {
                char other[128];

                /* Only when the swap hit the password (the same user and host parse
                 * back): the spec may hold the password's bytes elsewhere too. */
                swap_pass(at, a.up.pass_len);
                if (parse(spec, &b, 160) == 0 && b.kind == LINK_PROXY &&
                    strcmp(b.up.user, a.up.user) == 0 && strcmp(b.up.host, a.up.host) == 0 &&
                    b.up.port == a.up.port && strcmp(b.up.pass, a.up.pass) != 0) {
                    link_redact(spec, other, sizeof(other));
                    FUZZ_CHECK(strcmp(shown, other) == 0);
                }
                memcpy(at, a.up.pass, a.up.pass_len); /* the spec as it was, for the rest */
            }
        }
    }
    /* A short error buffer: truncation, never an overflow or a different answer. */
    FUZZ_CHECK(parse(spec, &b, size % 24) == rc);
    FUZZ_CHECK(parse(spec, &b, 0) == rc);
    free(spec);
    return 0;
}
