/* USB devices of a VM (--usb): a port, an id, or members of a usb pool. Ports and ids go to
 * QEMU's usb-host as they are (QEMU opens the device through usbfs when it appears, so a
 * device replugged on the port comes back to the guest); pool members are claimed at
 * start and passed by the port they are on then. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "util/error.h"
#include "util/strutil.h"
#include "vm/vm.h"

static bool is_port(const char *s)
{
	size_t bus = strspn(s, "0123456789");
	return bus > 0 && bus < 4 && s[bus] == '-' && s[bus + 1] &&
	       strspn(s + bus + 1, "0123456789.") == strlen(s + bus + 1);
}

static bool is_id(const char *s)
{
	return strlen(s) == 9 && strspn(s, "0123456789abcdefABCDEF") == 4 && s[4] == ':' &&
	       strspn(s + 5, "0123456789abcdefABCDEF") == 4;
}

enum vm_usb_spec dp_vm_usb_spec_kind(const char *spec)
{
	return is_port(spec) ? VM_USB_PORT : is_id(spec) ? VM_USB_ID : VM_USB_POOL;
}

int dp_vm_usb_host_add(struct dp_strv *hosts, enum vm_usb_spec kind, const char *spec)
{
	unsigned vid, pid;
	int r;
	if (kind == VM_USB_PORT) {
		const char *dash = strchr(spec, '-');
		r = dp_strv_addf(hosts, "hostbus=%.*s,hostport=%s", (int)(dash - spec), spec, dash + 1);
	} else if (kind == VM_USB_ID && sscanf(spec, "%4x:%4x", &vid, &pid) == 2) {
		r = dp_strv_addf(hosts, "vendorid=0x%04x,productid=0x%04x", vid, pid);
	} else {
		return dp_error_set(-EINVAL, "'%s' is neither a USB port (1-1.2) nor an id (046d:c52b)",
		                    spec);
	}
	return r < 0 ? dp_oom() : 0;
}

/* A device the host needs or a process holds cannot go to a guest. */
static int usb_device_check(const struct dp_vm_device *want, struct dp_vm_report *r)
{
	struct dp_usb_list list = {0};
	struct dp_usb_device *d = NULL;
	int ret = dp_usb_scan(&list, 0), found = ret < 0 ? ret : dp_usb_lookup(&list, want->spec, &d);
	if (found == 0 && d->critical)
		ret = dp_vm_report_add(r, "usb", DP_VM_FAIL, NULL, "USB %s (%04x:%04x at %s): the host "
		                       "needs it: %s", want->spec, d->vendor_id, d->product_id, d->location,
		                       d->critical_reason ? d->critical_reason : "");
	else if (found == 0 && d->in_use)
		ret = dp_vm_report_add(r, "usb", DP_VM_FAIL, NULL, "USB %s (%04x:%04x at %s) is held "
		                       "open by a process (%s)", want->spec, d->vendor_id, d->product_id,
		                       d->location, d->in_use_by);
	else if (found == -EEXIST)
		ret = dp_vm_report_add(r, "usb", DP_VM_FAIL, NULL, "USB %s: more than one device has "
		                       "this id; QEMU would take any of them: name the port", want->spec);
	else
		ret = dp_vm_report_add(r, "usb", found == 0 ? DP_VM_OK : DP_VM_WARN, NULL, "USB %s: %s",
		                       want->spec, found == 0 ? "present and free" : "not plugged in "
		                       "now (the guest gets it when it appears)");
	dp_usb_list_free(&list);
	return ret;
}

static int plan_usb_pool(const struct dp_vm_device *want, struct dp_vm_report *r)
{
	struct dp_pool_members m = {0};
	static const struct dp_pci_list none = {0};
	int ret = dp_pool_members_read(&none, want->spec, &m);
	if (ret < 0)
		return dp_vm_report_add(r, "usb", DP_VM_FAIL, NULL, "%s", dp_error_message());
	unsigned free_n = 0;
	for (size_t i = 0; i < m.n; i++)
		free_n += m.m[i].state == DP_MEMBER_FREE;
	dp_pool_members_free(&m);
	if (free_n >= want->count)
		return dp_vm_report_add(r, "usb", DP_VM_OK, NULL, "usb pool %s: %u device(s) free, the "
		                        "VM needs %u (claimed when it starts)", want->spec, free_n,
		                        want->count);
	return dp_vm_report_add(r, "usb", DP_VM_FAIL, NULL, "usb pool %s: the VM needs %u "
	                        "device(s), %u %s free", want->spec, want->count, free_n,
	                        free_n == 1 ? "is" : "are");
}

int dp_vm_plan_usb(struct dp_vm_plan *p, const struct dp_vm_device *want, struct dp_vm_report *r)
{
	enum vm_usb_spec kind = dp_vm_usb_spec_kind(want->spec);
	if (kind == VM_USB_POOL)
		return plan_usb_pool(want, r);
	int ret = dp_vm_usb_host_add(&p->usb_hosts, kind, want->spec);
	return ret < 0 ? ret : usb_device_check(want, r);
}
