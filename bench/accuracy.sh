#!/usr/bin/env bash
# The tutorial's accuracy ladder with fixed seeds, on MNIST and Fashion-MNIST.
# Writes a Markdown table (model, epochs, test accuracy, test loss, wall time) to $OUT.
#
#   bench/accuracy.sh            # full ladder (about an hour on 2 cores)
#   LOGDIR=/tmp/ladder OUT=/tmp/ladder.md bench/accuracy.sh
#
# Needs the datasets where mnistlab finds them (MNISTLAB_DATA, the cache, or a download).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/mnistlab
logdir=${LOGDIR:-logs/accuracy-$(date +%Y%m%d-%H%M%S)}
out=${OUT:-$logdir/accuracy.md}
mkdir -p "$logdir"

rows=$logdir/rows.md
: > "$rows"
# run NAME TUTORIAL-NUMBER ARGS...: trains one model, appends its table row, prints its run dir.
run() {
  local name=$1 tutorial=$2
  shift 2
  echo "== $name: mnistlab train $*" >&2
  "$bin" train --logdir "$logdir" --name "$name" --no-histograms "$@" > "$logdir/$name.log"
  local dir
  dir=$(sed -n 's/^Run saved in //p' "$logdir/$name.log")
  python3 - "$dir/results.json" "$name" "$tutorial" "$*" >> "$rows" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | `{sys.argv[4]}` | {r['epochs']} | {100 * r['test_accuracy']:.2f}% | {r['test_loss']:.4f} | {sys.argv[3]} | {r['seconds'] / 60:.1f} min |")
PY
  echo "$dir"
}

common=(--seed 1 --schedule cosine)
bn=(--model cnn-bn --normalize standardize-global "${common[@]}")
run linear "92.4%" --model linear --normalize standardize --epochs 20 --seed 1 > /dev/null
run mlp-dropout "97.37%" --model mlp --dropout 0.2 --epochs 20 "${common[@]}" > /dev/null
run cnn-dropout "99.2%" --model cnn --dropout 0.5 --epochs 15 "${common[@]}" > /dev/null
run cnn-bn "99.2%" "${bn[@]}" --epochs 15 > /dev/null
members=()
for seed in 1 2 3 4; do
  members+=("$(run "cnn-bn-augment-s$seed" "99.5%" "${bn[@]}" --augment --epochs 15 --seed "$seed")/best_model.safetensors")
done
run fashion-cnn-bn-augment "(small CNNs 91.6–93.4%)" "${bn[@]}" --augment --epochs 15 --dataset fashion-mnist > /dev/null

ensemble_json=$("$bin" ensemble "${members[@]}" --json)
ensemble_row=$(python3 -c '
import json, sys
e = json.loads(sys.argv[1])["ensemble"]
print(f"| ensemble of the 4 augmented cnn-bn | `mnistlab ensemble …` | – | {100 * e["accuracy"]:.2f}% | {e["loss"]:.4f} | 99.68% (loss 0.0105) | – |")
' "$ensemble_json")

{
  echo "| step | command (mnistlab train …) | epochs | test accuracy | test loss | tutorial | wall time |"
  echo "|---|---|---|---|---|---|---|"
  cat "$rows"
  echo "$ensemble_row"
} > "$out"
cat "$out"
