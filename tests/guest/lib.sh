# shellcheck shell=bash
# Shared helpers for the reference-guest builders (tests/guest/build-*) and the
# nested-virtualisation harness (tests/harness/nested).  Source it; it defines
# functions and a few variables and runs nothing else.
#
#   GUEST_REPO   repository root (derived from this file's location)
#   GUEST_BUILD  $GUEST_REPO/build/guest: shared cache (debs/, kernel-root/)
#
# After guest_kernel_prepare:
#   KPKG KPKGVER  kernel package name and version (e.g. linux-image-6.1.0-56-amd64 6.1.192-2)
#   KROOT         the unpacked package (build/guest/kernel-root)
#   KVER          kernel release (uname -r of the guest kernel)
#   KMODDIR       $KROOT/lib/modules/$KVER (has a modules.dep)
#   VMLINUZ KCONFIG
# shellcheck disable=SC2034 # the variables above are used by the callers

GUEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST_REPO=$(cd "$GUEST_LIB_DIR/../.." && pwd)
GUEST_BUILD=$GUEST_REPO/build/guest
: "${GUEST_PROG:=$(basename "$0")}"

guest_die() { printf '%s: %s\n' "$GUEST_PROG" "$*" >&2; exit 1; }
guest_log() { [ -n "${GUEST_QUIET:-}" ] || printf '%s: %s\n' "$GUEST_PROG" "$*" >&2; }

# guest_kernel_resolve: sets KPKG and KPKGVER.  The package is the one the
# linux-image-amd64 metapackage depends on (GUEST_KERNEL_PKG overrides).  With
# no apt lists available, falls back to the newest .deb already cached.
guest_kernel_resolve() {
	local deb line
	KPKG=${GUEST_KERNEL_PKG:-}
	KPKGVER=
	if [ -z "$KPKG" ]; then
		# one apt-cache call: the metapackage pins the exact version it wants
		line=$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
			sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\)\( (= \([^)]*\))\)\{0,1\}.*/\1 \3/p' |
			head -n 1) || true
		KPKG=${line%% *}
		KPKGVER=${line#"$KPKG"}
		KPKGVER=${KPKGVER# }
	fi
	if [ -n "$KPKG" ] && [ -z "$KPKGVER" ]; then
		KPKGVER=$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null |
			awk '$1 == "Version:" { print $2; exit }') || true
	fi
	if [ -z "$KPKG" ] || [ -z "$KPKGVER" ]; then
		deb=$(find "$GUEST_BUILD/debs" -maxdepth 1 -name "${KPKG:-linux-image-*-amd64}_*.deb" 2>/dev/null |
			sort -V | tail -n 1)
		[ -n "$deb" ] || guest_die "cannot resolve the kernel package (apt-cache show linux-image-amd64 gave nothing and no .deb is cached under $GUEST_BUILD/debs); run apt-get update"
		KPKG=$(dpkg-deb -f "$deb" Package)
		KPKGVER=$(dpkg-deb -f "$deb" Version)
	fi
}

