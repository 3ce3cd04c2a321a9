#!/usr/bin/env bash
# The whole test suite: what the README's test command and CI (.ci/run) run.
#   1. installs the Cortex-M7 toolchain (Debian's Rust, QEMU, Arm binutils) if missing;
#   2. runs every Rust test of the workspace (unit, snapshots, end to end on
#      ../shared/models, the zero-allocation check, the build.rs route);
#   3. builds the Cortex-M7 firmware example, runs it in QEMU and checks it against the host.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-cortex-m7.sh
cargo test --workspace
scripts/firmware-m7.sh
