/* Host readiness for device passthrough: one result per check, each FAIL with the exact
 * fix. The checks read what the kernel and firmware expose (sysfs, procfs, devfs), never
 * guess from the kernel command line alone: a kernel may enable the IOMMU by default. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "alloc-util.h"
#include "fs/sysroot.h"
#include "persist/persist.h"
#include "util/cmdline.h"
#include "hostcheck/checks.h"
#include "inventory/facts.h"


#define EFI_GLOBAL_GUID "8be4df61-93ca-11d2-aa0d-e98032b8c49f"


static __thread bool out_of_memory;

void dp_check_out_of_memory(void)
{
	out_of_memory = true;
}

void dp_check_add(struct dp_check_report *r, const char *name, enum dp_check_status st,
                  const char *fix, const char *fmt, ...)
{
	_cleanup_free_ char *name_copy = strdup(name), *fix_copy = fix ? strdup(fix) : NULL;
	_cleanup_free_ char *detail = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&detail, fmt, ap) < 0)
		detail = NULL;
	va_end(ap);
	if (!name_copy || (fix && !fix_copy) || !detail ||
	    dp_array_grow(&r->c, r->n, 1, sizeof(*r->c)) < 0) {
		out_of_memory = true;
		return;
	}
	r->c[r->n++] = (struct dp_check){.name = TAKE_PTR(name_copy), .status = st,
	                                 .detail = TAKE_PTR(detail), .fix = TAKE_PTR(fix_copy)};
}

/* ---- facts ------------------------------------------------------------------------ */

/* ---- checks ------------------------------------------------------------------------- */

static void check_cpu(struct dp_check_report *r, const struct dp_host_facts *h)
{
	if (h->vmx || h->svm)
		dp_check_add(r, "cpu-virtualization", DP_CHECK_PASS, NULL, "%s supported by the CPU",
		    h->vmx ? "Intel VT-x (vmx)" : "AMD-V (svm)");
	else
		/* vfio works without KVM (QEMU's TCG can use it), so this slows VMs down but
		 * does not block passthrough */
		dp_check_add(r, "cpu-virtualization", DP_CHECK_WARN,
		    "enable Intel VT-x / AMD SVM in the firmware setup (BIOS/UEFI), then reboot",
		    "the CPU reports neither vmx nor svm: VMs would run emulated");
	if (dp_fs_exists("dev/kvm"))
		dp_check_add(r, "kvm", DP_CHECK_PASS, NULL, "/dev/kvm is present");
	else if (!h->vmx && !h->svm)   /* kvm_amd / kvm_intel refuse to load without it */
		dp_check_add(r, "kvm", DP_CHECK_WARN,
		    h->cpu == DP_CPU_AMD ? "enable AMD SVM in the firmware setup (BIOS/UEFI), reboot, then "
		                           "modprobe kvm_amd"
		                         : "enable Intel VT-x in the firmware setup (BIOS/UEFI), reboot, then "
		                           "modprobe kvm_intel",
		    "/dev/kvm is missing, and the CPU offers no svm/vmx for it (see cpu-virtualization)");
	else
		dp_check_add(r, "kvm", DP_CHECK_WARN,
		    h->cpu == DP_CPU_AMD ? "modprobe kvm_amd" : "modprobe kvm_intel",
		    "/dev/kvm is missing: VMs would run without hardware acceleration");
}

static void check_firmware(struct dp_check_report *r, const struct dp_host_facts *h)
{
	bool dmar = dp_fs_exists("sys/firmware/acpi/tables/DMAR");
	bool ivrs = dp_fs_exists("sys/firmware/acpi/tables/IVRS");
	if (dmar || ivrs)
		dp_check_add(r, "iommu-firmware", DP_CHECK_PASS, NULL, "ACPI %s table describes the IOMMU",
		    dmar ? "DMAR (Intel VT-d)" : "IVRS (AMD-Vi)");
	else if (!dp_fs_exists("sys/firmware/acpi/tables"))
		dp_check_add(r, "iommu-firmware", DP_CHECK_WARN, NULL,
		    "no ACPI tables visible: cannot tell whether firmware describes an IOMMU");
	else
		dp_check_add(r, "iommu-firmware", DP_CHECK_FAIL,
		    h->vendor == DP_CPU_AMD ? "enable AMD-Vi / IOMMU in the firmware setup, then reboot"
		                         : "enable Intel VT-d in the firmware setup, then reboot",
		    "the firmware publishes no DMAR or IVRS table: the IOMMU is disabled or absent");
}

/* Kernel arguments the boot configuration has but the running kernel lacks. */
struct pending_args {
	struct dp_strv args, where;
};

/* The fix for a missing argument that is configured already is the reboot, not setting
 * it up again. NULL when arg is not pending. */