# guest_kernel_deb: prints the path of the cached .deb of $KPKG $KPKGVER,
# downloading it with apt-get download first if needed.
guest_kernel_deb() {
	local dir=$GUEST_BUILD/debs deb tmp
	mkdir -p "$dir"
	for deb in "$dir/${KPKG}"_*.deb; do
		[ -f "$deb" ] || continue
		if [ "$(dpkg-deb -f "$deb" Version)" = "$KPKGVER" ]; then
			printf '%s\n' "$deb"
			return 0
		fi
	done
	guest_log "downloading $KPKG=$KPKGVER"
	tmp=$(mktemp -d "$dir/.dl.XXXXXX")
	if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$KPKG=$KPKGVER" >&2); then
		rm -rf "$tmp"
		guest_die "apt-get download $KPKG=$KPKGVER failed (run apt-get update?)"
	fi
	for deb in "$tmp"/*.deb; do
		mv "$deb" "$dir/"
		rm -rf "$tmp"
		printf '%s\n' "$dir/$(basename "$deb")"
		return 0
	done
	rm -rf "$tmp"
	guest_die "apt-get download $KPKG produced no .deb"
}

# guest_gen_modules_dep DIR: writes DIR/modules.dep (modules.dep syntax, direct
# dependencies only) from each module's .modinfo "depends=" field.  Used when
# depmod (package kmod) is not installed; the package itself ships no modules.dep.
guest_gen_modules_dep() {
	local dir=$1
	(
		cd "$dir" || exit 1
		find kernel -name '*.ko*' | LC_ALL=C sort >modules.list.tmp
		# name -> path map, then one grep over all files for depends=
		awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n); gsub(/-/, "_", n); print n, $0 }' \
			modules.list.tmp >modules.names.tmp
		tr '\n' '\0' <modules.list.tmp |
			xargs -0 grep -a -z -H '^depends=' | tr '\0' '\n' |
			awk 'NR == FNR { path[$1] = $2; next }
			     {
				i = index($0, ":depends="); p = substr($0, 1, i - 1); d = substr($0, i + 9)
				out = p ":"; n = split(d, a, ",")
				for (k = 1; k <= n; k++) { m = a[k]; gsub(/-/, "_", m); if (m in path) out = out " " path[m] }
				print out; seen[p] = 1
			     }
			     END { for (m in path) if (!(path[m] in seen)) print path[m] ":" }' \
				modules.names.tmp - | LC_ALL=C sort >modules.dep.tmp
		rm -f modules.list.tmp modules.names.tmp
		mv modules.dep.tmp modules.dep
	)
}

# guest_kernel_prepare: resolve, download and unpack the kernel package into
# $GUEST_BUILD/kernel-root (reused while the package version is unchanged) and
# make sure it has a modules.dep.  Never touches the host's /boot or /lib/modules.
guest_kernel_prepare() {
	local deb want tmp
	guest_kernel_resolve
	KROOT=$GUEST_BUILD/kernel-root
	want="$KPKG $KPKGVER"
	mkdir -p "$GUEST_BUILD"
	exec {_guest_lock_fd}>"$GUEST_BUILD/.kernel.lock"
	flock "$_guest_lock_fd"
	if [ "$(cat "$KROOT/.unpacked" 2>/dev/null)" != "$want" ]; then
		deb=$(guest_kernel_deb)
		guest_log "unpacking $(basename "$deb")"
		tmp=$(mktemp -d "$GUEST_BUILD/.kernel-root.XXXXXX")
		dpkg-deb -x "$deb" "$tmp"
		KVER=$(basename "$(find "$tmp/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
		if command -v depmod >/dev/null 2>&1; then
			depmod -b "$tmp" "$KVER"
		else
			guest_gen_modules_dep "$tmp/lib/modules/$KVER"
		fi
		printf '%s\n' "$want" >"$tmp/.unpacked"
		rm -rf "$KROOT"
		mv "$tmp" "$KROOT"
	fi
	flock -u "$_guest_lock_fd"
	exec {_guest_lock_fd}>&-
	KVER=$(basename "$(find "$KROOT/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
	KMODDIR=$KROOT/lib/modules/$KVER
	VMLINUZ=$KROOT/boot/vmlinuz-$KVER
	KCONFIG=$KROOT/boot/config-$KVER
	if [ ! -f "$VMLINUZ" ] || [ ! -f "$KMODDIR/modules.dep" ]; then
		guest_die "$KROOT is incomplete (no vmlinuz or modules.dep); remove it and retry"
	fi
}

# guest_modules_closure NAME...: prints, one per line and in load order
# (dependencies first), the paths relative to $KMODDIR of the named modules and
# everything they depend on according to modules.dep.  Names may use - or _.
# A built-in module (modules.builtin) is skipped; an unknown one is fatal.
guest_modules_closure() {
	awk -v want="$*" '
		function norm(s) { sub(/.*\//, "", s); sub(/\.ko.*$/, "", s); gsub(/-/, "_", s); return s }
		function visit(p,   n, k, a) {
			if (p in done) return
			done[p] = 1
			n = split(deps[p], a, " ")
			for (k = n; k >= 1; k--) visit(a[k])
			print p
		}
		FILENAME ~ /modules\.builtin$/ { builtin[norm($0)] = 1; next }
		{ p = $1; sub(/:$/, "", p); path[norm(p)] = p; d = $0; sub(/^[^:]*:[ ]*/, "", d); deps[p] = d }
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) {
				m = norm(w[i])
				if (m in path) visit(path[m])
				else if (!(m in builtin)) { print "unknown module: " w[i] > "/dev/stderr"; bad = 1 }
			}
			exit bad
		}' "$KMODDIR/modules.builtin" "$KMODDIR/modules.dep" ||
		guest_die "module list ($*) does not resolve against $KMODDIR/modules.dep"
}

