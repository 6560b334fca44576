#include "dns.h"

#include <string.h>

#include "common.h"
#include "os.h"

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Names compare without regard to ASCII case (RFC 4343). Length bytes are at most 63,
 * below 'A', so lowering the whole wire form touches label bytes only. */
static void
lower(uint8_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (w[i] >= 'A' && w[i] <= 'Z')
            w[i] = (uint8_t)(w[i] + ('a' - 'A'));
}

/* The length of a valid wire name at w (its labels and the zero byte within
 * DNS_NAME_WIRE_MAX, no pointers), or 0. */
static size_t
wire_len(const uint8_t *w)
{
    size_t n = 0;

    while (n < DNS_NAME_WIRE_MAX) {
        uint8_t c = w[n];

        if (c == 0)
            return n + 1;
        if (c > DNS_LABEL_MAX || n + 1 + c >= DNS_NAME_WIRE_MAX)
            return 0;
        n += 1 + (size_t)c;
    }
    return 0;
}

size_t
dns_name_to_wire(const char *name, uint8_t out[DNS_NAME_WIRE_MAX])
{
    size_t n = 0, label = 0; /* out[label] is the current label's length byte */
    const char *p = name;

    if (*p == '\0' || (p[0] == '.' && p[1] == '\0'))
        return 0;
    out[0] = 0;
    n = 1;
    for (; *p != '\0'; p++) {
        if (*p == '.') {
            if (out[label] == 0)
                return 0; /* empty label */
            if (p[1] == '\0')
                break; /* the final dot of an absolute name */
            if (n >= DNS_NAME_WIRE_MAX - 1)
                return 0;
            label = n++;
            out[label] = 0;
            continue;
        }
        if (out[label] == DNS_LABEL_MAX || n >= DNS_NAME_WIRE_MAX - 1)
            return 0;
        out[n++] = (uint8_t)*p;
        out[label]++;
    }
    out[n++] = 0;
    return n;
}

size_t
dns_build_query(uint8_t *out, size_t cap, uint16_t id, const uint8_t *qname, uint16_t qtype,
                int edns)
{
    size_t nlen = wire_len(qname), n;

    if (nlen == 0 || nlen < 3)
        return 0;
    n = DNS_HEADER_LEN + nlen + 4 + (edns ? 11 : 0);
    if (n > cap)
        return 0;
    memset(out, 0, DNS_HEADER_LEN);
    put16(out, id);
    out[2] = 0x01; /* RD: the server recurses for us */
    put16(out + 4, 1);
    put16(out + 10, edns ? 1 : 0);
    memcpy(out + DNS_HEADER_LEN, qname, nlen);
    put16(out + DNS_HEADER_LEN + nlen, qtype);
    put16(out + DNS_HEADER_LEN + nlen + 2, DNS_CLASS_IN);
    if (edns) {
        uint8_t *o = out + DNS_HEADER_LEN + nlen + 4;

        o[0] = 0; /* the root name */
        put16(o + 1, DNS_TYPE_OPT);
        put16(o + 3, DNS_UDP_PAYLOAD); /* CLASS: our buffer size */
        memset(o + 5, 0, 6);           /* extended RCODE, version 0, no flags, RDLEN 0 */
    }
    return n;
}

/* Reads the name at off (following pointers) into wire, lowercased. *end: the offset
 * just after the name where it starts (after its first pointer, or its zero byte); lim
 * bounds that inline part (a name inside RDATA). Returns the wire length or -DNS_E_*. */
static int
read_name(const uint8_t *m, size_t lim, size_t off, uint8_t *wire, size_t *end)
{
    size_t pos = off, n = 0, before = off; /* pointers must land before `before` */
    int hops = 0, jumped = 0;

    for (;;) {
        uint8_t c;

        if (pos >= lim)
            return -DNS_E_SHORT;
        c = m[pos];
        if ((c & 0xC0) == 0xC0) {
            size_t to;

            if (pos + 1 >= lim)
                return -DNS_E_SHORT;
            to = ((size_t)(c & 0x3F) << 8) | m[pos + 1];
            if (!jumped)
                *end = pos + 2;
            jumped = 1;
            /* Only backwards, each jump before the last: no loop can form. */
            if (to >= before || ++hops > DNS_MAX_HOPS)
                return -DNS_E_NAME;
            before = to;
            pos = to;
            continue;
        }
        if (c & 0xC0)
            return -DNS_E_NAME; /* 0x40 / 0x80: obsolete label types */
        if (c == 0) {
            wire[n++] = 0;
            if (!jumped)
                *end = pos + 1;
            return (int)n;
        }
        if (pos + 1 + c > lim)
            return -DNS_E_SHORT;
        if (n + 1 + c + 1 > DNS_NAME_WIRE_MAX)
            return -DNS_E_NAME;
        memcpy(wire + n, m + pos, 1 + (size_t)c);
        lower(wire + n, 1 + (size_t)c);
        n += 1 + (size_t)c;
        pos += 1 + (size_t)c;
    }
}

