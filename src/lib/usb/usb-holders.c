/* Who holds a USB device claimed through usbfs: the process with its node
 * /dev/bus/usb/BBB/DDD open (QEMU's usb-host, a libusb tool). /proc is read only when
 * some device is claimed, once for all of them. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "fs/sysroot.h"
#include "usb/usb.h"
#include "alloc-util.h"

/* The device whose node an fd target names; a process in a chroot or another mount
 * namespace shows a longer path (/srv/root/dev/bus/usb/001/007), so search within it. */
static struct dp_usb_device *node_owner(struct dp_usb_list *list, const char *target)
{
	const char *at = strstr(target, "/dev/bus/usb/");
	int bus, dev;
	char end;
	if (!at || sscanf(at, "/dev/bus/usb/%3d/%3d%c", &bus, &dev, &end) != 2)
		return NULL;
	for (size_t i = 0; i < list->n; i++)
		if (list->d[i].in_use && list->d[i].busnum == bus && list->d[i].devnum == dev)
			return &list->d[i];
	return NULL;
}

static void process_scan(struct dp_usb_list *list, const char *pid)
{
	char dir[64], path[128], target[PATH_MAX], comm[32] = "?";
	snprintf(dir, sizeof(dir), "proc/%s/fd", pid);
	_cleanup_closedir_ DIR *d = dp_fs_opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct dp_usb_device *owner;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_name[0] == '.' || dp_fs_readlink(path, target, sizeof(target)) < 0 ||
		    !(owner = node_owner(list, target)))
			continue;
		snprintf(path, sizeof(path), "proc/%s/comm", pid);
		if (dp_fs_read_line(path, comm, sizeof(comm)) <= 0)
			snprintf(comm, sizeof(comm), "?");
		snprintf(owner->in_use_by, sizeof(owner->in_use_by), "%s (pid %s)", comm, pid);
	}
}

void usb_holders_find(struct dp_usb_list *list)
{
	bool any = false;
	for (size_t i = 0; i < list->n && !any; i++)
		any = list->d[i].in_use;
	if (!any)
		return;
	_cleanup_closedir_ DIR *d = dp_fs_opendir("proc");
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (isdigit((unsigned char)de->d_name[0]) && strlen(de->d_name) < 16)
			process_scan(list, de->d_name);
}
