/* Where a VM's files live: its state (disk overlay, firmware variables, seed, console log)
 * under var/lib/devpass/vm/NAME, its runtime sockets and pidfile under run/devpass/vm/NAME,
 * both root-relative so a test tree holds them. */
#include <errno.h>
#include <stdio.h>

#include "vm/vm.h"

int dp_vm_path(const char *name, const char *dir, const char *file, char *out, size_t size)
{
	int r = dp_vm_name_check(name);
	if (r < 0)
		return r;
	int len = file ? snprintf(out, size, "%s/%s/%s", dir, name, file)
	               : snprintf(out, size, "%s/%s", dir, name);
	if (len < 0 || (size_t)len >= size)
		return dp_error_set(-ENAMETOOLONG, "path of VM '%s' too long", name);
	return 0;
}
