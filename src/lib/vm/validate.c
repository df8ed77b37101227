/* The checks a VM's start runs first, each a finding: the host, every device and its
 * group, memory (VFIO pins all of it), huge pages, NUMA, firmware and files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "util/error.h"
#include "vm/vm.h"

static int check_host(struct dp_vm_report *r)
{
	struct dp_check_report rep = {0};
	if (dp_check_run(&rep) < 0)
		return dp_vm_report_add(r, "host", DP_VM_FAIL, NULL, "%s", dp_error_message());
	_cleanup_(dp_strv_freep) struct dp_strv failed = {0};
	int ret = 0;
	for (size_t i = 0; i < rep.n && ret == 0; i++)
		if (rep.c[i].status == DP_CHECK_FAIL)
			ret = dp_strv_add(&failed, rep.c[i].name);
	dp_check_report_free(&rep);
	_cleanup_free_ char *names = ret == 0 ? dp_strv_join(&failed, ", ") : NULL;
	if (!names)
		return dp_oom();
	return failed.n ? dp_vm_report_add(r, "host", DP_VM_FAIL, "the host readiness checks explain each",
	                                   "host not ready for passthrough: %s", names)
	                : dp_vm_report_add(r, "host", DP_VM_OK, NULL, "ready for passthrough");
}

static int check_accel(struct dp_vm_report *r)
{
	if (dp_fs_exists("dev/kvm"))
		return dp_vm_report_add(r, "accel", DP_VM_OK, NULL, "KVM (/dev/kvm)");
	return dp_vm_report_add(r, "accel", DP_VM_WARN, "load kvm-intel or kvm-amd, and enable "
	                        "virtualization in the firmware", "no /dev/kvm: QEMU emulates the "
	                        "CPU (TCG), many times slower");
}

/* Host-critical, in use, or a group that cannot go whole: what binding would refuse. */
int dp_vm_plan_check_devices(const struct dp_vm_plan *p, const struct dp_pci_list *list,
                             struct dp_vm_report *r)
{
	if (!p->explicit_addrs.n)
		return 0;
	struct dp_bind_options bo = { .dry_run = true };
	struct dp_bind_plan bp = {0};
	int ret = dp_bind_plan_make(DP_BIND, list, p->explicit_addrs.v, p->explicit_addrs.n, false,
	                            &bo, &bp);
	dp_bind_plan_free(&bp);
	_cleanup_free_ char *names = dp_strv_join(&p->explicit_addrs, " ");
	if (!names)
		return dp_oom();
	if (ret < 0)
		return dp_vm_report_add(r, "devices", DP_VM_FAIL, NULL, "%s", dp_error_message());
	return dp_vm_report_add(r, "devices", DP_VM_OK, NULL, "%s: can be bound to vfio-pci, "
	                        "each with its whole IOMMU group", names);
}

static int check_other_vms(const struct dp_vm_plan *p, struct dp_vm_report *r)
{
	_cleanup_(dp_vm_db_closep) struct vm_db *db = NULL;
	int ret = dp_vm_db_open(&db, false);
	if (ret < 0)
		return dp_vm_report_add(r, "devices", DP_VM_FAIL, NULL, "%s", dp_error_message());
	for (size_t i = 0; i < p->nfns; i++) {
		char holder[DP_VM_NAME_MAX + 1];
		dp_vm_db_holder(db, p->fns[i].address, holder, sizeof(holder));
		if (holder[0] && strcmp(holder, p->def->name) != 0 &&
		    (ret = dp_vm_report_add(r, "devices", DP_VM_FAIL, NULL, "%s is taken by VM '%s'",
		                            p->fns[i].address, holder)) < 0)
			return ret;
	}
	return 0;
}

static int check_file(struct dp_vm_report *r, const char *what, const char *path)
{
	if (!path || dp_fs_exists(path))
		return 0;
	return dp_vm_report_add(r, what, DP_VM_FAIL, NULL, "%s /%s does not exist", what,
	                        path + strspn(path, "/"));
}

int dp_vm_check_files(const struct dp_vm_def *def, struct dp_vm_report *r)
{
	struct dp_vm_firmware_files fw;
	int ret = check_file(r, "kernel", def->kernel) ?: check_file(r, "initrd", def->initrd);
	if (ret || def->firmware == DP_VM_FW_BIOS)
		return ret;
	if (dp_vm_firmware_find(def->firmware, &fw) < 0)
		return dp_vm_report_add(r, "firmware", DP_VM_FAIL, NULL, "%s", dp_error_message());
	return dp_vm_report_add(r, "firmware", DP_VM_OK, NULL, "/%s", fw.code);
}

static int check_memory(struct dp_vm_plan *p, struct dp_vm_report *r)
{
	const struct dp_vm_def *def = p->def;
	int ret = p->nfns ? dp_vm_check_memlock(def->memory_mib, r) : 0;
	if (!ret && def->hugepages)
		ret = dp_vm_check_hugepages(def->memory_mib, p->hugepages_dir, sizeof(p->hugepages_dir), r);
	return ret ?: dp_vm_check_numa(def, p->host_node, r);
}

int dp_vm_plan_check(struct dp_vm_plan *p, const struct dp_pci_list *list, struct dp_vm_report *r)
{
	int ret = p->nfns ? check_host(r) : 0;
	return ret ?: check_accel(r) ?: dp_vm_plan_check_devices(p, list, r) ?: check_other_vms(p, r) ?:
	       dp_vm_check_files(p->def, r) ?: check_memory(p, r);
}
