/* DNS messages (src/proto/dns.c): names to wire form, queries byte by byte, answers with
 * compression pointers, CNAME chains, TTLs, RCODEs, truncation, and the malformed ones a
 * hostile or broken server can send. Every parse gets an exact-size heap copy, so a
 * SAN=1 build catches any read past the message. */
#include "os.h" /* sockets and addresses on every platform */
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "unit.h"

static int
parse(const uint8_t *msg, size_t len, uint16_t id, const char *name, uint16_t qtype,
      struct dns_answer *out)
{
    uint8_t *copy = malloc(len ? len : 1), q[DNS_NAME_WIRE_MAX];
    int rc;

    if (copy == NULL || dns_name_to_wire(name, q) == 0)
        abort();
    if (len > 0)
        memcpy(copy, msg, len);
    rc = dns_parse_answer(copy, len, id, q, qtype, out);
    free(copy);
    return rc;
}

#define WWW_EXAMPLE_COM 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0

TEST(name_to_wire_splits_labels_and_keeps_case)
{
    uint8_t w[DNS_NAME_WIRE_MAX];
    static const uint8_t exp[] = {3,   'w', 'w', 'w', 7,   'E', 'x', 'a', 'm',
                                  'p', 'l', 'e', 3,   'c', 'o', 'm', 0};

    ASSERT_EQ(dns_name_to_wire("www.Example.com", w), sizeof(exp));
    ASSERT_MEM_EQ(w, exp, sizeof(exp));
    ASSERT_EQ(dns_name_to_wire("www.Example.com.", w), sizeof(exp)); /* absolute */
    ASSERT_MEM_EQ(w, exp, sizeof(exp));
    ASSERT_EQ(dns_name_to_wire("a", w), 3);
    ASSERT_EQ(w[0], 1);
    ASSERT_EQ(w[1], 'a');
    ASSERT_EQ(w[2], 0);
}

TEST(name_to_wire_refuses_empty_labels_and_the_root)
{
    uint8_t w[DNS_NAME_WIRE_MAX];

    ASSERT_EQ(dns_name_to_wire("", w), 0);
    ASSERT_EQ(dns_name_to_wire(".", w), 0);
    ASSERT_EQ(dns_name_to_wire("a..b", w), 0);
    ASSERT_EQ(dns_name_to_wire(".a", w), 0);
    ASSERT_EQ(dns_name_to_wire("a..", w), 0);
}

TEST(name_to_wire_bounds_labels_at_63_and_names_at_255)
{
    uint8_t w[DNS_NAME_WIRE_MAX];
    char name[400];

    memset(name, 'x', 63);
    name[63] = '\0';
    ASSERT_EQ(dns_name_to_wire(name, w), 65);
    memset(name, 'x', 64);
    name[64] = '\0';
    ASSERT_EQ(dns_name_to_wire(name, w), 0);
    /* 4 labels of 61 + "a.b": 4*62 + 2 + 2 + 1 = 253 wire bytes... grow to exactly 255 */
    memset(name, 'x', sizeof(name));
    for (int i = 0; i < 4; i++)
        name[i * 62 + 61] = '.';
    name[4 * 62] = 'y';
    name[4 * 62 + 1] = 'z';
    name[4 * 62 + 2] = '\0'; /* 4*(1+61) + 1+2 + 1 = 252 */
    ASSERT_EQ(dns_name_to_wire(name, w), 252);
    memcpy(name + 4 * 62, "yzuvw", 6); /* 255 */
    ASSERT_EQ(dns_name_to_wire(name, w), 255);
    memcpy(name + 4 * 62, "yzuvwt", 7); /* 256: too long */
    ASSERT_EQ(dns_name_to_wire(name, w), 0);
}

TEST(query_bytes_without_edns)
{
    uint8_t q[DNS_NAME_WIRE_MAX], out[DNS_QUERY_MAX];
    static const uint8_t exp[] = {
        0x12,
        0x34,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0, /* ID, RD, QDCOUNT 1 */
        WWW_EXAMPLE_COM,
        0,
        1,
        0,
        1, /* A IN */
    };

    ASSERT(dns_name_to_wire("www.example.com", q) > 0);
    ASSERT_EQ(dns_build_query(out, sizeof(out), 0x1234, q, DNS_TYPE_A, 0), sizeof(exp));
    ASSERT_MEM_EQ(out, exp, sizeof(exp));
}

