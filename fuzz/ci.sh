#!/usr/bin/env bash
# Bounded fuzzing for CI: builds every fuzz target once (libFuzzer, ASan, -O with debug
# assertions), runs each for a fixed time from its committed seeds (seeds/<target>/, read
# only; new inputs go to a scratch corpus), prints a table of executions and coverage, and
# fails when any target crashes, leaks, times out or runs out of memory.
#
#   bash fuzz/ci.sh                  # 25 s per target
#   FUZZ_SECONDS=60 bash fuzz/ci.sh  # or: bash fuzz/ci.sh 60
#   FUZZ_TARGETS="client tls_client" bash fuzz/ci.sh 10
#   FUZZ_CORPUS=corpus bash fuzz/ci.sh 300   # keep and grow fuzz/corpus/<target>/ (long runs)
#   FUZZ_LOGS=/some/dir ...                  # keep each target's libFuzzer log there
#
# Findings are left in fuzz/artifacts/<target>/ (save them under regressions/<target>/ so
# `cargo test --test fuzz_regressions` replays them). Needs only a stable toolchain:
# RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly flags.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-${FUZZ_SECONDS:-25}}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz/ci.sh: cargo-fuzz not found; installing cargo-fuzz 0.13 from crates.io"
  cargo install --locked cargo-fuzz --version '^0.13'
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
flags=(-O --debug-assertions)

start=$SECONDS
cargo fuzz build "${flags[@]}"
build_secs=$((SECONDS - start))
echo "fuzz/ci.sh: built in ${build_secs} s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

corpus_root="${FUZZ_CORPUS:-$scratch/corpus}"
rows=()
failed=()
for t in $targets; do
  mkdir -p "$corpus_root/$t"
  log="${FUZZ_LOGS:-$scratch}/$t.log"
  echo "fuzz/ci.sh: $t for ${seconds} s"
  t0=$SECONDS
  rc=0
  cargo fuzz run "${flags[@]}" "$t" "$corpus_root/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || rc=$?
  took=$((SECONDS - t0))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # The last status line: "#123 DONE cov: 456 ft: 789 corp: 12/3456b ..."
  status=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$status")
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed+=("$t")
    echo "---- $t: last lines of the libFuzzer log ----"
    tail -n 60 "$log"
    echo "----"
  fi
  rows+=("$(printf '%-20s %5s %12s %8s %7s %7s %7s  %s' "$t" "$took" "${execs:-?}" \
    "$(( ${execs:-0} / (took > 0 ? took : 1) ))" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
done

echo
echo "fuzz/ci.sh: ${seconds} s per target, build ${build_secs} s, total $((SECONDS - start)) s"
printf '%-20s %5s %12s %8s %7s %7s %7s  %s\n' target secs executions exec/s cov ft corpus result
printf '%s\n' "${rows[@]}"

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "fuzz/ci.sh: failing targets: ${failed[*]}"
  echo "inputs are in fuzz/artifacts/<target>/; replay one with"
  echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run ${flags[*]} <target> fuzz/artifacts/<target>/<file>"
  exit 1
fi