static const char *pending_fix(const struct pending_args *p, const char *arg, char *buf, size_t size)
{
	if (!dp_strv_contains(&p->args, arg))
		return NULL;
	snprintf(buf, size, "%s is configured (%s): reboot to start the kernel with it", arg,
	         p->where.n ? p->where.v[0] : "the boot configuration");
	return buf;
}

static void check_kernel_iommu(struct dp_check_report *r, const struct dp_host_facts *h,
                               const struct pending_args *p)
{
	char v[256], configured[512];
	if (h->iommu_active) {
		dp_check_add(r, "iommu-kernel", DP_CHECK_PASS, NULL,
		    "the kernel runs an IOMMU (/sys/class/iommu) and has IOMMU groups");
		return;
	}
	const char *fix = "devpass setup iommu (adds intel_iommu=on through the boot loader), "
	                  "then reboot";
	if (h->vendor == DP_CPU_AMD)
		fix = "AMD-Vi is on by default: remove amd_iommu=off / iommu=off from the kernel "
		      "command line and enable IOMMU in the firmware setup";
	else if (dp_cmdline_param(h->cmdline, "intel_iommu", v, sizeof(v)) && dp_option_has(v, "on"))
		fix = "intel_iommu=on is set but no IOMMU started: enable VT-d in the firmware setup";
	else if (pending_fix(p, "intel_iommu=on", configured, sizeof(configured)))
		fix = configured;
	dp_check_add(r, "iommu-kernel", DP_CHECK_FAIL, fix,
	    "no IOMMU is active: /sys/class/iommu or /sys/kernel/iommu_groups is empty");
}

static void check_cmdline(struct dp_check_report *r, const struct dp_host_facts *h,
                          const struct pending_args *p)
{
	char v[256], configured[512];
	const char *fix;
	if (dp_cmdline_param(h->cmdline, "intel_iommu", v, sizeof(v)) && dp_option_has(v, "off"))
		dp_check_add(r, "cmdline-iommu", DP_CHECK_FAIL,
		    "replace intel_iommu=off with intel_iommu=on on the kernel command line and reboot",
		    "the kernel command line turns the Intel IOMMU off (intel_iommu=off)");
	else if (dp_cmdline_param(h->cmdline, "amd_iommu", v, sizeof(v)) && dp_option_has(v, "off"))
		dp_check_add(r, "cmdline-iommu", DP_CHECK_FAIL,
		    "remove amd_iommu=off from the kernel command line and reboot",
		    "the kernel command line turns the AMD IOMMU off (amd_iommu=off)");
	else if (dp_cmdline_param(h->cmdline, "iommu", v, sizeof(v)) && strcmp(v, "off") == 0)
		dp_check_add(r, "cmdline-iommu", DP_CHECK_FAIL,
		    "remove iommu=off from the kernel command line and reboot",
		    "the kernel command line disables IOMMUs (iommu=off)");
	else if (dp_cmdline_param(h->cmdline, "amd_iommu", v, sizeof(v)) && dp_option_has(v, "on"))
		dp_check_add(r, "cmdline-iommu", DP_CHECK_WARN,
		    "remove amd_iommu=on: AMD-Vi is enabled by default and 'on' is ignored",
		    "amd_iommu=on is not a value the kernel knows");
	else if (h->vendor == DP_CPU_INTEL && !h->iommu_active &&
	         !(dp_cmdline_param(h->cmdline, "intel_iommu", v, sizeof(v)) && dp_option_has(v, "on")))
		dp_check_add(r, "cmdline-iommu", DP_CHECK_FAIL,
		    (fix = pending_fix(p, "intel_iommu=on", configured, sizeof(configured))) ? fix :
		    "devpass setup iommu (adds intel_iommu=on through the boot loader), then reboot",
		    "intel_iommu=on is missing and this kernel did not enable VT-d by itself");
	else
		dp_check_add(r, "cmdline-iommu", DP_CHECK_PASS, NULL, "the kernel command line leaves the IOMMU on");

	if (dp_cmdline_param(h->cmdline, "iommu", v, sizeof(v)) && strcmp(v, "pt") == 0)
		dp_check_add(r, "cmdline-passthrough-mode", DP_CHECK_PASS, NULL,
		    "iommu=pt: host devices skip IOMMU translation");
	else
		dp_check_add(r, "cmdline-passthrough-mode", DP_CHECK_WARN,
		    (fix = pending_fix(p, "iommu=pt", configured, sizeof(configured))) ? fix :
		    "devpass setup iommu (adds iommu=pt through the boot loader), then reboot",
		    "iommu=pt is not set: host-owned devices pay for IOMMU translation");
}