/* Where each answer record of interest sits. */
struct rr {
    size_t owner; /* offset of the owner name */
    uint16_t type;
    uint32_t ttl;
    size_t rdata;
    uint16_t rdlen;
};

/* Reads the fixed part of the record whose owner name starts at *off. Advances *off past
 * the record. Returns 0, or -DNS_E_*. */
static int
read_rr(const uint8_t *m, size_t len, size_t *off, struct rr *rr, uint16_t *klass)
{
    uint8_t wire[DNS_NAME_WIRE_MAX];
    size_t end = 0;
    int rc = read_name(m, len, *off, wire, &end);
    uint32_t ttl;

    if (rc < 0)
        return rc;
    if (end + 10 > len)
        return -DNS_E_SHORT;
    rr->owner = *off;
    rr->type = get16(m + end);
    *klass = get16(m + end + 2);
    ttl = get32(m + end + 4);
    rr->ttl = ttl & 0x80000000u ? 0 : ttl; /* RFC 2181 8: "treated as zero" */
    rr->rdlen = get16(m + end + 8);
    rr->rdata = end + 10;
    if (rr->rdata + rr->rdlen > len)
        return -DNS_E_SHORT;
    *off = rr->rdata + rr->rdlen;
    return 0;
}

/* Checks what a record's data must look like for the types we read. */
static int
check_rdata(const uint8_t *m, const struct rr *rr, uint16_t klass)
{
    uint8_t wire[DNS_NAME_WIRE_MAX];
    size_t end = 0;
    int rc;

    if (klass != DNS_CLASS_IN)
        return 0;
    switch (rr->type) {
    case DNS_TYPE_A:
        return rr->rdlen == 4 ? 0 : -DNS_E_RDATA;
    case DNS_TYPE_AAAA:
        return rr->rdlen == 16 ? 0 : -DNS_E_RDATA;
    case DNS_TYPE_CNAME:
        rc = read_name(m, rr->rdata + rr->rdlen, rr->rdata, wire, &end);
        if (rc == -DNS_E_SHORT || (rc > 0 && end != rr->rdata + rr->rdlen))
            return -DNS_E_RDATA;
        return rc < 0 ? rc : 0;
    default:
        return 0;
    }
}

static int
owner_is(const uint8_t *m, size_t len, const struct rr *rr, const uint8_t *name, size_t nlen)
{
    uint8_t wire[DNS_NAME_WIRE_MAX];
    size_t end = 0;
    int rc = read_name(m, len, rr->owner, wire, &end);

    return rc > 0 && (size_t)rc == nlen && memcmp(wire, name, nlen) == 0;
}

static uint32_t
min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* Follows CNAMEs from qname, then collects the records of qtype at the chain's end. */
static int
read_answers(const uint8_t *m, size_t len, const struct rr *rrs, unsigned n_rrs,
             const uint8_t *qname, uint16_t qtype, struct dns_answer *out)
{
    uint8_t cur[DNS_NAME_WIRE_MAX];
    size_t clen = wire_len(qname);
    uint32_t ttl = DNS_TTL_UNKNOWN;

    memcpy(cur, qname, clen);
    lower(cur, clen);
    for (;;) {
        const struct rr *cn = NULL;

        for (unsigned i = 0; i < n_rrs && cn == NULL; i++)
            if (rrs[i].type == DNS_TYPE_CNAME && owner_is(m, len, &rrs[i], cur, clen))
                cn = &rrs[i];
        if (cn == NULL)
            break;
        if (out->n_cnames == DNS_MAX_CNAMES)
            return -DNS_E_CHAIN;
        size_t end = 0;
        int rc = read_name(m, cn->rdata + cn->rdlen, cn->rdata, cur, &end);
        if (rc < 0)
            return -DNS_E_RDATA; /* checked before: cannot happen */
        clen = (size_t)rc;
        ttl = min32(ttl, cn->ttl);
        out->n_cnames++;
    }
    for (unsigned i = 0; i < n_rrs; i++) {
        const struct rr *rr = &rrs[i];
        struct dns_addr *a;

        if (rr->type != qtype || !owner_is(m, len, rr, cur, clen))
            continue;
        ttl = min32(ttl, rr->ttl);
        if (out->n_addrs == DNS_MAX_ADDRS)
            continue;
        a = &out->addrs[out->n_addrs++];
        memset(a, 0, sizeof(*a));
        a->family = qtype == DNS_TYPE_A ? AF_INET : AF_INET6;
        memcpy(a->addr, m + rr->rdata, rr->rdlen);
    }
    if (out->n_addrs > 0)
        out->ttl = ttl;
    return 0;
}

