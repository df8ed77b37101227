/* The qemu hook: libvirt runs it synchronously at each step of a domain's life with the
 * domain XML on stdin, so it must never call libvirt back (the daemon waits for it).
 * prepare/begin comes before libvirt prepares the host devices: devpass makes sure each
 * one is the domain's (claiming free pool members again, so a restart after a release
 * works) and refuses the start otherwise. release/end comes after every stop, a failed
 * start included: it gives the domain's claims back, and is idempotent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "binding/binding.h"
#include "fs/sysroot.h"
#include "libvirt/libvirt-int.h"
#include "util/error.h"

#define HOOK_DIR "/etc/libvirt/hooks/qemu.d"
#define HOOK_PATH HOOK_DIR "/devpass"

static bool is_pci(const struct lv_source *s)
{
	return (s->kind == DP_HOSTDEV_PCI || s->kind == DP_HOSTDEV_NET) && s->address[0];
}

/* The sources the hook answers for: every PCI one, and devpass's own of the other kinds. */
static bool checked(const struct lv_source *s)
{
	return is_pci(s) || lv_alias_is_devpass(s->alias);
}

static const struct dp_pool_member *member_of(const struct dp_pool_members *m, const char *address)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->m[i].address, address) == 0)
			return &m->m[i];
	return NULL;
}

/* A free pool member named in the XML becomes the domain's again (and is bound). */
static void reclaim(const struct dp_pci_list *list, const struct dp_pool_members *m,
                    const struct lv_source *s, const char *owner, int timeout_ms,
                    struct dp_strv *problems, struct dp_strv *notes)
{
	const struct dp_pool_member *x = is_pci(s) ? member_of(m, s->address) : NULL;
	if (!x || x->state != DP_MEMBER_FREE)
		return;
	struct dp_claim_request req = {.pool = x->pool, .owner = owner, .count = 1,
	                               .numa = DP_NO_NUMA, .address = x->address,
	                               .timeout_ms = timeout_ms};
	struct dp_claim_list got = {0};
	if (dp_pool_claim(list, &req, &got) < 0)
		dp_strv_addf(problems, "%s (pool %s) cannot be claimed for domain '%s': %s", x->address,
		             x->pool, owner, dp_error_message());
	else
		dp_strv_addf(notes, "%s (pool %s) claimed for domain '%s'", x->address, x->pool, owner);
	dp_claim_list_free(&got);
}

static const struct dp_claim *claim_of(const struct dp_claim_list *c, const struct lv_source *s)
{
	for (size_t i = 0; i < c->n; i++)
		if ((s->address[0] && dp_strv_contains(&c->c[i].functions, s->address)) ||
		    lv_source_matches(s, c->c[i].address) ||
		    (c->c[i].functions.n && lv_source_matches(s, c->c[i].functions.v[0])))
			return &c->c[i];
	return NULL;
}

static void pci_verify(const struct dp_pci_list *list, const struct lv_source *s,
                       struct dp_strv *problems)
{
	const struct dp_pci_device *dev = dp_pci_list_find(list, s->address);
	if (!dev) {
		dp_strv_addf(problems, "%s is not present on this host", s->address);
		return;
	}
	if (dev->critical.n)
		dp_strv_addf(problems, "%s is host-critical (%s): the host needs it", s->address,
		             dev->critical.v[0]);
	char driver[64] = "";   /* now: a claim made a moment ago may have bound it */
	dp_device_driver(s->address, driver, sizeof(driver));
	if (strcmp(driver, "vfio-pci") != 0)
		dp_strv_addf(problems, "%s is %s%s, not bound to vfio-pci: with managed='no' libvirt "
		             "takes only a device bound to vfio-pci already", s->address,
		             driver[0] ? "on driver " : "bound to no driver", driver);
}

/* A device named outside every pool (devpass vm export writes its explicit devices with
 * devpass aliases too) needs no claim: only the checks every PCI source gets. A pool member
 * the domain does not hold was not free for the reclaim above: someone else's, or stuck. */
static void source_verify(const struct dp_pci_list *list, const struct dp_pool_members *m,
                          const struct dp_claim_list *claims, const struct lv_source *s,
                          const char *owner, struct dp_strv *problems)
{
	const struct dp_claim *c = claim_of(claims, s);
	const char *what = is_pci(s) ? s->address : s->alias;
	bool pooled = !is_pci(s) || member_of(m, s->address);
	if (c && strcmp(c->owner, owner) != 0)
		dp_strv_addf(problems, "%s is claimed by '%s' (pool %s), not by domain '%s'", what,
		             c->owner, c->pool, owner);
	else if (!c && pooled && lv_alias_is_devpass(s->alias))
		dp_strv_addf(problems, "%s: domain '%s' holds no claim on it (devpass attached it, "
		             "and its claim was given up)", what, owner);
	if (is_pci(s))
		pci_verify(list, s, problems);
}

