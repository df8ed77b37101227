/* Pools: the rule parser (canonical forms, every key, exact error positions), the matcher,
 * and claims/releases through the in-process fake kernel on the standard fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "binding/binding.h"
#include "devpass.h"
#include "fixture-env.h"
#include "fs/sysroot.h"

/* ---- parser ------------------------------------------------------------------------ */

static void assert_canonical(const char *in, const char *want)
{
	struct dp_rule rule;
	size_t pos = 99;
	int r = dp_rule_parse(in, &rule, &pos);
	if (r < 0)
		fail_msg("'%s' did not parse: %s", in, dp_error_message());
	assert_string_equal(rule.text, want);
	dp_rule_free(&rule);
}

static void test_canonical(void **s)
{
	(void)s;
	assert_canonical("vendor=10DE", "vendor=10de");
	assert_canonical("vendor=de", "vendor=00de");
	assert_canonical("  id=10de:2204,10DE:1aef   class=gpu ", "id=10de:2204,10de:1aef class=gpu");
	assert_canonical("address=01:00.0", "address=0000:01:00.0");
	assert_canonical("address=0000:8?:00.*", "address=0000:8?:00.*");
	assert_canonical("physfn=04:00.0", "physfn=0000:04:00.0");
	assert_canonical("name=\"*RTX 3090*\"", "name=\"*RTX 3090*\"");
	assert_canonical("name='*GA102*'", "name=*GA102*");
	assert_canonical("class=010802 numa=0,1 driver=none", "class=010802 driver=none numa=0,1");
	assert_canonical("numa=1 vendor=10de", "vendor=10de numa=1");   /* key order */
	assert_canonical("subsystem=147d:10de serial=S467*", "subsystem=147d:10de serial=S467*");
	assert_canonical("device=22*,1aef", "device=22*,1aef");
	assert_canonical("vendor=10de,10de", "vendor=10de");   /* a repeated value once */
}

static void assert_error(const char *in, size_t want_pos, const char *want_text)
{
	struct dp_rule rule;
	size_t pos = 999;
	int r = dp_rule_parse(in, &rule, &pos);
	if (r != -22)
		fail_msg("'%s' parsed (r=%d), expected an error at %zu", in, r, want_pos);
	if (pos != want_pos)
		fail_msg("'%s': error at %zu, expected %zu: %s", in, pos, want_pos, dp_error_message());
	if (!strstr(dp_error_message(), want_text))
		fail_msg("'%s': message '%s' lacks '%s'", in, dp_error_message(), want_text);
	char column[32];
	snprintf(column, sizeof(column), "column %zu:", want_pos + 1);
	assert_non_null(strstr(dp_error_message(), column));
	/* the caret sits under the offending term */
	const char *caret = strrchr(dp_error_message(), '\n');
	assert_non_null(caret);
	assert_int_equal(strlen(caret + 1), 2 + want_pos + 1);
}

static void test_errors(void **s)
{
	(void)s;
	assert_error("vendor=10de devcie=2204", 12, "unknown key 'devcie'");
	assert_error("vendor=10de vendor=8086", 12, "given twice");
	assert_error("vendor=xyz", 7, "vendor=xyz is not valid");
	assert_error("vendor=12345", 7, "is not valid");
	assert_error("group=3", 0, "IOMMU group numbers change");
	assert_error("class=gpu iommu_group=3", 10, "IOMMU group");
	assert_error("vendor", 0, "is not key=value");
	assert_error("", 0, "the rule is empty");
	assert_error("   ", 0, "the rule is empty");
	assert_error("id=10de:2204,,8086:1533", 3, "empty value");
	assert_error("id=10de:2204,", 3, "empty value");
	assert_error("class=gpu name=\"abc", 15, "unbalanced");   /* the caret at the quote */
	/* one line of UTF-8 text: the echo stays on one line, the caret under the byte */
	assert_error("vendor=10de\nclass=gpu", 11, "holds a newline");
	assert_error("name=caf\xe9*", 8, "byte 0xe9 is not UTF-8");
	assert_error("class=audio,vendor=10de", 12, "'vendor=10de' is not a class; separate terms with spaces");
	assert_error("numa=x", 5, "numa=x is not valid");
	assert_error("address=0000:01:00.0:1", 8, "is not valid");
	assert_error("address=01", 8, "is not valid");
	assert_error("id=10de", 3, "is not valid");
	assert_error("class=bogus", 6, "class=bogus is not valid");
	assert_error("driver=a/b", 7, "is not valid");
	assert_error("vendor=", 7, "has no value");
	assert_error("vendor=10de\tdevice=2204 x=1", 24, "unknown key 'x'");
}

