/* Internal to the export unit: a devpass VM as the libvirt and Cloud Hypervisor renderings
 * read it (domain.c, cloudhv.c, vmdevs.c). */
#ifndef DP_EXPORT_VMEXPORT_H
#define DP_EXPORT_VMEXPORT_H

#include <stdbool.h>

#include "alloc-util.h"
#include "devpass.h"
#include "vm/vm.h"

struct vm_export {
	struct dp_vm_def def;
	struct dp_vm_status st;
	bool running;                /* its claims, not a preview, say which pool members it has */
	struct dp_vm_plan plan;      /* what a start would do now: NUMA node, named functions */
	struct dp_hostdev_set set;   /* every device it passes; set.warnings: what to know */
};
/* Loads the definition and resolves its devices (-ENOENT: no such VM, named). The pool
 * members of a stopped VM are the ones a claim would pick now, with a warning each. */
int vm_export_load(const struct dp_pci_list *list, const char *name, struct vm_export *out);
void vm_export_free(struct vm_export *e);
DEFINE_CLEANUP_STRUCT(vm_export, vm_export_free)
/* The host path of one of the VM's state files (disk.qcow2, OVMF_VARS.fd, seed.iso) or, with
 * file NULL, of its state directory; run: the run directory instead. */
int vm_export_path(const struct vm_export *e, bool run, const char *file, char *out, size_t size);
/* The alias without libvirt's "ua-" prefix: a Cloud Hypervisor device id. */
const char *vm_export_device_id(const struct dp_hostdev *h);

#endif