TEST(query_bytes_with_edns_opt)
{
    uint8_t q[DNS_NAME_WIRE_MAX], out[DNS_QUERY_MAX];
    static const uint8_t exp[] = {
        0xbe,
        0xef,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        1, /* ARCOUNT 1 */
        WWW_EXAMPLE_COM,
        0,
        28,
        0,
        1, /* AAAA IN */
        0,
        0,
        41,
        0x04,
        0xd0,
        0,
        0,
        0,
        0,
        0,
        0, /* OPT, 1232 bytes */
    };

    ASSERT(dns_name_to_wire("www.example.com", q) > 0);
    ASSERT_EQ(dns_build_query(out, sizeof(out), 0xbeef, q, DNS_TYPE_AAAA, 1), sizeof(exp));
    ASSERT_MEM_EQ(out, exp, sizeof(exp));
    ASSERT_EQ(dns_build_query(out, sizeof(exp) - 1, 0xbeef, q, DNS_TYPE_AAAA, 1), 0);
}

/* www.example.com CNAME cdn.example.com (TTL 300), cdn.example.com A 192.0.2.7 (TTL 60)
 * and A 192.0.2.8 (TTL 120), names compressed with pointers into the question (offset
 * 16: "example.com") and into the CNAME's data (45: "cdn.example.com"); an unrelated A
 * for other.example.com that must not be taken. */
static const uint8_t cname_answer[] = {
    0x12,
    0x34,
    0x81,
    0x80,
    0,
    1,
    0,
    4,
    0,
    0,
    0,
    0, /* QR RD RA, 4 answers */
    WWW_EXAMPLE_COM,
    0,
    1,
    0,
    1, /* 12: question */
    0xc0,
    12,
    0,
    5,
    0,
    1,
    0,
    0,
    1,
    44,
    0,
    6, /* 33: CNAME, TTL 300 */
    3,
    'c',
    'd',
    'n',
    0xc0,
    16, /* 45: cdn.example.com */
    0xc0,
    45,
    0,
    1,
    0,
    1,
    0,
    0,
    0,
    60,
    0,
    4,
    192,
    0,
    2,
    7, /* 51: A, TTL 60 */
    0xc0,
    45,
    0,
    1,
    0,
    1,
    0,
    0,
    0,
    120,
    0,
    4,
    192,
    0,
    2,
    8, /* 67: A, TTL 120 */
    5,
    'o',
    't',
    'h',
    'e',
    'r',
    0xc0,
    16, /* 83: other.example.com */
    0,
    1,
    0,
    1,
    0,
    0,
    0,
    9,
    0,
    4,
    198,
    51,
    100,
    1, /* A, TTL 9 */
};

TEST(answer_follows_cname_through_pointers_and_takes_min_ttl)
{
    struct dns_answer a;

    ASSERT_EQ(sizeof(cname_answer), 105);
    ASSERT_EQ(parse(cname_answer, sizeof(cname_answer), 0x1234, "www.example.com", DNS_TYPE_A, &a),
              0);
    ASSERT_EQ(a.rcode, DNS_RCODE_NOERROR);
    ASSERT_EQ(a.truncated, 0);
    ASSERT_EQ(a.n_cnames, 1);
    ASSERT_EQ(a.n_addrs, 2);
    ASSERT_EQ(a.addrs[0].family, AF_INET);
    ASSERT_MEM_EQ(a.addrs[0].addr, ((const uint8_t[]){192, 0, 2, 7}), 4);
    ASSERT_EQ(a.addrs[1].family, AF_INET);
    ASSERT_MEM_EQ(a.addrs[1].addr, ((const uint8_t[]){192, 0, 2, 8}), 4);
    ASSERT_EQ(a.ttl, 60);
}

TEST(answer_question_matches_without_regard_to_case)
{
    struct dns_answer a;

    ASSERT_EQ(parse(cname_answer, sizeof(cname_answer), 0x1234, "WWW.Example.COM.", DNS_TYPE_A, &a),
              0);
    ASSERT_EQ(a.n_addrs, 2);
}