/* ---- matcher ----------------------------------------------------------------------- */

static struct dp_pci_device gpu_device(void)
{
	struct dp_pci_device d = {0};
	snprintf(d.address, sizeof(d.address), "0000:01:00.0");
	d.vendor = 0x10de;
	d.device = 0x2204;
	d.subsys_vendor = 0x147d;
	d.subsys_device = 0x10de;
	d.has_subsys = true;
	d.class_code = 0x030000;
	d.numa_node = 0;
	d.iommu_group = 1;
	d.description = "VGA compatible controller: NVIDIA Corporation GA102 [GeForce RTX 3090]";
	return d;
}

static bool matches(const char *text, const struct dp_rule_subject *s)
{
	struct dp_rule rule;
	if (dp_rule_parse(text, &rule, NULL) < 0)
		fail_msg("'%s': %s", text, dp_error_message());
	bool m = dp_rule_match(&rule, s);
	dp_rule_free(&rule);
	return m;
}

static void test_match_every_key(void **s)
{
	(void)s;
	struct dp_pci_device d = gpu_device();
	struct dp_rule_subject g = {&d, "nvidia", "", "00-11-22-ff-fe-33-44-55", ""};
	static const char *const yes[] = {
		"vendor=10de", "vendor=10*", "vendor=8086,10de", "device=2204", "device=22??",
		"id=10de:2204", "id=10de:*", "id=8086:1533,10de:2204", "subsystem=147d:10de",
		"subsystem=147d:*", "class=gpu", "class=display", "class=03", "class=0300",
		"class=030000", "class=nvme,gpu", "name=*RTX*", "name=\"*rtx 3090*\"",
		"address=0000:01:00.0", "address=01:00.*", "address=0000:0?:00.0",
		"serial=00-11-22-ff-fe-33-44-55", "serial=00-11-*", "driver=nvidia", "driver=nv*",
		"numa=0", "numa=1,0", "vendor=10de class=gpu numa=0 driver=nvidia",
	};
	static const char *const no[] = {
		"vendor=8086", "device=2206", "id=10de:2206", "subsystem=1043:*", "class=net",
		"class=0302", "name=*Radeon*", "address=0000:02:00.0", "serial=S467*",
		"driver=vfio-pci", "driver=none", "numa=1", "numa=none", "physfn=*",
		"vendor=10de class=net",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!matches(yes[i], &g))
			fail_msg("'%s' should match the GPU", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (matches(no[i], &g))
			fail_msg("'%s' should not match the GPU", no[i]);

	/* a VF: physfn; an NVMe serial; no subsystem; no NUMA; no driver */
	struct dp_pci_device vf = gpu_device();
	snprintf(vf.address, sizeof(vf.address), "0000:04:00.3");
	vf.has_subsys = false;
	vf.numa_node = DP_NO_NUMA;
	struct dp_rule_subject v = {&vf, "", "S467NX0M123456A", "", "0000:04:00.0"};
	assert_true(matches("physfn=04:00.0", &v));
	assert_true(matches("physfn=0000:04:00.*", &v));
	assert_false(matches("physfn=0000:05:00.0", &v));
	assert_true(matches("serial=S467NX0M*", &v));
	assert_true(matches("serial=s467nx0m123456a", &v));   /* case does not matter */
	assert_true(matches("driver=none", &v));
	assert_true(matches("numa=none", &v));
	assert_false(matches("subsystem=147d:10de", &v));
	assert_true(matches("subsystem=*", &v));
}

/* ---- pools on the fake kernel ---------------------------------------------------------- */

static int fx_setup(void **state)
{
	return fk_fx_setup(state, "standard", DP_SCAN_NAMES);
}

static const struct dp_pool_member *member(const struct dp_pool_members *m, const char *addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->m[i].address, addr) == 0)
			return &m->m[i];
	return NULL;
}

static void assert_driver(struct fk_fx *f, const char *addr, const char *want)
{
	char now[64];
	fk_driver(f->root, addr, now, sizeof(now));
	if (strcmp(now, want) != 0)
		fail_msg("%s is on '%s', expected '%s'", addr, now, want);
}

