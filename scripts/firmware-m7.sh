#!/usr/bin/env bash
# Builds the Cortex-M7 firmware example (examples/firmware-m7) with Debian's Rust and
# -Zbuild-std, runs it in QEMU's mps2-an500, runs the host example on the same input, and
# checks that both print the same class. Prints the firmware's flash and RAM use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup-cortex-m7.sh"

cd "$root/examples/firmware-m7"
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build --release --quiet
elf="target/thumbv7em-none-eabihf/release/zant-firmware-m7"

firmware_out="$(timeout 300 qemu-system-arm -cpu cortex-m7 -machine mps2-an500 -nographic \
    -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf")"
echo "firmware (QEMU mps2-an500, Cortex-M7):"
echo "$firmware_out" | sed 's/^/  /'

cd "$root"
host_out="$(cargo run --quiet --release -p zant-example-host)"
echo "host (x86_64):"
echo "$host_out" | sed 's/^/  /'

read -r text data bss _ < <(arm-none-eabi-size "examples/firmware-m7/$elf" | tail -n 1)
echo "firmware size: flash $((text + data)) bytes (text+rodata $text, data $data), static RAM $((data + bss)) bytes (data $data, bss $bss; the model's arena is on the stack)"

firmware_class="$(echo "$firmware_out" | sed -n 's/^class=//p')"
host_class="$(echo "$host_out" | sed -n 's/^class=//p')"
instructions="$(echo "$firmware_out" | sed -n 's/^instructions=//p')"
if [ -z "$firmware_class" ] || [ -z "$instructions" ] || [ "$instructions" -le 0 ]; then
    echo "firmware-m7: FAILED: the firmware printed no class or no instruction count" >&2
    exit 1
fi
if [ "$firmware_class" != "$host_class" ]; then
    echo "firmware-m7: FAILED: firmware class $firmware_class, host class $host_class" >&2
    exit 1
fi
echo "firmware-m7: ok (class $firmware_class on both, $instructions instructions per inference)"