# guest_need_busybox: make sure the static busybox (package busybox-static) is
# at /bin/busybox; installs it when running as root, otherwise says what to do.
guest_need_busybox() {
	if dpkg-query -W -f='${Status}\n' busybox-static 2>/dev/null | grep -q ' installed$' &&
		[ -x /bin/busybox ]; then
		return 0
	fi
	if [ "$(id -u)" = 0 ]; then
		guest_log "installing busybox-static"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends busybox-static >&2 ||
			guest_die "apt-get install busybox-static failed"
		return 0
	fi
	printf '%s: the static busybox is missing; install the package busybox-static (apt-get install busybox-static) and retry\n' \
		"$GUEST_PROG" >&2
	exit 1
}

# guest_stage_busybox DIR: copies /bin/busybox into DIR/bin and links every
# applet (bin/sh, sbin/insmod, ...) to it.
guest_stage_busybox() {
	local dir=$1 applet
	mkdir -p "$dir/bin" "$dir/sbin" "$dir/usr/bin" "$dir/usr/sbin"
	cp /bin/busybox "$dir/bin/busybox"
	while IFS= read -r applet; do
		[ -e "$dir/$applet" ] || [ -L "$dir/$applet" ] || ln -s /bin/busybox "$dir/$applet"
	done < <(/bin/busybox --list-full)
}

# guest_stage_modules DIR NAME...: copies the closure of the named modules into
# DIR/lib/modules (flat, uncompressed) and writes DIR/lib/modules/load.list with
# their file names in load order.
guest_stage_modules() {
	local dir=$1 rel base
	shift
	mkdir -p "$dir/lib/modules"
	: >"$dir/lib/modules/load.list"
	while IFS= read -r rel; do
		base=$(basename "$rel")
		case $base in
		*.ko) cp "$KMODDIR/$rel" "$dir/lib/modules/$base" ;;
		*.ko.xz) xz -dc "$KMODDIR/$rel" >"$dir/lib/modules/${base%.xz}"; base=${base%.xz} ;;
		*.ko.zst) zstd -qdc "$KMODDIR/$rel" >"$dir/lib/modules/${base%.zst}"; base=${base%.zst} ;;
		*.ko.gz) gzip -dc "$KMODDIR/$rel" >"$dir/lib/modules/${base%.gz}"; base=${base%.gz} ;;
		*) guest_die "unexpected module file $rel" ;;
		esac
		printf '%s\n' "$base" >>"$dir/lib/modules/load.list"
	done < <(guest_modules_closure "$@")
}

