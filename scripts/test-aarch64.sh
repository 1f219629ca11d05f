#!/usr/bin/env bash
# Tests the aarch64 build on this x86_64 machine under qemu-user, on two emulated CPUs: `max` (NEON,
# dotprod, i8mm) and `cortex-a72` (NEON only), so that each runtime-dispatched kernel path runs and
# the dispatch is checked against what each CPU has.
#
#   scripts/test-aarch64.sh [rust] [broken] [python] [parity]      (default: all four)
#
#   rust    cross-compiled `cargo test --lib` (Debian's rustc-web) under both CPUs
#   broken  the int8 kernel tests built from a scratch copy of the tree with scripts/broken-neon.patch
#           applied (a deliberately wrong NEON GEMM kernel): passes only if they FAIL, on the NEON
#           comparisons. The shipping code has no trace of it: no feature, no hook.
#   python  the aarch64 wheel from scripts/build-wheels.sh, pip-installed into Debian's python3.11
#           (arm64 packages unpacked into a sysroot) under qemu; `pytest -m emulated` on both CPUs
#   parity  ncnnq table, ncnnq int8 and fp32/int8 runs of the test fixture tinynet with the x86_64 wheel
#           and with the aarch64 wheel (-cpu max): scales within 0.5%, outputs within the parity bar
#           (scripts/arch_parity.py)
set -euo pipefail
# shellcheck source=scripts/cross-common.sh
source "$(dirname "$0")/cross-common.sh"
cd "$ROOT"

# What each emulated CPU has (qemu 7.2), and the path each kernel family (kernels::dispatch) must pick
# on it: the int8 kernels run sdot on `max`, smlal on the Cortex-A72.
CPUS=(max cortex-a72)
declare -A EXPECT_FEATURES=([max]="NEON=1 DOTPROD=1 I8MM=1" [cortex-a72]="NEON=1 DOTPROD=0 I8MM=0")
declare -A EXPECT_PATHS=([max]="f32=neon,i8=dotprod" [cortex-a72]="f32=neon,i8=neon")

SYSROOT="$CROSS/sysroot-py311"
EMU_VENV="$CROSS/venv-aarch64"
X86_VENV="$CROSS/venv-x86_64"

# The environment that tells the tests which CPU they run on.
expect_env() {
    local cpu=$1 kv out=()
    for kv in ${EXPECT_FEATURES[$cpu]}; do out+=("NCNNQ_EXPECT_$kv"); done
    out+=("NCNNQ_EXPECT_PATHS=${EXPECT_PATHS[$cpu]}")
    printf '%s\n' "${out[@]}"
}

# The cross test build's settings. -D warnings: a compiler warning in aarch64-only code fails here too;
# line tables are all a failing test's backtrace needs, and full debug info makes this build slower.
# A one-off build: incremental compilation only adds work, and the dependencies (proptest and
# regex-syntax, which the library's tests do not even use, rayon, half) unoptimized save ~80 s of a
# ~350 s build; ncnnq itself stays at the test profile's opt-level 2, where its tests run fast.
cross_test_env() {
    export RUSTFLAGS="${RUSTFLAGS:-} -D warnings" CARGO_PROFILE_TEST_DEBUG=line-tables-only CARGO_INCREMENTAL=0
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    CROSS_CONFIG=(--config 'profile.test.package."*".opt-level=0')
}

# qemu as cargo's runner on one CPU. The cross libc's own directory first: the loader must not pick
# up a host multiarch libc of another version (thread creation hangs when the two differ).
runner() {
    echo "$QEMU -L $CROSS_LIBC -E LD_LIBRARY_PATH=$CROSS_LIBC/lib -cpu $1"
}

# The library's tests: codec, kernels on every path the CPU runs, layers, engine. Not the integration
# tests (rust/tests: the shared models' round trips and optimizer runs, ~70 s each under qemu, and the
# parser fuzzing): codec and optimizer code no CPU feature changes, which the native `cargo test`
# runs, and each would cost a second build of the crate.
CROSS_TESTS=(--lib)
CROSS_CONFIG=()

