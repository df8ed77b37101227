/* The devices of a devpass VM as a hostdev set (`export libvirt --vm`, `vm export`): what
 * `vm start` passes to QEMU. Named and chosen PCI devices bring their whole IOMMU group. A
 * running VM: the functions it took (explicit and from pools) and the usb/mdev members its
 * claims hold (owner vm:NAME). A stopped VM: the pool members a claim would pick now, as
 * `vm validate` previews them, each with a warning that nothing holds it for the VM yet. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "devpass.h"
#include "export.h"
#include "export/vmexport.h"
#include "fs/sysroot.h"
#include "util/error.h"

void vm_export_free(struct vm_export *e)
{
	dp_vm_def_free(&e->def);
	dp_vm_status_free(&e->st);
	dp_vm_plan_free(&e->plan);
	dp_hostdev_set_free(&e->set);
	memset(e, 0, sizeof(*e));
}

static int add_usb(struct vm_export *e, const struct dp_pci_list *list, const char *spec,
                   const char *pool)
{
	int r = dp_hostdev_set_add_device(&e->set, list, spec, pool);
	if (r == -ENOENT || r == -EINVAL)   /* not plugged in now: the guest cannot be given it */
		r = dp_strv_addf(&e->set.warnings, "USB %s is left out: %s", spec,
		                 dp_error_message()) < 0 ? dp_oom() : 0;
	return r;
}

/* A stopped VM's usb pool: the free members in the order a claim takes them. */
static int add_usb_pool(struct vm_export *e, const struct dp_pci_list *list,
                        const struct dp_vm_device *want)
{
	static const struct dp_pci_list none = {0};
	_cleanup_(dp_pool_members_freep) struct dp_pool_members m = {0};
	int r = dp_pool_members_read(&none, want->spec, &m);
	unsigned found = 0;
	for (size_t i = 0; r == 0 && i < m.n && found < want->count; i++) {
		if (m.m[i].state != DP_MEMBER_FREE)
			continue;
		found++;
		r = add_usb(e, list, m.m[i].address, want->spec) ?:
		    dp_strv_addf(&e->set.warnings, "usb pool %s: %s is the member a claim would take "
		                 "now; it is held for VM %s only once claimed", want->spec,
		                 m.m[i].address, e->def.name) < 0 ? dp_oom() : 0;
	}
	if (r == 0 && found < want->count)
		r = dp_strv_addf(&e->set.warnings, "usb pool %s: the VM wants %u device(s), %u %s free",
		                 want->spec, want->count, found, found == 1 ? "is" : "are") < 0 ? dp_oom() : 0;
	return r < 0 && r != -ENOMEM ? dp_strv_addf(&e->set.warnings, "%s", dp_error_message()) < 0
	                               ? dp_oom() : 0 : r;
}

static int add_stopped_wants(struct vm_export *e, const struct dp_pci_list *list)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < e->def.ndevices; i++) {
		const struct dp_vm_device *d = &e->def.devices[i];
		bool usb_pool = d->want == DP_VM_WANT_USB && dp_vm_usb_spec_kind(d->spec) == VM_USB_POOL;
		if (usb_pool)
			r = add_usb_pool(e, list, d);
		else if (d->want == DP_VM_WANT_MDEV)
			r = dp_strv_addf(&e->set.warnings, "mdev pool %s: its %u device(s) are made when a "
			                 "claim takes them, so there is no uuid to name yet; they are left "
			                 "out", d->spec, d->count) < 0 ? dp_oom() : 0;
	}
	return r;
}

static int add_named_usb(struct vm_export *e, const struct dp_pci_list *list)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < e->def.ndevices; i++) {
		const struct dp_vm_device *d = &e->def.devices[i];
		if (d->want == DP_VM_WANT_USB && dp_vm_usb_spec_kind(d->spec) != VM_USB_POOL)
			r = add_usb(e, list, d->spec, NULL);
	}
	return r;
}

/* Pool previews of PCI pools: say that the member is only what a claim would pick. */
static int warn_previews(struct vm_export *e)
{
	for (size_t i = 0; i < e->plan.nfns; i++) {
		const struct dp_vm_hostfn *f = &e->plan.fns[i];
		if (f->pool && dp_strv_addf(&e->set.warnings, "pool %s: %s is the member a claim would "
		                            "take now; it is held for VM %s only once claimed", f->pool,
		                            f->address, e->def.name) < 0)
			return dp_oom();
	}
	return 0;
}

