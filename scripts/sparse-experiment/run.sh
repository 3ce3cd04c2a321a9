#!/bin/bash
# The sparse-weights measurement of docs/compression.md: for each harness NAME that
# `zantc bench --work-dir WD` built (targets host and cortex-m7, opt-level 3), builds a copy
# whose layers run on sparse.rs's kernels (sparsify.py), and measures both, as the bench
# does: Cortex-M7 instructions in QEMU, host time (median, twice) and callgrind instructions
# of one inference, and a digest of the outputs.
#
#   scripts/sparse-experiment/run.sh WD NAME...
set -e
WD=$(realpath "$1"); shift
HERE=$(dirname "$(realpath "$0")")
PY=${PYTHON:-$HERE/../../target/venv-ort/bin/python}
for m in "$@"; do
  for t in host cortex-m7; do
    "$PY" "$HERE/sparsify.py" "$WD/$t/$m" "$WD/$t/$m-sparse" > "$WD/$t/$m-sparse.txt"
    sed -i "s/^name = \"zant-bench-$m\"/name = \"zant-bench-$m-sparse\"/" "$WD/$t/$m-sparse/Cargo.toml"
  done
  echo "== $m"
  cat "$WD/host/$m-sparse.txt"
  for v in "" "-sparse"; do
    (cd "$WD/cortex-m7/$m$v" && CARGO_TARGET_DIR="$WD/target-cortex-m7" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
      /usr/bin/cargo build --quiet --profile opt-3)
    elf="$WD/target-cortex-m7/thumbv7em-none-eabihf/opt-3/zant-bench-$m$v"
    txt=$(timeout 900 qemu-system-arm -cpu cortex-m7 -machine mps2-an500 -nographic \
      -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf")
    hi=$(echo "$txt" | grep ticks_high= | cut -d= -f2); lo=$(echo "$txt" | grep ticks_low= | cut -d= -f2)
    # One SysTick tick is 40 instructions (see compiler/src/bench/cortex_m7.rs).
    echo "cortex-m7$v instructions=$(( ((hi << 32) | lo) * 40 )) outputs=$(echo "$txt" | grep '^output' | md5sum | cut -c1-8)"
  done
  for v in "" "-sparse"; do
    (cd "$WD/host/$m$v" && CARGO_TARGET_DIR="$WD/target-host" RUSTFLAGS="-C target-cpu=native" cargo build --quiet --profile opt-3)
  done
  for rep in 1 2; do
    for v in "" "-sparse"; do
      echo "host$v time_ns=$("$WD/target-host/opt-3/zant-bench-$m$v" measure 1000 | grep time_ns= | cut -d= -f2)"
    done
  done
  for v in "" "-sparse"; do
    exe="$WD/target-host/opt-3/zant-bench-$m$v"
    c0=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$exe" count 0 2>&1 | grep Collected | awk '{print $4}')
    c1=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$exe" count 1 2>&1 | grep Collected | awk '{print $4}')
    echo "host$v callgrind=$((c1 - c0)) outputs=$("$exe" measure 10 | grep '^output' | md5sum | cut -c1-8)"
  done
done