rust_tests() {
    ensure_cross_toolchain
    cross_test_env
    log "building the aarch64 test binaries (${CROSS_TESTS[*]})"
    with_debian_rust cargo test --quiet --target "$AARCH64" "${CROSS_CONFIG[@]}" "${CROSS_TESTS[@]}" --no-run
    local cpu status=0
    for cpu in "${CPUS[@]}"; do
        log "cargo test under qemu -cpu $cpu ($(expect_env "$cpu" | tr '\n' ' '))"
        mapfile -t envs < <(expect_env "$cpu")
        if ! with_debian_rust env CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$(runner "$cpu")" "${envs[@]}" \
            cargo test --quiet --target "$AARCH64" "${CROSS_CONFIG[@]}" "${CROSS_TESTS[@]}"; then
            status=1
            continue
        fi
        # The dispatch as the tests saw it, for the log: the tests that check it, their stderr shown.
        with_debian_rust env CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$(runner "$cpu")" "${envs[@]}" \
            cargo test --quiet --target "$AARCH64" "${CROSS_CONFIG[@]}" --lib -- --nocapture --test-threads=1 \
            kernels::dispatch::tests::every_family kernels::cpu::tests kernels::gemm_i8::tests::the_intended_path_runs 2>&1 |
            grep -oE "(cpu features: |(f32|i8): [a-z0-9_]+ \(paths |int8 path: ).*" | sed "s/^/  [$cpu] /"
    done
    return $status
}

# The CI demonstration that these tests catch a broken NEON kernel, with nothing of it in the shipping
# code: scripts/broken-neon.patch (the last row of every NEON int8 GEMM tile loses its products) is
# applied to a scratch copy of the working tree, whose library tests are built and run on the
# Cortex-A72 (whose int8 path is NEON). Only the int8 kernel tests: the failure shows there, and the
# build is the only cost. If the kernel changes so that the patch no longer applies, this step fails
# and says so: update the patch with the kernel.
broken_neon() {
    ensure_cross_toolchain
    ensure_apt patch
    cross_test_env
    local src="$CROSS/broken-neon-src" out="$CROSS/broken-neon.log" cpu=cortex-a72
    log "copying the working tree to $src and applying scripts/broken-neon.patch"
    rm -rf "$src"
    mkdir -p "$src"
    # Tracked and new files, not ignored ones (target/, dist/, venvs); a tracked file deleted in the
    # working tree is skipped.
    git ls-files -z --cached --others --exclude-standard |
        tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$src"
    if ! patch --quiet --forward --no-backup-if-mismatch -p1 -d "$src" <scripts/broken-neon.patch; then
        log "scripts/broken-neon.patch does not apply to rust/kernels/gemm_i8/aarch64.rs any more: update it"
        return 1
    fi
    # ncnnq itself unoptimized (its dependencies stay as the rust step built them, in the same target
    # directory): a quicker build, and these tests still run in seconds.
    local broken=(--manifest-path "$src/Cargo.toml" --target "$AARCH64" "${CROSS_CONFIG[@]}" --lib
        --config profile.test.package.ncnnq.opt-level=0)
    log "building the patched copy's aarch64 library tests"
    with_debian_rust cargo test --quiet "${broken[@]}" --no-run
    log "kernels::gemm_i8 tests under qemu -cpu $cpu: they must fail"
    mapfile -t envs < <(expect_env "$cpu")
    if with_debian_rust env CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$(runner "$cpu")" "${envs[@]}" \
        cargo test --quiet "${broken[@]}" kernels::gemm_i8 >"$out" 2>&1; then
        cat "$out"
        log "the tests PASSED with a broken NEON kernel: they do not cover it"
        return 1
    fi
    grep -E "^test .* FAILED$|^test result:" "$out" | sed 's/^/  /'
    # A failure for another reason (a build or runner problem) would prove nothing: it must be the
    # comparison of the NEON path with the reference.
    if ! grep -qE "^assertion .* failed: neon[ :]" "$out"; then
        cat "$out"
        log "the failure does not name the NEON path"
        return 1
    fi
    log "as intended, the broken NEON kernel fails the tests (log: $out)"
}

# Debian's python3.11 for arm64, unpacked (not installed) into a sysroot that qemu uses as its root
# for absolute paths (-L): the interpreter, its stdlib and the libraries it links.
ARM64_PY_DEBS=(
    libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 libbz2-1.0 liblzma5 libffi8 libssl3 libsqlite3-0
    libuuid1 libncursesw6 libtinfo6 libreadline8 libcrypt1 libdb5.3 libnsl2 libtirpc3 libgssapi-krb5-2
    libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1
    libpython3.11-minimal libpython3.11-stdlib python3.11-minimal python3.11
)

