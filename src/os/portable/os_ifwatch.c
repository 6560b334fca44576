/* No interface notifications on this build: the caller re-reads periodically. */
#include "os.h"

#include <errno.h>

os_sock
os_ifwatch_open(void)
{
    os_set_errno(ENOSYS);
    return OS_SOCK_INVALID;
}

int
os_ifwatch_drain(os_sock s)
{
    (void)s;
    return 0;
}

void
os_ifwatch_close(os_sock s)
{
    (void)s;
}
