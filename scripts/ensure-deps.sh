#!/bin/sh
# Installs the Debian packages the build and the tests need, and only those missing.
# Quiet when nothing is missing. Uses sudo only when not root and sudo exists.
set -eu

# `ensure-deps.sh build`: only what building needs (make run); `ensure-deps.sh bench`: that
# and the peers `make bench` compares against (never needed by a test); no argument:
# everything the tests need too (make test).
BUILD_PACKAGES="gcc make libc6-dev"
BENCH_PACKAGES="microsocks dante-server strace"
TEST_PACKAGES="clang libclang-rt-14-dev clang-format valgrind curl python3 python3-pytest \
python3-socks python3-dnslib iproute2 procps util-linux \
microsocks tinyproxy openssh-server openssh-client \
musl-tools systemd chromium python3-prometheus-client \
mingw-w64 wine wine64"
PACKAGES="$BUILD_PACKAGES"
case "${1:-}" in
build) ;;
bench) PACKAGES="$PACKAGES $BENCH_PACKAGES" ;;
*) PACKAGES="$PACKAGES $TEST_PACKAGES" ;;
esac

missing=""
for p in $PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "ensure-deps: missing packages:$missing; run as root (or install sudo) to install them" >&2
    exit 1
fi

echo "ensure-deps: installing:$missing" >&2
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