static void check_interrupt_remapping(struct dp_check_report *r)
{
	_cleanup_free_ char *interrupts = NULL;
	bool remapped = false;
	if (dp_fs_read_all("proc/interrupts", &interrupts, NULL) == 0)
		remapped = strstr(interrupts, "IR-PCI-MSI") || strstr(interrupts, "IR-IO-APIC") ||
		           strstr(interrupts, "IR-PCI-MSIX");
	char unsafe[8] = "";
	dp_fs_read_line("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", unsafe,
	                sizeof(unsafe));
	if (remapped)
		dp_check_add(r, "interrupt-remapping", DP_CHECK_PASS, NULL,
		    "interrupts are remapped (IR- chips in /proc/interrupts)");
	else if (unsafe[0] == 'Y')
		dp_check_add(r, "interrupt-remapping", DP_CHECK_WARN,
		    "enable interrupt remapping in the firmware (x2APIC) and drop allow_unsafe_interrupts",
		    "no interrupt remapping; vfio_iommu_type1.allow_unsafe_interrupts=1 lets a guest "
		    "inject interrupts into the host");
	else
		dp_check_add(r, "interrupt-remapping", DP_CHECK_FAIL,
		    "enable interrupt remapping (x2APIC / 'Interrupt Remapping' in the firmware setup; "
		    "remove intremap=off); as an unsafe last resort set "
		    "vfio_iommu_type1.allow_unsafe_interrupts=1",
		    "interrupts are not remapped: vfio refuses to assign devices");
}

/* Loaded modules and built-in ones (which may not appear under /sys/module). */
static bool module_present(const struct dp_host_facts *h, const char *name, const char *builtin)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "sys/module/%s", name);
	if (dp_fs_exists(path))
		return true;
	return builtin && strstr(builtin, name);
}

static void check_vfio(struct dp_check_report *r, const struct dp_host_facts *h)
{
	static const char *const modules[][2] = {
		{"vfio", "/vfio.ko"}, {"vfio_pci", "/vfio-pci.ko"}, {"vfio_iommu_type1", "/vfio_iommu_type1.ko"}};
	char path[PATH_MAX];
	_cleanup_free_ char *builtin = NULL;
	snprintf(path, sizeof(path), "lib/modules/%s/modules.builtin", h->release);
	dp_fs_read_all(path, &builtin, NULL);
	for (size_t i = 0; i < 3; i++) {
		char name[64], fix[160];
		snprintf(name, sizeof(name), "module-%s", modules[i][0]);
		snprintf(fix, sizeof(fix),
		         "modprobe %s; to load it at boot: echo %s >> /etc/modules-load.d/vfio.conf",
		         modules[i][0], modules[i][0]);
		if (module_present(h, modules[i][0], builtin ? strstr(builtin, modules[i][1]) : NULL))
			dp_check_add(r, name, DP_CHECK_PASS, NULL, "%s is loaded or built in", modules[i][0]);
		else
			dp_check_add(r, name, DP_CHECK_FAIL, fix, "%s is not loaded", modules[i][0]);
	}
	if (dp_fs_exists("dev/vfio/vfio"))
		dp_check_add(r, "vfio-device", DP_CHECK_PASS, NULL, "/dev/vfio/vfio is present");
	else
		dp_check_add(r, "vfio-device", DP_CHECK_FAIL, "modprobe vfio (udev then creates /dev/vfio/vfio)",
		    "/dev/vfio/vfio is missing");
}

static void check_secure_boot(struct dp_check_report *r)
{
	char buf[8];
	ssize_t n = dp_fs_read("sys/firmware/efi/efivars/SecureBoot-" EFI_GLOBAL_GUID, buf, sizeof(buf));
	if (!dp_fs_exists("sys/firmware/efi"))
		dp_check_add(r, "secure-boot", DP_CHECK_PASS, NULL, "legacy BIOS boot: Secure Boot does not apply");
	else if (n >= 5 && buf[4] == 1)
		dp_check_add(r, "secure-boot", DP_CHECK_WARN,
		    "sign out-of-tree modules (nvidia, vendor-reset) with an enrolled MOK key",
		    "Secure Boot is on: unsigned out-of-tree modules will not load");
	else
		dp_check_add(r, "secure-boot", DP_CHECK_PASS, NULL, "Secure Boot is off");
}

static void check_hugepages(struct dp_check_report *r)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir("sys/kernel/mm/hugepages");
	long long free_bytes = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[PATH_MAX], buf[32];
		long kb;
		if (sscanf(de->d_name, "hugepages-%ldkB", &kb) != 1)
			continue;
		snprintf(path, sizeof(path), "sys/kernel/mm/hugepages/%s/free_hugepages", de->d_name);
		if (dp_fs_read_line(path, buf, sizeof(buf)) > 0)
			free_bytes += atoll(buf) * kb * 1024;
	}
	if (free_bytes > 0)
		dp_check_add(r, "hugepages", DP_CHECK_PASS, NULL, "%lld MiB of hugepages free", free_bytes >> 20);
	else
		dp_check_add(r, "hugepages", DP_CHECK_WARN,
		    "reserve hugepages: sysctl vm.nr_hugepages=N (2 MiB pages) or hugepagesz=1G "
		    "hugepages=N on the kernel command line",
		    "no free hugepages: large VMs will back guest memory with 4 KiB pages");
}

