/* guestcmd.c - NixOS methods that are plain commands in the guest: the
 * virtual terminals read through /dev/vcsN (get_tty_text and friends) and
 * X11 seen through journalctl and xwininfo (wait_for_x, get_window_names,
 * wait_for_window). They run the commands NixOS runs, so on a guest without
 * fold, stty, xwininfo or an X server they fail as they do on NixOS. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "driver.h"

static pcre2_code *regex_python(const char *regex)
{
	int ec;
	PCRE2_SIZE off;
	/* Python's str patterns: \w, \d, \s and case folding are Unicode's. */
	return pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
			     PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &off, NULL);
}

/* re.search(regex, text): 1 found, 0 not, or PCRE2's negative error. */
static int search(pcre2_code *re, const char *text, size_t len)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR)(text ? text : ""), len, 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : rc;
}

/* The screen of /dev/ttyN as lines of its width, status ignored (NixOS). */
static int tty_text(struct ctx *x, const char *tty)
{
	char *cmd;
	int st;
	if (asprintf(&cmd, "fold -w$(stty -F /dev/tty%s size | awk '{print $2}') /dev/vcs%s",
		     tty, tty) < 0)
		abort();
	int r = api_exec(x, cmd, -1, &st);
	free(cmd);
	return r;
}

int m_get_tty_text(struct ctx *x)
{
	return tty_text(x, call_str(x->c, 0));
}

int m_dump_tty_contents(struct ctx *x)
{
	char *cmd;
	int st;
	if (asprintf(&cmd, "fold -w 80 /dev/vcs%s | systemd-cat", call_str(x->c, 0)) < 0)
		abort();
	int r = api_exec(x, cmd, -1, &st);
	free(cmd);
	return r;
}

struct tty_wait {
	const char *tty, *regex;
	pcre2_code *re;
};

static int tty_matches(struct ctx *x, void *arg, bool last)
{
	struct tty_wait *w = arg;
	if (tty_text(x, w->tty) < 0)
		return -1;
	if (last)
		tlog(x->m->name, "Last chance to match /%s/ on TTY%s, which currently contains: %s",
		     w->regex, w->tty, x->out.p ? x->out.p : "");
	int rc = search(w->re, x->out.p, x->out.len);
	return rc < 0 ? regex_fail(x, rc, w->regex) : rc;
}

int m_wait_until_tty_matches(struct ctx *x)
{
	struct tty_wait w = { call_str(x->c, 0), call_str(x->c, 1), NULL };
	if (!(w.re = regex_python(w.regex)))
		return ctx_fail(x, "bad regular expression: %s", w.regex);
	struct nest n;
	nest_begin(&n, x->m->name, "waiting for %s to appear on tty %s", w.regex, w.tty);
	int r = retry(x, call_int(x->c, 2), tty_matches, &w);
	nest_end(&n);
	pcre2_code_free(w.re);
	return r;
}

static int x_ready(struct ctx *x, void *arg, bool last)
{
	int st;
	(void)arg;
	(void)last;
	if (api_exec(x, "journalctl -b SYSLOG_IDENTIFIER=systemd | "
		     "grep \"Reached target Current graphical\"", -1, &st) < 0)
		return -1;
	if (st != 0)
		return 0;
	if (api_exec(x, "[ -e /tmp/.X11-unix/X0 ]", -1, &st) < 0)
		return -1;
	return st == 0;
}

int m_wait_for_x(struct ctx *x)
{
	struct nest n;
	nest_begin(&n, x->m->name, "waiting for the X11 server");
	int r = retry(x, call_int(x->c, 0), x_ready, NULL);
	nest_end(&n);
	return r;
}

/* The root window's tree, one window name a line, as succeed() would. */
static int window_names(struct ctx *x)
{
	static const char cmd[] = "xwininfo -root -tree | "
				  "sed 's/.*0x[0-9a-f]* \\\"\\([^\\\"]*\\)\\\".*/\\1/; t; d'";
	int st;
	struct nest n;
	nest_begin(&n, x->m->name, "must succeed: %s", cmd);
	int r = api_exec(x, cmd, -1, &st);
	if (r == 0 && st != 0) {
		api_log_output(x, &x->out);
		r = ctx_fail(x, "command `%s` failed (exit code %d)", cmd, st);
	}
	nest_end(&n);
	return r;
}

int m_get_window_names(struct ctx *x)
{
	return window_names(x);
}

struct win_wait {
	const char *regex;
	pcre2_code *re;
};

static int window_visible(struct ctx *x, void *arg, bool last)
{
	struct win_wait *w = arg;
	if (window_names(x) < 0)
		return -1;
	char *names = x->out.p ? x->out.p : "";
	if (last) {
		struct buf list = { 0 };
		for (char *s = names, *nl; *s; s = nl + 1) {
			nl = strchr(s, '\n');
			buf_printf(&list, "%s%.*s", list.len ? ", " : "",
				   (int)(nl ? nl - s : (long)strlen(s)), s);
			if (!nl)
				break;
		}
		tlog(x->m->name, "Last chance to match %s on the window list, which currently "
		     "contains: %s", w->regex, list.p ? list.p : "");
		buf_free(&list);
	}
	/* any(pattern.search(name) for name in names): line by line. */
	for (char *s = names, *nl; *s; s = nl + 1) {
		nl = strchr(s, '\n');
		int rc = search(w->re, s, nl ? (size_t)(nl - s) : strlen(s));
		if (rc)
			return rc < 0 ? regex_fail(x, rc, w->regex) : 1;
		if (!nl)
			break;
	}
	return 0;
}

int m_wait_for_window(struct ctx *x)
{
	struct win_wait w = { call_str(x->c, 0), NULL };
	if (!(w.re = regex_python(w.regex)))
		return ctx_fail(x, "bad regular expression: %s", w.regex);
	struct nest n;
	nest_begin(&n, x->m->name, "waiting for a window to appear");
	int r = retry(x, call_int(x->c, 1), window_visible, &w);
	nest_end(&n);
	pcre2_code_free(w.re);
	return r;
}
