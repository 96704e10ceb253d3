/* units.c - systemd: wait_for_unit, get_unit_info, get_unit_property,
 * require_unit_state, start_job, stop_job. wait_for_unit fails at once on
 * a failed unit and shows why (systemctl status, the journal's tail). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

static const char *under(const char *user)
{
	static char s[160];
	s[0] = 0;
	if (user)
		snprintf(s, sizeof(s), " under user \"%s\"", user);
	return s;
}

/* The value of "key=" in systemctl show output, or NULL. Caller frees. */
static char *show_value(const char *text, const char *key)
{
	size_t k = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, key, k) && p[k] == '=') {
			const char *e = strchrnul(p + k + 1, '\n');
			return strndup(p + k + 1, (size_t)(e - p - k - 1));
		}
	return NULL;
}

static int unit_info(struct ctx *x, const char *unit, const char *user)
{
	char *q;
	int st;
	if (asprintf(&q, "--no-pager show \"%s\"", unit) < 0)
		abort();
	int r = api_systemctl(x, q, user, &st);
	free(q);
	if (r == 0 && st != 0)
		r = ctx_fail(x, "retrieving systemctl info for unit \"%s\"%s failed with exit code %d",
			     unit, under(user), st);
	return r;
}

static char *unit_property(struct ctx *x, const char *unit, const char *prop, const char *user)
{
	char *q;
	int st;
	if (asprintf(&q, "--no-pager show \"%s\" --property=\"%s\"", unit, prop) < 0)
		abort();
	int r = api_systemctl(x, q, user, &st);
	free(q);
	if (r < 0)
		return NULL;
	if (st != 0) {
		ctx_fail(x, "retrieving systemctl property \"%s\" for unit \"%s\"%s failed with "
			 "exit code %d", prop, unit, under(user), st);
		return NULL;
	}
	char *v = show_value(x->out.p, prop);
	if (!v)
		ctx_fail(x, "systemctl show --property \"%s\" \"%s\" produced invalid output: %s",
			 prop, unit, x->out.p);
	return v;
}

int m_get_unit_info(struct ctx *x)
{
	return unit_info(x, call_str(x->c, 0), call_str(x->c, 1));
}

int m_get_unit_property(struct ctx *x)
{
	char *v = unit_property(x, call_str(x->c, 0), call_str(x->c, 1), call_str(x->c, 2));
	if (!v)
		return -1;
	x->out.len = 0;
	buf_adds(&x->out, v);
	free(v);
	return 0;
}

/* Show why a unit is not active: its status and the end of its journal. */
static void explain(struct ctx *x, const char *unit)
{
	struct buf cmd = { 0 };
	int st;
	buf_adds(&cmd, "systemctl status --no-pager --full ");
	shquote(&cmd, unit);
	buf_adds(&cmd, " 2>&1 || true; journalctl --no-pager -n 20 -u ");
	shquote(&cmd, unit);
	buf_adds(&cmd, " 2>&1 || true");
	if (api_exec(x, cmd.p, 60, &st) == 0)
		tlog(x->m->name, "systemctl status and journal of %s:\n%s", unit, x->out.p);
	buf_free(&cmd);
}

struct unit_wait {
	const char *unit, *user;
};

static int check_active(struct ctx *x, void *arg, bool last)
{
	struct unit_wait *u = arg;
	(void)last;
	char *state = unit_property(x, u->unit, "ActiveState", u->user);
	if (!state)
		return -1;
	int r = !strcmp(state, "active");
	if (!strcmp(state, "failed")) {
		explain(x, u->unit);
		r = ctx_fail(x, "unit \"%s\" reached state \"failed\"", u->unit);
	} else if (!strcmp(state, "inactive")) {
		int st;
		if (api_systemctl(x, "list-jobs --full 2>&1", u->user, &st) < 0)
			r = -1;
		else if (strstr(x->out.p, "No jobs")) {
			char *again = unit_property(x, u->unit, "ActiveState", u->user);
			if (!again || !strcmp(again, "inactive")) {
				explain(x, u->unit);
				r = ctx_fail(x, "unit \"%s\" is inactive and there are no pending jobs",
					     u->unit);
			}
			free(again);
		}
	}
	free(state);
	return r;
}

int api_wait_for_unit_name(struct ctx *x, const char *unit, const char *user, long timeout)
{
	struct unit_wait u = { unit, user };
	struct nest n;
	nest_begin(&n, x->m->name, "waiting for unit %s%s%s", unit, user ? " with user " : "",
		   user ? user : "");
	int r = retry(x, timeout, check_active, &u);
	nest_end(&n);
	x->out.len = 0;
	return r;
}

int m_wait_for_unit(struct ctx *x)
{
	return api_wait_for_unit_name(x, call_str(x->c, 0), call_str(x->c, 1), call_int(x->c, 2));
}

int m_wait_for_job(struct ctx *x)
{
	return api_wait_for_unit_name(x, call_str(x->c, 0), NULL, 900);
}

int m_require_unit_state(struct ctx *x)
{
	const char *unit = call_str(x->c, 0), *want = call_str(x->c, 1);
	struct nest n;
	nest_begin(&n, x->m->name, "checking if unit '%s' has reached state '%s'", unit, want);
	int r = unit_info(x, unit, NULL);
	char *state = r ? NULL : show_value(x->out.p, "ActiveState");
	if (r == 0 && (!state || strcmp(state, want)))
		r = ctx_fail(x, "Expected unit '%s' to be in state '%s' but it is in state '%s'",
			     unit, want, state ? state : "(none)");
	free(state);
	nest_end(&n);
	x->out.len = 0;
	return r;
}

static int job(struct ctx *x, const char *verb)
{
	char *q;
	if (asprintf(&q, "%s %s", verb, call_str(x->c, 0)) < 0)
		abort();
	int r = api_systemctl(x, q, call_str(x->c, 1), &x->status);
	free(q);
	return r;
}

int m_start_job(struct ctx *x)
{
	return job(x, "start");
}

int m_stop_job(struct ctx *x)
{
	return job(x, "stop");
}
