/* The devices of a devpass VM as a hostdev set (for `export libvirt --vm`). */
#include <errno.h>

#include "alloc-util.h"
#include "devpass.h"
#include "export.h"
#include "util/error.h"

int dp_hostdev_set_from_vm(const struct dp_pci_list *list, const char *vm,
                           struct dp_hostdev_set *out)
{
	(void)list; (void)vm; (void)out;
	return dp_error_set(-ENOSYS, "VM devices as hostdevs: not written yet");
}