static void test_claim_release(void **state)
{
	struct fk_fx *f = *state;
	struct dp_claim_list c, rel;
	assert_int_equal(dp_pool_create("gpu", DP_POOL_PCI, "", DP_RELEASE_RESTORE), 0);
	assert_int_equal(dp_pool_rule_add("gpu", "class=gpu vendor=10de", &f->list), 1);
	struct dp_claim_request req = fk_fx_request("gpu", "vm1");
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.c[0].address, "0000:01:00.0");
	/* the whole IOMMU group comes along: the HDMI audio function too */
	assert_int_equal(c.c[0].functions.n, 2);
	assert_driver(f, "0000:01:00.0", "vfio-pci");
	assert_driver(f, "0000:01:00.1", "vfio-pci");
	assert_true(fk_vfio_node_exists(f->root, 1));
	dp_claim_list_free(&c);

	/* claiming again (a VM started again, after a crash or a reboot) gives the owner what
	 * it holds, bound to vfio-pci again, not a second device */
	struct dp_bind_options ro = {.timeout_ms = 5000};
	struct dp_bind_plan plan;
	char *gpu[] = {"0000:01:00.0"};
	assert_int_equal(dp_bind_plan_make(DP_RESTORE, &f->list, gpu, 1, false, &ro, &plan), 0);
	assert_int_equal(dp_bind_plan_apply(&plan, &f->list, &ro), 0);
	dp_bind_plan_free(&plan);
	assert_driver(f, "0000:01:00.0", "nvidia");   /* as after a reboot */
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	assert_int_equal(c.n, 1);
	assert_true(c.c[0].held);
	assert_string_equal(c.c[0].address, "0000:01:00.0");
	assert_int_equal(c.c[0].functions.n, 2);
	assert_driver(f, "0000:01:00.0", "vfio-pci");
	assert_driver(f, "0000:01:00.1", "vfio-pci");
	dp_claim_list_free(&c);

	/* the claims as they stand, by owner */
	assert_int_equal(dp_claims_read(&f->list, "vm1", &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.c[0].address, "0000:01:00.0");
	assert_int_equal(c.c[0].functions.n, 2);
	dp_claim_list_free(&c);
	assert_int_equal(dp_claims_read(&f->list, "nobody", &c), 0);
	assert_int_equal(c.n, 0);
	dp_claim_list_free(&c);

	/* no second owner for it */
	req.owner = "vm2";
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), -16);
	assert_non_null(strstr(dp_error_message(), "0 free device(s), 1 asked"));
	assert_non_null(strstr(dp_error_message(), "1 claimed"));

	struct dp_pool_members m;
	fk_fx_rescan(f);
	assert_int_equal(dp_pool_members_read(&f->list, "gpu", &m), 0);
	assert_int_equal(member(&m, "0000:01:00.0")->state, DP_MEMBER_CLAIMED);
	assert_string_equal(member(&m, "0000:01:00.0")->owner, "vm1");
	dp_pool_members_free(&m);

	/* a release by someone else is refused; the owner's restores the drivers */
	assert_int_equal(dp_pool_release(&f->list, "vm2", NULL, 0, 5000, &rel), -2);
	assert_int_equal(dp_pool_release(&f->list, "vm1", NULL, 0, 5000, &rel), 0);
	assert_int_equal(rel.n, 1);
	assert_string_equal(rel.c[0].action, "restored");
	assert_false(rel.c[0].reset);   /* this GPU has no reset method */
	dp_claim_list_free(&rel);
	assert_driver(f, "0000:01:00.0", "nvidia");
	assert_driver(f, "0000:01:00.1", "snd_hda_intel");
	assert_false(fk_vfio_node_exists(f->root, 1));
	fk_fx_rescan(f);
	assert_int_equal(dp_pool_members_read(&f->list, "gpu", &m), 0);
	assert_int_equal(member(&m, "0000:01:00.0")->state, DP_MEMBER_FREE);
	dp_pool_members_free(&m);
	assert_int_equal(dp_pool_delete("gpu"), 0);
}