int
dns_parse_answer(const uint8_t *msg, size_t len, uint16_t id, const uint8_t *qname, uint16_t qtype,
                 struct dns_answer *out)
{
    uint8_t wire[DNS_NAME_WIRE_MAX], want[DNS_NAME_WIRE_MAX];
    struct rr rrs[DNS_MAX_RRS];
    unsigned n_rrs = 0, an, ns, ar;
    size_t off, end = 0, qlen = wire_len(qname);
    uint32_t neg_ttl = DNS_TTL_UNKNOWN;
    int rc;

    if (qlen == 0 || (qtype != DNS_TYPE_A && qtype != DNS_TYPE_AAAA))
        return -DNS_E_QUESTION;
    if (len < DNS_HEADER_LEN)
        return -DNS_E_SHORT;
    if (get16(msg) != id)
        return -DNS_E_ID;
    if (!(msg[2] & 0x80) || (msg[2] & 0x78) != 0)
        return -DNS_E_NOT_ANSWER;
    memset(out, 0, sizeof(*out));
    out->ttl = DNS_TTL_UNKNOWN;
    out->rcode = msg[3] & 0x0F;
    out->truncated = (msg[2] & 0x02) != 0;
    out->authoritative = (msg[2] & 0x04) != 0;
    if (get16(msg + 4) != 1)
        return -DNS_E_QUESTION;
    an = get16(msg + 6);
    ns = get16(msg + 8);
    ar = get16(msg + 10);

    rc = read_name(msg, len, DNS_HEADER_LEN, wire, &end);
    if (rc < 0)
        return rc;
    if (end + 4 > len)
        return -DNS_E_SHORT;
    memcpy(want, qname, qlen);
    lower(want, qlen);
    if ((size_t)rc != qlen || memcmp(wire, want, qlen) != 0 || get16(msg + end) != qtype ||
        get16(msg + end + 2) != DNS_CLASS_IN)
        return -DNS_E_QUESTION;
    if (out->truncated)
        return 0;
    off = end + 4;

    for (unsigned i = 0; i < an + ns + ar; i++) {
        struct rr rr;
        uint16_t klass = 0;

        rc = read_rr(msg, len, &off, &rr, &klass);
        if (rc < 0)
            return rc;
        if (i < an) {
            rc = check_rdata(msg, &rr, klass);
            if (rc < 0)
                return rc;
            if (klass == DNS_CLASS_IN && n_rrs < DNS_MAX_RRS &&
                (rr.type == DNS_TYPE_CNAME || rr.type == qtype))
                rrs[n_rrs++] = rr;
        } else if (i < an + ns && rr.type == DNS_TYPE_SOA && klass == DNS_CLASS_IN) {
            /* MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM */
            size_t p = rr.rdata, lim = rr.rdata + rr.rdlen;

            for (int k = 0; k < 2; k++) {
                rc = read_name(msg, lim, p, wire, &p);
                if (rc < 0)
                    return -DNS_E_RDATA;
            }
            if (p + 20 != lim)
                return -DNS_E_RDATA;
            neg_ttl =
                min32(neg_ttl,
                      min32(rr.ttl, get32(msg + p + 16) & 0x80000000u ? 0 : get32(msg + p + 16)));
        }
    }
    rc = read_answers(msg, len, rrs, n_rrs, qname, qtype, out);
    if (rc < 0)
        return rc;
    if (out->n_addrs == 0)
        out->ttl = neg_ttl;
    return 0;
}

const char *
dns_error_text(int err)
{
    static const char *const text[] = {
        [DNS_E_SHORT] = "message ends early",
        [DNS_E_NOT_ANSWER] = "not an answer",
        [DNS_E_ID] = "another query's ID",
        [DNS_E_QUESTION] = "another question",
        [DNS_E_NAME] = "malformed name",
        [DNS_E_RDATA] = "malformed record data",
        [DNS_E_CHAIN] = "CNAME chain too long or looping",
    };

    if (err < 0)
        err = -err;
    if (err >= 1 && (size_t)err < ARRAY_SIZE(text) && text[err] != NULL)
        return text[err];
    return "malformed answer";
}

const char *
dns_rcode_text(int rcode)
{
    static const char *const text[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                       "NXDOMAIN", "NOTIMP",  "REFUSED"};

    if (rcode >= 0 && (size_t)rcode < ARRAY_SIZE(text))
        return text[rcode];
    return "error";
}
