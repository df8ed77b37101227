/* Facts about the host: CPU, IOMMU, kernel command line. */
#ifndef DP_FACTS_H
#define DP_FACTS_H

#include <stdbool.h>

enum dp_cpu_vendor { DP_CPU_OTHER, DP_CPU_INTEL, DP_CPU_AMD };

struct dp_host_facts {
	/* whose IOMMU: the firmware's table (DMAR or IVRS) when there is one, else the
	 * CPU's vendor; an emulated machine can pair an AMD CPU with an Intel IOMMU */
	enum dp_cpu_vendor vendor;
	enum dp_cpu_vendor cpu;
	bool vmx, svm;
	char cmdline[4096];
	bool iommu_active;        /* /sys/class/iommu has units and groups exist */
	char release[128];
};

void dp_host_facts_read(struct dp_host_facts *h);
/* Does the directory hold anything but dot entries? */
bool dp_dir_has_entries(const char *path);

#endif
