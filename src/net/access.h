/* Who may use the proxy: client address ranges (-allow CIDR) checked at accept, and
 * username/password credentials (-auth, -auth-file, the file re-read on SIGHUP) checked
 * by SOCKS5 (RFC 1929) and HTTP (Proxy-Authorization: Basic).
 *
 * Credentials are compared in constant time over their bytes and lengths (they may hold
 * any byte, NUL included), against every entry, so timing tells nothing about which user
 * exists. Readers on many loop threads share one credential table under a read lock; a
 * reload builds the new table first and swaps it in under the write lock. */
#ifndef DP_ACCESS_H
#define DP_ACCESS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "os.h"

#define ACCESS_FIELD_MAX 255 /* a user name or password: what SOCKS5 can carry */

struct access_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

/* "ADDR" or "ADDR/PREFIX", IPv4 or IPv6. Returns 0 or -1. */
int access_parse_cidr(const char *s, struct access_cidr *out);

struct access_cred {
    uint8_t user_len, pass_len;
    uint8_t user[ACCESS_FIELD_MAX], pass[ACCESS_FIELD_MAX];
};

/* "user:password" (split at the first ':'; either may be empty, each at most 255 bytes).
 * Returns 0 or -1. */
int access_parse_cred(const char *s, size_t len, struct access_cred *out);

struct access {
    const struct access_cidr *allow;
    unsigned n_allow;
    const char *const *auth_args; /* "user:pass" strings from -auth */
    unsigned n_auth_args;
    const char *auth_file; /* NULL without -auth-file */
    pthread_rwlock_t lock;
    struct access_cred *creds; /* -auth entries, then the file's; under lock */
    size_t n_creds;
};

/* Builds the credential table from the -auth strings and the file. Returns 0, or -1 with
 * a one-line message in err (unreadable file, malformed line). */
int access_init(struct access *a, const struct access_cidr *allow, unsigned n_allow,
                const char *const *auth_args, unsigned n_auth_args, const char *auth_file,
                char *err, size_t errlen);
void access_free(struct access *a);

/* Re-reads the -auth-file (SIGHUP). On failure the table in force stays and -1 is
 * returned with err set. *n_creds (may be NULL) gets the new table's size. */
int access_reload(struct access *a, size_t *n_creds, char *err, size_t errlen);

/* 1 when credentials are needed: -auth or -auth-file was given (an empty file then
 * lets no one in). */
int access_auth_required(const struct access *a);

/* 1 when the client address is allowed (no -allow: every address). */
int access_client_allowed(const struct access *a, const struct sockaddr *sa);

/* 1 when user/pass match an entry. Thread-safe. */
int access_check(struct access *a, const uint8_t *user, size_t user_len, const uint8_t *pass,
                 size_t pass_len);

/* How exposed a listening address is: loopback, one address, or every address
 * (0.0.0.0, ::). */
enum access_exposure { ACCESS_LOOPBACK, ACCESS_ADDRESS, ACCESS_EVERYWHERE };
enum access_exposure access_exposure(const struct sockaddr *sa);

/* The proxy's own listening sockets (proxy and -status), registered once each is bound,
 * before other threads start. A destination that is one of them is refused (a proxy
 * that connects to itself chains sessions until it runs out of descriptors). */
#define ACCESS_SELF_MAX 16
void access_self_add(const struct sockaddr *bound);
/* 1 when dst (any form: IPv4-mapped IPv6 too) reaches one of them: the same address and
 * port, or the port of a wildcard listener on an address of this host. */
int access_is_self(const struct sockaddr *dst);

/* Zeroes p[0..n) with stores the compiler keeps (secrets about to go out of scope). */
void access_wipe(void *p, size_t n);

/* Constant-time in the contents (time depends only on b_len): 1 when equal. */
int access_ct_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

#endif
