/* A PCI function as libvirt's node-device XML (`virsh nodedev-dumpxml pci_…`), so tools
 * written against libvirt's view can read devpass's. nodedev.rng makes both <device> and
 * the PCI capability sequences: the elements below are written in the schema's order. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "export/export.h"
#include "util/error.h"

DEFINE_CLEANUP_STRUCT(dp_pci_details, dp_pci_details_free)

/* "0000:41:00.0" -> "pci_0000_41_00_0", libvirt's node-device name */
static void nodedev_name(const char *address, char out[32])
{
	snprintf(out, 32, "pci_%s", address);
	for (char *c = out; *c; c++)
		if (*c == ':' || *c == '.')
			*c = '_';
}

static void address_element(struct dp_xml *x, const char *address)
{
	struct dp_pci_addr a;
	if (dp_pci_addr_parse(address, &a) < 0)
		return;   /* a sysfs link that names no PCI function: left out */
	dp_xml_start(x, "address");
	dp_xml_attrf(x, "domain", "0x%04x", a.domain);
	dp_xml_attrf(x, "bus", "0x%02x", a.bus);
	dp_xml_attrf(x, "slot", "0x%02x", a.slot);
	dp_xml_attrf(x, "function", "0x%x", a.func);
	dp_xml_end(x);
}

static void decimal_element(struct dp_xml *x, const char *element, unsigned value)
{
	char text[16];
	snprintf(text, sizeof(text), "%u", value);
	dp_xml_text_element(x, element, text);
}

static void id_element(struct dp_xml *x, const char *element, uint16_t id, const char *name)
{
	dp_xml_start(x, element);
	dp_xml_attrf(x, "id", "0x%04x", id);
	if (name && *name && x->err == 0 && xmlTextWriterWriteString(x->w, BAD_CAST name) < 0)
		x->err = -EIO;
	dp_xml_end(x);
}

static void sriov_caps(struct dp_xml *x, const struct dp_pci_details *d)
{
	if (d->physfn[0]) {
		dp_xml_start(x, "capability");
		dp_xml_attr(x, "type", "phys_function");
		address_element(x, d->physfn);
		dp_xml_end(x);
	}
	if (d->sriov_total > 0) {
		dp_xml_start(x, "capability");
		dp_xml_attr(x, "type", "virt_functions");
		dp_xml_attrf(x, "maxCount", "%d", d->sriov_total);
		for (size_t i = 0; i < d->vfs.n; i++)
			address_element(x, d->vfs.v[i]);
		dp_xml_end(x);
	}
}

static bool device_api_known(const char *api)
{
	return strcmp(api, "vfio-pci") == 0 || strcmp(api, "vfio-ccw") == 0 ||
	       strcmp(api, "vfio-ap") == 0;
}

static void mdev_type(struct dp_xml *x, const struct dp_mdev_type *t)
{
	char count[16];
	dp_xml_start(x, "type");
	dp_xml_attr(x, "id", t->type);
	if (t->name && *t->name)
		dp_xml_text_element(x, "name", t->name);
	dp_xml_text_element(x, "deviceAPI", t->device_api);
	snprintf(count, sizeof(count), "%d", t->available > 0 ? t->available : 0);
	dp_xml_text_element(x, "availableInstances", count);
	dp_xml_end(x);
}

/* An mdev parent lists the types it can create (as libvirt's mdev_types capability);
 * a type whose device API libvirt does not know is left out. */
static int mdev_types(struct dp_xml *x, const struct dp_pci_device *dev)
{
	_cleanup_(dp_mdev_type_list_freep) struct dp_mdev_type_list tl = {0};
	int r = dp_mdev_types_read(dev->address, &tl);
	if (r == -ENOENT)
		return 0;   /* no mdev parent */
	if (r < 0)
		return r;
	size_t known = 0;
	for (size_t i = 0; i < tl.n; i++)
		known += device_api_known(tl.t[i].device_api);
	if (known == 0)
		return 0;
	dp_xml_start(x, "capability");
	dp_xml_attr(x, "type", "mdev_types");
	for (size_t i = 0; i < tl.n; i++)
		if (device_api_known(tl.t[i].device_api))
			mdev_type(x, &tl.t[i]);
	dp_xml_end(x);
	return 0;
}

