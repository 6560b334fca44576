/* Default routes where the system offers no portable way to read them (the PORTABLE
 * build; BSD route sockets are not implemented yet): none are known, so the proxy asks
 * the user to name the links. */
#include "os.h"

int
os_default_routes(struct os_route *out, int max)
{
    (void)out, (void)max;
    return 0;
}
