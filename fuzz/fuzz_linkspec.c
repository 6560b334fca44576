/* libFuzzer harness for link_parse_spec (src/link.c): LINK[@RATIO] from the command line.
 *
 * Input: the spec's bytes (an embedded NUL ends the C string, as in argv).
 * Invariants (abort() when broken):
 * - returns 0 or -1, the same whatever the size of the error buffer;
 * - on -1: the reason is NUL-terminated inside the buffer (ASan watches the bytes past
 *   it) and is one printable line, even when the spec holds control bytes;
 * - a proxy URL (SCHEME://...) parses to a host, port 1..65535, credentials under 256
 *   bytes; its label plus @ratio parses back to the same upstream; link_redact() of a
 *   spec shows a password (8 bytes or more, written as is) fewer times than the spec;
 * - on 0: ratio 1..1000; an interface name is NUL-terminated, 1..OS_IFNAME_MAX-1 bytes of
 *   [A-Za-z0-9._:-]; and the canonical spelling (inet_ntop or the name, then @ratio)
 *   parses back to the same link. */
#include <arpa/inet.h>
#include <string.h>

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

/* Occurrences of needle in s (overlapping ones too). */
static size_t
count(const char *s, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
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
        if (rc == 0 && a.kind == LINK_PROXY && a.up.pass_len >= 8 && a.up.auth_file[0] == '\0' &&
            strstr(spec, a.up.pass) != NULL)
            FUZZ_CHECK(count(shown, a.up.pass) < count(spec, a.up.pass));
    }
    /* A short error buffer: truncation, never an overflow or a different answer. */
    FUZZ_CHECK(parse(spec, &b, size % 24) == rc);
    FUZZ_CHECK(parse(spec, &b, 0) == rc);
    free(spec);
    return 0;
}