static void iommu_group(struct dp_xml *x, const struct dp_pci_list *list,
                        const struct dp_pci_device *dev)
{
	if (dev->iommu_group == DP_NO_GROUP)
		return;
	dp_xml_start(x, "iommuGroup");
	dp_xml_attrf(x, "number", "%d", dev->iommu_group);
	for (size_t i = 0; i < list->n; i++)   /* every member, the device itself too */
		if (list->dev[i].iommu_group == dev->iommu_group)
			address_element(x, list->dev[i].address);
	dp_xml_end(x);
}

/* libvirt writes the speed in GT/s as a bare number: "2.5", "16" */
static void link_element(struct dp_xml *x, const char *validity, unsigned speed, unsigned width)
{
	char gts[16];
	snprintf(gts, sizeof(gts), "%s", dp_pcie_speed_name(speed));
	char *unit = strstr(gts, "GT/s");
	dp_xml_start(x, "link");
	dp_xml_attr(x, "validity", validity);
	if (strcmp(validity, "cap") == 0)
		dp_xml_attr(x, "port", "0");
	if (unit) {
		*unit = '\0';
		dp_xml_attr(x, "speed", gts);
	}
	dp_xml_attrf(x, "width", "%u", width);
	dp_xml_end(x);
}

static void pci_express(struct dp_xml *x, const struct dp_pci_details *d)
{
	if (!d->config_read || d->pcie_type < 0)
		return;   /* conventional PCI, or nothing known */
	dp_xml_start(x, "pci-express");
	if (d->link.present) {
		link_element(x, "cap", d->link.cap_speed, d->link.cap_width);
		link_element(x, "sta", d->link.sta_speed, d->link.sta_width);
	}
	dp_xml_end(x);
}

static void device_header(struct dp_xml *x, const struct dp_pci_list *list,
                          const struct dp_pci_device *dev)
{
	char name[32], path[512];
	nodedev_name(dev->address, name);
	dp_xml_text_element(x, "name", name);
	if (dev->sysfs_path && snprintf(path, sizeof(path), "/%s", dev->sysfs_path) < (int)sizeof(path))
		dp_xml_text_element(x, "path", path);
	const struct dp_pci_device *up = dev->parent[0] ? dp_pci_list_find(list, dev->parent) : NULL;
	if (up)
		nodedev_name(up->address, name);
	dp_xml_text_element(x, "parent", up ? name : "computer");
	if (dev->driver[0]) {
		dp_xml_start(x, "driver");
		dp_xml_text_element(x, "name", dev->driver);
		dp_xml_end(x);
	}
}

static int pci_body(struct dp_xml *x, const struct dp_pci_list *list,
                    const struct dp_pci_device *dev, const struct dp_pci_details *d)
{
	char class[16];
	snprintf(class, sizeof(class), "0x%06x", dev->class_code & 0xffffff);
	dp_xml_start(x, "capability");
	dp_xml_attr(x, "type", "pci");
	dp_xml_text_element(x, "class", class);
	decimal_element(x, "domain", dev->addr.domain);
	decimal_element(x, "bus", dev->addr.bus);
	decimal_element(x, "slot", dev->addr.slot);
	decimal_element(x, "function", dev->addr.func);
	id_element(x, "product", dev->device, dev->device_name);
	id_element(x, "vendor", dev->vendor, dev->vendor_name);
	sriov_caps(x, d);
	if (dp_pci_device_is_bridge(dev)) {
		dp_xml_start(x, "capability");
		dp_xml_attr(x, "type", "pci-bridge");
		dp_xml_end(x);
	}
	int r = mdev_types(x, dev);
	if (r < 0)
		return r;
	iommu_group(x, list, dev);
	if (dev->numa_node != DP_NO_NUMA) {
		dp_xml_start(x, "numa");
		dp_xml_attrf(x, "node", "%d", dev->numa_node);
		dp_xml_end(x);
	}
	pci_express(x, d);
	dp_xml_end(x);
	return 0;
}

int dp_nodedev_xml(const struct dp_pci_list *list, const char *address, char **xml)
{
	_cleanup_(dp_pci_details_freep) struct dp_pci_details d = {0};
	struct dp_pci_device *dev = NULL;
	int r = dp_pci_device_lookup(list, address, &dev);
	if (r < 0 || (r = dp_pci_details_read(dev, &d)) < 0)
		return r;
	struct dp_xml x;
	if ((r = dp_xml_open(&x)) < 0)
		return r;
	dp_xml_start(&x, "device");
	device_header(&x, list, dev);
	if ((r = pci_body(&x, list, dev, &d)) < 0) {
		dp_xml_close(&x);
		return r;
	}
	dp_xml_end(&x);
	return dp_xml_finish(&x, xml);
}
