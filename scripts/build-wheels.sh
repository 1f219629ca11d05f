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
mkdir -p "$DIST" "$CROSS"

build() { # target: one wheel into $DIST, and its build time in seconds into $CROSS/wheel-$1.seconds
    local start=$SECONDS
    case "$1" in
    x86_64)
        "$PYEXE" -m maturin build --release --zig --compatibility manylinux2014 \
            --target x86_64-unknown-linux-gnu --out "$DIST"
        ;;
    aarch64)
        with_debian_rust "$PYEXE" -m maturin build --release --zig --compatibility manylinux2014 \
            --target "$AARCH64" --out "$DIST"
        ;;
    esac
    echo $((SECONDS - start)) >"$CROSS/wheel-$1.seconds"
}

for t in "${targets[@]}"; do
    case "$t" in x86_64 | aarch64) ;; *)
        echo "unknown target $t (x86_64, aarch64)" >&2
        exit 2
        ;;
    esac
done
# The builds run side by side: with the release profile's single codegen unit and LTO, each spends
# much of its time in one rustc process, so on 2 cores two at once finish sooner than one after the
# other (391 s instead of 521 s for both, from scratch, on this shared machine). Separate target
# directories, so neither waits on the other's lock.
declare -A pid
for t in "${targets[@]}"; do
    rm -f "$DIST"/ncnnq-*_"$t".whl "$CROSS/wheel-$t.seconds"
    log "building the $t wheel (log: $CROSS/wheel-$t.log)"
    build "$t" >"$CROSS/wheel-$t.log" 2>&1 &
    pid[$t]=$!
done
status=0
for t in "${targets[@]}"; do
    if ! wait "${pid[$t]}"; then
        cat "$CROSS/wheel-$t.log"
        log "the $t wheel FAILED to build"
        status=1
    fi
done
[ $status = 0 ] || exit 1

declare -A seconds wheel
for t in "${targets[@]}"; do
    seconds[$t]="$(cat "$CROSS/wheel-$t.seconds")"
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
    printf '  %s\n    %s bytes (%s KiB), built in %ss (side by side); needs %s; auditwheel: %s\n' \
        "$(basename "$w")" "$size" "$((size / 1024))" "${seconds[$t]}" "$(max_glibc "$w")" "${tag:-?}"
done
