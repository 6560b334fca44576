/* DNS messages (RFC 1035), the part a stub resolver needs: a query for one name and
 * type, and what the answer to it says (addresses after following CNAMEs, TTLs, the
 * response code, truncation). Pure: no sockets, no allocation, no clock; the resolver
 * (src/net/dns_resolver.c) does the rest.
 *
 * Names travel as wire-format names: length-prefixed labels ending with a zero byte,
 * at most DNS_NAME_WIRE_MAX bytes. The parser follows compression pointers only
 * backwards (to an offset before the name that points) and at most DNS_MAX_HOPS times,
 * so a hostile answer cannot make it loop or read outside the message. */
#ifndef DP_DNS_H
#define DP_DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_PORT 53
#define DNS_HEADER_LEN 12
#define DNS_NAME_WIRE_MAX 255 /* RFC 1035 3.1, the zero byte included */
#define DNS_LABEL_MAX 63
#define DNS_UDP_PAYLOAD 1232 /* our EDNS0 buffer size (the DNS flag day 2020 value) */
#define DNS_MSG_MAX 65535    /* a TCP answer */
#define DNS_QUERY_MAX (DNS_HEADER_LEN + DNS_NAME_WIRE_MAX + 4 + 11)
#define DNS_MAX_ADDRS 8  /* addresses kept from one answer; the rest are dropped */
#define DNS_MAX_RRS 64   /* answer records examined; the rest are checked, then ignored */
#define DNS_MAX_CNAMES 8 /* CNAME links followed from the question's name */
#define DNS_MAX_HOPS 32  /* compression pointers followed within one name */
#define DNS_TTL_UNKNOWN UINT32_MAX

enum dns_type { DNS_TYPE_A = 1, DNS_TYPE_CNAME = 5, DNS_TYPE_SOA = 6, DNS_TYPE_AAAA = 28 };
#define DNS_TYPE_OPT 41
#define DNS_CLASS_IN 1

enum dns_rcode {
    DNS_RCODE_NOERROR = 0,
    DNS_RCODE_FORMERR = 1,
    DNS_RCODE_SERVFAIL = 2,
    DNS_RCODE_NXDOMAIN = 3,
    DNS_RCODE_NOTIMP = 4,
    DNS_RCODE_REFUSED = 5,
};

/* Why an answer was not usable (dns_parse_answer returns these, negated). */
enum dns_error {
    DNS_E_SHORT = 1,  /* ends inside the header, a name, a record or its data */
    DNS_E_NOT_ANSWER, /* QR clear, or an opcode other than QUERY */
    DNS_E_ID,         /* another query's ID: ignore it and keep waiting */
    DNS_E_QUESTION,   /* not exactly our question echoed */
    DNS_E_NAME,       /* a label over 63 bytes, a name over 255, a bad or looping pointer */
    DNS_E_RDATA,      /* an A not 4 bytes, an AAAA not 16, a CNAME not one name */
    DNS_E_CHAIN,      /* CNAMEs loop or run longer than DNS_MAX_CNAMES */
};

/* Text name -> wire name ("www.Example.com" or with the final dot). Labels are taken as
 * they are (case kept), split at dots; an empty label, a label over 63 bytes, a name
 * over 255 wire bytes, the root alone and an empty string are refused. Returns the wire
 * length (at least 3), or 0 when refused. */
size_t dns_name_to_wire(const char *name, uint8_t out[DNS_NAME_WIRE_MAX]);

/* Writes a recursive query (RD set) for name (wire form) and qtype, class IN, with an
 * EDNS0 OPT record advertising DNS_UDP_PAYLOAD when edns. Returns its length, or 0 when
 * cap is too small or the name is not a valid wire name. */
size_t dns_build_query(uint8_t *out, size_t cap, uint16_t id, const uint8_t *qname, uint16_t qtype,
                       int edns);

struct dns_addr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
};

/* What an answer says about our question. */
struct dns_answer {
    int rcode;     /* header RCODE (0..15) */
    int truncated; /* TC: ask again over TCP; nothing below is filled */
    int authoritative;
    unsigned n_addrs; /* records of qtype at the end of the CNAME chain */
    struct dns_addr addrs[DNS_MAX_ADDRS];
    unsigned n_cnames; /* CNAME links followed */
    /* Positive (n_addrs > 0): the smallest TTL over the addresses and the CNAMEs led
     * there. Otherwise (NXDOMAIN, or no records of qtype): the negative-caching TTL of
     * RFC 2308, min(SOA TTL, SOA MINIMUM) from the authority section; DNS_TTL_UNKNOWN
     * when there is no SOA. */
    uint32_t ttl;
};

/* Reads an answer to the query (id, qname wire, qtype). Returns 0 with out filled, or
 * -DNS_E_* (out then undefined). A truncated answer (TC) returns 0 with out->truncated
 * set once its header and question check out. Records of other classes or types are
 * skipped; every record is still bounds-checked. */
int dns_parse_answer(const uint8_t *msg, size_t len, uint16_t id, const uint8_t *qname,
                     uint16_t qtype, struct dns_answer *out);

/* Text for a dns_error code (positive) for logs. */
const char *dns_error_text(int err);
/* Text for an RCODE ("NXDOMAIN", "SERVFAIL", ...). */
const char *dns_rcode_text(int rcode);

#endif
