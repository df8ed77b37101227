/* What a VM's start would do: its devices resolved into host functions (every endpoint of
 * each IOMMU group; pool members as the claim would pick them), the checks that decide
 * whether it can, and the QEMU command line. Validate, --dry-run and start share it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "util/error.h"
#include "vm/vm.h"

void dp_vm_plan_free(struct dp_vm_plan *p)
{
	free(p->fns);
	dp_strv_free(&p->explicit_addrs);
	dp_strv_free(&p->pool_preview);
	dp_strv_free(&p->usb_hosts);
	dp_strv_free(&p->mdevs);
	memset(p, 0, sizeof(*p));
}

const char *dp_vm_qemu_binary(const struct dp_vm_options *o)
{
	const char *env = getenv("DEVPASS_QEMU");
	return o && o->qemu ? o->qemu : env && env[0] ? env : "qemu-system-x86_64";
}

static int fn_add(struct dp_vm_plan *p, const struct dp_pci_device *dev, const char *options,
                  const char *pool)
{
	for (size_t i = 0; i < p->nfns; i++)
		if (strcmp(p->fns[i].address, dev->address) == 0)
			return 0;   /* a group already brought along */
	if (dp_array_grow(&p->fns, p->nfns, 1, sizeof(*p->fns)) < 0)
		return dp_oom();
	struct dp_vm_hostfn *f = &p->fns[p->nfns++];
	memset(f, 0, sizeof(*f));
	snprintf(f->address, sizeof(f->address), "%s", dev->address);
	f->addr = dev->addr;
	f->group = dev->iommu_group;
	f->options = options && options[0] ? options : NULL;
	f->pool = pool;
	return 0;
}

/* One device asked for by address (or chosen at create): its whole group comes along. */
static int plan_address(struct dp_vm_plan *p, const struct dp_pci_list *list, const char *address,
                        const char *options, struct dp_vm_report *r)
{
	struct dp_pci_device *dev = NULL;
	if (dp_pci_device_lookup(list, address, &dev) < 0)
		return dp_vm_report_add(r, "device", DP_VM_FAIL, NULL, "%s", dp_error_message());
	if (dp_pci_device_is_bridge(dev))
		return dp_vm_report_add(r, "device", DP_VM_FAIL, NULL, "%s is a PCI bridge: bridges "
		                        "stay with the host", dev->address);
	_cleanup_(dp_strv_freep) struct dp_strv members = {0};
	int ret = dp_vm_group_endpoints(list, dev->address, &members);
	if (ret < 0)
		return dp_vm_report_add(r, "device", DP_VM_FAIL, NULL, "%s", dp_error_message());
	if (!dp_strv_contains(&p->explicit_addrs, dev->address) &&
	    dp_strv_add(&p->explicit_addrs, dev->address) < 0)
		return dp_oom();
	for (size_t i = 0; i < members.n; i++) {
		struct dp_pci_device *m = dp_pci_list_find(list, members.v[i]);
		if (m && (ret = fn_add(p, m, m == dev ? options : NULL, NULL)) < 0)
			return ret;
	}
	return 0;
}

/* Pool members are picked by the claim at start; the preview takes the free ones in
 * address order, which is what the claim does when no NUMA node is preferred. */
static int plan_pool(struct dp_vm_plan *p, const struct dp_pci_list *list,
                     const struct dp_vm_device *want, bool preview, struct dp_vm_report *r)
{
	struct dp_pool_members m = {0};
	int ret = dp_pool_members_read(list, want->spec, &m);
	if (ret < 0)
		return dp_vm_report_add(r, "pool", DP_VM_FAIL, NULL, "%s", dp_error_message());
	unsigned found = 0;
	for (size_t i = 0; i < m.n && found < want->count; i++) {
		if (m.m[i].state != DP_MEMBER_FREE || !m.m[i].dev ||
		    dp_strv_contains(&p->pool_preview, m.m[i].address))
			continue;
		found++;
		if (dp_strv_add(&p->pool_preview, m.m[i].address) < 0 ||
		    (preview && fn_add(p, m.m[i].dev, NULL, want->spec) < 0)) {
			dp_pool_members_free(&m);
			return dp_oom();
		}
	}
	dp_pool_members_free(&m);
	if (found == want->count)
		return dp_vm_report_add(r, "pool", DP_VM_OK, NULL, "pool %s: the %u member(s) the VM "
		                        "needs are free now (picked when it starts)", want->spec, found);
	return dp_vm_report_add(r, "pool", DP_VM_FAIL, NULL, "pool %s: the VM needs %u member(s), "
	                        "%u %s free", want->spec, want->count, found, found == 1 ? "is" : "are");
}

