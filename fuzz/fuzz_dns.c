/* libFuzzer harness for the DNS answer parser and query builder (src/proto/dns.c).
 *
 * Byte 0 chooses the mode.
 * - Even: the rest is an answer as a server could send it. The question asked is the
 *   one the message itself carries (its first name, read uncompressed, and its ID), so
 *   the fuzzer reaches the records; bit 1 picks A or AAAA.
 *   Invariants: the result is 0 or a documented -DNS_E_*; on 0 the header agrees (ID,
 *   QR, RCODE, TC), at most DNS_MAX_ADDRS addresses of the family asked, each one's bytes
 *   present in the message, at most DNS_MAX_CNAMES links, a TTL below 2^31 when there are
 *   addresses, nothing but the flag when truncated; the same answer for the question in
 *   upper case, and with junk appended after the message (records are counted, not read
 *   to the end).
 * - Odd: the rest describes an answer (a name, CNAME links, addresses with TTLs, record
 *   order) that the harness encodes with compression pointers; the parser must give back
 *   exactly what was encoded. The query built for the name must carry it byte for byte.
 * Every parse runs on a copy that ends where its allocation ends. */
#include <netinet/in.h>
#include <string.h>

#include "dns.h"
#include "fuzz.h"

struct outcome {
    int rc;
    struct dns_answer a;
};

static void
run(const uint8_t *msg, size_t len, uint16_t id, const uint8_t *q, uint16_t qtype,
    struct outcome *o)
{
    uint8_t *scratch = malloc(len ? len : 1);
    uint8_t *buf = fuzz_at_end(scratch, len ? len : 1, msg, len);

    FUZZ_CHECK(scratch != NULL);
    memset(o, 0, sizeof(*o));
    o->rc = dns_parse_answer(buf, len, id, q, qtype, &o->a);
    free(scratch);
    FUZZ_CHECK(o->rc == 0 || (o->rc <= -DNS_E_SHORT && o->rc >= -DNS_E_CHAIN));
}

static int
same(const struct outcome *x, const struct outcome *y)
{
    if (x->rc != y->rc)
        return 0;
    if (x->rc != 0)
        return 1;
    return x->a.rcode == y->a.rcode && x->a.truncated == y->a.truncated &&
           x->a.n_addrs == y->a.n_addrs && x->a.n_cnames == y->a.n_cnames && x->a.ttl == y->a.ttl &&
           memcmp(x->a.addrs, y->a.addrs, x->a.n_addrs * sizeof(x->a.addrs[0])) == 0;
}

/* The message's first name if it is a plain wire name (no pointer): its length, or 0. */
static size_t
question_of(const uint8_t *m, size_t len, uint8_t *q)
{
    size_t n = 0;

    while (DNS_HEADER_LEN + n < len && n < DNS_NAME_WIRE_MAX) {
        uint8_t c = m[DNS_HEADER_LEN + n];

        if (c == 0) {
            q[n++] = 0;
            return n >= 3 ? n : 0;
        }
        if (c > DNS_LABEL_MAX || n + 1 + c >= DNS_NAME_WIRE_MAX || DNS_HEADER_LEN + n + 1 + c > len)
            return 0;
        memcpy(q + n, m + DNS_HEADER_LEN + n, 1 + (size_t)c);
        n += 1 + (size_t)c;
    }
    return 0;
}

