/* qemu.c - `--vmm qemu`: boot a node under QEMU the way NixOS's qemu-vm
 * does (-M pc, virtio-pci disks, a virtconsole for the backdoor, serial on
 * stdio), driven through the same backdoor, so microvm can be compared with
 * it on the same guest and script (bench/). Vlan NICs are virtio-net-pci on
 * the driver's switches (-netdev dgram on a datagram socketpair). QEMU exits
 * 0 on poweroff and, with -no-reboot, on reboot too: reboot() then starts it
 * again. */
#include <stdio.h>
#include <stdlib.h>

#include "driver.h"

char **qemu_argv(struct machine *m, int console_fd)
{
	const struct node_conf *c = m->conf;
	char **a = NULL;
	size_t n = 0;
	argv_add(&a, &n, "%s", m->d->microvm);
	static const char *const fixed[] = {
		"-machine", "pc,accel=kvm", "-cpu", "host", "-nodefaults", "-no-user-config",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-device", "virtio-serial", "-device", "virtconsole,chardev=shell",
		"-device", "virtio-rng-pci", NULL,
	};
	for (size_t i = 0; fixed[i]; i++)
		argv_add(&a, &n, "%s", fixed[i]);
	/* The backdoor's end of the socketpair, as a connected socket chardev. */
	argv_add(&a, &n, "-chardev");
	argv_add(&a, &n, "socket,id=shell,fd=%d", console_fd);
	argv_add(&a, &n, "-m");
	argv_add(&a, &n, "%d", c->memory ? c->memory : 512);
	argv_add(&a, &n, "-smp");
	argv_add(&a, &n, "%d", c->cpus ? c->cpus : 1);
	argv_add(&a, &n, "-kernel");
	argv_add(&a, &n, "%s", c->kernel);
	if (c->initrd) {
		argv_add(&a, &n, "-initrd");
		argv_add(&a, &n, "%s", c->initrd);
	}
	struct buf cmdline = { 0 };
	buf_adds(&cmdline, c->cmdline ? c->cmdline : "console=ttyS0 panic=1");
	net_cmdline(m, &cmdline);
	argv_add(&a, &n, "-append");
	argv_add(&a, &n, "%s", cmdline.p);
	buf_free(&cmdline);
	if (c->user_net) {
		argv_add(&a, &n, "-netdev");
		argv_add(&a, &n, "user,id=user0");
		argv_add(&a, &n, "-device");
		argv_add(&a, &n, "virtio-net-pci,netdev=user0");
	}
	net_qemu_argv(m, &a, &n);
	for (size_t i = 0; i < c->ndisks; i++) {
		argv_add(&a, &n, "-drive");
		bool cow = m->disk_cow && !c->disks[i].readonly;
		argv_add(&a, &n, "file=%s,if=none,id=d%zu,format=%s%s", m->disk_paths[i], i,
			 cow ? "qcow2" : "raw", c->disks[i].readonly ? ",readonly=on" : "");
		argv_add(&a, &n, "-device");
		argv_add(&a, &n, "virtio-blk-pci,drive=d%zu%s%s", i,
			 c->disks[i].serial ? ",serial=" : "",
			 c->disks[i].serial ? c->disks[i].serial : "");
	}
	return a;
}
