/* testfile.c - load a test.json: the top level and the nodes. Steps are
 * validated in steps.c. The key lists here are the documented ones in
 * docs/test-json.md and docs/test.schema.json; keep the three in step. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"

static const char *const top_keys[] = { "name", "timeout", "nodes", "script",
					"testScript", "description", NULL };
static const char *const node_keys[] = { "kernel", "initrd", "cmdline", "memory",
					 "cpus", "disks", "shares", "vlans", "forwards",
					 "user_net", "start_script", "snapshot", NULL };
static const char *const disk_keys[] = { "path", "readonly", "serial", NULL };
static const char *const share_keys[] = { "path", "tag", "readonly", NULL };
static const char *const fwd_keys[] = { "host_port", "guest_port", NULL };

static int load_disk(const struct lerr *e, const struct test *t, struct json_object *j,
		     const char *path, bool check, struct disk_conf *d)
{
	const char *p = NULL, *serial = NULL;
	if (json_object_is_type(j, json_type_string)) {
		p = json_object_get_string(j);
	} else if (json_object_is_type(j, json_type_object)) {
		if (check_keys(e, j, path, disk_keys) || lget_str(e, j, path, "path", &p) ||
		    lget_str(e, j, path, "serial", &serial) ||
		    lget_bool(e, j, path, "readonly", &d->readonly))
			return -1;
		if (!p)
			return lbad(e, path, "missing key \"path\" (the disk image file)");
		if (serial && (strlen(serial) > 20 || strpbrk(serial, ",= \t\n")))
			return lbad(e, path, "serial \"%s\": expected at most 20 characters, "
				    "no commas, '=' or spaces", serial);
	} else {
		return lbad(e, path, "expected a file name or an object {\"path\", "
			    "\"readonly\", \"serial\"}, got %s", jtype(j));
	}
	if (strchr(p, ','))
		return lbad(e, path, "\"%s\": disk paths cannot contain ','", p);
	d->serial = serial ? strdup(serial) : NULL;
	return lfile_path(e, t->dir, p, path, check, false, &d->path);
}

static int load_share(const struct lerr *e, const struct test *t, struct json_object *j,
		      const char *path, bool check, struct share_conf *s)
{
	const char *p = NULL, *tag = NULL;
	if (!json_object_is_type(j, json_type_object))
		return lbad(e, path, "expected an object {\"path\", \"tag\", \"readonly\"}, "
			    "got %s", jtype(j));
	if (check_keys(e, j, path, share_keys) || lget_str(e, j, path, "path", &p) ||
	    lget_str(e, j, path, "tag", &tag) || lget_bool(e, j, path, "readonly", &s->readonly))
		return -1;
	if (!p || !tag)
		return lbad(e, path, "missing key \"%s\"", p ? "tag" : "path");
	if (!*tag || strlen(tag) > 64 ||
	    strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
		    strlen(tag))
		return lbad(e, path, "tag \"%s\": expected 1 to 64 characters from A-Z a-z 0-9 "
			    "_ . -", tag);
	if (!strcmp(tag, "xchg") || !strcmp(tag, "shared"))
		return lbad(e, path, "tag \"%s\": every node has it already (NixOS's "
			    "/tmp/%s)", tag, tag);
	if (strchr(p, ','))
		return lbad(e, path, "\"%s\": share paths cannot contain ','", p);
	s->tag = strdup(tag);
	return lfile_path(e, t->dir, p, path, check, true, &s->path);
}

static int load_forward(const struct lerr *e, struct json_object *j, const char *path,
			struct forward_conf *f)
{
	long h = -1, g = -1;
	if (!json_object_is_type(j, json_type_object))
		return lbad(e, path, "expected an object {\"host_port\", \"guest_port\"}, "
			    "got %s", jtype(j));
	if (check_keys(e, j, path, fwd_keys) ||
	    lget_int(e, j, path, "host_port", 1, 65535, &h) ||
	    lget_int(e, j, path, "guest_port", 1, 65535, &g))
		return -1;
	if (h < 0 || g < 0)
		return lbad(e, path, "missing key \"%s\"", h < 0 ? "host_port" : "guest_port");
	f->host_port = (int)h;
	f->guest_port = (int)g;
	return 0;
}

/* Load the elements of array key with fn into a calloc'd vector. */
#define LOAD_LIST(key, vec, n, call)                                          \
	do {                                                                  \
		struct json_object *arr;                                      \
		if (lget_array(e, j, path, key, &arr, &(n)))                   \
			return -1;                                            \
		(vec) = calloc((n) ? (n) : 1, sizeof(*(vec)));                \
		char *kp = path_key(path, key);                               \
		for (size_t i = 0; i < (n); i++) {                            \
			struct json_object *el = json_object_array_get_idx(arr, i); \
			char *ep = path_idx(kp, i);                           \
			int r = (call);                                       \
			free(ep);                                             \
			if (r) {                                              \
				(n) = i + 1;                                  \
				free(kp);                                     \
				return -1;                                    \
			}                                                     \
		}                                                             \
		free(kp);                                                     \
	} while (0)