static void
raw(const uint8_t *m, size_t n, int aaaa)
{
    uint8_t q[DNS_NAME_WIRE_MAX], upper[DNS_NAME_WIRE_MAX];
    uint16_t qtype = aaaa ? DNS_TYPE_AAAA : DNS_TYPE_A, id;
    size_t qlen = question_of(m, n, q);
    struct outcome full, other;
    uint8_t *junk;

    if (qlen == 0)
        return;
    id = (uint16_t)((m[0] << 8) | m[1]);
    run(m, n, id, q, qtype, &full);
    if (full.rc == 0) {
        const struct dns_answer *a = &full.a;

        FUZZ_CHECK(n >= DNS_HEADER_LEN && (m[2] & 0x80));
        FUZZ_CHECK(a->rcode == (m[3] & 0x0F) && a->truncated == ((m[2] & 0x02) != 0));
        FUZZ_CHECK(a->n_addrs <= DNS_MAX_ADDRS && a->n_cnames <= DNS_MAX_CNAMES);
        if (a->truncated)
            FUZZ_CHECK(a->n_addrs == 0 && a->n_cnames == 0);
        if (a->n_addrs > 0)
            FUZZ_CHECK(a->ttl < 0x80000000u);
        for (unsigned i = 0; i < a->n_addrs; i++) {
            size_t alen = aaaa ? 16 : 4;

            FUZZ_CHECK(a->addrs[i].family == (aaaa ? AF_INET6 : AF_INET));
            FUZZ_CHECK(memmem(m, n, a->addrs[i].addr, alen) != NULL);
        }
    }
    /* The question in upper case gets the same answer. */
    memcpy(upper, q, qlen);
    for (size_t i = 0; i < qlen; i++)
        if (upper[i] >= 'a' && upper[i] <= 'z')
            upper[i] = (uint8_t)(upper[i] - 'a' + 'A');
    run(m, n, id, upper, qtype, &other);
    FUZZ_CHECK(same(&full, &other));
    /* Bytes after the counted records change nothing. */
    if (full.rc == 0) {
        junk = malloc(n + 7);
        FUZZ_CHECK(junk != NULL);
        memcpy(junk, m, n);
        memset(junk + n, 0xc0, 7);
        run(junk, n + 7, id, q, qtype, &other);
        FUZZ_CHECK(same(&full, &other));
        free(junk);
    }
}

/* ---- the structured mode: encode, parse, compare ---- */

struct cursor {
    const uint8_t *p;
    size_t n;
};

static uint8_t
take(struct cursor *c)
{
    if (c->n == 0)
        return 0;
    c->n--;
    return *c->p++;
}

static void
put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Name i of the chain: 0 is the question's (a pointer to it), i > 0 is "c<i>" + it. */
static size_t
put_name(uint8_t *m, size_t n, unsigned i)
{
    if (i > 0) {
        m[n++] = 2;
        m[n++] = 'c';
        m[n++] = (uint8_t)('0' + i);
    }
    put16(m + n, 0xC000 | DNS_HEADER_LEN);
    return n + 2;
}

/* TYPE CLASS TTL RDLENGTH after an owner name. */
static size_t
rr_fixed(uint8_t *m, size_t n, unsigned type, uint32_t ttl, unsigned rdlen)
{
    put16(m + n, type);
    put16(m + n + 2, DNS_CLASS_IN);
    put16(m + n + 4, ttl >> 16);
    put16(m + n + 6, ttl & 0xFFFF);
    put16(m + n + 8, rdlen);
    return n + 10;
}

