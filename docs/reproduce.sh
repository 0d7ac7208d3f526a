#!/usr/bin/env bash
# Reproduce REPRODUCTION.md's experiments on a CPU (2 cores): runs under runs/repro,
# figures under docs/figures.  Each experiment is one block; run them all with
#   bash docs/reproduce.sh [1 2 3 4 5 6]
# 5 and 6 are issue 15's transition study (parts 1 and 2; part 3 reads part 2).
set -euo pipefail
cd "$(dirname "$0")/.."
G=${GLASSLAB:-.venv/bin/glasslab}
OUT=${OUT:-runs/repro}
FIG=docs/figures
mkdir -p "$OUT" "$FIG"
last() { ls -td "$OUT"/$1-*.zarr | head -1; }
want() { [ $# -eq 0 ] || [[ " ${SELECTED} " == *" $1 "* ]]; }
SELECTED="${*:-1 2 3 4 5 6}"
PY=${PYTHON:-.venv/bin/python}

if want 1; then  # over-parametrised toy model on Fashion-MNIST
  $G run fmnist-toy-over --no-ui --out "$OUT"
  $G analyze "$(last fmnist-toy-over)" --json > "$OUT/exp1.json" --png "$FIG/exp1-over.png"
fi
if want 2; then  # under-parametrised toy model, same data and dynamics
  $G run fmnist-toy-under --no-ui --out "$OUT"
  $G analyze "$(last fmnist-toy-under)" --json > "$OUT/exp2.json" --png "$FIG/exp2-under.png"
  $G overlay "$(last fmnist-toy-over)" "$(last fmnist-toy-under)" --png "$FIG/exp12-overlay.png" --tw 100
fi
if want 3; then  # SGD vs GD vs Langevin at two temperatures
  for p in noise-sgd noise-gd noise-langevin-lo noise-langevin-hi; do
    $G run $p --no-ui --out "$OUT"
    $G analyze "$(last $p)" --json > "$OUT/exp3-$p.json"
  done
  $G overlay "$(last noise-sgd)" "$(last noise-gd)" "$(last noise-langevin-lo)" "$(last noise-langevin-hi)" \
    --png "$FIG/exp3-noise.png" --tw 100
fi
if want 4; then  # [KWJ24]: Langevin from a trained minimum at four temperatures
  $G run noise-sgd --no-ui --out "$OUT/kwj24" --set run.name=minimum
  MIN=$(ls -td "$OUT"/kwj24/minimum-*.zarr | head -1)
  runs=()
  for T in 1e-10 1e-9 1e-8 1e-7; do
    $G run kwj24-langevin --no-ui --out "$OUT/kwj24" --init-from "$MIN" \
      --set dynamics.temperature=$T --set run.name=kwj24-T$T
    r=$(ls -td "$OUT"/kwj24/kwj24-T$T-*.zarr | head -1)
    $G analyze "$r" --json > "$OUT/exp4-T$T.json"
    runs+=("$r")
  done
  $G overlay "${runs[@]}" --png "$FIG/exp4-kwj24.png" --tw 1
fi
if want 5; then  # issue 15 part 1: the jamming line ([SG19]), 10 widths x 3 seeds, GD
  rm -rf "$OUT/transition-jamming"
  $G sweep presets/transition-jamming.toml --parallel 2 --out "$OUT/transition-jamming"
  $G analyze "$OUT/transition-jamming" --png "$FIG/transition-jamming-ensemble.png" > "$OUT/transition-jamming.txt"
  $PY docs/transition_study.py jamming "$OUT/transition-jamming" --png "$FIG/transition-jamming.png" \
    --json "$OUT/transition-jamming.json"
fi
if want 6; then  # issue 15 part 2: aging across the line ([BJ18]), 7 widths x 3 seeds, 150,000 SGD steps
  rm -rf "$OUT/transition-aging"
  $G sweep presets/transition-aging.toml --parallel 2 --out "$OUT/transition-aging"
  $G analyze "$OUT/transition-aging" --png "$FIG/transition-aging-ensemble.png" > "$OUT/transition-aging.txt"
  $PY docs/transition_study.py aging "$OUT/transition-aging" --png "$FIG/transition-aging.png" \
    --curves-png "$FIG/transition-aging-curves.png" --json "$OUT/transition-aging.json"
fi
