#include "sticky.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"

#define STICKY_WAYS 4

struct sticky_entry {
    uint64_t key; /* 0: empty */
    uint64_t expires_ms;
    int link;
};

struct sticky {
    pthread_mutex_t mu;
    uint64_t ttl_ms;
    unsigned n_sets; /* power of two */
    struct sticky_entry *e;
};

struct sticky *
sticky_new(unsigned capacity, uint64_t ttl_ms)
{
    struct sticky *t = calloc(1, sizeof(*t));
    unsigned sets = 1;

    if (t == NULL)
        return NULL;
    while (sets * STICKY_WAYS < capacity && sets < (1u << 24))
        sets <<= 1;
    t->e = calloc((size_t)sets * STICKY_WAYS, sizeof(*t->e));
    if (t->e == NULL) {
        free(t);
        return NULL;
    }
    t->n_sets = sets;
    t->ttl_ms = ttl_ms;
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void
sticky_free(struct sticky *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->e);
    free(t);
}

static struct sticky_entry *
sticky_set(struct sticky *t, uint64_t key)
{
    /* The key is already a mixed hash: its high bits pick the set. */
    return &t->e[(size_t)((key >> 32) & (t->n_sets - 1)) * STICKY_WAYS];
}

int
sticky_get(struct sticky *t, uint64_t key, uint64_t now_ms)
{
    struct sticky_entry *set;
    int link = -1;

    if (key == 0)
        return -1;
    pthread_mutex_lock(&t->mu);
    set = sticky_set(t, key);
    for (unsigned i = 0; i < STICKY_WAYS; i++) {
        if (set[i].key == key && set[i].expires_ms > now_ms) {
            set[i].expires_ms = now_ms + t->ttl_ms;
            link = set[i].link;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return link;
}

void
sticky_put(struct sticky *t, uint64_t key, int link, uint64_t now_ms)
{
    struct sticky_entry *set, *slot = NULL;

    if (key == 0)
        return;
    pthread_mutex_lock(&t->mu);
    set = sticky_set(t, key);
    for (unsigned i = 0; i < STICKY_WAYS && slot == NULL; i++)
        if (set[i].key == key)
            slot = &set[i];
    for (unsigned i = 0; i < STICKY_WAYS && slot == NULL; i++)
        if (set[i].key == 0 || set[i].expires_ms <= now_ms)
            slot = &set[i];
    if (slot == NULL) {
        /* Full of live entries: the one whose TTL ends first was used longest ago. */
        slot = &set[0];
        for (unsigned i = 1; i < STICKY_WAYS; i++)
            if (set[i].expires_ms < slot->expires_ms)
                slot = &set[i];
    }
    slot->key = key;
    slot->link = link;
    slot->expires_ms = now_ms + t->ttl_ms;
    pthread_mutex_unlock(&t->mu);
}

unsigned
sticky_count(struct sticky *t, uint64_t now_ms)
{
    unsigned n = 0;

    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < (size_t)t->n_sets * STICKY_WAYS; i++)
        if (t->e[i].key != 0 && t->e[i].expires_ms > now_ms)
            n++;
    pthread_mutex_unlock(&t->mu);
    return n;
}

unsigned
sticky_capacity(const struct sticky *t)
{
    return t->n_sets * STICKY_WAYS;
}

/* FNV-1a over the bytes, then a splitmix64 finaliser so every bit of the key mixes. */
static uint64_t
sticky_hash(uint64_t h, const void *data, size_t len, int fold_case)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];

        if (fold_case && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 0x100000001b3ull;
    }
    return h;
}

uint64_t
sticky_key(const struct sockaddr *client, const void *host, size_t host_len)
{
    uint64_t h = 0xcbf29ce484222325ull;

    if (client != NULL && client->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)client;
        h = sticky_hash(h, &s->sin_addr, sizeof(s->sin_addr), 0);
    } else if (client != NULL && client->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)(const void *)client;
        h = sticky_hash(h, &s->sin6_addr, sizeof(s->sin6_addr), 0);
    }
    h = sticky_hash(h, "|", 1, 0);
    h = sticky_hash(h, host, host_len, 1);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h != 0 ? h : 1;
}