/* What the plan could not resolve (a missing device, a pool short of members). */
static int warn_findings(struct vm_export *e, const struct dp_vm_report *rep)
{
	for (size_t i = 0; i < rep->n; i++)
		if (rep->f[i].verdict != DP_VM_OK &&
		    dp_strv_addf(&e->set.warnings, "%s", rep->f[i].detail) < 0)
			return dp_oom();
	return 0;
}

static int add_plan_functions(struct vm_export *e, const struct dp_pci_list *list)
{
	for (size_t i = 0; i < e->plan.nfns; i++) {
		const struct dp_pci_device *dev = dp_pci_list_find(list, e->plan.fns[i].address);
		if (!dev)
			return dp_error_set(-ENOENT, "VM %s: device %s is not in the inventory",
			                    e->def.name, e->plan.fns[i].address);
		int r = dp_hostdev_set_add_pci(&e->set, list, dev, e->plan.fns[i].pool);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Running: the functions it took, as recorded when it started (a pool member with its pool). */
static int add_taken(struct vm_export *e, const struct dp_pci_list *list)
{
	for (size_t i = 0; i < e->st.ntaken; i++) {
		const struct dp_vm_taken *t = &e->st.taken[i];
		const struct dp_pci_device *dev = dp_pci_list_find(list, t->address);
		int r = dev ? dp_hostdev_set_add_pci(&e->set, list, dev, t->pool[0] ? t->pool : NULL)
		            : dp_strv_addf(&e->set.warnings, "%s is not on this host now: left out",
		                           t->address) < 0 ? dp_oom() : 0;
		if (r < 0)
			return r;
	}
	return 0;
}

/* Running: the usb and mdev members its pool claims hold. */
static int add_unit_claims(struct vm_export *e, const struct dp_pci_list *list)
{
	char owner[128];
	dp_vm_owner(e->def.name, owner, sizeof(owner));
	int r = dp_hostdev_set_add_claims(&e->set, list, owner, true);
	return r < 0 ? r : 0;
}

static int add_running(struct vm_export *e, const struct dp_pci_list *list)
{
	return add_taken(e, list) ?: add_named_usb(e, list) ?: add_unit_claims(e, list);
}

static int add_stopped(struct vm_export *e, const struct dp_pci_list *list,
                       const struct dp_vm_report *rep)
{
	return add_plan_functions(e, list) ?: add_named_usb(e, list) ?: add_stopped_wants(e, list) ?:
	       warn_previews(e) ?: warn_findings(e, rep);
}

int vm_export_load(const struct dp_pci_list *list, const char *name, struct vm_export *out)
{
	memset(out, 0, sizeof(*out));
	int r = dp_vm_get(name, &out->def, &out->st);
	if (r == -ENOENT)
		return dp_error_set(-ENOENT, "no VM named '%s'", name);
	if (r < 0)
		return r;
	out->running = out->st.state != DP_VM_STOPPED;
	_cleanup_(dp_vm_report_freep) struct dp_vm_report rep = {0};
	r = dp_vm_plan_make(&out->def, list, &out->plan, &rep, !out->running) ?:
	    (out->running ? add_running(out, list) : add_stopped(out, list, &rep));
	if (r < 0)
		vm_export_free(out);
	return r;
}

int vm_export_path(const struct vm_export *e, bool run, const char *file, char *out, size_t size)
{
	char rel[512];
	return dp_vm_path(e->def.name, run ? DP_VM_RUN_DIR : DP_VM_STATE_DIR, file, rel, sizeof(rel)) ?:
	       dp_fs_host_path(rel, out, size);
}

const char *vm_export_device_id(const struct dp_hostdev *h)
{
	return strncmp(h->alias, "ua-", 3) == 0 ? h->alias + 3 : h->alias;
}

int dp_hostdev_set_from_vm(const struct dp_pci_list *list, const char *vm,
                           struct dp_hostdev_set *out)
{
	memset(out, 0, sizeof(*out));
	_cleanup_(vm_export_freep) struct vm_export e = {0};
	int r = vm_export_load(list, vm, &e);
	if (r < 0)
		return r;
	*out = e.set;
	e.set = (struct dp_hostdev_set){0};
	return 0;
}
