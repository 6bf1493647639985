#!/usr/bin/env bash
# The tutorial's accuracy ladder with fixed seeds, on MNIST and Fashion-MNIST.
# Writes a Markdown table (model, epochs, test accuracy, test loss, wall time) to $OUT.
#
#   experiments/accuracy.sh                                   # the whole ladder (about an hour on 2 cores)
#   LOGDIR=/tmp/ladder OUT=/tmp/ladder.md experiments/accuracy.sh
#   STEPS="augment ensemble" LOGDIR=/tmp/ladder experiments/accuracy.sh   # some steps, same log dir
#
# Steps: linear mlp cnn cnn-bn augment fashion ensemble (the tutorial's ladder, the default), and
# beyond it: deep (the cnn-deep recipe on MNIST, each seed of DEEP_SEEDS — default 1-4, about
# 45 minutes each on 2 cores — and the average of them all) and wide (the Fashion-MNIST recipe,
# seeds 1-4, about 50 minutes each, and their average).
# Needs the datasets where mnistlab finds them (MNISTLAB_DATA, the cache, or a download).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/mnistlab
logdir=${LOGDIR:-logs/accuracy-$(date +%Y%m%d-%H%M%S)}
out=${OUT:-$logdir/accuracy.md}
steps=" ${STEPS:-linear mlp cnn cnn-bn augment fashion ensemble} "
mkdir -p "$logdir"
rows=$logdir/rows.md
touch "$rows"

want() { [[ $steps == *" $1 "* ]]; }

# run NAME TUTORIAL-NUMBER ARGS...: trains one model into $logdir/NAME-0, appends its table row.
run() {
  local name=$1 tutorial=$2
  shift 2
  echo "== $name: mnistlab train $*" >&2
  rm -rf "${logdir:?}/$name-0"
  if ! "$bin" train --logdir "$logdir" --name "$name" --no-histograms "$@" > "$logdir/$name.log" 2>&1; then
    echo "$name failed; see $logdir/$name.log" >&2
    exit 1
  fi
  python3 - "$logdir/$name-0/results.json" "$name" "$tutorial" "$*" >> "$rows" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | `{sys.argv[4]}` | {r['epochs']} | {100 * r['test_accuracy']:.2f}% | {r['test_loss']:.4f} | {sys.argv[3]} | {r['seconds'] / 60:.1f} min |")
PY
}

# average NAME PUBLIC-NUMBER MODEL...: tests the average of the models, appends its table row.
average() {
  local name=$1 public=$2
  shift 2
  "$bin" ensemble "$@" --json > "$logdir/$name.json"
  python3 - "$logdir/$name.json" "$name" "$public" >> "$rows" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
m = len(e["models"])
print(f"| {sys.argv[2]} ({m} models) | `mnistlab ensemble …` | – | {100 * e['ensemble']['accuracy']:.2f}% | {e['ensemble']['loss']:.4f} | {sys.argv[3]} | – |")
PY
}

bn=(--model cnn-bn --normalize standardize-global --schedule cosine)
want linear && run linear "92.4%" --model linear --normalize standardize --epochs 20 --seed 1
want mlp && run mlp-dropout "97.37%" --model mlp --dropout 0.2 --schedule cosine --epochs 20 --seed 1
want cnn && run cnn-dropout "99.2%" --model cnn --dropout 0.5 --schedule cosine --epochs 20 --seed 1
want cnn-bn && run cnn-bn "99.2%" "${bn[@]}" --epochs 15 --seed 1
if want augment; then
  for seed in 1 2 3 4; do
    run "cnn-bn-augment-s$seed" "99.5%" "${bn[@]}" --augment --epochs 15 --seed "$seed"
  done
fi
want fashion && run fashion-cnn-bn-augment "(small CNNs 91.6–93.4%)" "${bn[@]}" --augment --epochs 15 --seed 1 --dataset fashion-mnist
want ensemble && average ensemble-cnn-bn-augment "99.68% (loss 0.0105)" \
  "$logdir"/cnn-bn-augment-s{1,2,3,4}-0/best_model.safetensors
# Beyond the tutorial: the all-convolutional recipe (rotation 15°, zoom 0.15, shift 0.1, the rate
# ×0.95 per epoch, 35 epochs), each seed, then the average of them all.
deep=(--model cnn-deep --normalize standardize-global --augment --rotation 15 --zoom 0.15 --shear 0
      --shift 0.1 --schedule exp:0.95 --epochs 35)
if want deep; then
  members=()
  for seed in ${DEEP_SEEDS:-1 2 3 4}; do
    run "cnn-deep-s$seed" "(public: 99.65% mean)" "${deep[@]}" --seed "$seed"
    members+=("$logdir/cnn-deep-s$seed-0/best_model.safetensors")
  done
  average ensemble-deep "(public: 99.74% for 15)" "${members[@]}"
fi
# Fashion-MNIST: a wider VGG-style network (872,426 parameters), horizontal flips, shifts of ±10%,
# random erasing, label smoothing 0.1 and OneCycle to 2e-3 over 60 epochs.
wide=(--dataset fashion-mnist --normalize standardize-global
      --arch 32C3-BN-ReLU-32C3-BN-ReLU-MP2-Drop0.25-64C3-BN-ReLU-64C3-BN-ReLU-MP2-Drop0.25-F-D256-BN-ReLU-Drop0.5-D10
      --augment --rotation 0 --zoom 0 --shear 0 --shift 0.1 --flip --erase 0.5 --label-smoothing 0.1
      --lr 0.002 --schedule onecycle --epochs 60)
if want wide; then
  for seed in 1 2 3 4; do
    run "fashion-wide-s$seed" "(small CNNs 92.5–93.5%)" "${wide[@]}" --seed "$seed"
  done
  average ensemble-fashion-wide "(goal: 94.0%)" "$logdir"/fashion-wide-s{1,2,3,4}-0/best_model.safetensors
fi

{
  echo "| step | command (mnistlab train …) | epochs | test accuracy | test loss | tutorial | wall time |"
  echo "|---|---|---|---|---|---|---|"
  cat "$rows"
} > "$out"
cat "$out"
