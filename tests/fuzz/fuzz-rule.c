/* libFuzzer target for the pool rule parser: any bytes go to dp_rule_parse; a rule that
 * parses is matched against two fixed devices and must come back the same from its own
 * canonical text. Built and run by tests/fuzz/run.sh (clang, ASan + UBSan). A broken
 * property aborts, which libFuzzer reports as a crash with the input that caused it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"

#define MAX_INPUT 4096

/* a ConnectX VF on node 1 and an NVMe drive with a serial and a DSN */
static const struct dp_pci_device vf_dev = {
	.address = "0000:81:00.2", .addr = {0, 0x81, 0, 2},
	.vendor = 0x15b3, .device = 0x101e, .subsys_vendor = 0x15b3, .subsys_device = 0x0016,
	.has_subsys = true, .class_code = 0x020000, .driver = "mlx5_core", .iommu_group = 12,
	.numa_node = 1, .parent = "0000:80:01.0",
	.class_name = "Ethernet controller", .vendor_name = "Mellanox Technologies",
	.device_name = "ConnectX Family mlx5Gen Virtual Function",
	.description = "Mellanox Technologies ConnectX Family mlx5Gen Virtual Function",
};
static const struct dp_pci_device nvme_dev = {
	.address = "0000:02:00.0", .addr = {0, 2, 0, 0},
	.vendor = 0x144d, .device = 0xa808, .subsys_vendor = 0x144d, .subsys_device = 0xa801,
	.has_subsys = true, .class_code = 0x010802, .driver = "", .iommu_group = 3,
	.numa_node = DP_NO_NUMA, .parent = "0000:00:01.0",
	.class_name = "Non-Volatile memory controller", .vendor_name = "Samsung Electronics Co Ltd",
	.device_name = "NVMe SSD Controller SM981/PM981/PM983",
	.description = "Samsung Electronics Co Ltd NVMe SSD Controller SM981/PM981/PM983",
};
static const struct dp_rule_subject subjects[] = {
	{.dev = &vf_dev, .driver = "mlx5_core", .serial = "", .dsn = "", .physfn = "0000:81:00.0"},
	{.dev = &nvme_dev, .driver = "nvme", .serial = "S4EWNX0R123456",
	 .dsn = "00-25-38-b5-71-b0-11-22", .physfn = ""},
};
#define NSUBJECTS (sizeof(subjects) / sizeof(subjects[0]))

static void fail(const char *what, const char *input, const char *detail)
{
	fprintf(stderr, "fuzz-rule: %s\n  input: \"%s\"\n  %s\n", what, input, detail ? detail : "");
	abort();
}

static void rule_check(const struct dp_rule *rule, const char *input, unsigned *matches)
{
	if (!rule->text)
		fail("a parsed rule has no canonical text", input, NULL);
	for (size_t i = 0; i < rule->n; i++) {
		if (rule->terms[i].key >= DP_RK_COUNT)
			fail("a term has a key out of range", input, rule->text);
		if (rule->terms[i].pos > strlen(input))
			fail("a term's position is past the end of the text", input, rule->text);
		if (!dp_rule_key_name(rule->terms[i].key))
			fail("a term's key has no name", input, rule->text);
		if (!dp_rule_uses(rule, rule->terms[i].key))
			fail("dp_rule_uses denies a key the rule has", input, rule->text);
	}
	*matches = 0;
	for (size_t s = 0; s < NSUBJECTS; s++)
		*matches |= (unsigned)dp_rule_match(rule, &subjects[s]) << s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return 0;
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';   /* an embedded NUL ends the rule, as it would in argv */
	size_t len = strlen(text);

	struct dp_rule rule = {0};
	size_t pos = (size_t)-1;
	int r = dp_rule_parse(text, &rule, &pos);
	if (r < 0) {
		if (r != -EINVAL)
			fail("parse failed with an error other than -EINVAL", text, dp_error_message());
		if (pos > len)
			fail("error position past the end of the text", text, dp_error_message());
		if (!dp_error_message() || !*dp_error_message())
			fail("parse failed without a message", text, NULL);
		dp_rule_free(&rule);
		free(text);
		return 0;
	}
	unsigned matches, again_matches;
	rule_check(&rule, text, &matches);

	/* the canonical form is a rule too, and a fixed point: it parses to itself and
	 * selects the same devices */
	struct dp_rule again = {0};
	size_t pos2 = 0;
	char *canonical = strdup(rule.text);
	if (dp_rule_parse(canonical, &again, &pos2) < 0)
		fail("the canonical text does not parse", text, dp_error_message());
	if (strcmp(again.text, canonical) != 0) {
		char detail[2 * MAX_INPUT + 64];
		snprintf(detail, sizeof(detail), "canonical \"%s\" reparses as \"%s\"", canonical, again.text);
		fail("the canonical text is not a fixed point", text, detail);
	}
	rule_check(&again, canonical, &again_matches);
	if (matches != again_matches)
		fail("the canonical text selects other devices", text, canonical);
	dp_rule_free(&again);
	dp_rule_free(&rule);
	free(canonical);
	free(text);
	return 0;
}
