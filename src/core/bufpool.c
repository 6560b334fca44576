#include "bufpool.h"

#include <stdlib.h>

static _Thread_local struct buf *free_list;
static _Thread_local unsigned n_free;

struct buf *
bufpool_get(void)
{
    struct buf *b = free_list;

    if (b != NULL) {
        free_list = b->next;
        n_free--;
        return b;
    }
    return malloc(sizeof(struct buf));
}

void
bufpool_put(struct buf *b)
{
    if (b == NULL)
        return;
    if (n_free >= BUFPOOL_MAX_FREE) {
        free(b);
        return;
    }
    b->next = free_list;
    free_list = b;
    n_free++;
}

void
bufpool_trim(void)
{
    while (free_list != NULL) {
        struct buf *next = free_list->next;
        free(free_list);
        free_list = next;
    }
    n_free = 0;
}