TEST(answer_every_strict_prefix_is_short)
{
    struct dns_answer a;

    for (size_t n = 0; n < sizeof(cname_answer); n++) {
        int rc = parse(cname_answer, n, 0x1234, "www.example.com", DNS_TYPE_A, &a);
        if (rc != -DNS_E_SHORT)
            UNIT_FAIL("prefix of %zu bytes: %d", n, rc);
    }
}

TEST(answer_for_another_id_question_or_type_is_not_ours)
{
    struct dns_answer a;

    ASSERT_EQ(parse(cname_answer, sizeof(cname_answer), 0x1235, "www.example.com", DNS_TYPE_A, &a),
              -DNS_E_ID);
    ASSERT_EQ(parse(cname_answer, sizeof(cname_answer), 0x1234, "ww.example.com", DNS_TYPE_A, &a),
              -DNS_E_QUESTION);
    ASSERT_EQ(
        parse(cname_answer, sizeof(cname_answer), 0x1234, "www.example.com", DNS_TYPE_AAAA, &a),
        -DNS_E_QUESTION);
}

/* Copies cname_answer with one byte changed. */
static int
parse_patched(size_t at, uint8_t v, struct dns_answer *a)
{
    uint8_t m[sizeof(cname_answer)];

    memcpy(m, cname_answer, sizeof(m));
    m[at] = v;
    return parse(m, sizeof(m), 0x1234, "www.example.com", DNS_TYPE_A, a);
}

TEST(answer_needs_qr_and_opcode_query)
{
    struct dns_answer a;

    ASSERT_EQ(parse_patched(2, 0x01, &a), -DNS_E_NOT_ANSWER);            /* a query */
    ASSERT_EQ(parse_patched(2, 0x81 | (2 << 3), &a), -DNS_E_NOT_ANSWER); /* opcode STATUS */
}

TEST(answer_pointer_to_itself_or_forward_is_malformed)
{
    struct dns_answer a;

    ASSERT_EQ(parse_patched(34, 33, &a), -DNS_E_NAME);   /* owner points at itself */
    ASSERT_EQ(parse_patched(34, 51, &a), -DNS_E_NAME);   /* forward */
    ASSERT_EQ(parse_patched(50, 45, &a), -DNS_E_NAME);   /* CNAME data at itself */
    ASSERT_EQ(parse_patched(33, 0x80, &a), -DNS_E_NAME); /* label type 0x80 */
}

TEST(answer_a_record_of_wrong_length_is_malformed)
{
    struct dns_answer a;

    ASSERT_EQ(parse_patched(62, 3, &a), -DNS_E_RDATA); /* RDLEN 3: the next record skews */
}

TEST(answer_cname_data_must_be_exactly_one_name)
{
    struct dns_answer a;
    uint8_t m[sizeof(cname_answer) + 1];

    /* RDLEN 5: the name runs past its data. */
    ASSERT(parse_patched(44, 5, &a) < 0);
    /* RDLEN 7 with one byte of junk after the name. */
    memcpy(m, cname_answer, 51);
    m[44] = 7;
    m[51] = 0xff;
    memcpy(m + 52, cname_answer + 51, sizeof(cname_answer) - 51);
    ASSERT_EQ(parse(m, sizeof(m), 0x1234, "www.example.com", DNS_TYPE_A, &a), -DNS_E_RDATA);
}

TEST(answer_ttl_with_the_high_bit_counts_as_zero)
{
    struct dns_answer a;

    ASSERT_EQ(parse_patched(57, 0x80, &a), 0); /* first A: TTL 0x8000003c */
    ASSERT_EQ(a.ttl, 0);
}

TEST(answer_count_beyond_the_message_is_short)
{
    struct dns_answer a;

    ASSERT_EQ(parse_patched(7, 5, &a), -DNS_E_SHORT);
}

/* NXDOMAIN with an SOA in the authority section: TTL 3600, MINIMUM 300 -> 300. */
static const uint8_t nxdomain[] = {
    0xab, 0xcd, 0x81, 0x83, 0,   1, 0,   0,   0,    1,    0,   0, /* RCODE 3, one authority record
                                                                   */
    4,    'n',  'o',  'n',  'e', 7, 'e', 'x', 'a',  'm',  'p', 'l', 'e',
    3,    'c',  'o',  'm',  0,   0, 28,  0,   1, /* 12: none.example.com AAAA IN */
    0xc0, 17,   0,    6,    0,   1, 0,   0,   0x0e, 0x10, 0,   27, /* 34: example.com SOA, TTL 3600
                                                                    */
    2,    'n',  's',  0xc0, 17,                                    /* MNAME ns.example.com */
    0xc0, 17,                                                      /* RNAME example.com */
    0,    0,    0,    1,    0,   0, 0,   2,   0,    0,    0,   3,   0,
    0,    0,    4,    0,    0,   1, 44, /* ... MINIMUM 300 */
};

