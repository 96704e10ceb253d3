# lib.sh - helpers shared by the bench scripts (sourced).

# stats FILE COLUMN: "median min max" of a column of numbers.
stats() {
	awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '
		{ v[NR] = $1 }
		END { if (NR == 0) { print "- - -"; exit }
		      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "%.1f %.1f %.1f\n", m, v[1], v[NR] }'
}

# settle: before a measured run, touch and free $SETTLE_MIB MiB of memory
# (default 1536, for 1 GiB guests) with $B/bench/settle, so that the run
# does not pay for re-using the memory the previous VM gave back: in the
# emulated harness that costs up to ~50 ms per MiB for a few seconds, on
# hardware KVM nothing (bench/settle.c). Both monitors get it before every
# run; MICROVM_BENCH_SETTLE=0 leaves it out.
settle() {
	[ "${MICROVM_BENCH_SETTLE:-1}" = 0 ] || "$B/bench/settle" "${SETTLE_MIB:-1536}" 2>/dev/null
}

# measure LABEL RUNS MARKER CMD...: run CMD RUNS times under timeto, one
# "marker_ms exit_ms status maxrss" line per run into $BENCH_OUT/LABEL, plus
# the time to $ALSO when it is set (the "tiny: init" line: userspace reached).
measure() {
	local label=$1 runs=$2 marker=$3; shift 3
	: >"$BENCH_OUT/$label"
	for _ in $(seq "$runs"); do
		settle
		# A run that hangs (QEMU under TCG sometimes never exits) is cut
		# off after 120 s and shows as such in the exit column.
		"$TIMETO" ${ALSO:+-a "$ALSO"} "$marker" timeout -k 5 120 "$@" </dev/null 2>>"$BENCH_OUT/$label" >/dev/null
	done
	# A run that never showed the marker or failed is reported, not hidden.
	awk '$1 < 0 { bad++ } END { if (bad) printf "  (%d runs without marker)\n", bad }' \
		"$BENCH_OUT/$label"
}

# row LABEL: one table row with marker and exit medians/min/max (and $ALSO's).
row() {
	printf '%-28s %8s %8s %8s   %8s %8s %8s' "$1" $(stats "$BENCH_OUT/$1" 1) \
		$(stats "$BENCH_OUT/$1" 2)
	[ -z "${ALSO:-}" ] || printf '   %8s %8s %8s' $(stats "$BENCH_OUT/$1" 5)
	echo
}

header() {
	printf '%-28s %8s %8s %8s   %8s %8s %8s' "$1 (ms)" "marker" "min" "max" "exit" "min" "max"
	[ -z "${ALSO:-}" ] || printf '   %8s %8s %8s' "init" "min" "max"
	echo
}

# ratios A B: "marker X, exit Y" (and ", init Z" with $ALSO): A's medians over B's.
ratios() {
	printf 'marker %s, exit %s' "$(ratio "$1" "$2" 1)" "$(ratio "$1" "$2" 2)"
	[ -z "${ALSO:-}" ] || printf ', init %s' "$(ratio "$1" "$2" 5)"
	echo
}

# legend: what the marker and init columns time.
legend() {
	echo "(marker: MICROVM-TINY-OK, after /init has loaded its modules; init: /init's first line)"
}

# ratio A B COLUMN: median of A over median of B.
ratio() {
	local a b
	a=$(stats "$BENCH_OUT/$1" "$3" | cut -d' ' -f1)
	b=$(stats "$BENCH_OUT/$2" "$3" | cut -d' ' -f1)
	awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}
