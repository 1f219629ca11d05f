# Sourced by build-wheels.sh and test-aarch64.sh: the aarch64 cross toolchain (Debian's rustc-web with
# the arm64 std, gcc-aarch64-linux-gnu as linker), qemu, zig for manylinux_2_17, and where it all lives.
# Everything is installed on first use and reused after, so the scripts work on a fresh Debian 12.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CROSS="${NCNNQ_CROSS_DIR:-$ROOT/target/cross}"
AARCH64=aarch64-unknown-linux-gnu
DIST="${NCNNQ_DIST:-$ROOT/dist}"
# The version zig-linking was verified with (manylinux_2_17 for both targets); newer zig releases
# change their command line under cargo-zigbuild from time to time.
ZIGLANG_VERSION=0.15.2
QEMU=/usr/bin/qemu-aarch64-static
# The libc the cross linker targets; qemu finds the aarch64 dynamic loader and libc here.
CROSS_LIBC=/usr/aarch64-linux-gnu
PYTHON="${PYTHON:-python3}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

sudo_if_needed() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" = 0 ]; then
        sudo_if_needed apt-get update -qq
        apt_updated=1
    fi
}

# Installs the Debian packages given (name or name:arch) unless all are already installed.
ensure_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} = 0 ] && return 0
    log "apt-get install ${missing[*]}"
    apt_update_once
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_cross_toolchain() {
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        log "dpkg --add-architecture arm64"
        sudo_if_needed dpkg --add-architecture arm64
        apt_updated=0
        apt_update_once
    fi
    ensure_apt rustc-web cargo-web libstd-rust-web-dev libstd-rust-web-dev:arm64 \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils qemu-user-static
    # rustup's toolchain (x86_64 only) usually comes first on PATH: this directory puts Debian's
    # cargo/rustc (which have the arm64 std) first for the aarch64 builds only.
    mkdir -p "$CROSS/debian-rust"
    for t in cargo rustc rustdoc; do ln -sfn "/usr/bin/$t" "$CROSS/debian-rust/$t"; done
}

# Runs a command with Debian's Rust toolchain, in its own target directory (so that the two
# toolchains never rebuild each other's artifacts).
with_debian_rust() {
    PATH="$CROSS/debian-rust:$PATH" CARGO_TARGET_DIR="$CROSS/cargo" "$@"
}

# The Python that runs maturin (with ziglang and auditwheel installed into it).
ensure_build_python() {
    PYEXE="$("$PYTHON" -c 'import sys; print(sys.executable)')"
    if ! "$PYEXE" -m maturin --version >/dev/null 2>&1; then
        log "pip install maturin into $PYEXE"
        # --ignore-installed: a maturin module seen through --system-site-packages has no script here.
        "$PYEXE" -m pip install --quiet --ignore-installed "maturin>=1.5,<2"
    fi
    if ! { "$PYEXE" -m auditwheel --version && [ "$("$PYEXE" -m ziglang version)" = "$ZIGLANG_VERSION" ]; } \
        >/dev/null 2>&1; then
        log "pip install ziglang==$ZIGLANG_VERSION auditwheel into $PYEXE"
        "$PYEXE" -m pip install --quiet "ziglang==$ZIGLANG_VERSION" auditwheel
    fi
    # cargo-zigbuild (inside maturin) looks for `zig` on PATH, or for ziglang in whatever `python3` is
    # first on PATH (not necessarily this one, e.g. under pyenv): put this ziglang's zig on PATH.
    mkdir -p "$CROSS/zig"
    ln -sfn "$("$PYEXE" -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')" \
        "$CROSS/zig/zig"
    export PATH="$CROSS/zig:$PATH"
}

aarch64_wheel() {
    local w
    w="$(ls -t "$DIST"/ncnnq-*manylinux*_aarch64.whl 2>/dev/null | head -n1)"
    [ -n "$w" ] || { log "no aarch64 wheel in $DIST: run scripts/build-wheels.sh first"; return 1; }
    echo "$w"
}

x86_64_wheel() {
    local w
    w="$(ls -t "$DIST"/ncnnq-*manylinux*_x86_64.whl 2>/dev/null | head -n1)"
    [ -n "$w" ] || { log "no x86_64 wheel in $DIST: run scripts/build-wheels.sh first"; return 1; }
    echo "$w"
}