TEST(nxdomain_takes_negative_ttl_from_soa)
{
    struct dns_answer a;

    ASSERT_EQ(parse(nxdomain, sizeof(nxdomain), 0xabcd, "none.example.com", DNS_TYPE_AAAA, &a), 0);
    ASSERT_EQ(a.rcode, DNS_RCODE_NXDOMAIN);
    ASSERT_EQ(a.n_addrs, 0);
    ASSERT_EQ(a.ttl, 300);
}

TEST(nxdomain_soa_of_wrong_size_is_malformed)
{
    struct dns_answer a;
    uint8_t m[sizeof(nxdomain)];

    memcpy(m, nxdomain, sizeof(m));
    m[45] = 26; /* RDLEN one short: the SOA data no longer ends after MINIMUM */
    ASSERT(parse(m, sizeof(m), 0xabcd, "none.example.com", DNS_TYPE_AAAA, &a) < 0);
}

TEST(nodata_without_soa_has_unknown_ttl)
{
    struct dns_answer a;
    static const uint8_t m[] = {
        0, 7, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, WWW_EXAMPLE_COM, 0, 28, 0, 1,
    };

    ASSERT_EQ(parse(m, sizeof(m), 7, "www.example.com", DNS_TYPE_AAAA, &a), 0);
    ASSERT_EQ(a.rcode, DNS_RCODE_NOERROR);
    ASSERT_EQ(a.n_addrs, 0);
    ASSERT_EQ(a.ttl, DNS_TTL_UNKNOWN);
}

TEST(truncated_answer_says_so_after_its_question)
{
    struct dns_answer a;
    /* TC set, ANCOUNT 3 but cut after the question: that is what TC means. */
    static const uint8_t m[] = {
        0, 9, 0x83, 0x80, 0, 1, 0, 3, 0, 0, 0, 0, WWW_EXAMPLE_COM, 0, 1, 0, 1,
    };

    ASSERT_EQ(parse(m, sizeof(m), 9, "www.example.com", DNS_TYPE_A, &a), 0);
    ASSERT_EQ(a.truncated, 1);
    ASSERT_EQ(a.n_addrs, 0);
}

TEST(aaaa_answer_and_servfail)
{
    struct dns_answer a;
    static const uint8_t m[] = {
        0, 1,  0x85, 0x80, 0,    1,    0,    1,  0, 0, 0, 0, WWW_EXAMPLE_COM,
        0, 28, 0,    1,    0xc0, 12,   0,    28, 0, 1, 0, 0, 0,
        5, 0,  16,   0x20, 0x01, 0x0d, 0xb8, 0,  0, 0, 0, 0, 0,
        0, 0,  0,    0,    0,    1,
    };
    uint8_t s[sizeof(m)];

    ASSERT_EQ(parse(m, sizeof(m), 1, "www.example.com", DNS_TYPE_AAAA, &a), 0);
    ASSERT_EQ(a.authoritative, 1);
    ASSERT_EQ(a.n_addrs, 1);
    ASSERT_EQ(a.addrs[0].family, AF_INET6);
    ASSERT_EQ(a.addrs[0].addr[0], 0x20);
    ASSERT_EQ(a.addrs[0].addr[15], 1);
    ASSERT_EQ(a.ttl, 5);
    memcpy(s, m, sizeof(s));
    s[3] = 0x82; /* SERVFAIL */
    ASSERT_EQ(parse(s, sizeof(s), 1, "www.example.com", DNS_TYPE_AAAA, &a), 0);
    ASSERT_EQ(a.rcode, DNS_RCODE_SERVFAIL);
}