static void test_conflict_and_vf_pool(void **state)
{
	struct fk_fx *f = *state;
	struct dp_pool_members m;
	struct dp_claim_list c;
	assert_int_equal(dp_pool_create("a", DP_POOL_PCI, "", DP_RELEASE_RESTORE), 0);
	assert_int_equal(dp_pool_create("b", DP_POOL_PCI, "", DP_RELEASE_RESTORE), 0);
	assert_int_equal(dp_pool_create("vfs", DP_POOL_SRIOV_VF, "", DP_RELEASE_KEEP_VFIO), 0);
	assert_true(dp_pool_rule_add("a", "class=net", &f->list) >= 1);
	assert_true(dp_pool_rule_add("b", "vendor=15b3", &f->list) >= 1);
	/* the VFs of the mlx5 PF: only the sriov-vf pool takes them */
	assert_int_equal(dp_pool_rule_add("vfs", "physfn=04:00.0", &f->list), 4);
	assert_int_equal(dp_pool_members_read(&f->list, NULL, &m), 0);
	assert_int_equal(m.conflicts.n, 1);
	assert_string_equal(m.conflicts.v[0], "0000:04:00.0: pools a, b");
	for (size_t i = 0; i < m.n; i++)
		if (strcmp(m.m[i].address, "0000:04:00.0") == 0)
			assert_int_equal(m.m[i].state, DP_MEMBER_CONFLICT);
	dp_pool_members_free(&m);
	struct dp_claim_request req = fk_fx_request("b", "vm1");
	req.address = "04:00.0";
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), -16);
	assert_non_null(strstr(dp_error_message(), "is conflict"));

	/* the VF pool: NUMA preference and keep-vfio */
	req = fk_fx_request("vfs", "vm3");
	req.numa = 1;
	req.count = 2;
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_not_equal(c.c[0].address, c.c[1].address);
	for (size_t i = 0; i < c.n; i++)
		assert_driver(f, c.c[i].address, "vfio-pci");
	char first[DP_ADDR_LEN];
	snprintf(first, sizeof(first), "%s", c.c[0].address);
	dp_claim_list_free(&c);
	/* the PF is not claimable while its VFs are */
	assert_int_equal(dp_pool_rule_remove("a", "1", &f->list), 0);
	req = fk_fx_request("b", "vm4");
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), -16);
	assert_non_null(strstr(dp_error_message(), "1 unavailable"));
	char *one[] = {first};
	assert_int_equal(dp_pool_release(&f->list, "vm3", one, 1, 5000, &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.c[0].action, "kept on vfio-pci");
	dp_claim_list_free(&c);
	assert_driver(f, first, "vfio-pci");
	assert_int_equal(dp_pool_release(&f->list, "vm3", NULL, 0, 5000, &c), 0);
	dp_claim_list_free(&c);
	assert_int_equal(dp_pool_delete("a"), 0);
	assert_int_equal(dp_pool_delete("b"), 0);
	assert_int_equal(dp_pool_delete("vfs"), 0);
}

/* A process of the fixture's /proc holding a node (NULL comm: gone again). */
static void holder_fake(struct fk_fx *f, int pid, const char *comm, const char *node)
{
	char cmd[1024];
	if (comm)
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s/proc/%d/fd' && echo %s > '%s/proc/%d/comm' && "
		         "ln -sf %s '%s/proc/%d/fd/7'", f->root, pid, comm, f->root, pid, node, f->root, pid);
	else
		snprintf(cmd, sizeof(cmd), "rm -rf '%s/proc/%d'", f->root, pid);
	assert_int_equal(system(cmd), 0);
}

