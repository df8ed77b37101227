/* Hostdev elements as libvirt's domain XML has them (formatdomain: "Host device
 * assignment", "Passthrough of a PCI network device"). PCI functions are managed='no':
 * devpass binds whole IOMMU groups itself, libvirt adopts what sits on vfio-pci. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "export/export.h"
#include "util/error.h"

static void host_pci_address(struct dp_xml *x, const char *address, bool typed)
{
	struct dp_pci_addr a = {0};
	if (dp_pci_addr_parse(address, &a) < 0) {
		x->err = x->err ? x->err : -EINVAL;
		return;
	}
	dp_xml_start(x, "address");
	if (typed)
		dp_xml_attr(x, "type", "pci");
	dp_xml_attrf(x, "domain", "0x%04x", a.domain);
	dp_xml_attrf(x, "bus", "0x%02x", a.bus);
	dp_xml_attrf(x, "slot", "0x%02x", a.slot);
	dp_xml_attrf(x, "function", "0x%x", a.func);
	dp_xml_end(x);
}

static void guest_address(struct dp_xml *x, const struct dp_hostdev *h, unsigned flags)
{
	if (!h->guest.set || (flags & DP_HOSTDEV_XML_NO_ADDRESS))
		return;
	dp_xml_start(x, "address");
	dp_xml_attr(x, "type", "pci");
	dp_xml_attr(x, "domain", "0x0000");
	dp_xml_attrf(x, "bus", "0x%02x", h->guest.bus);
	dp_xml_attrf(x, "slot", "0x%02x", h->guest.slot);
	dp_xml_attrf(x, "function", "0x%x", h->guest.function);
	if (h->guest.multifunction)
		dp_xml_attr(x, "multifunction", "on");
	dp_xml_end(x);
}

static void alias(struct dp_xml *x, const struct dp_hostdev *h)
{
	if (!h->alias[0])
		return;
	dp_xml_start(x, "alias");
	dp_xml_attr(x, "name", h->alias);
	dp_xml_end(x);
}

static void vfio_driver(struct dp_xml *x)
{
	dp_xml_start(x, "driver");
	dp_xml_attr(x, "name", "vfio");
	dp_xml_end(x);
}

static void hostdev_open(struct dp_xml *x, const char *type)
{
	dp_xml_start(x, "hostdev");
	dp_xml_attr(x, "mode", "subsystem");
	dp_xml_attr(x, "type", type);
}

static void render_pci(struct dp_xml *x, const struct dp_hostdev *h, unsigned flags)
{
	hostdev_open(x, "pci");
	dp_xml_attr(x, "managed", "no");
	vfio_driver(x);
	dp_xml_start(x, "source");
	host_pci_address(x, h->address, false);
	dp_xml_end(x);
	alias(x, h);
	guest_address(x, h, flags);
	dp_xml_end(x);
}

static void usb_id(struct dp_xml *x, const char *element, uint16_t id)
{
	dp_xml_start(x, element);
	dp_xml_attrf(x, "id", "0x%04x", id);
	dp_xml_end(x);
}

static void render_usb(struct dp_xml *x, const struct dp_hostdev *h)
{
	hostdev_open(x, "usb");
	dp_xml_start(x, "source");
	usb_id(x, "vendor", h->usb_vendor);
	usb_id(x, "product", h->usb_product);
	if (h->usb_bus > 0 && h->usb_device > 0) {   /* vid:pid alone names several */
		dp_xml_start(x, "address");
		dp_xml_attrf(x, "bus", "%d", h->usb_bus);
		dp_xml_attrf(x, "device", "%d", h->usb_device);
		dp_xml_end(x);
	}
	dp_xml_end(x);
	alias(x, h);
	dp_xml_end(x);
}

static void render_mdev(struct dp_xml *x, const struct dp_hostdev *h, unsigned flags)
{
	hostdev_open(x, "mdev");
	dp_xml_attr(x, "model", "vfio-pci");
	dp_xml_start(x, "source");
	dp_xml_start(x, "address");
	dp_xml_attr(x, "uuid", h->uuid);
	dp_xml_end(x);
	dp_xml_end(x);
	alias(x, h);
	guest_address(x, h, flags);
	dp_xml_end(x);
}

