/* testfile.h - a test.json, loaded and validated (docs/test-json.md).
 *
 * test_load() checks everything that can be checked without a VM: types,
 * unknown keys, node names, method names and their arguments, regular
 * expressions and (optionally) that the files a node names exist. Errors are
 * one line "FILE: $.json.path: what was expected"; nothing is started.
 * Strings inside steps point into the parsed JSON tree owned by the test.
 */
#ifndef TESTFILE_H
#define TESTFILE_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct ctx;

#define DEFAULT_TEST_TIMEOUT 3600
#define MAX_PARAMS 6

/* A block device: a private copy is made for each run unless readonly. */
struct disk_conf {
	char *path;   /* absolute */
	char *serial; /* or NULL */
	bool readonly;
};

/* A host directory shared over 9p (needs microvm's --share). */
struct share_conf {
	char *path; /* absolute */
	char *tag;
	bool readonly;
};

/* A host TCP port forwarded to a guest port (needs user networking). */
struct forward_conf {
	int host_port, guest_port;
};

struct node_conf {
	char *name;
	int index;    /* 1.. in alphabetical order of names, as NixOS numbers nodes */
	char *kernel; /* absolute path; NULL with start_script */
	char *start_script; /* absolute path: starts microvm itself, given the
			     * driver's options (docs/test-json.md), or NULL */
	char *initrd; /* absolute path or NULL */
	char *cmdline;
	int memory, cpus; /* 0: microvm's default */
	struct disk_conf *disks;
	size_t ndisks;
	struct share_conf *shares;
	size_t nshares;
	int *vlans;
	size_t nvlans;
	struct forward_conf *forwards;
	size_t nforwards;
	bool user_net;
	bool no_snapshot; /* "snapshot": false: never restored or saved */
};

enum ptype {
	P_STR,      /* string */
	P_INT,      /* integer >= 0 */
	P_NUM,      /* number >= 0 */
	P_BOOL,
	P_STR_NULL, /* string or null */
	P_INT_NULL, /* integer >= 0 or null */
	P_STRS,     /* the rest of the positional args: one or more strings */
};

struct param {
	const char *name;
	enum ptype type;
	bool required;
	const char *sdef; /* default of a string param (NULL: null) */
	long idef;        /* default of an int/bool param; -1 with P_INT_NULL: null */
};

/* What a method returns besides success: output text and/or an exit status. */
enum mresult { R_NONE, R_TEXT, R_STATUS_TEXT };

struct method {
	const char *name;
	bool global;                       /* a driver global, not node.method */
	int (*fn)(struct ctx *);           /* 0, or -1 with ctx->err set */
	struct param params[MAX_PARAMS];
	enum mresult result;
	const char *unsupported;           /* when set: fails with this reason */
};

/* A validated call: argv[i] is the JSON value of params[i] (NULL with given[i]
 * means an explicit null); a P_STRS param takes args[i..]. */
struct call {
	const struct method *m;
	int node; /* index into test->nodes, or -1 for a global */
	struct json_object *argv[MAX_PARAMS];
	bool given[MAX_PARAMS];
	struct json_object *strs; /* the "args" array, for P_STRS */
	size_t strs_from;
};

struct expect {
	bool set;
	const char *equals;          /* or NULL */
	const char **contains;       /* every one must occur */
	size_t ncontains;
	const char **not_contains;   /* none may occur */
	size_t nnot_contains;
	const char *matches;         /* PCRE2 pattern, or NULL */
	void *re;                    /* compiled pcre2_code */
	bool has_status;
	int status;
};

enum step_kind { STEP_CALL, STEP_SUBTEST, STEP_BREAKPOINT, STEP_RETRY };

struct step {
	enum step_kind kind;
	char *path;         /* "$.script[3]" for messages */
	const char *text;   /* the step as written (JSON), for logs */
	struct call call;   /* STEP_CALL */
	struct expect expect;
	const char *name;   /* STEP_SUBTEST */
	struct step *steps; /* STEP_SUBTEST children, STEP_RETRY's one step */
	size_t nsteps;
	long timeout;       /* STEP_RETRY */
	struct json_object *own; /* tree this step borrows from, when not the test's */
};

struct test {
	char *file; /* as given */
	char *dir;  /* absolute directory of file */
	const char *name;
	long timeout;
	struct node_conf *nodes; /* sorted by name */
	size_t nnodes;
	struct step *steps;
	size_t nsteps;
	const char *test_script; /* Python source instead of steps, or NULL */
	char *own_script;        /* test_script when read from a file (nixcfg.c) */
	struct json_object *root;
};

/* Read and validate FILE. check_files: also require that kernel, initrd,
 * disks and shares exist. Returns 0 and *out, or -1 with one line in err. */
int test_load(const char *file, bool check_files, struct test **out, char *err, size_t errlen);
/* The same from a buffer; file names the source in messages, dir is where
 * relative paths resolve. */
int test_parse(const char *text, size_t len, const char *file, const char *dir,
	       bool check_files, struct test **out, char *err, size_t errlen);
void testfile_free(struct test *t);
/* NixOS's driverConfiguration JSON (`nixos-test-driver --config FILE`,
 * driver/nixcfg.c) as a test: a node per vm, run by its start_script, and
 * test_script's file as the testScript. Errors as test_load's. */
int nixcfg_load(const char *file, struct test **out, char *err, size_t errlen);
int nixcfg_parse(const char *text, size_t len, const char *file, const char *dir,
		 bool check_files, struct test **out, char *err, size_t errlen);

/* Validate one step (JSON) against t; path names it in messages. On success
 * *s borrows from j (the caller keeps j alive or sets s->own). */
int step_parse(const struct test *t, struct json_object *j, const char *path,
	       struct step *s, char *err, size_t errlen);
/* Parse "node.method arg key=value ..." (shell-like quoting) into a step. */
int step_parse_line(const struct test *t, const char *line, struct step *s,
		    char *err, size_t errlen);
void step_free(struct step *s);

/* The method table (driver/methods.c). */
extern const struct method methods[];
extern const size_t nmethods;
const struct method *method_find(const char *name);
/* Index of node name in t, or -1; "machine" names the only node of a
 * one-node test, as in NixOS. */
int test_node(const struct test *t, const char *name);

/* Argument accessors for method implementations. */
const char *call_str(const struct call *c, int i);  /* NULL for null */
long call_int(const struct call *c, int i);         /* -1 for null */
double call_num(const struct call *c, int i);
bool call_bool(const struct call *c, int i);
size_t call_nstrs(const struct call *c);
const char *call_strs(const struct call *c, size_t k);

#endif