# _guest_newc NAME MODE RDEVMAJOR RDEVMINOR INO: one cpio "newc" header for an
# entry without data (directory or device node), padded to 4 bytes.
_guest_newc() {
	local name=$1 mode=$2 maj=$3 min=$4 ino=$5 namesize pad
	namesize=$((${#name} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$ino" "$mode" 0 0 1 0 0 0 0 "$maj" "$min" "$namesize" 0
	printf '%s\0' "$name"
	pad=$(((4 - (110 + namesize) % 4) % 4))
	[ "$pad" = 0 ] || head -c "$pad" /dev/zero
}

# guest_make_initrd DIR OUT: writes OUT, a gzip-compressed newc cpio of DIR
# (owned by root, reproducible), preceded by /dev and /dev/console entries so the
# kernel can open an initial console (they need no root to create this way).
guest_make_initrd() {
	local dir=$1 out=$2
	{
		_guest_newc dev $((0040755)) 0 0 1
		_guest_newc dev/console $((0020600)) 5 1 2
		_guest_newc TRAILER!!! 0 0 0 0
		(cd "$dir" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
			cpio --quiet --null -o -H newc -R 0:0 --reproducible)
	} | gzip -n -9 >"$out.tmp"
	mv "$out.tmp" "$out"
}

# guest_extract_vmlinux BZIMAGE OUT: writes OUT, the uncompressed ELF kernel
# inside BZIMAGE (xz, zstd or gzip payload).  Booting that through its PVH entry
# (QEMU -kernel with an ELF, CONFIG_PVH=y) skips the decompressor, which takes
# ~2.5 s under TCG.  Returns 1 when no payload is found.
guest_extract_vmlinux() {
	local bz=$1 out=$2 magic off cmd
	for magic in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
		cmd=${magic%%:*}
		off=$(LC_ALL=C grep -obUaP "${magic#*:}" "$bz" 2>/dev/null | head -n 1 | cut -d: -f1) || true
		[ -n "$off" ] || continue
		case $cmd in
		xz) tail -c +$((off + 1)) "$bz" | xz -dcq --single-stream >"$out.tmp" 2>/dev/null || true ;;
		zstd) tail -c +$((off + 1)) "$bz" | zstd -dcq >"$out.tmp" 2>/dev/null || true ;;
		gzip) tail -c +$((off + 1)) "$bz" | gzip -dcq >"$out.tmp" 2>/dev/null || true ;;
		esac
		if [ "$(head -c 4 "$out.tmp" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
			mv "$out.tmp" "$out"
			return 0
		fi
	done
	rm -f "$out.tmp"
	return 1
}

# guest_hash FILE... [-- STRING...]: sha256 over the named files' contents and
# the extra strings; prints the hex digest.
guest_hash() {
	local f
	{
		while [ $# -gt 0 ] && [ "$1" != -- ]; do
			printf '%s\n' "$(basename "$1")"
			cat "$1"
			shift
		done
		[ $# -eq 0 ] || shift
		for f in "$@"; do printf '%s\n' "$f"; done
	} | sha256sum | cut -d' ' -f1
}

# guest_need_pkg COMMAND PACKAGE: make sure COMMAND (from the Debian package
# PACKAGE) is available; installs the package as root, else says what to do.
guest_need_pkg() {
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || guest_die "$1 is missing; install the package $2 (apt-get install $2) and retry"
	guest_log "installing $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" >&2 ||
		guest_die "apt-get install $2 failed (run apt-get update?)"
}

# guest_need_binfmt ARCH: foreign binaries (ARCH's maintainer scripts in a
# root built by mmdebstrap) run through qemu-user's binfmt_misc entry; as
# root, mount binfmt_misc and register the entry qemu-user-static ships when
# the kernel has none (containers often lack both).
guest_need_binfmt() {
	local q=aarch64 conf
	[ "$1" = arm64 ] || guest_die "guest_need_binfmt: no qemu-user name for $1"
	guest_need_pkg arch-test arch-test
	guest_need_pkg qemu-aarch64-static qemu-user-static
	arch-test "$1" >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || guest_die "this machine cannot run $1 binaries (binfmt_misc); as root this script registers qemu-user-static"
	[ -e /proc/sys/fs/binfmt_misc/register ] ||
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
		guest_die "cannot mount binfmt_misc (needed to run $1 binaries)"
	conf=/usr/lib/binfmt.d/qemu-$q.conf
	[ -f "$conf" ] || guest_die "$conf is missing (package qemu-user-static)"
	[ -e /proc/sys/fs/binfmt_misc/qemu-$q ] || grep -v '^#' "$conf" >/proc/sys/fs/binfmt_misc/register ||
		guest_die "cannot register $conf with binfmt_misc"
	arch-test "$1" >/dev/null 2>&1 || guest_die "$1 binaries still do not run after registering $conf"
}

# guest_apt_sources: prints the bookworm entries of this machine's apt sources
# (one-line and deb822 style) as one-line "deb" entries, so a guest is built
# from the archive the host already uses.
guest_apt_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		case $f in
		*.sources) awk -v RS= '
			{
				types = uris = suites = comps = ""; enabled = 1
				n = split($0, l, "\n")
				for (i = 1; i <= n; i++) {
					if (l[i] ~ /^#/) continue
					k = l[i]; sub(/:.*/, "", k); v = l[i]; sub(/^[^:]*:[ \t]*/, "", v)
					if (k == "Types") types = v; else if (k == "URIs") uris = v
					else if (k == "Suites") suites = v; else if (k == "Components") comps = v
					else if (k == "Enabled" && v ~ /^no/) enabled = 0
				}
				if (!enabled || types !~ /(^| )deb( |$)/) next
				nu = split(uris, u, " "); ns = split(suites, s, " ")
				for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
					if (s[j] ~ /^bookworm(-updates|-security|\/updates)?$/) print "deb " u[i] " " s[j] " " comps
			}' "$f" ;;
		*) sed -n 's/^[ \t]*\(deb[ \t].*\)$/\1/p' "$f" |
			awk '$0 ~ /[ \t]bookworm(-updates|-security|\/updates)?[ \t]/' ;;
		esac
	done
}