static int load_vlan(const struct lerr *e, struct json_object *el, const char *ep, int *v)
{
	int64_t x = json_object_get_int64(el);
	if (!json_object_is_type(el, json_type_int) || x < 0 || x > 255)
		return lbad(e, ep, "expected a vlan number from 0 to 255");
	*v = (int)x;
	return 0;
}

/* A start_script owns what microvm boots: none of these may come with it. */
static const char *const boot_keys[] = { "kernel", "initrd", "cmdline", "memory", "cpus", NULL };

/* The node's start_script, when it has one: an executable file. */
static int load_start_script(const struct lerr *e, const struct test *t, struct json_object *j,
			     const char *path, bool check, struct node_conf *n)
{
	const char *script = NULL;
	if (lget_str(e, j, path, "start_script", &script))
		return -1;
	if (!script)
		return 0;
	for (size_t i = 0; boot_keys[i]; i++)
		if (json_object_object_get_ex(j, boot_keys[i], NULL))
			return lbad(e, path, "give either \"start_script\" or \"%s\", not both "
				    "(the script chooses the kernel, initrd, cmdline, memory and "
				    "cpus)", boot_keys[i]);
	char *kp = path_key(path, "start_script");
	int r = lfile_path(e, t->dir, script, kp, check, false, &n->start_script);
	if (!r && check && access(n->start_script, X_OK) < 0)
		r = lbad(e, kp, "file \"%s\" is not executable", n->start_script);
	free(kp);
	return r;
}

/* kernel and initrd: files microvm boots. */
static int load_boot_files(const struct lerr *e, const struct test *t, const char *path,
			   bool check, const char *kernel, const char *initrd, struct node_conf *n)
{
	char *kp = path_key(path, "kernel");
	int r = lfile_path(e, t->dir, kernel, kp, check, false, &n->kernel);
	free(kp);
	if (r || !initrd)
		return r;
	kp = path_key(path, "initrd");
	r = lfile_path(e, t->dir, initrd, kp, check, false, &n->initrd);
	free(kp);
	return r;
}

static int load_node(const struct lerr *e, const struct test *t, struct json_object *j,
		     const char *path, bool check, struct node_conf *n)
{
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL;
	long mem = 0, cpus = 0;
	bool snap = true;
	if (!json_object_is_type(j, json_type_object))
		return lbad(e, path, "expected an object (the node's kernel, initrd, ...), "
			    "got %s", jtype(j));
	n->user_net = true; /* NixOS nodes have a user network unless told otherwise */
	if (check_keys(e, j, path, node_keys) || load_start_script(e, t, j, path, check, n) ||
	    lget_str(e, j, path, "kernel", &kernel) ||
	    lget_str(e, j, path, "initrd", &initrd) || lget_str(e, j, path, "cmdline", &cmdline) ||
	    lget_int(e, j, path, "memory", 16, 1024 * 1024, &mem) ||
	    lget_int(e, j, path, "cpus", 1, 64, &cpus) ||
	    lget_bool(e, j, path, "user_net", &n->user_net) ||
	    lget_bool(e, j, path, "snapshot", &snap))
		return -1;
	n->no_snapshot = !snap;
	n->memory = (int)mem;
	n->cpus = (int)cpus;
	n->cmdline = cmdline ? strdup(cmdline) : NULL;
	if (!kernel && !n->start_script)
		return lbad(e, path, "missing key \"kernel\" (the guest kernel file) or "
			    "\"start_script\"");
	if (kernel && load_boot_files(e, t, path, check, kernel, initrd, n))
		return -1;
	LOAD_LIST("disks", n->disks, n->ndisks, load_disk(e, t, el, ep, check, &n->disks[i]));
	LOAD_LIST("shares", n->shares, n->nshares, load_share(e, t, el, ep, check, &n->shares[i]));
	LOAD_LIST("vlans", n->vlans, n->nvlans, load_vlan(e, el, ep, &n->vlans[i]));
	LOAD_LIST("forwards", n->forwards, n->nforwards, load_forward(e, el, ep, &n->forwards[i]));
	return 0;
}

bool node_name_ok(const char *s)
{
	if (!*s || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct node_conf *)a)->name, ((const struct node_conf *)b)->name);
}

void nodes_number(struct test *t)
{
	qsort(t->nodes, t->nnodes, sizeof(*t->nodes), cmp_node);
	for (size_t i = 0; i < t->nnodes; i++)
		t->nodes[i].index = (int)i + 1;
}

/* nodes.NAME: the node's name is its key. */
static int load_named_node(const struct lerr *e, struct test *t, const char *name,
			   struct json_object *v, const char *p, struct node_conf *nc, void *check)
{
	nc->name = strdup(name);
	return node_name_ok(name) ? load_node(e, t, v, p, *(bool *)check, nc)
				  : lbad(e, p, "node names are 1 to 63 letters, digits, '_' or '-'");
}

