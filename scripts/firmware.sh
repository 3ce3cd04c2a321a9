#!/usr/bin/env bash
# Builds the firmware example (examples/firmware) with Debian's Rust and -Zbuild-std for
# each board named (default: all three), runs it in QEMU, runs the host example on the same
# input, and checks that every firmware prints the host's class. Prints each firmware's
# flash and RAM use and its instructions per inference.
#
#   scripts/firmware.sh [cortex-m4] [cortex-m7] [cortex-m33]
#
# The firmware is built from the plain target triple; only the Cortex-M7 adds its
# `-C target-cpu` (its double-precision FPU). Its build script's Builder reads the target
# from Cargo, so each core gets the model compiled for its own kernels.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup-targets.sh"

cores=("$@")
if [ ${#cores[@]} -eq 0 ]; then
    cores=(cortex-m4 cortex-m7 cortex-m33)
fi

cd "$root"
# The host's class from the example's debug build, which reuses the workspace tests' builds
# of the compiler and the runtime (a release build would compile both again for the same
# class).
host_out="$(cargo run --quiet -p zant-example-host)"
echo "host (x86_64):"
echo "$host_out" | sed 's/^/  /'
host_class="$(echo "$host_out" | sed -n 's/^class=//p')"

for core in "${cores[@]}"; do
    # core: triple, board, QEMU cpu, core clock (MHz), extra rustflags
    case "$core" in
        cortex-m4) triple=thumbv7em-none-eabihf board=mps2-an386 cpu=cortex-m4 mhz=25 flags="" ;;
        cortex-m7) triple=thumbv7em-none-eabihf board=mps2-an500 cpu=cortex-m7 mhz=25 flags="-C target-cpu=cortex-m7" ;;
        cortex-m33) triple=thumbv8m.main-none-eabihf board=mps2-an505 cpu=cortex-m33 mhz=20 flags="" ;;
        *) echo "firmware: unknown core $core (cortex-m4, cortex-m7 or cortex-m33)" >&2; exit 2 ;;
    esac
    # Cargo adds an environment variable's rustflags to the config file's
    # (`-C link-arg=-Tlink.x` there).
    var="CARGO_TARGET_$(echo "$triple" | tr 'a-z.-' 'A-Z__')_RUSTFLAGS"
    # One target folder for every core: the build script's compiler (a host build) is
    # built once; each triple's artifacts have a folder of their own inside it.
    target_dir="target"
    (
        cd "$root/examples/firmware"
        env "$var=$flags" ZANT_BOARD="$board" \
            RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$target_dir" \
            /usr/bin/cargo build --release --quiet --target "$triple"
    )
    elf="$root/examples/firmware/$target_dir/$triple/release/zant-firmware"
    firmware_out="$(timeout 300 qemu-system-arm -cpu "$cpu" -machine "$board" -nographic \
        -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf")"
    echo "firmware $core ($triple${flags:+, $flags}, QEMU $board):"
    echo "$firmware_out" | sed 's/^/  /'
    read -r text data bss _ < <(arm-none-eabi-size "$elf" | tail -n 1)
    echo "  size: flash $((text + data)) bytes (text+rodata $text, data $data), static RAM $((data + bss)) bytes (the model's arena is on the stack)"
    firmware_class="$(echo "$firmware_out" | sed -n 's/^class=//p')"
    ticks="$(echo "$firmware_out" | sed -n 's/^ticks=//p')"
    if [ -z "$firmware_class" ] || [ -z "$ticks" ] || [ "$ticks" -le 0 ]; then
        echo "firmware $core: FAILED: the firmware printed no class or no tick count" >&2
        exit 1
    fi
    if [ "$firmware_class" != "$host_class" ]; then
        echo "firmware $core: FAILED: firmware class $firmware_class, host class $host_class" >&2
        exit 1
    fi
    echo "firmware $core: ok (class $firmware_class on both, $((ticks * 1000 / mhz)) instructions per inference)"
done
