/* Kernel command line parsing. */
#ifndef DP_CMDLINE_H
#define DP_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

/* Value of key=... (the last one wins, as in the kernel); false when absent. */
bool dp_cmdline_param(const char *cmdline, const char *key, char *value, size_t size);
/* Is word one of a comma list such as intel_iommu=on,sm_on? */
bool dp_option_has(const char *value, const char *word);
/* Is this exact argument ("iommu=pt") on the line? */
bool dp_cmdline_has(const char *cmdline, const char *arg);

#endif