/* Builds "q CNAME q" style chains: a -> b -> a loops; a long chain stops at the bound. */
static size_t
chain(uint8_t *m, unsigned links, int loop)
{
    size_t n = 0;

    memcpy(m, (const uint8_t[]){0, 2, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, 12);
    m[7] = (uint8_t)links;
    n = 12;
    m[n++] = 2;
    m[n++] = 'h';
    m[n++] = '0';
    m[n++] = 0;
    memcpy(m + n, (const uint8_t[]){0, 1, 0, 1}, 4);
    n += 4;
    for (unsigned i = 0; i < links; i++) {
        unsigned to = loop && i == links - 1 ? 0 : i + 1;

        m[n++] = 2;
        m[n++] = 'h';
        m[n++] = (uint8_t)('0' + i);
        m[n++] = 0;
        memcpy(m + n, (const uint8_t[]){0, 5, 0, 1, 0, 0, 0, 1, 0, 4, 2, 'h'}, 12);
        n += 12;
        m[n++] = (uint8_t)('0' + to);
        m[n++] = 0;
    }
    return n;
}

TEST(cname_loop_and_overlong_chain_are_refused)
{
    uint8_t m[512];
    struct dns_answer a;
    size_t n;

    n = chain(m, 2, 1);
    ASSERT_EQ(parse(m, n, 2, "h0", DNS_TYPE_A, &a), -DNS_E_CHAIN);
    n = chain(m, DNS_MAX_CNAMES, 0);
    ASSERT_EQ(parse(m, n, 2, "h0", DNS_TYPE_A, &a), 0);
    ASSERT_EQ(a.n_cnames, DNS_MAX_CNAMES);
    ASSERT_EQ(a.n_addrs, 0);
    n = chain(m, DNS_MAX_CNAMES + 1, 0);
    ASSERT_EQ(parse(m, n, 2, "h0", DNS_TYPE_A, &a), -DNS_E_CHAIN);
}

TEST(more_addresses_than_kept_are_dropped_but_checked)
{
    uint8_t m[1024];
    struct dns_answer a;
    size_t n = 0;
    unsigned count = DNS_MAX_ADDRS + 4;

    memcpy(m, (const uint8_t[]){0, 3, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, 12);
    m[7] = (uint8_t)count;
    n = 12;
    memcpy(m + n, (const uint8_t[]){1, 'x', 0, 0, 1, 0, 1}, 7);
    n += 7;
    for (unsigned i = 0; i < count; i++) {
        memcpy(m + n, (const uint8_t[]){0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 50, 0, 4, 10, 0, 0}, 15);
        n += 15;
        m[n++] = (uint8_t)i;
    }
    ASSERT_EQ(parse(m, n, 3, "x", DNS_TYPE_A, &a), 0);
    ASSERT_EQ(a.n_addrs, DNS_MAX_ADDRS);
    ASSERT_EQ(a.addrs[DNS_MAX_ADDRS - 1].addr[3], DNS_MAX_ADDRS - 1);
    m[n - 5] = 5; /* the last (dropped) record's RDLEN */
    ASSERT(parse(m, n, 3, "x", DNS_TYPE_A, &a) < 0);
}

int
main(void)
{
    RUN(name_to_wire_splits_labels_and_keeps_case);
    RUN(name_to_wire_refuses_empty_labels_and_the_root);
    RUN(name_to_wire_bounds_labels_at_63_and_names_at_255);
    RUN(query_bytes_without_edns);
    RUN(query_bytes_with_edns_opt);
    RUN(answer_follows_cname_through_pointers_and_takes_min_ttl);
    RUN(answer_question_matches_without_regard_to_case);
    RUN(answer_every_strict_prefix_is_short);
    RUN(answer_for_another_id_question_or_type_is_not_ours);
    RUN(answer_needs_qr_and_opcode_query);
    RUN(answer_pointer_to_itself_or_forward_is_malformed);
    RUN(answer_a_record_of_wrong_length_is_malformed);
    RUN(answer_cname_data_must_be_exactly_one_name);
    RUN(answer_ttl_with_the_high_bit_counts_as_zero);
    RUN(answer_count_beyond_the_message_is_short);
    RUN(nxdomain_takes_negative_ttl_from_soa);
    RUN(nxdomain_soa_of_wrong_size_is_malformed);
    RUN(nodata_without_soa_has_unknown_ttl);
    RUN(truncated_answer_says_so_after_its_question);
    RUN(aaaa_answer_and_servfail);
    RUN(cname_loop_and_overlong_chain_are_refused);
    RUN(more_addresses_than_kept_are_dropped_but_checked);
    UNIT_MAIN_END("dns");
}
