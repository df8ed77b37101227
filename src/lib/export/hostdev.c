/* Hostdev sets: the libvirt device elements a set of host devices becomes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "devpass.h"
#include "export.h"
#include "util/error.h"

void dp_hostdev_set_free(struct dp_hostdev_set *s)
{
	if (!s)
		return;
	free(s->h);
	dp_strv_free(&s->warnings);
	*s = (struct dp_hostdev_set){0};
}

int dp_hostdev_set_from_devices(const struct dp_pci_list *list, char *const *devices,
                                size_t n, struct dp_hostdev_set *out)
{
	(void)list; (void)devices; (void)n; (void)out;
	return dp_error_set(-ENOSYS, "not written yet");
}

int dp_hostdev_set_from_owner(const struct dp_pci_list *list, const char *owner,
                              struct dp_hostdev_set *out)
{
	(void)list; (void)owner; (void)out;
	return dp_error_set(-ENOSYS, "not written yet");
}

int dp_hostdev_set_place(struct dp_hostdev_set *s, int first_bus)
{
	(void)s; (void)first_bus;
	return dp_error_set(-ENOSYS, "not written yet");
}

int dp_hostdev_xml(const struct dp_hostdev *h, unsigned flags, char **xml)
{
	(void)h; (void)flags; (void)xml;
	return dp_error_set(-ENOSYS, "not written yet");
}

int dp_hostdev_set_xml(const struct dp_hostdev_set *s, unsigned flags, char **xml)
{
	(void)s; (void)flags; (void)xml;
	return dp_error_set(-ENOSYS, "not written yet");
}

int dp_nodedev_xml(const struct dp_pci_list *list, const char *address, char **xml)
{
	(void)list; (void)address; (void)xml;
	return dp_error_set(-ENOSYS, "not written yet");
}
