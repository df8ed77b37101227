/* Findings of a VM's validation, and the free functions of the public vm types. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "vm/vm.h"

int dp_vm_report_add(struct dp_vm_report *r, const char *check, enum dp_vm_verdict v,
                     const char *advice, const char *fmt, ...)
{
	if (dp_array_grow(&r->f, r->n, 1, sizeof(*r->f)) < 0)
		return dp_oom();
	struct dp_vm_finding *f = &r->f[r->n];
	memset(f, 0, sizeof(*f));
	snprintf(f->check, sizeof(f->check), "%s", check);
	f->verdict = v;
	va_list ap;
	va_start(ap, fmt);
	int len = vasprintf(&f->detail, fmt, ap);
	va_end(ap);
	if (len < 0)
		return dp_oom();
	if (advice && !(f->advice = strdup(advice))) {
		free(f->detail);
		return dp_oom();
	}
	r->n++;
	return 0;
}

bool dp_vm_report_ok(const struct dp_vm_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->f[i].verdict == DP_VM_FAIL)
			return false;
	return true;
}

const char *dp_vm_report_first_failure(const struct dp_vm_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->f[i].verdict == DP_VM_FAIL)
			return r->f[i].detail;
	return NULL;
}

int dp_vm_report_error(const struct dp_vm_report *r, const char *name)
{
	const char *why = dp_vm_report_first_failure(r);
	return why ? dp_error_set(-EPERM, "VM '%s' cannot start: %s", name, why) : 0;
}

void dp_vm_report_free(struct dp_vm_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->f[i].detail);
		free(r->f[i].advice);
	}
	free(r->f);
	dp_strv_free(&r->chosen);
	dp_strv_free(&r->rejected);
	dp_strv_free(&r->argv);
	memset(r, 0, sizeof(*r));
}

void dp_vm_def_free(struct dp_vm_def *def)
{
	free(def->image);
	free(def->image_format);
	free(def->devices);
	free(def->user_data);
	free(def->kernel);
	free(def->initrd);
	free(def->append);
	memset(def, 0, sizeof(*def));
}

void dp_vm_status_free(struct dp_vm_status *st)
{
	free(st->taken);
	memset(st, 0, sizeof(*st));
}

void dp_vm_list_free(struct dp_vm_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		dp_vm_def_free(&l->defs[i]);
		dp_vm_status_free(&l->status[i]);
	}
	free(l->defs);
	free(l->status);
	memset(l, 0, sizeof(*l));
}

const char *dp_vm_state_name(enum dp_vm_state s)
{
	static const char *const names[] = { "stopped", "starting", "running", "stopping" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}