static int plan_devices(struct dp_vm_plan *p, const struct dp_vm_def *def,
                        const struct dp_pci_list *list, bool preview, struct dp_vm_report *r)
{
	for (size_t i = 0; i < def->ndevices; i++) {
		const struct dp_vm_device *d = &def->devices[i];
		const char *addr = d->want == DP_VM_WANT_ADDRESS ? d->spec : d->address;
		if (d->want != DP_VM_WANT_POOL && d->want != DP_VM_WANT_USB &&
		    d->want != DP_VM_WANT_MDEV && !addr[0])
			continue;   /* a gpu/nvme request nothing was chosen for: its FAIL is reported */
		int ret = d->want == DP_VM_WANT_POOL ? plan_pool(p, list, d, preview, r)
		          : d->want == DP_VM_WANT_USB ? dp_vm_plan_usb(p, d, r)
		          : d->want == DP_VM_WANT_MDEV ? dp_vm_plan_mdev(d, r)
		          : plan_address(p, list, addr, d->options, r);
		if (ret < 0)
			return ret;
	}
	int n = dp_vm_guest_layout(p->fns, p->nfns);
	if (n < 0)
		return dp_vm_report_add(r, "layout", DP_VM_FAIL, NULL, "%s", dp_error_message());
	p->nports = n;
	return 0;
}

/* Functions a claim brought (a member's whole group) join the plan, which is laid out again. */
int dp_vm_plan_add_functions(struct dp_vm_plan *p, const struct dp_pci_list *list,
                             const struct dp_strv *functions, const char *pool)
{
	for (size_t i = 0; i < functions->n; i++) {
		const struct dp_pci_device *dev = dp_pci_list_find(list, functions->v[i]);
		if (!dev)
			return dp_error_set(-ENODEV, "claimed function %s is not in the inventory",
			                    functions->v[i]);
		int r = fn_add(p, dev, NULL, pool);
		if (r < 0)
			return r;
	}
	int n = dp_vm_guest_layout(p->fns, p->nfns);
	if (n < 0)
		return n;
	p->nports = n;
	return 0;
}

int dp_vm_plan_make(const struct dp_vm_def *def, const struct dp_pci_list *list,
                    struct dp_vm_plan *p, struct dp_vm_report *r, bool preview_pools)
{
	memset(p, 0, sizeof(*p));
	p->def = def;
	int ret = plan_devices(p, def, list, preview_pools, r);
	if (ret < 0)
		return ret;
	p->host_node = DP_NO_NUMA;
	if (def->numa != DP_VM_NUMA_NONE && dp_vm_host_nodes() > 1)
		p->host_node = def->numa >= 0 ? def->numa : dp_vm_devices_node(list, &p->explicit_addrs);
	return 0;
}

/* ---- the command line from the plan -------------------------------------------------- */
struct host_paths {
	char rundir[4096], statedir[4096], code[4096], vars[4096], disk[4096], seed[4096];
	char kernel[4096], initrd[4096], huge[4096];
};

static int host_path_of(const char *rel, char *out)
{
	return dp_fs_host_path(rel, out, 4096);
}

static int paths_fill(const struct dp_vm_plan *p, struct host_paths *hp)
{
	const struct dp_vm_def *def = p->def;
	char rel[512];
	struct dp_vm_firmware_files fw;
	int r = dp_vm_path(def->name, DP_VM_RUN_DIR, NULL, rel, sizeof(rel)) ?: host_path_of(rel, hp->rundir) ?:
	        dp_vm_path(def->name, DP_VM_STATE_DIR, NULL, rel, sizeof(rel)) ?: host_path_of(rel, hp->statedir);
	if (!r && def->firmware != DP_VM_FW_BIOS)
		r = dp_vm_firmware_find(def->firmware, &fw) ?: host_path_of(fw.code, hp->code) ?:
		    dp_vm_path(def->name, DP_VM_STATE_DIR, "OVMF_VARS.fd", rel, sizeof(rel)) ?:
		    host_path_of(rel, hp->vars);
	if (!r && def->image)
		r = dp_vm_path(def->name, DP_VM_STATE_DIR, "disk.qcow2", rel, sizeof(rel)) ?: host_path_of(rel, hp->disk);
	if (!r && def->user_data)
		r = dp_vm_path(def->name, DP_VM_STATE_DIR, "seed.iso", rel, sizeof(rel)) ?: host_path_of(rel, hp->seed);
	if (!r && def->kernel)
		r = host_path_of(def->kernel, hp->kernel);
	if (!r && def->initrd)
		r = host_path_of(def->initrd, hp->initrd);
	if (!r && def->hugepages && p->hugepages_dir[0])
		r = host_path_of(p->hugepages_dir, hp->huge);
	return r;
}

int dp_vm_plan_argv(const struct dp_vm_plan *p, const struct dp_vm_options *o, struct dp_strv *argv)
{
	_cleanup_free_ struct host_paths *hp = calloc(1, sizeof(*hp));
	if (!hp)
		return dp_oom();
	int r = paths_fill(p, hp);
	if (r < 0)
		return r;
	const struct dp_vm_def *def = p->def;
	struct dp_vm_launch l = {
		.def = def, .qemu = dp_vm_qemu_binary(o), .kvm = dp_fs_exists("dev/kvm"),
		.host_node = p->host_node, .hugepages_dir = hp->huge,
		.fw_code = hp->code, .fw_vars = hp->vars, .disk = def->image ? hp->disk : NULL,
		.seed = def->user_data ? hp->seed : NULL, .kernel = hp->kernel, .initrd = hp->initrd,
		.rundir = hp->rundir, .statedir = hp->statedir,
		.fns = p->fns, .nfns = p->nfns, .nports = p->nports, .usb_hosts = &p->usb_hosts,
		.mdevs = &p->mdevs,
	};
	return dp_vm_qemu_argv(&l, argv);
}
