# shellcheck shell=bash
# Helpers for the arm64 guests (tests/guest/build-tiny-arm64) and the aarch64
# nested harness (tests/harness/nested-aarch64).  Source lib.sh first, then
# this; it points GUEST_BUILD at build/guest/arm64 so lib.sh's kernel helpers
# unpack Debian's arm64 kernel there, beside (not over) the x86_64 one.
#
#   ARM64_BUSYBOX  the static arm64 busybox (after arm64_need_busybox)
# shellcheck disable=SC2034 # the variables above are used by the callers

GUEST_BUILD_X86=$GUEST_BUILD
GUEST_BUILD=$GUEST_BUILD_X86/arm64
ARM64_BUSYBOX=$GUEST_BUILD/busybox

# arm64_need_foreign: the arm64 packages are only visible with the arm64
# architecture added to dpkg (scripts/deps aarch64 does it as root).
arm64_need_foreign() {
	dpkg --print-foreign-architectures | grep -qx arm64 && return 0
	guest_die "dpkg knows no arm64 packages; run scripts/deps aarch64 as root (dpkg --add-architecture arm64; apt-get update)"
}

# arm64_kernel_resolve: sets GUEST_KERNEL_PKG from linux-image-arm64's
# dependency (or the newest cached arm64 .deb), for lib.sh's helpers.
arm64_kernel_resolve() {
	local deb
	[ -z "${GUEST_KERNEL_PKG:-}" ] || return 0
	GUEST_KERNEL_PKG=$(apt-cache show --no-all-versions linux-image-arm64:arm64 2>/dev/null |
		sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,:]*-arm64\).*/\1/p' | head -n 1) || true
	if [ -z "$GUEST_KERNEL_PKG" ]; then
		deb=$(find "$GUEST_BUILD/debs" -maxdepth 1 -name 'linux-image-*-arm64_*.deb' 2>/dev/null |
			sort -V | tail -n 1)
		[ -n "$deb" ] || guest_die "cannot resolve Debian's arm64 kernel package (apt-cache show linux-image-arm64:arm64 gave nothing); run scripts/deps aarch64"
		GUEST_KERNEL_PKG=$(dpkg-deb -f "$deb" Package)
	fi
}

# arm64_need_busybox: unpack busybox-static:arm64 into $ARM64_BUSYBOX once
# per package version (it cannot be installed beside the amd64 one).
arm64_need_busybox() {
	local ver tmp
	ver=$(apt-cache show --no-all-versions busybox-static:arm64 2>/dev/null |
		awk '$1 == "Version:" { print $2; exit }') || true
	if [ -x "$ARM64_BUSYBOX" ] && { [ -z "$ver" ] || [ "$(cat "$ARM64_BUSYBOX.version" 2>/dev/null)" = "$ver" ]; }; then
		return 0
	fi
	[ -n "$ver" ] || guest_die "cannot resolve busybox-static:arm64; run scripts/deps aarch64"
	mkdir -p "$GUEST_BUILD/debs"
	tmp=$(mktemp -d "$GUEST_BUILD/.busybox.XXXXXX")
	guest_log "downloading busybox-static:arm64=$ver"
	if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "busybox-static:arm64=$ver" >&2); then
		rm -rf "$tmp"
		guest_die "apt-get download busybox-static:arm64 failed (run apt-get update?)"
	fi
	dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/root"
	cp "$tmp/root/bin/busybox" "$ARM64_BUSYBOX.tmp" && mv "$ARM64_BUSYBOX.tmp" "$ARM64_BUSYBOX"
	printf '%s\n' "$ver" >"$ARM64_BUSYBOX.version"
	rm -rf "$tmp"
}

# arm64_stage_busybox DIR: the arm64 busybox in DIR/bin with every applet as a
# relative link beside it (so the directory works wherever it is mounted),
# and sbin, usr/bin, usr/sbin pointing there.
arm64_stage_busybox() {
	local dir=$1 applet
	mkdir -p "$dir/bin" "$dir/usr"
	cp "$ARM64_BUSYBOX" "$dir/bin/busybox"
	while IFS= read -r applet; do
		[ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
	done < <(qemu-aarch64-static "$ARM64_BUSYBOX" --list)
	ln -sfn bin "$dir/sbin"
	ln -sfn ../bin "$dir/usr/bin"
	ln -sfn ../bin "$dir/usr/sbin"
}
