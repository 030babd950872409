#!/bin/sh
# Builds the JIT-vs-interpreter differential libFuzzer target with clang++
# (the project itself builds with g++, whose sanitizers have no libFuzzer)
# and runs it briefly. Exit status 0: no finding; non-zero: a difference
# between the engines, a refused program, a crash, sanitizer report, leak or
# timeout (the reproducer is left in OUT_DIR/artifacts/), or the fuzzer
# could not be built.
#
#   jit/tests/fuzz/run_jit_fuzz.sh SOURCE_ROOT OUT_DIR [SECONDS]
#
# The binary is rebuilt when a source or header is newer than it or the set
# of jit/src/*.cpp changed. Needs clang++-14 (or $CLANGXX) and its libFuzzer
# runtime (Debian: libclang-rt-14-dev), asmjit and fmt.
set -eu

src=${1:?source root}
out=${2:?output directory}
seconds=${3:-20}
cxx=${CLANGXX:-clang++-14}

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "run_jit_fuzz: $cxx not found; install clang-14 and libclang-rt-14-dev (scripts/setup.sh)" >&2
  exit 1
fi

mkdir -p "$out/artifacts" "$out/corpus" "$out/obj"
bin="$out/jit_diff_fuzz"
# All of jit/src by a glob (the JIT is split into several files); of the vm,
# what the engines need (not the ELF loader).
sources="$src/jit/tests/fuzz/jit_diff_fuzz.cpp $src/vm/src/insn.cpp $src/vm/src/program.cpp
  $src/vm/src/interpreter.cpp $src/vm/src/interpreter_decode.cpp $src/vm/src/disasm.cpp
  $(ls "$src"/jit/src/*.cpp)"

rebuild=0
[ -x "$bin" ] || rebuild=1
# One file a line (word splitting of $sources is wanted here).
# shellcheck disable=SC2086
list=$(printf '%s\n' $sources)
if [ "$list" != "$(cat "$out/sources" 2>/dev/null)" ]; then rebuild=1; fi
if [ "$rebuild" = 0 ] &&
   [ -n "$(find "$src/jit/src" "$src/jit/include" "$src/jit/tests/prog_gen.h" \
             "$src/jit/tests/fuzz" "$src/vm/src" "$src/vm/include" "$0" -newer "$bin" 2>/dev/null)" ]; then
  rebuild=1
fi
if [ "$rebuild" = 1 ]; then
  echo "run_jit_fuzz: building $bin with $cxx"
  rm -f "$out"/obj/*.o
  # -O1 and one compiler process per file in parallel: this is the slow part.
  pids=""
  objs=""
  for f in $sources; do
    o="$out/obj/$(basename "$(dirname "$f")")_$(basename "$f" .cpp).o"
    objs="$objs $o"
    "$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
      -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
      -I"$src/vm/include" -I"$src/vm/src" -I"$src/jit/include" -I"$src/jit/src" -c "$f" -o "$o" &
    pids="$pids $!"
  done
  status=0
  for p in $pids; do wait "$p" || status=1; done
  if [ "$status" != 0 ]; then
    echo "run_jit_fuzz: compiling the fuzzer failed" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  if ! "$cxx" -fsanitize=fuzzer,address,undefined $objs -lasmjit -lfmt -o "$bin.tmp"; then
    echo "run_jit_fuzz: linking failed (is libclang-rt-14-dev, libFuzzer's runtime, installed?)" >&2
    exit 1
  fi
  mv "$bin.tmp" "$bin"
  printf '%s\n' "$list" >"$out/sources"
fi

# A few random seeds the first time (any input makes a program; longer ones
# make bigger programs than libFuzzer's first short inputs would).
if [ -z "$(ls -A "$out/corpus")" ]; then
  for i in 1 2 3 4 5 6 7 8; do
    head -c $((i * 128)) /dev/urandom >"$out/corpus/seed$i"
  done
fi

# New inputs go to OUT_DIR/corpus (kept between runs).
echo "run_jit_fuzz: fuzzing for ${seconds}s"
exec "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$out/artifacts/" "$out/corpus"
