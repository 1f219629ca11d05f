#!/usr/bin/env bash
# Builds the release wheels into dist/: abi3 (CPython >= 3.9), manylinux_2_17 (glibc >= 2.17), for
#   x86_64   with the default (rustup) toolchain,
#   aarch64  cross-built with Debian's rustc-web and its arm64 std,
# both linked by zig (ziglang from PyPI) against glibc 2.17's symbols, so that older board operating
# systems install them. Installs what it needs on first use (apt packages, maturin, ziglang).
#
#   scripts/build-wheels.sh [x86_64] [aarch64]      (default: both)
#
# Prints each wheel's tags, size, build time, and the newest glibc symbol version its library uses.
set -euo pipefail
# shellcheck source=scripts/cross-common.sh
source "$(dirname "$0")/cross-common.sh"
cd "$ROOT"

targets=("$@")
[ ${#targets[@]} = 0 ] && targets=(x86_64 aarch64)

ensure_build_python
for t in "${targets[@]}"; do [ "$t" = aarch64 ] && ensure_cross_toolchain; done
mkdir -p "$DIST"

declare -A seconds wheel
for t in "${targets[@]}"; do
    rm -f "$DIST"/ncnnq-*_"$t".whl
    start=$SECONDS
    case "$t" in
    x86_64)
        "$PYEXE" -m maturin build --release --zig --compatibility manylinux2014 \
            --target x86_64-unknown-linux-gnu --out "$DIST"
        ;;
    aarch64)
        with_debian_rust "$PYEXE" -m maturin build --release --zig --compatibility manylinux2014 \
            --target "$AARCH64" --out "$DIST"
        ;;
    *)
        echo "unknown target $t (x86_64, aarch64)" >&2
        exit 2
        ;;
    esac
    seconds[$t]=$((SECONDS - start))
    wheel[$t]="$(ls -t "$DIST"/ncnnq-*_"$t".whl | head -n1)"
done

max_glibc() { # the newest GLIBC_x.y symbol version the wheel's extension module needs
    local tmp so
    tmp="$(mktemp -d)"
    unzip -q -o "$1" 'ncnnq/_native*.so' -d "$tmp"
    so="$(ls "$tmp"/ncnnq/_native*.so)"
    # binutils' objdump only reads the host's ELF; the cross one reads aarch64.
    case "$1" in *aarch64.whl) aarch64-linux-gnu-objdump -T "$so" ;; *) objdump -T "$so" ;; esac |
        grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1
    rm -rf "$tmp"
}

echo
echo "wheels in $DIST:"
for t in "${targets[@]}"; do
    w="${wheel[$t]}"
    size=$(stat -c %s "$w")
    tag="$("$PYEXE" -m auditwheel show "$w" 2>/dev/null | tr '\n' ' ' | grep -o 'consistent with the following platform tag: "[^"]*"' | cut -d'"' -f2 || true)"
    printf '  %s\n    %s bytes (%s KiB), built in %ss; needs %s; auditwheel: %s\n' \
        "$(basename "$w")" "$size" "$((size / 1024))" "${seconds[$t]}" "$(max_glibc "$w")" "${tag:-?}"
done
