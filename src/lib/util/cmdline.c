/* Kernel command line parsing, as the kernel reads it. */
#include <stdio.h>
#include <string.h>

#include "util/cmdline.h"

/* Value of a kernel parameter (last one wins, as in the kernel); NULL when absent. */
bool dp_cmdline_param(const char *cmdline, const char *key, char *value, size_t size)
{
	bool found = false;
	size_t kl = strlen(key);
	for (const char *p = cmdline; *p;) {
		while (*p == ' ')
			p++;
		const char *end = strchrnul(p, ' ');
		if ((size_t)(end - p) > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			snprintf(value, size, "%.*s", (int)(end - p - (long)kl - 1), p + kl + 1);
			found = true;
		}
		p = end;
	}
	return found;
}

/* intel_iommu=on,sm_on and the like are comma lists */
bool dp_option_has(const char *value, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = value; *p;) {
		const char *end = strchrnul(p, ',');
		if ((size_t)(end - p) == wl && strncmp(p, word, wl) == 0)
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

bool dp_cmdline_has(const char *cmdline, const char *arg)
{
	size_t al = strlen(arg);
	for (const char *p = cmdline; *p;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		const char *end = p + strcspn(p, " \t\n");
		if ((size_t)(end - p) == al && strncmp(p, arg, al) == 0)
			return true;
		p = end;
	}
	return false;
}