ensure_sysroot() {
    local want
    want="$(printf '%s:arm64\n' "${ARM64_PY_DEBS[@]}")"
    if [ -f "$SYSROOT/.packages" ] && [ "$(cat "$SYSROOT/.packages")" = "$want" ]; then
        return 0
    fi
    ensure_cross_toolchain # arm64 is a dpkg architecture from here on
    log "unpacking Debian's python3.11 (arm64) into $SYSROOT"
    rm -rf "$SYSROOT" "$CROSS/debs"
    mkdir -p "$SYSROOT" "$CROSS/debs"
    local sandbox=()
    [ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root) # apt's _apt user cannot write here
    # shellcheck disable=SC2046
    (cd "$CROSS/debs" && apt-get download -qq "${sandbox[@]}" $(echo "$want") >/dev/null) || {
        apt_update_once # package lists missing or stale
        (cd "$CROSS/debs" && apt-get download -qq "${sandbox[@]}" $(echo "$want") >/dev/null)
    }
    local deb
    for deb in "$CROSS"/debs/*.deb; do dpkg-deb -x "$deb" "$SYSROOT"; done
    echo "$want" >"$SYSROOT/.packages"
}

# A venv of the emulated interpreter whose `python` is a host shell script starting it under qemu.
# qemu's -0 sets the guest's argv[0] to that script, so sys.executable names it too: pip's entry
# point scripts and tests that start `sys.executable` in a subprocess run emulated as well, with no
# binfmt_misc registration (CI containers rarely have one). QEMU_CPU picks the emulated CPU.
ensure_emulated_venv() {
    ensure_sysroot
    if [ -x "$EMU_VENV/bin/python" ] && [ -f "$EMU_VENV/.sysroot" ] &&
        [ "$(cat "$EMU_VENV/.sysroot")" = "$(cat "$SYSROOT/.packages")" ]; then
        return 0
    fi
    log "creating the emulated venv $EMU_VENV"
    rm -rf "$EMU_VENV"
    QEMU_CPU=max "$QEMU" -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11" -m venv --without-pip "$EMU_VENV"
    local name
    for name in python python3 python3.11; do
        rm -f "$EMU_VENV/bin/$name"
        printf '#!/bin/sh\nexec "%s" -L "%s" -0 "$0" "%s" "$@"\n' "$QEMU" "$SYSROOT" "$SYSROOT/usr/bin/python3.11" \
            >"$EMU_VENV/bin/$name"
        chmod +x "$EMU_VENV/bin/$name"
    done
    cat "$SYSROOT/.packages" >"$EMU_VENV/.sysroot"
}

# What a wheel requires, with the given extras (e.g. "[test]"), one requirement a line: its METADATA.
wheel_requirements() {
    "$PYTHON" - "$1" "${2:-}" <<'EOF'
import re, sys, zipfile
wheel, extras = sys.argv[1], set(re.findall(r"[\w-]+", sys.argv[2]))
with zipfile.ZipFile(wheel) as z:
    meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
for line in meta.splitlines():
    if line.startswith("Requires-Dist:"):
        req, _, marker = line.split(":", 1)[1].partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)", marker)
        if not marker.strip() or (extra and extra.group(1) in extras):
            print(req.strip())
EOF
}

# The emulated venv's dependencies (pip itself, numpy, pillow, rich, the test extras: pytest,
# hypothesis, real ncnn) as PyPI's aarch64 wheels for CPython 3.11, installed by the host's pip: the
# same files the emulated pip would pick, without minutes of resolving and byte-compiling under qemu.
install_emulated_deps() {
    local wheel=$1 extras=$2 reqs minor platforms=()
    reqs="$(printf 'pip\n'; wheel_requirements "$wheel" "$extras")"
    [ -f "$EMU_VENV/.deps" ] && [ "$(cat "$EMU_VENV/.deps")" = "$reqs" ] && return 0
    for minor in $(seq 17 36); do platforms+=(--platform "manylinux_2_${minor}_aarch64"); done # Debian 12: glibc 2.36
    log "pip install (the host's pip, aarch64 wheels) into $EMU_VENV: $(echo "$reqs" | tr '\n' ' ')"
    mapfile -t reqs_array <<<"$reqs"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-compile --upgrade \
        --target "$EMU_VENV/lib/python3.11/site-packages" --only-binary=:all: "${platforms[@]}" \
        --implementation cp --python-version 3.11 --abi cp311 "${reqs_array[@]}"
    echo "$reqs" >"$EMU_VENV/.deps"
}

# pip-installs a wheel (this very file, even when its version did not change) with its dependencies
# and the given extras, e.g. "[test]". Into the emulated venv, the emulated pip installs the wheel
# itself, offline: it resolves the requirements against what install_emulated_deps put there.
install_wheel() {
    local py=$1 wheel=$2 extras=${3:-} stamp
    stamp="$(sha256sum "$wheel" | cut -c1-16)$extras"
    [ -f "$py.wheel" ] && [ "$(cat "$py.wheel")" = "$stamp" ] && return 0
    if [ "$py" = "$EMU_VENV/bin/python" ]; then
        install_emulated_deps "$wheel" "$extras"
        log "pip install $(basename "$wheel")$extras into $EMU_VENV (the emulated pip, offline)"
        # An earlier wheel of the same version would be kept.
        [ -f "$py.wheel" ] && QEMU_CPU=max "$py" -m pip uninstall --quiet --yes ncnnq
        QEMU_CPU=max "$py" -m pip install --quiet --disable-pip-version-check --no-index --no-compile "$wheel$extras"
    else
        log "pip install $(basename "$wheel")$extras into $(dirname "$(dirname "$py")")"
        [ -f "$py.wheel" ] && "$py" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
        "$py" -m pip install --quiet --disable-pip-version-check "$wheel$extras"
    fi
    echo "$stamp" >"$py.wheel"
}

python_tests() {
    local wheel
    wheel="$(aarch64_wheel)"
    ensure_emulated_venv
    local py="$EMU_VENV/bin/python"
    install_wheel "$py" "$wheel" "[test]"
    QEMU_CPU=max "$py" - "$EMU_VENV" <<'EOF'
import platform, sys, ncnnq
assert platform.machine() == "aarch64", platform.machine()
assert ncnnq.__file__.startswith(sys.argv[1]), f"testing {ncnnq.__file__}, not the installed wheel"
print(f"  emulated CPython {platform.python_version()} on {platform.machine()}: ncnnq from {ncnnq.__file__}")
EOF
    # The entry point script pip made (its #! names the venv's python), as on a board.
    log "ncnnq info (emulated, -cpu max)"
    QEMU_CPU=max COLUMNS=120 "$EMU_VENV/bin/ncnnq" info
    # Only the modules that mark tests: collecting all of tests/ takes ~15 s under qemu.
    local cpu status=0 files
    mapfile -t files < <(grep -l "mark\.emulated" tests/test_*.py)
    for cpu in "${CPUS[@]}"; do
        log "pytest -m emulated under qemu -cpu $cpu (${files[*]})"
        mapfile -t envs < <(expect_env "$cpu")
        env QEMU_CPU="$cpu" "${envs[@]}" "$py" -m pytest -q -p no:cacheprovider -m emulated "${files[@]}" || status=1
        QEMU_CPU="$cpu" "$py" -c 'import ncnnq, json; i = ncnnq.kernel_info()
print("  [%s] wheel features %s, paths %s" % ("'"$cpu"'", i["features"], {f: d["chosen"] for f, d in i["families"].items()}))'
    done
    return $status
}

parity() {
    local x86 arm
    x86="$(x86_64_wheel)"
    arm="$(aarch64_wheel)"
    ensure_emulated_venv
    if [ ! -x "$X86_VENV/bin/python" ]; then
        "$PYTHON" -m venv "$X86_VENV"
    fi
    install_wheel "$X86_VENV/bin/python" "$x86"
    install_wheel "$EMU_VENV/bin/python" "$arm" "[test]"
    local out="$CROSS/parity"
    mkdir -p "$out"
    log "ncnnq table, int8 and runs on the x86_64 wheel"
    "$X86_VENV/bin/python" scripts/arch_parity.py dump "$out/x86_64.json"
    log "ncnnq table, int8 and runs on the aarch64 wheel (emulated, -cpu max)"
    QEMU_CPU=max "$EMU_VENV/bin/python" scripts/arch_parity.py dump "$out/aarch64.json"
    "$X86_VENV/bin/python" scripts/arch_parity.py compare "$out/x86_64.json" "$out/aarch64.json"
}

# Each step runs as its own process: `set -e` does not apply inside a function called from `||`.
if [ "${1:-}" = --step ]; then
    "$2"
    exit
fi
steps=("$@")
[ ${#steps[@]} = 0 ] && steps=(rust broken python parity)
status=0
for s in "${steps[@]}"; do
    case "$s" in
    rust) step=rust_tests ;;
    broken) step=broken_neon ;;
    python) step=python_tests ;;
    parity) step=parity ;;
    *)
        echo "unknown step $s (rust, broken, python, parity)" >&2
        exit 2
        ;;
    esac
    start=$SECONDS
    if "$0" --step "$step"; then
        log "$s: passed in $((SECONDS - start))s"
    else
        log "$s: FAILED after $((SECONDS - start))s"
        status=1
    fi
done
exit $status
