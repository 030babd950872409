#!/bin/sh
# Entry point of the README's two commands on a fresh Debian 12 machine:
#   ./build.sh demo   install what is missing, build, run the main job
#   ./build.sh test   install what is missing, build, run every test
# It only makes sure `make` exists; the Makefile does the rest.
set -eu
cd "$(dirname "$0")"
if ! command -v make >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { echo "build.sh: make is missing; run as root" >&2; exit 2; }
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends make
fi
exec make "$@"
