#!/usr/bin/env bash
# The differential kernel checks (checks/, docs/testing.md) on every emulated core of the
# target table (docs/targets.md): the firmware in checks/firmware, built with Debian's
# Rust and -Zbuild-std from each core's triple (and its target-cpu or features, as the
# bench builds them), run in QEMU. Each family's fixtures and 50 random cases per core
# (60 on AArch64); the host runs 200 (`cargo test -p zant-checks`). AArch64 Linux runs
# the host test itself under qemu-aarch64. Each image runs in QEMU while the next one
# builds; the reports print in order at the end.
#
#   [ZANT_CHECK_CASES=N] scripts/checks-cores.sh [cortex-m0plus] [cortex-m3] ... [riscv32] [aarch64]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup-targets.sh"

cores=("$@")
if [ ${#cores[@]} -eq 0 ]; then
    cores=(cortex-m0plus cortex-m3 cortex-m4 cortex-m7 cortex-m33 cortex-m55 riscv32 aarch64)
fi

# The QEMU runs in flight: each image's name, and the files its report and status go to.
runs=()
runs_dir="$root/target/checks-firmware/runs"
rm -rf "$runs_dir"
mkdir -p "$runs_dir"
# A failed build ends the script: stop the runs still in flight.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
failed=()
for core in "${cores[@]}"; do
    # core: triple, QEMU board and cpu, rustflags (as compiler/src/target.rs has them)
    case "$core" in
        cortex-m0plus) triple=thumbv6m-none-eabi board=mps2-an385 cpu=cortex-m3 flags="" ;;
        cortex-m3) triple=thumbv7m-none-eabi board=mps2-an385 cpu=cortex-m3 flags="" ;;
        cortex-m4) triple=thumbv7em-none-eabihf board=mps2-an386 cpu=cortex-m4 flags="-C target-cpu=cortex-m4" ;;
        cortex-m7) triple=thumbv7em-none-eabihf board=mps2-an500 cpu=cortex-m7 flags="-C target-cpu=cortex-m7" ;;
        cortex-m33) triple=thumbv8m.main-none-eabihf board=mps2-an505 cpu=cortex-m33 flags="-C target-cpu=cortex-m33" ;;
        cortex-m55) triple=thumbv8m.main-none-eabihf board=mps3-an547 cpu=cortex-m55 flags="-C target-feature=+v8.1m.main,+mve,+lob,+dsp,+fp-armv8d16,+vfp2" ;;
        riscv32) triple=riscv32imc-unknown-none-elf board=virt cpu=rv32 flags="" ;;
        aarch64) triple=aarch64-unknown-linux-gnu ;;
        *) echo "checks-cores: unknown core $core" >&2; exit 2 ;;
    esac
    var="CARGO_TARGET_$(echo "$triple" | tr 'a-z.-' 'A-Z__')_RUSTFLAGS"
    if [ "$core" = aarch64 ]; then
        # The host test, cross-built against Debian's prebuilt AArch64 std and run
        # under QEMU's user mode.
        runner="CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER"
        if out="$(cd "$root" && env "$runner=qemu-aarch64 -L /usr/aarch64-linux-gnu" \
            CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
            ZANT_CHECK_CASES="${ZANT_CHECK_CASES:-60}" RUSTC=/usr/bin/rustc \
            CARGO_TARGET_DIR=target/checks-aarch64 \
            /usr/bin/cargo test --quiet --target "$triple" -p zant-checks \
            --test differential \
            -- --nocapture 2>&1)"; then
            echo "$out" | grep -E "cases passed|AMX|test result" | sed 's/^/  /' \
                > "$runs_dir/aarch64.out"
            echo 0 > "$runs_dir/aarch64.status"
        else
            echo "$out" | tail -40 > "$runs_dir/aarch64.out"
            echo 1 > "$runs_dir/aarch64.status"
        fi
        runs+=("aarch64|checks aarch64 (qemu-aarch64):")
        continue
    fi
    if [ "$triple" = riscv32imc-unknown-none-elf ]; then
        link="-C link-arg=-Tmemory.x -C link-arg=-Tlink.x"
        linker=""
    else
        link="-C link-arg=-Tlink.x"
        linker="CARGO_TARGET_$(echo "$triple" | tr 'a-z.-' 'A-Z__')_LINKER=arm-none-eabi-ld"
    fi
    # The Cortex-M55's image is built in three parts of the families, each of which fits
    # its 512 KiB ITCM; every other core runs them all at once.
    parts=("")
    if [ "$core" = cortex-m55 ]; then
        parts=(first-third second-third last-third)
    fi
    if [ "$triple" = riscv32imc-unknown-none-elf ]; then
        qemu=(qemu-system-riscv32 -machine virt -cpu rv32 -m 64M -bios none)
    else
        qemu=(qemu-system-arm -cpu "$cpu" -machine "$board")
    fi
    for part in "${parts[@]}"; do
        # The cases per family are compiled in (`option_env!`).
        (
            cd "$root/checks/firmware"
            env "$var=$link $flags" ${linker:+"$linker"} ZANT_BOARD="$board" \
                RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
                CARGO_TARGET_DIR="$root/target/checks-firmware" \
                /usr/bin/cargo build --release --quiet --target "$triple" \
                -Zbuild-std=core,panic_abort ${part:+--features "$part"}
        )
        # The M4 and M7 builds share a triple: each image is copied before the next build.
        name="$core${part:+-$part}"
        elf="$root/target/checks-firmware/$name.elf"
        cp "$root/target/checks-firmware/$triple/release/zant-checks-firmware" "$elf"
        (
            status=0
            timeout 900 "${qemu[@]}" -nographic \
                -semihosting-config enable=on,target=native -kernel "$elf" \
                > "$runs_dir/$name.raw" 2>&1 || status=$?
            sed 's/^/  /' "$runs_dir/$name.raw" > "$runs_dir/$name.out"
            if [ "$status" -eq 0 ] && grep -qx "checks=ok" "$runs_dir/$name.raw"; then
                echo 0 > "$runs_dir/$name.status"
            else
                echo 1 > "$runs_dir/$name.status"
            fi
        ) &
        runs+=("$name|checks $core${part:+ ($part)} ($triple${flags:+, $flags}, QEMU $board):")
    done
done
wait
for run in "${runs[@]}"; do
    name="${run%%|*}"
    echo "${run#*|}"
    cat "$runs_dir/$name.out"
    if [ "$(cat "$runs_dir/$name.status" 2>/dev/null)" != 0 ]; then
        failed+=("$name")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "checks-cores: FAILED on ${failed[*]}" >&2
    exit 1
fi
echo "checks-cores: every family passed on ${cores[*]}"
