/* nixcfg.c - NixOS's driverConfiguration JSON, what `nixos-test-driver
 * --config FILE` reads (nixos/lib/testing/driver-configuration.nix), loaded
 * into the same struct test as a test.json: a node per entry of "vms", run
 * by its start_script, and test_script's file as the Python testScript.
 * Keys NixOS may add later are ignored, as its own loader ignores them;
 * the known ones are checked with test.json's one-line messages. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"

/* NixOS puts every node on vlan 1 unless told otherwise
 * (virtualisation.vlans); that is in "vlans" then. */
static int default_vlans(struct node_conf *n, struct json_object *top)
{
	struct json_object *v;
	if (!json_object_object_get_ex(top, "vlans", &v))
		return 0;
	for (size_t i = 0; i < json_object_array_length(v); i++)
		if (json_object_get_int(json_object_array_get_idx(v, i)) == 1) {
			n->vlans = calloc(1, sizeof(int));
			n->vlans[0] = 1;
			n->nvlans = 1;
		}
	return 0;
}

static int load_vlans(const struct lerr *e, struct json_object *o, const char *path,
		      int **out, size_t *n)
{
	struct json_object *arr;
	if (lget_array(e, o, path, "vlans", &arr, n))
		return -1;
	*out = calloc(*n ? *n : 1, sizeof(int));
	for (size_t i = 0; i < *n; i++) {
		struct json_object *el = json_object_array_get_idx(arr, i);
		int64_t x = json_object_get_int64(el);
		if (!json_object_is_type(el, json_type_int) || x < 0 || x > 255) {
			char *kp = path_key(path, "vlans"), *ep = path_idx(kp, i);
			lbad(e, ep, "expected a vlan number from 0 to 255");
			free(ep);
			free(kp);
			return -1;
		}
		(*out)[i] = (int)x;
	}
	return 0;
}

/* vms.KEY: {"name", "start_script"} and microvmtest's own "vlans" (the
 * node's; default: NixOS's [1]). */
struct vm_ctx {
	struct json_object *top;
	bool check;
};

static int load_vm(const struct lerr *e, struct test *t, const char *key, struct json_object *j,
		   const char *path, struct node_conf *n, void *arg)
{
	struct json_object *top = ((struct vm_ctx *)arg)->top;
	bool check = ((struct vm_ctx *)arg)->check;
	const char *name = key, *script = NULL;
	bool snap = true;
	if (!json_object_is_type(j, json_type_object))
		return lbad(e, path, "expected an object {\"name\", \"start_script\"}, got %s",
			    jtype(j));
	if (lget_str(e, j, path, "name", &name) || lget_str(e, j, path, "start_script", &script) ||
	    lget_bool(e, j, path, "snapshot", &snap))
		return -1;
	n->no_snapshot = !snap;
	if (!node_name_ok(name))
		return lbad(e, path, "name \"%s\": node names are 1 to 63 letters, digits, '_' "
			    "or '-'", name);
	n->name = strdup(name);
	n->user_net = true; /* qemu-vm.nix's first NIC: the user network */
	if (!script)
		return lbad(e, path, "missing key \"start_script\" (the program that starts "
			    "the node)");
	char *kp = path_key(path, "start_script");
	int r = lfile_path(e, t->dir, script, kp, check, false, &n->start_script);
	if (!r && check && access(n->start_script, X_OK) < 0)
		r = lbad(e, kp, "file \"%s\" is not executable", n->start_script);
	free(kp);
	if (r)
		return -1;
	if (json_object_object_get_ex(j, "vlans", NULL))
		return load_vlans(e, j, path, &n->vlans, &n->nvlans);
	return default_vlans(n, top);
}

static int load_vms(const struct lerr *e, struct test *t, struct json_object *top, bool check)
{
	struct json_object *j;
	struct vm_ctx c = { top, check };
	if (!json_object_object_get_ex(top, "vms", &j))
		return lbad(e, "$", "missing key \"vms\" (an object of node name -> "
			    "{\"name\", \"start_script\"})");
	if (lnodes(e, t, j, "$.vms", "{\"name\", \"start_script\"}", load_vm, &c))
		return -1;
	for (size_t i = 1; i < t->nnodes; i++)
		if (!strcmp(t->nodes[i].name, t->nodes[i - 1].name))
			return lbad(e, "$.vms", "two nodes are named \"%s\"", t->nodes[i].name);
	return 0;
}

/* containers (systemd-nspawn) are not microvm's; an empty object is fine. */
static int check_containers(const struct lerr *e, struct json_object *top)
{
	struct json_object *c;
	if (!json_object_object_get_ex(top, "containers", &c))
		return 0;
	if (!json_object_is_type(c, json_type_object))
		return lbad(e, "$.containers", "expected an object, got %s", jtype(c));
	if (json_object_object_length(c))
		return lbad(e, "$.containers", "systemd-nspawn containers are not supported by "
			    "microvmtest (only \"vms\")");
	return 0;
}

/* test_script: the file with the Python testScript. */
static int load_script(const struct lerr *e, struct test *t, struct json_object *top)
{
	const char *p = NULL;
	char *file = NULL;
	if (lget_str(e, top, "$", "test_script", &p))
		return -1;
	if (!p)
		return lbad(e, "$", "missing key \"test_script\" (the file of the Python "
			    "testScript)");
	if (lfile_path(e, t->dir, p, "$.test_script", true, false, &file)) {
		free(file); /* made before the check failed */
		return -1;
	}
	size_t len;
	t->own_script = read_all(file, &len);
	int r = 0;
	if (!t->own_script)
		r = lbad(e, "$.test_script", "file \"%s\": %s", file, strerror(errno));
	else if (memchr(t->own_script, 0, len))
		r = lbad(e, "$.test_script", "file \"%s\": expected Python source, found a NUL "
			 "byte", file);
	free(file);
	t->test_script = t->own_script;
	return r;
}

static int load_top(const struct lerr *e, struct test *t, bool check)
{
	struct json_object *top = t->root, *v;
	bool ssh = false;
	if (!json_object_is_type(top, json_type_object))
		return lbad(e, "$", "expected an object with vms, vlans, global_timeout and "
			    "test_script (NixOS's driverConfiguration), got %s", jtype(top));
	if (lget_int(e, top, "$", "global_timeout", 1, INT_MAX, &t->timeout) ||
	    lget_bool(e, top, "$", "enable_ssh_backdoor", &ssh) || check_containers(e, top) ||
	    lget_str(e, top, "$", "name", &t->name))
		return -1;
	if (json_object_object_get_ex(top, "vlans", &v)) {
		int *vl;
		size_t n;
		int r = load_vlans(e, top, "$", &vl, &n);
		free(vl);
		if (r)
			return -1;
	}
	if (!t->name)
		t->name = "nixos-test";
	return load_vms(e, t, top, check) || load_script(e, t, top) ? -1 : 0;
}

int nixcfg_parse(const char *text, size_t len, const char *file, const char *dir,
		 bool check_files, struct test **out, char *err, size_t errlen)
{
	return lload_text(text, len, file, dir, check_files, load_top, out, err, errlen);
}

int nixcfg_load(const char *file, struct test **out, char *err, size_t errlen)
{
	return lload_file(file, true, load_top, "", out, err, errlen);
}