static void
structured(const uint8_t *data, size_t size)
{
    struct cursor c = {data, size};
    uint8_t flags = take(&c), q[DNS_NAME_WIRE_MAX], msg[4096], query[DNS_QUERY_MAX];
    int aaaa = flags & 1, reversed = flags & 2;
    unsigned n_cn = take(&c) % (DNS_MAX_CNAMES + 1), n_ad = take(&c) % (DNS_MAX_ADDRS + 4);
    uint16_t qtype = aaaa ? DNS_TYPE_AAAA : DNS_TYPE_A, id = (uint16_t)(take(&c) << 8 | take(&c));
    size_t qlen = 0, n, alen = aaaa ? 16 : 4, qn;
    uint32_t ttl_min = UINT32_MAX, ttls[DNS_MAX_CNAMES + DNS_MAX_ADDRS + 4];
    uint8_t addrs[DNS_MAX_ADDRS + 4][16];
    unsigned name_at[DNS_MAX_CNAMES + 1], n_rr = n_cn + n_ad;
    struct outcome o;

    /* The question: up to 4 labels of 1..20 letters. */
    for (unsigned l = 0, labels = 1 + take(&c) % 4; l < labels; l++) {
        unsigned ll = 1 + take(&c) % 20;

        q[qlen++] = (uint8_t)ll;
        for (unsigned i = 0; i < ll; i++)
            q[qlen++] = (uint8_t)('a' + take(&c) % 26);
    }
    q[qlen++] = 0;
    for (unsigned i = 0; i < n_rr; i++) {
        ttls[i] = (uint32_t)take(&c) << 8 | take(&c);
        if (i >= n_cn || n_ad > 0)
            ttl_min = ttls[i] < ttl_min ? ttls[i] : ttl_min;
        if (i >= n_cn)
            for (size_t k = 0; k < alen; k++)
                addrs[i - n_cn][k] = take(&c);
    }

    qn = dns_build_query(query, sizeof(query), id, q, qtype, flags & 4);
    FUZZ_CHECK(qn == DNS_HEADER_LEN + qlen + 4 + (flags & 4 ? 11 : 0));
    FUZZ_CHECK(memcmp(query + DNS_HEADER_LEN, q, qlen) == 0 && query[0] == (id >> 8));

    /* Header and question, then the records: CNAME i turns name i into "c<i>" + a
     * pointer to the question's name; addresses hang off the last name. */
    memcpy(msg, query, DNS_HEADER_LEN + qlen + 4);
    msg[2] = 0x81;
    msg[3] = 0x80;
    put16(msg + 6, n_rr);
    put16(msg + 10, 0);
    n = DNS_HEADER_LEN + qlen + 4;
    name_at[0] = DNS_HEADER_LEN;
    /* Records in chain order (owners are pointers to the previous CNAME's data) or
     * reversed (owners written out, since a pointer may only point backwards): the
     * parser must not care about the order. */
    for (unsigned k = 0; k < n_rr; k++) {
        unsigned i = reversed ? n_rr - 1 - k : k, owner = i < n_cn ? i : n_cn;
        size_t start = n;

        if (reversed) {
            n = put_name(msg, n, owner);
            n = rr_fixed(msg, n, i < n_cn ? DNS_TYPE_CNAME : qtype, ttls[i],
                         i < n_cn ? 5 : (unsigned)alen);
        } else {
            put16(msg + n, 0xC000 | name_at[owner]);
            n = rr_fixed(msg, n + 2, i < n_cn ? DNS_TYPE_CNAME : qtype, ttls[i],
                         i < n_cn ? 5 : (unsigned)alen);
        }
        if (i < n_cn) {
            name_at[i + 1] = (unsigned)n;
            n = put_name(msg, n, i + 1);
        } else {
            memcpy(msg + n, addrs[i - n_cn], alen);
            n += alen;
        }
        FUZZ_CHECK(n > start && n < sizeof(msg));
    }
    run(msg, n, id, q, qtype, &o);
    FUZZ_CHECK(o.rc == 0);
    FUZZ_CHECK(o.a.rcode == 0 && !o.a.truncated && o.a.n_cnames == n_cn);
    FUZZ_CHECK(o.a.n_addrs == (n_ad < DNS_MAX_ADDRS ? n_ad : DNS_MAX_ADDRS));
    FUZZ_CHECK(o.a.ttl == (n_ad > 0 ? ttl_min : DNS_TTL_UNKNOWN));
    for (unsigned j = 0; j < o.a.n_addrs; j++) {
        /* Reversed order lists the addresses last-first. */
        unsigned src = reversed ? n_ad - 1 - j : j;

        FUZZ_CHECK(o.a.addrs[j].family == (aaaa ? AF_INET6 : AF_INET));
        FUZZ_CHECK(memcmp(o.a.addrs[j].addr, addrs[src], alen) == 0);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        structured(data + 1, size - 1);
    else
        raw(data + 1, size - 1, data[0] & 2);
    return 0;
}
