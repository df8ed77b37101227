/* Facts about the host that readiness checks and `setup iommu` both decide on. */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "inventory/facts.h"

static bool cpuinfo_flag(const char *cpuinfo, const char *flag)
{
	const char *line = strstr(cpuinfo, "\nflags");
	if (!line)
		return false;
	const char *end = strchrnul(line + 1, '\n');
	size_t fl = strlen(flag);
	for (const char *p = strchr(line, ':'); p && p < end; p = strchr(p + 1, ' '))
		if (strncmp(p + 1, flag, fl) == 0 && (isspace((unsigned char)p[1 + fl]) || !p[1 + fl]))
			return true;
	return false;
}

bool dp_dir_has_entries(const char *path)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir(path);
	if (!d)
		return false;
	struct dirent *de;
	bool any = false;
	while (!any && (de = readdir(d)))
		any = de->d_name[0] != '.';
	return any;
}

void dp_host_facts_read(struct dp_host_facts *h)
{
	memset(h, 0, sizeof(*h));
	_cleanup_free_ char *cpuinfo = NULL;
	if (dp_fs_read_all("proc/cpuinfo", &cpuinfo, NULL) == 0) {
		h->cpu = strstr(cpuinfo, "GenuineIntel") ? DP_CPU_INTEL
		       : strstr(cpuinfo, "AuthenticAMD") ? DP_CPU_AMD : DP_CPU_OTHER;
		h->vmx = cpuinfo_flag(cpuinfo, "vmx");
		h->svm = cpuinfo_flag(cpuinfo, "svm");
	}
	h->vendor = dp_fs_exists("sys/firmware/acpi/tables/DMAR")   ? DP_CPU_INTEL
	          : dp_fs_exists("sys/firmware/acpi/tables/IVRS") ? DP_CPU_AMD : h->cpu;
	dp_fs_read_line("proc/cmdline", h->cmdline, sizeof(h->cmdline));
	dp_fs_read_line("proc/sys/kernel/osrelease", h->release, sizeof(h->release));
	h->iommu_active = dp_dir_has_entries("sys/class/iommu") && dp_dir_has_entries("sys/kernel/iommu_groups");
}
