# shellcheck shell=bash
# runlock.sh - sourced: one harness run at a time on this host. Two emulated
# outer VMs on two cores starve each other into false hangs and lock-ups
# (tests/harness/README.md), so a second run waits for the first.

# harness_run_lock: take the host-wide lock, saying so when it has to wait.
# Held until this shell and its children (QEMU) have exited.
harness_run_lock() {
	local f=${MICROVM_HARNESS_LOCK:-${TMPDIR:-/tmp}/microvm-harness.lock}
	exec {HARNESS_RUN_LOCK_FD}>"$f"
	flock -n "$HARNESS_RUN_LOCK_FD" && return 0
	printf '%s: waiting for another harness run on this host (%s)\n' "$GUEST_PROG" "$f" >&2
	flock "$HARNESS_RUN_LOCK_FD"
}