static int hook_prepare(const struct dp_pci_list *list, const struct lv_domain *d,
                        int timeout_ms, struct dp_strv *problems, struct dp_strv *notes)
{
	struct dp_pool_members m = {0};
	struct dp_claim_list claims = {0};
	int r = dp_pool_members_read(list, NULL, &m);
	for (size_t i = 0; r == 0 && i < d->n; i++)
		if (checked(&d->s[i]))
			reclaim(list, &m, &d->s[i], d->name, timeout_ms, problems, notes);
	if (r == 0)
		r = dp_claims_read(list, NULL, &claims);
	for (size_t i = 0; r == 0 && i < d->n; i++)
		if (checked(&d->s[i]))
			source_verify(list, &m, &claims, &d->s[i], d->name, problems);
	dp_pool_members_free(&m);
	dp_claim_list_free(&claims);
	if (r < 0)
		return r;
	return problems->n ? dp_error_set(-EPERM, "domain '%s' may not start: %zu problem(s) with "
	                                  "its devices", d->name, problems->n) : 0;
}

static int hook_release(const struct dp_pci_list *list, const char *owner, int timeout_ms,
                        struct dp_strv *notes)
{
	struct dp_claim_list out = {0};
	int r = dp_pool_release(list, owner, NULL, 0, timeout_ms, &out);
	for (size_t i = 0; r == 0 && i < out.n; i++)
		dp_strv_addf(notes, "%s (pool %s) released from domain '%s': %s", out.c[i].address,
		             out.c[i].pool, owner, out.c[i].action[0] ? out.c[i].action : "given back");
	for (size_t i = 0; r == 0 && i < out.warnings.n; i++)
		dp_strv_add(notes, out.warnings.v[i]);
	dp_claim_list_free(&out);
	return r == -ENOENT ? 0 : r;   /* nothing held: released already, or never claimed */
}

int dp_libvirt_hook(const struct dp_pci_list *list, const char *domain, const char *op,
                    const char *subop, const char *xml, int timeout_ms,
                    struct dp_strv *problems, struct dp_strv *notes)
{
	bool prepare = strcmp(op, "prepare") == 0 && strcmp(subop, "begin") == 0;
	bool release = strcmp(op, "release") == 0 && strcmp(subop, "end") == 0;
	if (!prepare && !release)
		return 0;
	struct lv_domain d;
	int r = lv_domain_parse(xml, &d);
	if (r < 0 && release)   /* the XML is not needed to give back what the name holds */
		return hook_release(list, domain, timeout_ms, notes);
	if (r < 0)
		return r;
	if (strcmp(d.name, domain) != 0)
		dp_strv_addf(notes, "the hook was called for '%s' with the XML of domain '%s': the "
		             "XML's name counts", domain, d.name);
	r = prepare ? hook_prepare(list, &d, timeout_ms, problems, notes)
	            : hook_release(list, d.name, timeout_ms, notes);
	lv_domain_free(&d);
	return r;
}

/* ---- installing the hook ------------------------------------------------------------------- */
/* One word for sh: single-quoted, a quote inside as '\''. */
static int shell_quote(const char *s, char *out, size_t size)
{
	size_t n = 0;
	out[n++] = '\'';
	for (; *s && n + 5 < size; s++) {
		if (*s == '\'') {
			memcpy(out + n, "'\\''", 4);
			n += 4;
		} else {
			out[n++] = *s;
		}
	}
	if (*s || n + 2 > size)
		return dp_error_set(-ENAMETOOLONG, "a path of the hook script is too long");
	out[n++] = '\'';
	out[n] = '\0';
	return 0;
}

static int hook_script(char **text)
{
	char exe[4096], qexe[8192], qroot[8192] = "";
	int r = dp_fs_self_exe(exe, sizeof(exe));
	if (r < 0)
		return dp_error_set(r, "cannot tell which program runs: /proc/self/exe: %s", strerror(-r));
	if ((r = shell_quote(exe, qexe, sizeof(qexe))) < 0 ||
	    (!dp_root_is_host() && (r = shell_quote(dp_root_path(), qroot, sizeof(qroot))) < 0))
		return r;
	int n = asprintf(text, "#!/bin/sh\n"
	                 "# devpass: libvirt's qemu hook. It checks at prepare/begin that the domain's\n"
	                 "# devices are its own and on vfio-pci, and gives its claims back at release/end.\n"
	                 "# It never calls libvirt. libvirtd reads new hooks when it (re)starts.\n"
	                 "exec %s %s%s%slibvirt hook \"$@\"\n", qexe, qroot[0] ? "--root " : "", qroot,
	                 qroot[0] ? " " : "");
	return n < 0 ? dp_oom() : 0;
}

int dp_libvirt_hook_install(bool uninstall, char *path, size_t size)
{
	snprintf(path, size, "%s", HOOK_PATH);
	if (uninstall) {
		int r = dp_fs_unlink(HOOK_PATH);
		if (r < 0 && r != -ENOENT)
			return dp_error_set(r, "cannot remove %s: %s", HOOK_PATH, strerror(-r));
		return r == -ENOENT ? dp_error_set(-ENOENT, "no devpass hook is installed (%s)",
		                                   HOOK_PATH) : 0;
	}
	_cleanup_free_ char *text = NULL;
	int r = hook_script(&text);
	if (r == 0 && (r = dp_fs_mkdir_p(HOOK_DIR, 0755)) < 0)
		return dp_error_set(r, "cannot create %s: %s", HOOK_DIR, strerror(-r));
	if (r == 0 && (r = dp_fs_write_file(HOOK_PATH, text, strlen(text), 0755)) < 0)
		return dp_error_set(r, "cannot write %s: %s", HOOK_PATH, strerror(-r));
	return r;
}
