/* The library says what is wrong in its own terms and, as a fact, what would resolve it
 * (dp_error_remedy); here that fact becomes the command to run or the option to give. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* The command-line option for each parameter the library names. */
static const char *option_for(const char *parameter)
{
	static const char *const map[][2] = {
		{"owner", "--for"}, {"count", "--count"}, {"pid", "--pid"}, {"address", "--address"},
		{"by", "--by"}, {"node", "--node"}, {"numa_policy", "--numa-policy"},
		{"resource_prefix", "--resource-prefix"}, {"vfs", "--vfs"}, {"driver", "--driver"},
		{"cpus", "--cpus"}, {"memory", "--memory"}, {"initrd", "--initrd"}, {"gpu", "--gpu"},
		{"nvme", "--nvme"}, {"ssh-key", "--ssh-key"}, {"cloud-init", "--cloud-init"},
		{"pool", "--pool"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i][0], parameter) == 0)
			return map[i][1];
	return NULL;
}

/* The advice for remedy r about subject s into buf ("" when none). */
static void advice(enum dp_remedy r, const char *s, char *buf, size_t size)
{
	buf[0] = '\0';
	switch (r) {
	case DP_REMEDY_FORCE:
		snprintf(buf, size, "--force overrides this, at the risk of the host");
		break;
	case DP_REMEDY_RESTORE:
		snprintf(buf, size, "run 'devpass restore %s'", *s ? s : "ADDRESS");
		break;
	case DP_REMEDY_BIND:
		snprintf(buf, size, "run 'devpass bind %s'", *s ? s : "ADDRESS");
		break;
	case DP_REMEDY_CHECK_HOST:
		snprintf(buf, size, "run 'devpass check'");
		break;
	case DP_REMEDY_SETUP_IOMMU:
		snprintf(buf, size, "devpass setup iommu, then reboot");
		break;
	case DP_REMEDY_SHOW_DEVICE:
		snprintf(buf, size, "see 'devpass show %s'", s);
		break;
	case DP_REMEDY_LIST_DEVICES:
		snprintf(buf, size, "see 'devpass list'");
		break;
	case DP_REMEDY_POOL_CREATE:
		snprintf(buf, size, "devpass pool list shows the pools; devpass pool create %s makes it", s);
		break;
	case DP_REMEDY_POOL_DEFINE:
		snprintf(buf, size, "devpass pool create NAME, then devpass pool rule add NAME RULE");
		break;
	case DP_REMEDY_POOL_SHOW:
		snprintf(buf, size, "devpass pool show %s", *s ? s : "POOL");
		break;
	case DP_REMEDY_POOL_CLEAR:
		snprintf(buf, size, "devpass pool clear %s once it is wiped", *s ? s : "ADDRESS");
		break;
	case DP_REMEDY_POOL_GC:
		snprintf(buf, size, "run 'devpass pool gc'");
		break;
	case DP_REMEDY_POOL_REPLACE:
		snprintf(buf, size, "--replace redefines it");
		break;
	case DP_REMEDY_PERSIST_LIST:
		snprintf(buf, size, "'devpass persist --list' shows them");
		break;
	case DP_REMEDY_VM_STOP:
		snprintf(buf, size, "run 'devpass vm stop %s' first, or --force stops it", *s ? s : "NAME");
		break;
	case DP_REMEDY_START_SERVICE:
		snprintf(buf, size, "start it: systemctl start %s", *s ? s : "libvirtd");
		break;
	case DP_REMEDY_PARAMETER:
	case DP_REMEDY_NONE:
		break;
	}
}

const char *cli_advice(enum dp_remedy r, const char *subject, char *buf, size_t size)
{
	advice(r, subject ? subject : "", buf, size);
	return buf;
}

const char *cli_error_text(char *buf, size_t size)
{
	const char *subject;
	char hint[512];
	enum dp_remedy r = dp_error_remedy(&subject);
	advice(r, subject, hint, sizeof(hint));
	const char *option = r == DP_REMEDY_PARAMETER ? option_for(subject) : NULL;
	snprintf(buf, size, "%s%s%s%s%s%s", option ? option : "", option ? ": " : "",
	         dp_error_message(), *hint ? " (" : "", hint, *hint ? ")" : "");
	return buf;
}

int cli_notes_render(const struct dp_changeset *cs, struct dp_strv *out)
{
	char hint[512];
	advice(cs->next, cs->next_subject, hint, sizeof(hint));
	for (size_t i = 0; i < cs->notes.n; i++) {
		bool step = *hint && i == cs->next_note;
		if (dp_strv_addf(out, "%s%s%s%s", cs->notes.v[i], step ? " (" : "", step ? hint : "",
		                 step ? ")" : "") < 0)
			return -1;
	}
	return 0;
}
