/* Per-device details for `show`: capabilities read from config space (register names
 * from libpci's header.h), plus the sysfs attributes that only one device needs. */
#include <errno.h>
#include <libkmod.h>
#include <limits.h>
#include <pci/pci.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "alloc-util.h"
#include "fs/sysroot.h"
#include "inventory/inventory.h"

static unsigned cfg8(const uint8_t *c, size_t len, size_t off)
{
	return off < len ? c[off] : 0;
}

static unsigned cfg16(const uint8_t *c, size_t len, size_t off)
{
	return cfg8(c, len, off) | cfg8(c, len, off + 1) << 8;
}

static uint32_t cfg32(const uint8_t *c, size_t len, size_t off)
{
	return (uint32_t)cfg16(c, len, off) | (uint32_t)cfg16(c, len, off + 2) << 16;
}

static void pcie_cap_parse(const uint8_t *c, size_t len, unsigned at, struct dp_pci_details *d)
{
	d->pcie_type = (int)((cfg16(c, len, at + 2) & PCI_EXP_FLAGS_TYPE) >> 4);
	d->flr = cfg32(c, len, at + PCI_EXP_DEVCAP) & PCI_EXP_DEVCAP_FLRESET;
	uint32_t lnkcap = cfg32(c, len, at + PCI_EXP_LNKCAP);
	unsigned lnksta = cfg16(c, len, at + PCI_EXP_LNKSTA);
	/* root complex integrated endpoints have no link */
	d->link.present = lnkcap != 0 && d->pcie_type != PCI_EXP_TYPE_ROOT_INT_EP;
	d->link.cap_speed = lnkcap & PCI_EXP_LNKCAP_SPEED;
	d->link.cap_width = (lnkcap & PCI_EXP_LNKCAP_WIDTH) >> 4;
	d->link.sta_speed = lnksta & PCI_EXP_LNKSTA_SPEED;
	d->link.sta_width = (lnksta & PCI_EXP_LNKSTA_WIDTH) >> 4;
}

