#!/usr/bin/env bash
# Runs each fuzz target for a fixed time on a seed corpus made from the
# project's own files, and prints the executions and findings.
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 600 s, source and readers)
# Needs a nightly toolchain and `cargo install cargo-fuzz`. Crashes land in
# fuzz/artifacts/TARGET/; each one found becomes a test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(source readers)
# Seeds: every .pipe file the project has (examples, stdlib, UI cases), and
# its data files with the reader-picking first byte in front.
mkdir -p fuzz/corpus/source fuzz/corpus/readers
find pipelines stdlib tests/ui -name '*.pipe' -print0 | while IFS= read -r -d '' f; do
    cp "$f" "fuzz/corpus/source/$(echo "$f" | tr '/' '_')"
done
seed() { # KIND FILE
    { printf "\\x$(printf %02x "$1")"; head -c 65536 "$2"; } > "fuzz/corpus/readers/$1_$(basename "$2")"
}
for f in data/*.csv tests/ui/run/*.csv; do seed 0 "$f"; done
for f in $(find data tests -name '*.parquet' | head -20); do seed 1 "$f"; seed 2 "$f"; done
for f in $(find tests -name '*.safetensors' | head -10); do seed 3 "$f"; done
for f in $(find tests/data data -name '*.png' | head -40); do seed 4 "$f"; done
# No AddressSanitizer: the code fuzzed is safe Rust, where ASan found
# nothing and cost 3-4x the executions; debug assertions stay on (-a), so
# an integer overflow is a finding.
flags=(-O -a -s none)
cargo +nightly fuzz build "${flags[@]}"
for target in "${targets[@]}"; do
    log="fuzz/${target}.log"
    # Programs are short (the 5 MB case has its own bench); files are not.
    max_len=65536
    [ "$target" = source ] && max_len=8192
    cargo +nightly fuzz run "${flags[@]}" "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        > "$log" 2>&1 || true
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    crashes=$(ls "fuzz/artifacts/$target" 2>/dev/null | wc -l)
    echo "$target: $execs executions in $seconds s, $crashes findings (fuzz/artifacts/$target)"
done