static void test_stale_and_quarantine(void **state)
{
	struct fk_fx *f = *state;
	struct dp_claim_list c;
	assert_int_equal(dp_pool_create("nic", DP_POOL_PCI, "", DP_RELEASE_QUARANTINE), 0);
	assert_int_equal(dp_pool_rule_add("nic", "id=8086:10fb", &f->list), 1);
	/* a claim living with a process that then dies */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	struct dp_claim_request req = fk_fx_request("nic", "vm1");
	req.pid = child;
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	dp_claim_list_free(&c);
	waitpid(child, NULL, 0);
	struct dp_pool_members m;
	assert_int_equal(dp_pool_members_read(&f->list, "nic", &m), 0);
	assert_true(m.m[0].stale);
	dp_pool_members_free(&m);
	/* a quarantine pool does not hand a dead tenant's device on: it quarantines it */
	req = fk_fx_request("nic", "vm2");
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), -16);
	assert_int_equal(c.warnings.n, 1);
	assert_non_null(strstr(c.warnings.v[0], "quarantines released devices"));
	dp_claim_list_free(&c);
	assert_int_equal(dp_pool_members_read(&f->list, "nic", &m), 0);
	assert_int_equal(m.m[0].state, DP_MEMBER_QUARANTINED);
	dp_pool_members_free(&m);
	assert_int_equal(dp_pool_delete("nic"), -16);
	assert_int_equal(dp_pool_clear("07:00.0"), 0);
	assert_int_equal(dp_pool_clear("07:00.0"), -2);
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	dp_claim_list_free(&c);

	/* restore policy: a stale claim is taken over by the next claim, with a warning */
	enum dp_release_policy restore = DP_RELEASE_RESTORE;
	int resets = f->fk->resets;
	assert_int_equal(dp_pool_release(&f->list, "vm2", NULL, 0, 5000, &c), 0);
	assert_string_equal(c.c[0].action, "quarantined");
	assert_true(c.c[0].reset);   /* the 82599 has FLR: reset before it goes anywhere */
	assert_int_equal(f->fk->resets, resets + 1);
	dp_claim_list_free(&c);
	assert_int_equal(dp_pool_clear("0000:07:00.0"), 0);
	assert_int_equal(dp_pool_set("nic", NULL, &restore), 0);
	child = fork();
	if (child == 0)
		_exit(0);
	req = fk_fx_request("nic", "vm5");
	req.pid = child;
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	dp_claim_list_free(&c);
	waitpid(child, NULL, 0);
	req = fk_fx_request("nic", "vm6");
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	assert_true(c.c[0].took_over);
	assert_int_equal(c.warnings.n, 1);
	assert_non_null(strstr(c.warnings.v[0], "took over 0000:07:00.0 from vm5"));
	dp_claim_list_free(&c);
	/* a stale claim whose device a process still holds (QEMU outliving the launcher the
	 * claim was tied to) is neither taken over nor released */
	assert_int_equal(dp_pool_release(&f->list, "vm6", NULL, 0, 5000, &c), 0);
	dp_claim_list_free(&c);
	child = fork();
	if (child == 0)
		_exit(0);
	req = fk_fx_request("nic", "vm7");
	req.pid = child;
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	dp_claim_list_free(&c);
	waitpid(child, NULL, 0);
	holder_fake(f, 4242, "qemu-system-x86", "/dev/vfio/20");
	req = fk_fx_request("nic", "vm8");
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), -16);
	assert_int_equal(c.warnings.n, 1);
	if (!strstr(c.warnings.v[0], "4242") || !strstr(c.warnings.v[0], "holds /dev/vfio/20: left alone"))
		fail_msg("warning: %s", c.warnings.v[0]);
	dp_claim_list_free(&c);
	assert_int_equal(dp_pool_gc(&f->list, 5000, &c), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.warnings.n, 1);
	dp_claim_list_free(&c);
	holder_fake(f, 4242, NULL, NULL);
	assert_int_equal(dp_pool_gc(&f->list, 5000, &c), 0);
	assert_int_equal(c.n, 1);   /* once nobody holds it, gc gives it back */
	dp_claim_list_free(&c);
	req = fk_fx_request("nic", "vm6");
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	dp_claim_list_free(&c);

	/* gc releases what a dead process held */
	assert_int_equal(dp_pool_gc(&f->list, 5000, &c), 0);
	assert_int_equal(c.n, 0);   /* vm6 has no process: nothing stale */
	dp_claim_list_free(&c);
	assert_int_equal(dp_pool_release(&f->list, "vm6", NULL, 0, 5000, &c), 0);
	dp_claim_list_free(&c);
	assert_driver(f, "0000:07:00.0", "ixgbe");
	assert_int_equal(dp_pool_delete("nic"), 0);
}

static void device_id_set(struct fk_fx *f, const char *addr, const char *was, const char *now)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cd '%s/sys/bus/pci/devices/%s' && echo 0x%s > device && "
	         "sed -i 's/d0000%s/d0000%s/I' modalias", f->root, addr, now, was, now);
	assert_int_equal(system(cmd), 0);
}

static void test_fingerprint_changed(void **state)
{
	struct fk_fx *f = *state;
	struct dp_claim_list c;
	struct dp_pool_members m;
	assert_int_equal(dp_pool_create("gpu2", DP_POOL_PCI, "", DP_RELEASE_RESTORE), 0);
	assert_int_equal(dp_pool_rule_add("gpu2", "vendor=10de class=gpu", &f->list), 1);
	/* the card is swapped for another model in the same slot (the kernel shows the new
	 * id in both device and modalias) */
	device_id_set(f, "0000:01:00.0", "2204", "2206");
	fk_fx_rescan(f);
	assert_int_equal(dp_pool_members_read(&f->list, "gpu2", &m), 0);
	assert_int_equal(m.m[0].state, DP_MEMBER_CHANGED);
	assert_non_null(strstr(m.m[0].reason, "hardware changed: id 10de:2204 is now 10de:2206"));
	dp_pool_members_free(&m);
	struct dp_claim_request req = fk_fx_request("gpu2", "vm1");
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), -16);
	assert_non_null(strstr(dp_error_message(), "1 changed"));
	assert_driver(f, "0000:01:00.0", "nvidia");   /* nothing was touched */
	device_id_set(f, "0000:01:00.0", "2206", "2204");
	fk_fx_rescan(f);
	assert_int_equal(dp_pool_delete("gpu2"), 0);
}

