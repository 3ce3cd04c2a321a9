#!/usr/bin/env bash
# Installs what building and running code for the emulated cores needs on a fresh Debian
# machine (docs/targets.md): Debian's Rust 1.96 with its library source (for -Zbuild-std)
# and its LLVM linker (rust-lld, which RISC-V links with), QEMU's Arm and RISC-V system
# emulators, the Arm binutils (linker, objdump), and for the AArch64 Linux core QEMU's
# user-mode emulator (qemu-aarch64), the GNU cross compiler that links its programs
# (with its binutils: strip) and the cross C library qemu-aarch64 loads them with.
# Idempotent: does nothing when all are present.
set -euo pipefail

have_all() {
    [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] \
        && command -v qemu-system-arm >/dev/null \
        && command -v qemu-system-riscv32 >/dev/null \
        && command -v arm-none-eabi-ld >/dev/null \
        && [ -e "$(readlink -f /usr/bin/rust-lld)" ] \
        && [ -d /usr/lib/rustlib/src/rust/library/core ] \
        && command -v qemu-aarch64 >/dev/null \
        && command -v aarch64-linux-gnu-gcc >/dev/null \
        && command -v aarch64-linux-gnu-strip >/dev/null \
        && [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] \
        && [ -e /usr/aarch64-linux-gnu/lib/libc.so ]
}

if have_all; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# One package a call: Debian's resolver refuses some combinations on a machine whose
# qemu-utils comes from backports, while each installs on its own.
for package in rustc-web cargo-web rust-web-src qemu-system-arm qemu-system-misc \
    binutils-arm-none-eabi lld-22 qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross; do
    $SUDO apt-get install -y -qq "$package" >/dev/null
done

if ! have_all; then
    echo "setup-targets: the toolchain is still incomplete after installing" >&2
    exit 1
fi