static int load_script(const struct lerr *e, struct test *t, struct json_object *j)
{
	if (!json_object_is_type(j, json_type_array))
		return lbad(e, "$.script", "expected an array of steps, got %s", jtype(j));
	size_t n = json_object_array_length(j);
	t->steps = calloc(n ? n : 1, sizeof(*t->steps));
	for (size_t i = 0; i < n; i++) {
		char *p = path_idx("$.script", i);
		t->nsteps = i + 1;
		int r = lstep(t, e, json_object_array_get_idx(j, i), p, &t->steps[i]);
		free(p);
		if (r)
			return -1;
	}
	return 0;
}

static int load_top(const struct lerr *e, struct test *t, bool check)
{
	struct json_object *j = t->root, *v;
	if (!json_object_is_type(j, json_type_object))
		return lbad(e, "$", "expected an object with name, nodes and script, got %s",
			    jtype(j));
	if (check_keys(e, j, "$", top_keys) || lget_str(e, j, "$", "name", &t->name) ||
	    lget_int(e, j, "$", "timeout", 1, INT_MAX, &t->timeout))
		return -1;
	if (lget_str(e, j, "$", "description", &(const char *){ NULL }))
		return -1;
	if (!t->name)
		return lbad(e, "$", "missing key \"name\" (the test's name)");
	if (!json_object_object_get_ex(j, "nodes", &v))
		return lbad(e, "$", "missing key \"nodes\" (an object of node name -> node)");
	if (lnodes(e, t, v, "$.nodes", "nodes", load_named_node, &check))
		return -1;
	bool has_py = json_object_object_get_ex(j, "testScript", &v);
	if (has_py && json_object_object_get_ex(j, "script", NULL))
		return lbad(e, "$", "give either \"script\" (steps) or \"testScript\" "
			    "(Python), not both");
	if (has_py) {
		if (!json_object_is_type(v, json_type_string))
			return lbad(e, "$.testScript", "expected a string of Python source, "
				    "got %s", jtype(v));
		t->test_script = json_object_get_string(v);
		return 0;
	}
	if (!json_object_object_get_ex(j, "script", &v))
		return lbad(e, "$", "missing key \"script\" (an array of steps) or "
			    "\"testScript\" (Python)");
	return load_script(e, t, v);
}

/* "line L, column C" of byte offset off in text. */
static void where(const char *text, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

int lparse(const struct lerr *e, const char *text, size_t len,
		      struct json_object **out)
{
	if (len > INT_MAX)
		return lbad(e, NULL, "file too large");
	struct json_tokener *tok = json_tokener_new();
	/* Plain JSON: no comments, trailing commas or single quotes, so that
	 * what microvmtest accepts, other JSON tools read too. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*out = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t off = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (err == json_tokener_success) {
		while (off < len && strchr(" \t\r\n", text[off]))
			off++;
		if (off == len)
			return 0;
		json_object_put(*out);
		*out = NULL;
	}
	int line, col;
	where(text, off, &line, &col);
	if (err == json_tokener_continue)
		return lbad(e, NULL, "line %d: invalid JSON: unexpected end of file", line);
	return lbad(e, NULL, "line %d, column %d: invalid JSON: %s", line, col,
		    err == json_tokener_success ? "text after the end of the document"
						: json_tokener_error_desc(err));
}

int test_parse(const char *text, size_t len, const char *file, const char *dir,
	       bool check_files, struct test **out, char *err, size_t errlen)
{
	return lload_text(text, len, file, dir, check_files, load_top, out, err, errlen);
}

int test_load(const char *file, bool check_files, struct test **out, char *err, size_t errlen)
{
	return lload_file(file, check_files, load_top, ", the bound for a test.json", out, err,
			  errlen);
}

static void node_free(struct node_conf *n)
{
	free(n->name);
	free(n->kernel);
	free(n->start_script);
	free(n->initrd);
	free(n->cmdline);
	for (size_t i = 0; i < n->ndisks; i++) {
		free(n->disks[i].path);
		free(n->disks[i].serial);
	}
	free(n->disks);
	for (size_t i = 0; i < n->nshares; i++) {
		free(n->shares[i].path);
		free(n->shares[i].tag);
	}
	free(n->shares);
	free(n->vlans);
	free(n->forwards);
}

void testfile_free(struct test *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nnodes; i++)
		node_free(&t->nodes[i]);
	free(t->nodes);
	for (size_t i = 0; i < t->nsteps; i++)
		step_free(&t->steps[i]);
	free(t->steps);
	json_object_put(t->root);
	free(t->own_script);
	free(t->file);
	free(t->dir);
	free(t);
}

int test_node(const struct test *t, const char *name)
{
	for (size_t i = 0; i < t->nnodes; i++)
		if (!strcmp(t->nodes[i].name, name))
			return (int)i;
	if (t->nnodes == 1 && !strcmp(name, "machine"))
		return 0;
	return -1;
}