static void render_net(struct dp_xml *x, const struct dp_hostdev *h, unsigned flags)
{
	dp_xml_start(x, "interface");
	dp_xml_attr(x, "type", "hostdev");
	dp_xml_attr(x, "managed", "no");
	if (h->mac[0]) {
		dp_xml_start(x, "mac");
		dp_xml_attr(x, "address", h->mac);
		dp_xml_end(x);
	}
	dp_xml_start(x, "source");
	host_pci_address(x, h->address, true);
	dp_xml_end(x);
	if (h->vlan > 0) {
		dp_xml_start(x, "vlan");
		dp_xml_start(x, "tag");
		dp_xml_attrf(x, "id", "%d", h->vlan);
		dp_xml_end(x);
		dp_xml_end(x);
	}
	vfio_driver(x);
	alias(x, h);
	guest_address(x, h, flags);
	dp_xml_end(x);
}

/* What libvirt would refuse anyway, refused here with the device named. */
static int hostdev_check(const struct dp_hostdev *h)
{
	struct dp_pci_addr a;
	bool pci = h->kind == DP_HOSTDEV_PCI || h->kind == DP_HOSTDEV_NET;
	if (pci && dp_pci_addr_parse(h->address, &a) < 0)
		return dp_error_set(-EINVAL, "'%s' is not a PCI address", h->address);
	if (h->kind == DP_HOSTDEV_MDEV && !dp_mdev_uuid_valid(h->uuid))
		return dp_error_set(-EINVAL, "'%s' is not an mdev UUID", h->uuid);
	if (h->kind > DP_HOSTDEV_NET)
		return dp_error_set(-EINVAL, "unknown hostdev kind %d", (int)h->kind);
	if (h->guest.set && (h->guest.bus < 0 || h->guest.bus > 0xff || h->guest.slot < 0 ||
	                     h->guest.slot > 0x1f || h->guest.function < 0 || h->guest.function > 7))
		return dp_error_set(-ERANGE, "guest address %02x:%02x.%x of %s is out of range",
		                    h->guest.bus, h->guest.slot, h->guest.function, h->alias);
	return 0;
}

static void render_one(struct dp_xml *x, const struct dp_hostdev *h, unsigned flags)
{
	switch (h->kind) {
	case DP_HOSTDEV_PCI: render_pci(x, h, flags); break;
	case DP_HOSTDEV_USB: render_usb(x, h); break;
	case DP_HOSTDEV_MDEV: render_mdev(x, h, flags); break;
	case DP_HOSTDEV_NET: render_net(x, h, flags); break;
	}
}

int dp_hostdev_render(struct dp_xml *x, const struct dp_hostdev *h, unsigned flags)
{
	int r = hostdev_check(h);
	if (r == 0)
		render_one(x, h, flags);
	return r;
}

int dp_hostdev_xml(const struct dp_hostdev *h, unsigned flags, char **xml)
{
	struct dp_xml x;
	int r = hostdev_check(h);
	if (r < 0 || (r = dp_xml_open(&x)) < 0)
		return r;
	render_one(&x, h, flags);
	return dp_xml_finish(&x, xml);
}

static void entry_comment(struct dp_xml *x, const struct dp_hostdev *h)
{
	char text[160];
	const char *pool = h->pool[0] ? h->pool : NULL;
	if (h->group >= 0)
		snprintf(text, sizeof(text), "%s%s%sIOMMU group %d", pool ? "pool " : "", pool ? pool : "",
		         pool ? ", " : "", h->group);
	else
		snprintf(text, sizeof(text), "%s%s", pool ? "pool " : "", pool ? pool : "no pool");
	dp_xml_comment(x, text);
}

int dp_hostdev_set_xml(const struct dp_hostdev_set *s, unsigned flags, char **xml)
{
	struct dp_xml x;
	int r = 0;
	for (size_t i = 0; r == 0 && i < s->n; i++)
		r = hostdev_check(&s->h[i]);
	if (r < 0 || (r = dp_xml_open(&x)) < 0)
		return r;
	for (size_t i = 0; i < s->n; i++) {
		entry_comment(&x, &s->h[i]);
		render_one(&x, &s->h[i], flags);
	}
	return dp_xml_finish(&x, xml);
}