static void caps_walk(const uint8_t *c, size_t len, struct dp_pci_details *d)
{
	if (!(cfg16(c, len, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return;
	unsigned at = cfg8(c, len, (d->header_type & 0x7f) == 2 ? PCI_CB_CAPABILITY_LIST
	                                                          : PCI_CAPABILITY_LIST) & ~3u;
	for (int guard = 0; at >= 0x40 && at < len && guard < 48; guard++) {
		unsigned id = cfg8(c, len, at);
		if (id == PCI_CAP_ID_EXP)
			pcie_cap_parse(c, len, at, d);
		else if (id == PCI_CAP_ID_PM)
			d->pm_reset = !(cfg16(c, len, at + PCI_PM_CTRL) & PCI_PM_CTRL_NO_SOFT_RST);
		else if (id == PCI_CAP_ID_AF)
			d->af_flr = cfg8(c, len, at + PCI_AF_CAP) & PCI_AF_CAP_FLR;
		at = cfg8(c, len, at + 1) & ~3u;
	}
}

static void ext_caps_walk(const uint8_t *c, size_t len, struct dp_pci_details *d)
{
	unsigned at = 0x100;
	for (int guard = 0; at >= 0x100 && at + 4 <= len && guard < 256; guard++) {
		uint32_t header = cfg32(c, len, at);
		if (header == 0 || header == 0xffffffff)
			return;
		switch (header & 0xffff) {
		case PCI_EXT_CAP_ID_ACS:
			d->acs = true;
			d->acs_cap = cfg16(c, len, at + PCI_ACS_CAP);
			d->acs_ctrl = cfg16(c, len, at + PCI_ACS_CTRL);
			break;
		case PCI_EXT_CAP_ID_SRIOV:
			d->sriov_cap = true;
			break;
		case PCI_EXT_CAP_ID_DSN:
			d->has_dsn = true;
			d->dsn = (uint64_t)cfg32(c, len, at + 8) << 32 | cfg32(c, len, at + 4);
			break;
		}
		at = (header >> 20) & ~3u;
	}
}

int dp_pci_config_parse(const uint8_t *cfg, size_t len, struct dp_pci_details *out)
{
	out->pcie_type = -1;
	if (len < 64)
		return -EINVAL;
	out->config_read = true;
	out->header_type = cfg8(cfg, len, PCI_HEADER_TYPE);
	caps_walk(cfg, len, out);
	if (len > 0x100)
		ext_caps_walk(cfg, len, out);
	return 0;
}

const char *dp_pcie_speed_name(unsigned code)
{
	static const char *const names[] = {"unknown", "2.5GT/s", "5GT/s", "8GT/s", "16GT/s",
	                                    "32GT/s", "64GT/s"};
	return code < sizeof(names) / sizeof(names[0]) ? names[code] : "unknown";
}

const char *dp_pcie_type_name(int type)
{
	switch (type) {
	case PCI_EXP_TYPE_ENDPOINT: return "endpoint";
	case PCI_EXP_TYPE_LEG_END: return "legacy endpoint";
	case PCI_EXP_TYPE_ROOT_PORT: return "root port";
	case PCI_EXP_TYPE_UPSTREAM: return "switch upstream port";
	case PCI_EXP_TYPE_DOWNSTREAM: return "switch downstream port";
	case PCI_EXP_TYPE_PCI_BRIDGE: return "PCIe-to-PCI bridge";
	case PCI_EXP_TYPE_PCIE_BRIDGE: return "PCI-to-PCIe bridge";
	case PCI_EXP_TYPE_ROOT_INT_EP: return "root complex integrated endpoint";
	case PCI_EXP_TYPE_ROOT_EC: return "root complex event collector";
	case -1: return "conventional PCI";
	default: return "unknown";
	}
}

/* ---- sysfs extras --------------------------------------------------------------- */

static int attr_line(const struct dp_pci_device *dev, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dev->sysfs_path, name);
	return dp_fs_read_line(path, buf, size);
}

static int attr_int(const struct dp_pci_device *dev, const char *name, int fallback)
{
	char buf[32];
	return attr_line(dev, name, buf, sizeof(buf)) > 0 ? atoi(buf) : fallback;
}

void dp_pci_physfn_read(const struct dp_pci_device *dev, char out[DP_ADDR_LEN])
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/physfn", dev->sysfs_path);
	if (dp_fs_readlink_name(path, out, DP_ADDR_LEN) < 0)
		out[0] = '\0';
}

int dp_pci_sriov_total(const struct dp_pci_device *dev)
{
	return attr_int(dev, "sriov_totalvfs", -1);
}

/* -ENOMEM when a VF could not be listed. */
static int sriov_read(const struct dp_pci_device *dev, struct dp_pci_details *d)
{
	char path[PATH_MAX];
	d->sriov_total = dp_pci_sriov_total(dev);
	d->sriov_num = d->sriov_total >= 0 ? attr_int(dev, "sriov_numvfs", 0) : -1;
	dp_pci_physfn_read(dev, d->physfn);
	if (d->sriov_total < 0)
		return 0;
	_cleanup_closedir_ DIR *dir = dp_fs_opendir(dev->sysfs_path);
	struct dirent *de;
	while (dir && (de = readdir(dir))) {
		char name[DP_ADDR_LEN];
		if (strncmp(de->d_name, "virtfn", 6) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dev->sysfs_path, de->d_name);
		if (dp_fs_readlink_name(path, name, sizeof(name)) == 0 && dp_strv_add(&d->vfs, name) < 0)
			return -ENOMEM;
	}
	/* virtfn10 sorts before virtfn2 in a directory: order by address instead */
	for (size_t i = 1; i < d->vfs.n; i++)
		for (size_t j = i; j > 0 && strcmp(d->vfs.v[j - 1], d->vfs.v[j]) > 0; j--) {
			char *t = d->vfs.v[j];
			d->vfs.v[j] = d->vfs.v[j - 1];
			d->vfs.v[j - 1] = t;
		}
	return 0;
}

DEFINE_CLEANUP_PTR(struct kmod_ctx, kmod_unref, kmod_unrefp)
DEFINE_CLEANUP_PTR(struct kmod_list, kmod_module_unref_list, kmod_module_unref_listp)
DEFINE_CLEANUP_PTR(struct kmod_module, kmod_module_unref, kmod_module_unrefp)

/* Kernel modules whose aliases match the device, the way modprobe would pick them.
 * -ENOMEM when one could not be listed; no modules directory is not a failure. */
static int modules_read(const struct dp_pci_device *dev, struct dp_pci_details *d)
{
	char release[128], rel[PATH_MAX], dir[PATH_MAX];
	if (!dev->modalias || dp_fs_read_line("proc/sys/kernel/osrelease", release, sizeof(release)) <= 0)
		return 0;
	snprintf(rel, sizeof(rel), "lib/modules/%s", release);
	if (!dp_fs_exists(rel) && (snprintf(rel, sizeof(rel), "usr/lib/modules/%s", release), !dp_fs_exists(rel)))
		return 0;
	if (dp_fs_host_path(rel, dir, sizeof(dir)) < 0)
		return 0;
	_cleanup_(kmod_unrefp) struct kmod_ctx *ctx = kmod_new(dir, NULL);
	if (!ctx)
		return 0;
	kmod_set_log_priority(ctx, 0);
	_cleanup_(kmod_module_unref_listp) struct kmod_list *list = NULL;
	struct kmod_list *it;
	if (kmod_module_new_from_lookup(ctx, dev->modalias, &list) != 0)
		return 0;
	kmod_list_foreach(it, list) {
		_cleanup_(kmod_module_unrefp) struct kmod_module *mod = kmod_module_get_module(it);
		const char *name = kmod_module_get_name(mod);
		if (!dp_strv_contains(&d->modules, name) && dp_strv_add(&d->modules, name) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void nvme_serial_read(const struct dp_pci_device *dev, struct dp_pci_details *d)
{
	char dir[PATH_MAX], path[PATH_MAX + NAME_MAX];
	snprintf(dir, sizeof(dir), "%s/nvme", dev->sysfs_path);
	_cleanup_closedir_ DIR *dd = dp_fs_opendir(dir);
	struct dirent *de;
	while (dd && (de = readdir(dd))) {
		if (strncmp(de->d_name, "nvme", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/serial", dir, de->d_name);
		if (dp_fs_read_line(path, d->nvme_serial, sizeof(d->nvme_serial)) > 0)
			break;
	}
}

int dp_pci_details_read(const struct dp_pci_device *dev, struct dp_pci_details *out)
{
	char path[PATH_MAX];
	uint8_t cfg[4097];
	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/config", dev->sysfs_path);
	ssize_t n = dp_fs_read(path, (char *)cfg, sizeof(cfg));
	dp_pci_config_parse(cfg, n > 0 ? (size_t)n : 0, out);

	/* the kernel waits for the device lock to show driver_override, and a hung unbind
	 * holds it: read it with a bound, and say so rather than hang */
	snprintf(path, sizeof(path), "%s/driver_override", dev->sysfs_path);
	int r = dp_fs_read_line_timeout(path, out->driver_override, sizeof(out->driver_override), 2000);
	if (r == -ETIMEDOUT)
		snprintf(out->driver_override, sizeof(out->driver_override),
		         "(unreadable: the device is locked; an unbind may be hanging)");
	else if (r <= 0 || strcmp(out->driver_override, "(null)") == 0)
		out->driver_override[0] = '\0';
	out->reset_method_file =
		attr_line(dev, "reset_method", out->reset_methods, sizeof(out->reset_methods)) >= 0;
	out->boot_vga = attr_int(dev, "boot_vga", -1);
	snprintf(path, sizeof(path), "%s/rom", dev->sysfs_path);
	out->rom = dp_fs_exists(path);
	if (attr_line(dev, "local_cpulist", out->local_cpulist, sizeof(out->local_cpulist)) < 0)
		out->local_cpulist[0] = '\0';
	if (sriov_read(dev, out) < 0 || modules_read(dev, out) < 0) {
		dp_pci_details_free(out);   /* left empty: freeing it again is harmless */
		return dp_error_set(-ENOMEM, "out of memory reading %s", dev->address);
	}
	if (strcmp(dev->driver, "nvme") == 0)
		nvme_serial_read(dev, out);
	return 0;
}

/* lspci's form of a Device Serial Number: 00-1b-21-ff-fe-0a-0b-0c */
void dp_dsn_format(uint64_t dsn, char *out, size_t size)
{
	snprintf(out, size, "%02x-%02x-%02x-%02x-%02x-%02x-%02x-%02x",
	         (unsigned)(dsn >> 56) & 0xff, (unsigned)(dsn >> 48) & 0xff, (unsigned)(dsn >> 40) & 0xff,
	         (unsigned)(dsn >> 32) & 0xff, (unsigned)(dsn >> 24) & 0xff, (unsigned)(dsn >> 16) & 0xff,
	         (unsigned)(dsn >> 8) & 0xff, (unsigned)dsn & 0xff);
}

/* What identifies a device beyond its ids, without what `show` adds (libkmod, reset
 * methods): pools read it for every candidate at every claim. */
int dp_pci_identity_read(const struct dp_pci_device *dev, struct dp_pci_identity *out)
{
	char path[PATH_MAX];
	uint8_t cfg[4097];
	struct dp_pci_details d = {0};
	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/config", dev->sysfs_path);
	ssize_t n = dp_fs_read(path, (char *)cfg, sizeof(cfg));
	dp_pci_config_parse(cfg, n > 0 ? (size_t)n : 0, &d);
	if (d.has_dsn)
		dp_dsn_format(d.dsn, out->dsn, sizeof(out->dsn));
	out->sriov_total = dp_pci_sriov_total(dev);
	dp_pci_physfn_read(dev, out->physfn);
	if (strcmp(dev->driver, "nvme") == 0) {
		nvme_serial_read(dev, &d);
		snprintf(out->serial, sizeof(out->serial), "%s", d.nvme_serial);
	}
	dp_pci_details_free(&d);
	return 0;
}

void dp_pci_details_free(struct dp_pci_details *d)
{
	dp_strv_free(&d->vfs);
	dp_strv_free(&d->modules);
}