static void test_export_import_roundtrip(void **state)
{
	struct fk_fx *f = *state;
	struct json_object *a, *b;
	assert_int_equal(dp_pool_create("x", DP_POOL_SRIOV_VF, "VFs, \"quoted\"", DP_RELEASE_KEEP_VFIO), 0);
	assert_true(dp_pool_rule_add("x", "physfn=04:00.0 numa=1", &f->list) > 0);
	assert_true(dp_pool_rule_add("x", "id=15b3:1018 driver=vfio-pci", &f->list) >= 0);
	assert_int_equal(dp_pools_export(&a), 0);
	assert_int_equal(dp_pool_delete("x"), 0);
	assert_int_equal(dp_pools_import(a, false, &f->list), 0);
	assert_int_equal(dp_pools_import(a, false, &f->list), -17);   /* exists: --replace */
	assert_int_equal(dp_pools_import(a, true, &f->list), 0);
	assert_int_equal(dp_pools_export(&b), 0);
	assert_string_equal(json_object_to_json_string(a), json_object_to_json_string(b));
	json_object_put(a);
	json_object_put(b);
	assert_int_equal(dp_pool_delete("x"), 0);
}

/* ---- claims, gc and takeovers racing (issue 10) -------------------------------------- */

#define RACE_VF "0000:04:00.2"   /* a VF alone in its IOMMU group (13), on mlx5_core */

static void assert_override(struct fk_fx *f, const char *addr, const char *want)
{
	char now[64];
	fk_override(f->root, addr, now, sizeof(now));
	if (strcmp(now, want) != 0)
		fail_msg("%s has driver_override '%s', expected '%s'", addr, now, want);
}

static void assert_recorded(const char *addr, const char *want)
{
	char was[64];
	dp_ledger_original_driver(addr, was);
	if (strcmp(was, want) != 0)
		fail_msg("the ledger has '%s' for %s, expected '%s'", was, addr, want);
}

