/* Vendor and product names from udev's hardware database (the usb.ids data systemd
 * compiles into hwdb.bin), asked by modalias as udev's own hwdb builtin does. Tool data,
 * not host state: read from the machine devpass runs on, whatever the root. */
#include <errno.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usb/usb.h"
#include "alloc-util.h"

struct usb_names {
	struct udev *udev;
	struct udev_hwdb *hwdb;
};

struct usb_names *usb_names_open(void)
{
	struct usb_names *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->udev = udev_new();
	n->hwdb = n->udev ? udev_hwdb_new(n->udev) : NULL;
	if (!n->hwdb) {
		usb_names_close(n);
		return NULL;
	}
	return n;
}

void usb_names_close(struct usb_names *n)
{
	if (!n)
		return;
	udev_hwdb_unref(n->hwdb);
	udev_unref(n->udev);
	free(n);
}

static const char *property(struct udev_list_entry *first, const char *key)
{
	struct udev_list_entry *e = udev_list_entry_get_by_name(first, key);
	return e ? udev_list_entry_get_value(e) : NULL;
}

int usb_names_lookup(struct usb_names *n, uint16_t vid, uint16_t pid, char **vendor,
                     char **product)
{
	const char *v = NULL, *p = NULL;
	if (n) {
		char modalias[32];
		snprintf(modalias, sizeof(modalias), "usb:v%04Xp%04X*", vid, pid);
		struct udev_list_entry *props = udev_hwdb_get_properties_list_entry(n->hwdb, modalias, 0);
		v = property(props, "ID_VENDOR_FROM_DATABASE");
		p = property(props, "ID_MODEL_FROM_DATABASE");
	}
	_cleanup_free_ char *vcopy = strdup(v ? v : "");
	_cleanup_free_ char *pcopy = strdup(p ? p : "");
	if (!vcopy || !pcopy)
		return -ENOMEM;
	*vendor = TAKE_PTR(vcopy);
	*product = TAKE_PTR(pcopy);
	return 0;
}
