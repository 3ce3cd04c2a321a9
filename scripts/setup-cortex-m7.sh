#!/usr/bin/env bash
# Installs what building and running Cortex-M7 code needs on a fresh Debian machine:
# Debian's Rust 1.96 with its library source (for -Zbuild-std), QEMU's Arm system
# emulator and the Arm binutils linker. Idempotent: does nothing when all are present.
set -euo pipefail

have_all() {
    [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] \
        && command -v qemu-system-arm >/dev/null \
        && command -v arm-none-eabi-ld >/dev/null \
        && [ -d /usr/lib/rustlib/src/rust/library/core ]
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
$SUDO apt-get install -y -qq rustc-web cargo-web rust-web-src qemu-system-arm binutils-arm-none-eabi >/dev/null

if ! have_all; then
    echo "setup-cortex-m7: the toolchain is still incomplete after installing" >&2
    exit 1
fi