static int child_status(pid_t pid)
{
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A process that lives until killed: what a claim's --pid names. */
static pid_t process_start(void)
{
	pid_t pid = fork();
	if (pid == 0)
		for (;;)
			pause();
	assert_true(pid > 0);
	return pid;
}

/* Forks a process that claims RACE_VF for owner with the claim tied to pid; it exits 0
 * when the claim succeeded (took_over as expected), 1 otherwise. */
static pid_t claim_start(struct fk_fx *f, const char *owner, pid_t pid, bool took_over)
{
	fflush(NULL);
	pid_t child = fork();
	if (child != 0)
		return child;
	struct dp_claim_request req = fk_fx_request("race", owner);
	struct dp_claim_list c;
	req.address = RACE_VF;
	req.pid = pid < 0 ? getpid() : pid;   /* -1: the claim lives with this process */
	int r = dp_pool_claim(&f->list, &req, &c);
	if (r < 0)
		fprintf(stderr, "claim by %s: %s\n", owner, dp_error_message());
	_exit(r == 0 && c.n == 1 && c.c[0].took_over == took_over ? 0 : 1);
}

/* A claim for vm1, tied to a process that then dies, stopped in its bind just after the
 * group lock is taken and the ledger written, before the first write to the VF: the
 * state a claim is in when the process it lives with dies during the claim (or the
 * claimant is killed while its parallel bind workers, which hold the lock, go on). */
/* The pool of the mlx5 PF's four VFs, every VF as the fixture had it. */
static void race_pool_create(struct fk_fx *f)
{
	/* what earlier tests kept on vfio-pci goes back first */
	struct dp_bind_options o = {.timeout_ms = 5000};
	struct dp_bind_plan plan;
	assert_int_equal(dp_bind_plan_make(DP_RESTORE, &f->list, NULL, 0, true, &o, &plan), 0);
	assert_int_equal(dp_bind_plan_apply(&plan, &f->list, &o), 0);
	dp_bind_plan_free(&plan);
	fk_fx_rescan(f);
	assert_driver(f, RACE_VF, "mlx5_core");
	assert_int_equal(dp_pool_create("race", DP_POOL_SRIOV_VF, "", DP_RELEASE_RESTORE), 0);
	assert_int_equal(dp_pool_rule_add("race", "physfn=04:00.0", &f->list), 4);
}

static pid_t stale_claim_binding(struct fk_fx *f)
{
	race_pool_create(f);
	pid_t vm = process_start();
	fk_pause_at(0, "write sys/bus/pci/devices/" RACE_VF "/driver_override vfio-pci");
	pid_t binder = claim_start(f, "vm1", vm, false);
	fk_pause_wait(0);
	assert_recorded(RACE_VF, "mlx5_core");
	assert_driver(f, RACE_VF, "mlx5_core");
	kill(vm, SIGKILL);
	child_status(vm);
	return binder;
}

/* gc finds vm1's claim stale while the claim's bind still holds the VF's group lock. It
 * used to plan the restore before taking the lock, see the VF as recorded (the bind had
 * not reached it), skip it, and then, under the lock, forget the VF's ledger record: the
 * VF was left on vfio-pci with no claim and no record, lost to the pool. */
static void test_gc_racing_a_bind(void **state)
{
	struct fk_fx *f = *state;
	struct dp_claim_list c;
	pid_t binder = stale_claim_binding(f);
	fk_pause_at(1, "lock-wait run/devpass/group-13.lock");
	fflush(NULL);
	pid_t gc = fork();
	if (gc == 0) {
		int r = dp_pool_gc(&f->list, 5000, &c);
		_exit(r == 0 && c.n == 1 ? 0 : 1);
	}
	fk_pause_wait(1);      /* gc has taken the claim and waits for the group lock */
	fk_pause_release(0);   /* the bind goes on: the VF goes to vfio-pci */
	assert_int_equal(child_status(binder), 0);
	assert_driver(f, RACE_VF, "vfio-pci");
	fk_pause_release(1);
	assert_int_equal(child_status(gc), 0);
	assert_driver(f, RACE_VF, "mlx5_core");
	assert_override(f, RACE_VF, "");
	assert_recorded(RACE_VF, "");
	assert_int_equal(dp_claims_read(&f->list, NULL, &c), 0);
	assert_int_equal(c.n, 0);
	dp_claim_list_free(&c);
	assert_int_equal(dp_pool_delete("race"), 0);
}

/* The same stale claim taken over by the next claim: it waits for the lock, finds the VF
 * on vfio-pci and leaves it there; the record of its original driver stays, and the new
 * owner's release puts it back. */
static void test_takeover_racing_a_bind(void **state)
{
	struct fk_fx *f = *state;
	struct dp_claim_list c;
	pid_t binder = stale_claim_binding(f);
	fk_pause_at(1, "lock-wait run/devpass/group-13.lock");
	pid_t taker = claim_start(f, "vm2", 0, true);
	fk_pause_wait(1);
	fk_pause_release(0);
	assert_int_equal(child_status(binder), 0);
	fk_pause_release(1);
	assert_int_equal(child_status(taker), 0);
	assert_driver(f, RACE_VF, "vfio-pci");
	assert_recorded(RACE_VF, "mlx5_core");
	assert_int_equal(dp_pool_release(&f->list, "vm2", NULL, 0, 5000, &c), 0);
	assert_int_equal(c.n, 1);
	dp_claim_list_free(&c);
	assert_driver(f, RACE_VF, "mlx5_core");
	assert_override(f, RACE_VF, "");
	assert_recorded(RACE_VF, "");
	assert_int_equal(dp_pool_delete("race"), 0);
}

/* A claim takes a stale claim over and then fails to bind its other device: the stale
 * claim goes back to its dead owner, so that gc still restores the device. It used to be
 * deleted with the new claim's rows, which left the device on vfio-pci with no claim. */
static void test_takeover_then_bind_fails(void **state)
{
	struct fk_fx *f = *state;
	struct dp_claim_list c;
	race_pool_create(f);
	pid_t vm = process_start();
	struct dp_claim_request req = fk_fx_request("race", "vm1");
	req.address = RACE_VF;
	req.pid = vm;
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	dp_claim_list_free(&c);
	kill(vm, SIGKILL);
	child_status(vm);
	static const char *const others[] = {"04:00.3", "04:00.4"};   /* leaves 04:00.5 free */
	for (size_t i = 0; i < 2; i++) {
		req = fk_fx_request("race", "vm0");
		req.address = others[i];
		assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
		dp_claim_list_free(&c);
	}
	/* vm2 gets the free VF and the stale one; the free one's driver_override fails */
	f->fk->seen = 0;
	f->fk->fault_at = 1;
	f->fk->fault = FK_OVERRIDE_FAILS;
	req = fk_fx_request("race", "vm2");
	req.count = 2;
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), -5);
	f->fk->fault = FK_NONE;
	assert_non_null(strstr(dp_error_message(), "the claim was taken back"));
	dp_claim_list_free(&c);
	assert_driver(f, "0000:04:00.5", "mlx5_core");
	assert_recorded("0000:04:00.5", "");
	assert_int_equal(dp_claims_read(&f->list, "vm1", &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.c[0].address, RACE_VF);
	dp_claim_list_free(&c);
	assert_int_equal(dp_pool_gc(&f->list, 5000, &c), 0);
	assert_int_equal(c.n, 1);
	dp_claim_list_free(&c);
	assert_driver(f, RACE_VF, "mlx5_core");
	assert_override(f, RACE_VF, "");
	assert_recorded(RACE_VF, "");
	assert_int_equal(dp_pool_release(&f->list, "vm0", NULL, 0, 5000, &c), 0);
	dp_claim_list_free(&c);
	assert_int_equal(dp_pool_delete("race"), 0);
}

