# shellcheck shell=bash
# retries.sh - sourced: one record of every retry the test environment made,
# so that a retry is seen instead of absorbed (tests/harness/README.md).
#
# MICROVM_RETRY_LOG names a host file (make check sets it, one per pass).
# Inside an outer VM the host is read-only, so a suite there writes to
# $MICROVM_RESULTS/.retries and the harness moves those lines to the log
# when the outer VM is done.

# retry_note TEXT: record one retry (a replaced outer VM, a boot run again).
retry_note() {
	local f=${MICROVM_RETRY_LOG:-}
	[ -z "${MICROVM_NESTED:-}" ] || f=${MICROVM_RESULTS:+$MICROVM_RESULTS/.retries}
	[ -z "$f" ] || printf '%s\n' "$*" >>"$f" 2>/dev/null || true
}

# retry_collect DIR: (host side) move DIR/.retries into the log; prints
# how many lines it moved.
retry_collect() {
	local n=0
	if [ -s "$1/.retries" ]; then
		n=$(wc -l <"$1/.retries")
		[ -z "${MICROVM_RETRY_LOG:-}" ] || cat "$1/.retries" >>"$MICROVM_RETRY_LOG"
	fi
	rm -f "$1/.retries"
	printf '%s\n' "$n"
}
