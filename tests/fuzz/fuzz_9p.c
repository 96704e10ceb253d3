/* fuzz_9p.c - libFuzzer target for the 9P server's message handling.
 *
 * The input is a run of messages, each prefixed by a 16-bit length and a
 * 16-bit reply room, sent to a server on a scratch directory after a
 * version and an attach (fid 0 is the root). Messages reach every handler
 * with hostile sizes, strings and fids; ASan and UBSan catch any access
 * outside the request or reply buffers. The tree is recreated for every
 * input so what one input creates does not change the next.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/p9msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_dir(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh tree: t/ holding a directory d and a file f. */
static void reset_tree(void)
{
	char path[96];
	if (!dir[0]) {
		strcpy(dir, "/tmp/fuzz9p.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
	}
	snprintf(path, sizeof(path), "%s/t", dir);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/t/d", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/t/f", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd < 0 || write(fd, "hi\n", 3) != 3)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct msg m;
	static uint8_t rep[1 << 16];
	char root[80];
	reset_tree();
	snprintf(root, sizeof(root), "%s/t", dir);
	int fd = open(root, O_PATH | O_DIRECTORY);
	/* The first byte picks the share's flags (P9_READONLY, P9_PRIVILEGED). */
	struct p9_server *s = p9_server_new(fd, size ? data[0] & 3 : 0, 64);
	close(fd);
	if (!s)
		abort();
	m_u32(m_start(&m, P9_TVERSION, 0), 65536);
	m_str(&m, "9P2000.L");
	m_end(&m);
	p9_call(s, m.b, m.len, rep, sizeof(rep));
	m_u32(m_start(&m, P9_TATTACH, 0), 0);
	m_u32(&m, ~0u);
	m_str(&m, "");
	m_str(&m, "");
	m_u32(&m, 0);
	m_end(&m);
	p9_call(s, m.b, m.len, rep, sizeof(rep));
	size_t pos = size ? 1 : 0;
	for (int i = 0; i < 64 && pos + 4 <= size; i++) {
		uint16_t len, room;
		memcpy(&len, data + pos, 2);
		memcpy(&room, data + pos + 2, 2);
		pos += 4;
		if (len > size - pos)
			len = size - pos;
		/* Exact-size copies, so ASan sees any byte read past the end. */
		uint8_t *req = malloc(len ? len : 1), *out = malloc(room ? room : 1);
		memcpy(req, data + pos, len);
		uint32_t n = p9_call(s, req, len, out, room);
		if (n > room)
			abort();
		free(req);
		free(out);
		pos += len;
	}
	p9_server_free(s);
	return 0;
}