/* A claimant killed while its write helper is writing to the VF (the helper finishes the
 * write it was given: a sysfs write is not undone by a kill): gc must not see the VF
 * before that write is done, or the write lands after gc restored the VF. The helper
 * holds the claimant's group lock for the write, lent with it. */
static void test_gc_after_a_killed_bind(void **state)
{
	struct fk_fx *f = *state;
	struct dp_claim_list c;
	race_pool_create(f);
	fk_pause_at(0, "write sys/bus/pci/devices/" RACE_VF "/driver_override vfio-pci");
	pid_t binder = claim_start(f, "vm1", -1, false);
	fk_pause_wait(0);
	kill(binder, SIGKILL);
	child_status(binder);
	fk_pause_at(1, "lock-wait run/devpass/group-13.lock");
	fflush(NULL);
	pid_t gc = fork();
	if (gc == 0) {
		int r = dp_pool_gc(&f->list, 5000, &c);
		_exit(r == 0 && c.n == 1 ? 0 : 1);
	}
	/* gc waits for the lock the helper still holds (the time is for the failing case) */
	bool waited = fk_pause_wait_for(1, 10000);
	fk_pause_release(0);
	if (waited)
		fk_pause_release(1);
	assert_int_equal(child_status(gc), 0);
	assert_true(waited);
	assert_driver(f, RACE_VF, "mlx5_core");
	assert_override(f, RACE_VF, "");
	assert_recorded(RACE_VF, "");
	assert_int_equal(dp_claims_read(&f->list, NULL, &c), 0);
	assert_int_equal(c.n, 0);
	dp_claim_list_free(&c);
	assert_int_equal(dp_pool_delete("race"), 0);
}

/* A write the killed claimant had asked for but its helper had not started is not made:
 * a killed devpass stops moving devices. */
static void test_killed_claimant_request_dropped(void **state)
{
	struct fk_fx *f = *state;
	struct dp_claim_list c;
	race_pool_create(f);
	fk_pause_at(0, "helper-request Wsys/bus/pci/devices/" RACE_VF "/driver_override");
	pid_t binder = claim_start(f, "vm1", -1, false);
	fk_pause_wait(0);
	kill(binder, SIGKILL);
	child_status(binder);
	fk_pause_release(0);
	/* the helper gives the lent lock back when it is done with the request */
	int lock = dp_fs_lock("run/devpass/group-13.lock");
	assert_true(lock >= 0);
	assert_driver(f, RACE_VF, "mlx5_core");
	assert_override(f, RACE_VF, "");
	dp_fs_unlock(lock);
	assert_int_equal(dp_pool_gc(&f->list, 5000, &c), 0);
	assert_int_equal(c.n, 1);
	dp_claim_list_free(&c);
	assert_recorded(RACE_VF, "");
	assert_int_equal(dp_pool_delete("race"), 0);
}

int main(void)
{
	const struct CMUnitTest parser[] = {
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_match_every_key),
	};
	const struct CMUnitTest pools[] = {
		cmocka_unit_test(test_claim_release),
		cmocka_unit_test(test_conflict_and_vf_pool),
		cmocka_unit_test(test_stale_and_quarantine),
		cmocka_unit_test(test_fingerprint_changed),
		cmocka_unit_test(test_export_import_roundtrip),
		cmocka_unit_test(test_gc_racing_a_bind),
		cmocka_unit_test(test_takeover_racing_a_bind),
		cmocka_unit_test(test_takeover_then_bind_fails),
		cmocka_unit_test(test_gc_after_a_killed_bind),
		cmocka_unit_test(test_killed_claimant_request_dropped),
	};
	int failed = cmocka_run_group_tests_name("rules", parser, NULL, NULL);
	failed += cmocka_run_group_tests_name("pools", pools, fx_setup, fk_fx_teardown);
	return failed ? 1 : 0;
}
