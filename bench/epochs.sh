#!/usr/bin/env bash
# Epoch times of the four presets (54,000 training images, batch 128, Adam), as in the README's
# speed table: median of epochs 2..N of history.csv's `seconds` (validation included).
#
#   bench/epochs.sh            # 3 epochs each, all cores
#   EPOCHS=4 THREADS=2 bench/epochs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
epochs=${EPOCHS:-3}
threads=${THREADS:-$(nproc)}
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
echo "| model | epoch (median of 2..$epochs) | test accuracy after $epochs epochs |"
echo "|---|---|---|"
for model in linear mlp cnn cnn-bn; do
  target/release/mnistlab --threads "$threads" train --model "$model" --epochs "$epochs" \
    --logdir "$logdir" --no-histograms > "$logdir/$model.log"
  python3 - "$logdir/$model-0" "$model" <<'PY'
import json, statistics, sys
rows = [l.split(",") for l in open(sys.argv[1] + "/history.csv").read().split()[1:]]
median = statistics.median(float(r[6]) for r in rows[1:])
acc = json.load(open(sys.argv[1] + "/results.json"))["test_accuracy"]
print(f"| {sys.argv[2]} | {median:.2f} s | {100 * acc:.2f}% |")
PY
done
