#!/bin/sh
# Builds the ELF loader's libFuzzer target with clang++ (the project itself
# builds with g++, whose sanitizers have no libFuzzer) and runs it briefly
# over a seed corpus of compiled test objects. Exit status 0: no finding;
# non-zero: a crash, sanitizer report, leak or timeout (the reproducer is
# left in OUT_DIR/artifacts/), or the fuzzer could not be built.
#
#   tests/fuzz/run_elf_fuzz.sh SOURCE_ROOT OUT_DIR SEED_DIR [SECONDS]
#
# The binary is rebuilt only when a source is newer than it. Needs clang++-14
# (or $CLANGXX) and its libFuzzer runtime (Debian: libclang-rt-14-dev).
set -eu

src=${1:?source root}
out=${2:?output directory}
seeds=${3:?seed corpus directory}
seconds=${4:-20}
cxx=${CLANGXX:-clang++-14}

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "run_elf_fuzz: $cxx not found; install clang-14 and libclang-rt-14-dev (scripts/setup.sh)" >&2
  exit 1
fi

mkdir -p "$out/artifacts" "$out/corpus"
bin="$out/elf_fuzz"
sources="$src/tests/fuzz/elf_fuzz.cpp $src/vm/src/elf_file.cpp $src/vm/src/elf_sections.cpp
  $src/vm/src/elf_object.cpp $src/vm/src/elf_maps.cpp $src/vm/src/elf_line_info.cpp
  $src/vm/src/prog_type.cpp"

rebuild=0
[ -x "$bin" ] || rebuild=1
for f in $sources $src/vm/src/elf_file.h $src/vm/src/elf_loader.h \
         $src/vm/include/skbpf/vm/elf_object.h $src/vm/include/skbpf/vm/elf_sections.h \
         $src/vm/include/skbpf/vm/map_def.h $src/vm/include/skbpf/vm/insn.h "$0"; do
  [ "$rebuild" = 1 ] || [ "$f" -nt "$bin" ] && rebuild=1
done
if [ "$rebuild" = 1 ]; then
  echo "run_elf_fuzz: building $bin with $cxx"
  # -O1 and one compiler process per file in parallel: this is the slow part.
  pids=""
  objs=""
  for f in $sources; do
    o="$out/$(basename "$f" .cpp).o"
    objs="$objs $o"
    "$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
      -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
      -I"$src/vm/include" -I"$src/vm/src" -c "$f" -o "$o" &
    pids="$pids $!"
  done
  status=0
  for p in $pids; do wait "$p" || status=1; done
  if [ "$status" != 0 ]; then
    echo "run_elf_fuzz: compiling the fuzzer failed" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  if ! "$cxx" -fsanitize=fuzzer,address,undefined $objs -lfmt -lelf -lbpf -o "$bin.tmp"; then
    echo "run_elf_fuzz: linking failed (is libclang-rt-14-dev, libFuzzer's runtime, installed?)" >&2
    exit 1
  fi
  mv "$bin.tmp" "$bin"
fi

# New inputs go to OUT_DIR/corpus (kept between runs); the seeds are read only.
echo "run_elf_fuzz: fuzzing for ${seconds}s over $seeds"
exec "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=131072 \
  -print_final_stats=1 -artifact_prefix="$out/artifacts/" "$out/corpus" "$seeds"
