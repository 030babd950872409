#!/usr/bin/env bash
# Installs the Debian 12 packages skbpf needs (only those missing), then
# configures and builds with meson/ninja.
#   scripts/setup.sh [--no-build] [BUILD_DIR] [extra meson options...]
# docs/dependencies.md says why each package is here.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build
  meson ninja-build pkg-config g++ make
  # libraries
  libdpdk-dev dpdk libasmjit-dev libbpf-dev libelf-dev zlib1g-dev libpcap-dev libtbb-dev
  libyaml-cpp-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev python3-scapy
  # dpdk-testpmd (the benchmarks' forwarding peer) and dpdk-telemetry.py
  # (tests/netns_test.cpp reads the switch's telemetry); tshark reads captures
  dpdk-dev tshark
  # jq: the bench scripts read skbpf's --json output with it; bc: their ratios
  jq bc
  # bpftool: bench/map_dump_bench.sh's peer (the kernel's map dump of the same map)
  bpftool
  # BPF toolchains: clang 14 (Debian's default) and clang-19 for -mcpu=v4
  clang-14 llvm-14 clang-19 llvm-19 lld-19
  # plain `clang` (Debian's default, 14): what the README's replay walkthrough
  # and users type (tests/readme_replay_test.sh runs it)
  clang
  # libFuzzer's runtime for clang++-14 (tests/fuzz/run_elf_fuzz.sh); only
  # recommended by clang-14, so not pulled in with --no-install-recommends
  libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages and not root; run as root or install: ${missing[*]}" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

build_all=1
if [ "${1:-}" = "--no-build" ]; then
  build_all=0  # configure only; the caller builds the targets it needs
  shift
fi
build=${1:-build}
shift || true
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$@"
fi
if [ "$build_all" = 1 ]; then
  ninja -C "$build"
fi
