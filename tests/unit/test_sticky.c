/* The sticky table: same key -> same link within the TTL, expiry, refresh on use, the
 * bound on memory, and what the key is made of. */
#include "os.h" /* sockets and addresses on every platform */
#include <string.h>

#include "sticky.h"
#include "unit.h"

#define T0 1000000u
#define TTL 600000u

static struct sockaddr_in
v4(const char *text, uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};

    inet_pton(AF_INET, text, &sin.sin_addr);
    return sin;
}

static uint64_t
key(const char *client, const char *host)
{
    struct sockaddr_in c = v4(client, 40000);

    return sticky_key((struct sockaddr *)&c, host, strlen(host));
}

TEST(remembered_pair_gets_its_link_back)
{
    struct sticky *t = sticky_new(64, TTL);

    ASSERT(t != NULL);
    ASSERT_EQ(sticky_get(t, key("10.0.0.5", "bank.example"), T0), -1);
    sticky_put(t, key("10.0.0.5", "bank.example"), 1, T0);
    ASSERT_EQ(sticky_get(t, key("10.0.0.5", "bank.example"), T0 + 1000), 1);
    ASSERT_EQ(sticky_get(t, key("10.0.0.6", "bank.example"), T0 + 1000), -1);
    ASSERT_EQ(sticky_get(t, key("10.0.0.5", "video.example"), T0 + 1000), -1);
    sticky_free(t);
}

TEST(entry_expires_after_ttl)
{
    struct sticky *t = sticky_new(64, TTL);
    uint64_t k = key("10.0.0.5", "bank.example");

    sticky_put(t, k, 2, T0);
    ASSERT_EQ(sticky_get(t, k, T0 + TTL - 1), 2);
    /* That hit extended the TTL from T0 + TTL - 1. */
    ASSERT_EQ(sticky_get(t, k, T0 + 2 * TTL - 2), 2);
    ASSERT_EQ(sticky_get(t, k, T0 + 4 * TTL), -1);
    ASSERT_EQ(sticky_count(t, T0 + 4 * TTL), 0);
    sticky_free(t);
}

TEST(put_replaces_the_link_of_a_known_pair)
{
    struct sticky *t = sticky_new(64, TTL);
    uint64_t k = key("10.0.0.5", "bank.example");

    sticky_put(t, k, 0, T0);
    sticky_put(t, k, 3, T0 + 1);
    ASSERT_EQ(sticky_get(t, k, T0 + 2), 3);
    ASSERT_EQ(sticky_count(t, T0 + 2), 1);
    sticky_free(t);
}

TEST(table_never_grows_past_its_capacity)
{
    struct sticky *t = sticky_new(1000, TTL);
    char host[32];

    ASSERT_EQ(sticky_capacity(t), 1024);
    for (unsigned i = 0; i < 100000; i++) {
        snprintf(host, sizeof(host), "h%u.example", i);
        sticky_put(t, key("10.0.0.5", host), (int)(i % 4), T0 + i);
    }
    ASSERT(sticky_count(t, T0 + 100000) <= 1024);
    ASSERT(sticky_count(t, T0 + 100000) > 900); /* and it is used, not thrashed */
    /* The newest pairs are there. */
    snprintf(host, sizeof(host), "h%u.example", 99999u);
    ASSERT_EQ(sticky_get(t, key("10.0.0.5", host), T0 + 100001), (int)(99999 % 4));
    sticky_free(t);
}

TEST(full_set_evicts_the_least_recently_used)
{
    /* Capacity 4 = one set of 4: the fifth pair evicts the one used longest ago. */
    struct sticky *t = sticky_new(4, TTL);
    uint64_t k[5];
    char host[16];

    for (int i = 0; i < 5; i++) {
        snprintf(host, sizeof(host), "h%d", i);
        k[i] = key("10.0.0.5", host);
    }
    for (int i = 0; i < 4; i++)
        sticky_put(t, k[i], i, T0 + (uint64_t)i);
    ASSERT_EQ(sticky_get(t, k[0], T0 + 10), 0); /* h0 used again: h1 is now the oldest */
    sticky_put(t, k[4], 4, T0 + 11);
    ASSERT_EQ(sticky_get(t, k[1], T0 + 12), -1);
    ASSERT_EQ(sticky_get(t, k[0], T0 + 12), 0);
    ASSERT_EQ(sticky_get(t, k[4], T0 + 12), 4);
    ASSERT_EQ(sticky_count(t, T0 + 12), 4);
    sticky_free(t);
}

TEST(expired_entries_are_reused_first)
{
    struct sticky *t = sticky_new(4, 100);
    char host[16];

    for (int i = 0; i < 4; i++) {
        snprintf(host, sizeof(host), "old%d", i);
        sticky_put(t, key("10.0.0.5", host), i, T0);
    }
    sticky_put(t, key("10.0.0.5", "new"), 7, T0 + 500);
    ASSERT_EQ(sticky_get(t, key("10.0.0.5", "new"), T0 + 501), 7);
    ASSERT_EQ(sticky_count(t, T0 + 501), 1);
    sticky_free(t);
}

TEST(key_ignores_client_port_and_host_case)
{
    struct sockaddr_in a = v4("10.0.0.5", 1111), b = v4("10.0.0.5", 2222);

    ASSERT(sticky_key((struct sockaddr *)&a, "Bank.Example", 12) ==
           sticky_key((struct sockaddr *)&b, "bank.example", 12));
    ASSERT(key("10.0.0.5", "bank.example") != key("10.0.0.6", "bank.example"));
    ASSERT(key("10.0.0.5", "bank.example") != key("10.0.0.5", "bank.example.org"));
    ASSERT(key("10.0.0.5", "") != 0);
}

TEST(key_tells_ipv6_clients_apart)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6}, b = {.sin6_family = AF_INET6};

    inet_pton(AF_INET6, "fd00::1", &a.sin6_addr);
    inet_pton(AF_INET6, "fd00::2", &b.sin6_addr);
    ASSERT(sticky_key((struct sockaddr *)&a, "x", 1) != sticky_key((struct sockaddr *)&b, "x", 1));
}

TEST(zero_key_is_never_stored)
{
    struct sticky *t = sticky_new(8, TTL);

    sticky_put(t, 0, 1, T0);
    ASSERT_EQ(sticky_count(t, T0), 0);
    ASSERT_EQ(sticky_get(t, 0, T0), -1);
    sticky_free(t);
}

int
main(void)
{
    RUN(remembered_pair_gets_its_link_back);
    RUN(entry_expires_after_ttl);
    RUN(put_replaces_the_link_of_a_known_pair);
    RUN(table_never_grows_past_its_capacity);
    RUN(full_set_evicts_the_least_recently_used);
    RUN(expired_entries_are_reused_first);
    RUN(key_ignores_client_port_and_host_case);
    RUN(key_tells_ipv6_clients_apart);
    RUN(zero_key_is_never_stored);
    UNIT_MAIN_END("sticky");
}
