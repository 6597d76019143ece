#!/usr/bin/env bash
# Fills the fuzz corpora from test-data/ (run from anywhere; needs a release build of the
# custody binary, which it makes).
set -euo pipefail
cd "$(dirname "$0")"
root=../..
cargo build --release --manifest-path "$root/Cargo.toml" -p custody
custody="$root/target/release/custody"
mkdir -p corpus/parse corpus/check_plan corpus/ir_json corpus/verify_plan
for f in "$root"/test-data/programs/*.cdy "$root"/test-data/syntax-errors/*.cdy; do
    cp "$f" corpus/parse/
    cp "$f" corpus/check_plan/
done
for f in "$root"/test-data/programs/*.cdy; do
    name=$(basename "$f" .cdy)
    "$custody" ir --format json "$f" > "corpus/ir_json/$name.json" || rm -f "corpus/ir_json/$name.json"
done
example="$root/test-data/programs/contract_example.cdy"
"$custody" plan "$example" > corpus/verify_plan/inferred.json
"$custody" plan --plan naive "$example" > corpus/verify_plan/naive.json