/* The first host-critical endpoint of group g and why, to show what keeps it. */
static void group_example(const struct dp_pci_list *list, const struct dp_iommu_group *g,
                          char *buf, size_t size)
{
	for (size_t k = 0; k < g->n; k++) {
		const struct dp_pci_device *dev = &list->dev[g->members[k]];
		if (dev->critical.n && !dp_pci_device_is_bridge(dev)) {
			snprintf(buf, size, " (%s %s)", dev->address, dev->critical.v[0]);
			return;
		}
	}
}

static void check_groups(struct dp_check_report *r, const struct dp_pci_list *list)
{
	_cleanup_(dp_groups_freep) struct dp_group_list groups = {0};
	if (dp_groups_build(list, &groups) < 0) {
		dp_check_out_of_memory();   /* its only failure */
		return;
	}
	_cleanup_(dp_strv_freep) struct dp_strv mixed = {0};
	char example[1024] = "";
	for (size_t i = 0; i < groups.n; i++) {
		const struct dp_iommu_group *g = &groups.g[i];
		size_t endpoints = 0;
		for (size_t k = 0; k < g->n; k++)
			endpoints += !dp_pci_device_is_bridge(&list->dev[g->members[k]]);
		if (g->host_critical && endpoints > 1) {
			if (!mixed.n)
				group_example(list, g, example, sizeof(example));
			if (dp_strv_addf(&mixed, "%d", g->number) < 0) {
				dp_check_out_of_memory();
				return;
			}
		}
	}
	if (!groups.n)
		dp_check_add(r, "iommu-groups", DP_CHECK_FAIL, "enable the IOMMU (see iommu-kernel)",
		    "no IOMMU groups: no device can be passed through");
	else if (mixed.n) {
		char joined[1024] = "";
		for (size_t i = 0; i < mixed.n && strlen(joined) < 1000; i++)
			snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s%s",
			         i ? ", " : "", mixed.v[i], i ? "" : example);
		dp_check_add(r, "iommu-groups", DP_CHECK_WARN,
		    "move the devices you want to pass through to a slot with its own group "
		    "(see 'devpass groups')",
		    "%zu groups; group %s mixes host-critical devices with others, which cannot be "
		    "passed through", groups.n, joined);
	} else
		dp_check_add(r, "iommu-groups", DP_CHECK_PASS, NULL, "%zu groups, none mixing host-critical "
		    "devices with others", groups.n);
}

int dp_check_run(struct dp_check_report *out)
{
	struct dp_host_facts h;
	memset(out, 0, sizeof(*out));
	out_of_memory = false;
	dp_host_facts_read(&h);
	struct pending_args pending = {0};
	dp_setup_pending_args(&pending.args, &pending.where);
	check_cpu(out, &h);
	check_firmware(out, &h);
	check_kernel_iommu(out, &h, &pending);
	check_cmdline(out, &h, &pending);
	dp_strv_free(&pending.args);
	dp_strv_free(&pending.where);
	check_interrupt_remapping(out);
	check_vfio(out, &h);
	check_secure_boot(out);
	check_hugepages(out);
	_cleanup_(dp_pci_list_freep) struct dp_pci_list list = {0};
	if (dp_pci_scan_flags(&list, 0) < 0)
		dp_check_add(out, "iommu-groups", DP_CHECK_WARN, NULL, "%s", dp_error_message());
	else if (dp_critical_mark(&list) < 0)   /* out of memory: its only failure */
		out_of_memory = true;
	else {
		check_groups(out, &list);
		dp_check_boot_config(out);
		dp_check_persisted(out, &list);
		dp_check_vfio_ids(out, &list);
		dp_check_foreign(out);
		dp_check_pools(out, &list);
		dp_check_sriov(out);
		dp_check_mdev(out);
		dp_check_usb(out, &list);
	}
	if (out_of_memory) {
		dp_check_report_free(out);
		return dp_error_set(-ENOMEM, "cannot check the host: out of memory");
	}
	return 0;
}

bool dp_check_report_ready(const struct dp_check_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->c[i].status == DP_CHECK_FAIL)
			return false;
	return true;
}

void dp_check_report_free(struct dp_check_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->c[i].name);
		free(r->c[i].detail);
		free(r->c[i].fix);
	}
	free(r->c);
	memset(r, 0, sizeof(*r));
}

const char *dp_check_status_name(enum dp_check_status s)
{
	return s == DP_CHECK_PASS ? "PASS" : s == DP_CHECK_WARN ? "WARN" : "FAIL";
}
