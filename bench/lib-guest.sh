# lib-guest.sh - the tiny guest plus bench/guest/mvbench, for bench/blk and
# bench/console, and the 9p tree and guest prelude of bench/9p and
# tests/harness/stress-9p (sourced; bench_initrd needs $B). The tool is a static binary in a second
# cpio archive appended to the tiny initramfs (Linux unpacks both).
bench_initrd() {
	local out=$B/bench/initrd-bench.img stage
	mkdir -p "$B/bench"
	gcc -static -O2 -pthread -Wall -Wextra -Werror -o "$B/bench/mvbench" bench/guest/mvbench.c
	gcc -O2 -Wall -Wextra -Werror -o "$B/bench/conhost" bench/conhost.c
	stage=$(mktemp -d)
	mkdir -p "$stage/bin"
	cp "$B/bench/mvbench" "$stage/bin/"
	(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -9) >"$B/bench/mvbench.cpio.gz"
	rm -rf "$stage"
	cat build/guest/tiny/initrd.img "$B/bench/mvbench.cpio.gz" >"$out"
}

# Where the guests run: inside the nested harness when /dev/kvm is PVM. The
# monitors' raw outputs are kept in build/bench/raw-NAME/.
bench_run() {
	local raw=build/bench/raw-$(basename "$1")
	rm -rf "$raw" && mkdir -p "$raw"
	if [ -e /sys/module/kvm_pvm ] || [ ! -e /dev/kvm ]; then
		tests/harness/nested --timeout 3000 --results "$raw" "$@"
	else
		MICROVM_RESULTS=$PWD/$raw "$@"
	fi
}

# median: the median of the numbers on stdin ("" when none).
median() {
	sort -n | awk '{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2]; else if (NR) print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The QEMU side: same kernel, initrd, memory and vCPUs, -M microvm.
QEMU_MICROVM=(qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off -accel kvm -cpu host
	-m 512 -smp 1 -nodefaults -no-user-config -display none -serial stdio -no-reboot)

# small_files DIR: 5,000 small files (1-8 KiB) in 50 directories under DIR,
# made by one process: a head per file took ~15 minutes in the harness.
small_files() {
	mkdir -p "$1"
	python3 - "$1" <<'PY'
import os, sys
for i in range(50):
    d = os.path.join(sys.argv[1], "d%d" % i)
    os.mkdir(d)
    for j in range(100):
        with open(os.path.join(d, "f%d" % j), "wb") as f:
            f.write(os.urandom(1024 * (1 + (i + j) % 8)))
PY
}

# The start of a guest script for a 9p share tagged bench: mount it on
# /mnt/b, and t STEP CMD... times CMD with /proc/uptime and prints
# "9p STEP SECS".
P9_PRELUDE='mkdir -p /mnt/b
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose bench /mnt/b || echo MOUNT-FAILED
t() { s=$1; shift; a=$(cut -d" " -f1 /proc/uptime); "$@" >/dev/null
	echo "9p $s $(echo "$(cut -d" " -f1 /proc/uptime) - $a" | bc)"; }'
