#!/usr/bin/env bash
# Install the Debian packages oneroof needs, if any is missing. Called by
# `make test`, `make bench` and .ci/run, so a fresh machine needs nothing else.
set -euo pipefail
need=(build-essential nasm libcmocka-dev pkg-config gnuplot-nox qemu-system-x86
      python3 valgrind clang libclang-rt-14-dev linux-perf)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages: ${missing[*]}" >&2
	echo "deps: run as root, or: apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
