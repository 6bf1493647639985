#!/usr/bin/env bash
# The tutorial's accuracy ladder with fixed seeds, on MNIST and Fashion-MNIST.
# Writes a Markdown table (model, epochs, test accuracy, test loss, wall time) to $OUT.
#
#   experiments/accuracy.sh                                   # the whole ladder (about an hour on 2 cores)
#   LOGDIR=/tmp/ladder OUT=/tmp/ladder.md experiments/accuracy.sh
#   STEPS="augment ensemble" LOGDIR=/tmp/ladder experiments/accuracy.sh   # some steps, same log dir
#
# Steps: linear mlp cnn cnn-bn augment fashion ensemble (the tutorial's ladder, the default), and
# beyond it: deep (the cnn-deep recipe, seeds 1-4, and their average; several hours on 2 cores).
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
if want ensemble; then
  members=("$logdir"/cnn-bn-augment-s{1,2,3,4}-0/best_model.safetensors)
  "$bin" ensemble "${members[@]}" --json > "$logdir/ensemble.json"
  python3 - "$logdir/ensemble.json" >> "$rows" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["ensemble"]
print(f"| ensemble of the 4 augmented cnn-bn | `mnistlab ensemble …` | – | {100 * e['accuracy']:.2f}% | {e['loss']:.4f} | 99.68% (loss 0.0105) | – |")
PY
fi
# Beyond the tutorial: the all-convolutional recipe (rotation 15°, zoom 0.15, shift 0.1, the rate
# ×0.95 per epoch, 35 epochs), each seed, then the average of the four.
deep=(--model cnn-deep --normalize standardize-global --augment --rotation 15 --zoom 0.15 --shear 0
      --shift 0.1 --schedule exp:0.95 --epochs 35)
if want deep; then
  for seed in 1 2 3 4; do
    run "cnn-deep-s$seed" "(public: 99.65% mean)" "${deep[@]}" --seed "$seed"
  done
  members=("$logdir"/cnn-deep-s{1,2,3,4}-0/best_model.safetensors)
  "$bin" ensemble "${members[@]}" --json > "$logdir/ensemble-deep.json"
  python3 - "$logdir/ensemble-deep.json" >> "$rows" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["ensemble"]
print(f"| ensemble of the 4 cnn-deep | `mnistlab ensemble …` | – | {100 * e['accuracy']:.2f}% | {e['loss']:.4f} | (public: 99.74% for 15) | – |")
PY
fi

{
  echo "| step | command (mnistlab train …) | epochs | test accuracy | test loss | tutorial | wall time |"
  echo "|---|---|---|---|---|---|---|"
  cat "$rows"
} > "$out"
cat "$out"
