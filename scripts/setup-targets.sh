#!/usr/bin/env bash
# Installs what building and running code for the emulated cores needs on a fresh Debian
# machine (docs/targets.md): Debian's Rust 1.96 with its library source (for -Zbuild-std)
# and its LLVM linker (rust-lld, which RISC-V links with), QEMU's Arm and RISC-V system
# emulators, the Arm binutils (linker, objdump), and for the AArch64 Linux core QEMU's
# user-mode emulator (qemu-aarch64), the GNU cross compiler that links its programs
# (with its binutils: strip), the cross C library qemu-aarch64 loads them with, and
# Debian's prebuilt standard library for AArch64 (the files of the arm64 build of
# libstd-rust-web-dev, of the same version as rustc-web), so AArch64 builds need no
# -Zbuild-std.
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
        && [ -e /usr/aarch64-linux-gnu/lib/libc.so ] \
        && [ -d /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib ]
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
# Debian's prebuilt AArch64 std, the very version of the rustc that links against it:
# only its files, unpacked into rustc's sysroot. Installing the arm64 package would pull
# in the arm64 C library, which then mixes with the cross one qemu-aarch64 loads
# (/usr/aarch64-linux-gnu) and hangs every program that starts a thread.
if [ ! -d /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib ]; then
    version="$(dpkg-query -W -f='${Version}' libstd-rust-web-dev)"
    added=""
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64
        added=1
    fi
    $SUDO apt-get update -qq
    unpack="$(mktemp -d)"
    chmod a+rwx "$unpack"  # apt downloads as its own user
    (cd "$unpack" && apt-get download -qq "libstd-rust-web-dev:arm64=$version")
    dpkg-deb -x "$unpack"/libstd-rust-web-dev_*_arm64.deb "$unpack/root"
    $SUDO cp -r "$unpack/root/usr/lib/rustlib/aarch64-unknown-linux-gnu" /usr/lib/rustlib/
    rm -rf "$unpack"
    if [ -n "$added" ]; then
        $SUDO dpkg --remove-architecture arm64
        $SUDO apt-get update -qq
    fi
fi

if ! have_all; then
    echo "setup-targets: the toolchain is still incomplete after installing" >&2
    exit 1
fi
