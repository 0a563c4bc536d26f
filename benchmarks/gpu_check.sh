#!/usr/bin/env bash
# The GPU check of issue 15, one script (≤ 8 minutes on one H200), run from the checkout's root:
#     OUT=/path/to/results bash benchmarks/gpu_check.sh
# It writes at most 8 files to $OUT (default gpu_check/):
#   train_step.txt/.jsonl  paper512 and paper1024hd: s/iteration and max_memory_allocated for ref, fp32, bf16, bf16+ckpt,
#                          bf16+cl, bf16+compile, fp16 (+GradScaler), FLOPs and the share of the chip's measured bf16 matmul peak
#   loader.txt             items/s per worker core, both on-disk layouts at 2048×1024 and ToyStreets
#   toy1024.txt            a 200-iteration ToyStreets run at 1024×512 (precision auto, a worker per core): s/it and the
#                          share of each logging interval spent waiting for data; iter_0000200.png: its sample grid
#   torchrun.txt           torchrun --nproc_per_node 1 with NCCL, 20 iterations
#   tests.txt              the CUDA-relevant tests and the notebooks' `#| cuda` cells (pytest --flags cuda)
#   norm_layout.txt        G1 forward+backward in bf16 with channels-last and three instance norms (norm_layout.py)
# With PIX2PIXHD_REF set to a checkout of the official code (carry one: git clone github.com/NVIDIA/pix2pixHD), the
# official networks and iteration join train_step.txt as the baseline (setting `official`).
# QUICK=1 DEVICE=cpu runs the same steps at toy sizes, to check the script itself on a machine without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check}; DEVICE=${DEVICE:-cuda}; QUICK=${QUICK:-0}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
t0=$(date +%s)
step() { echo "::: $1 ($(( $(date +%s) - t0 )) s in)"; }
status=0
logged() {  # logged FILE command...: run it, its output to the screen and FILE; a failure is reported and remembered
  local f=$1; shift
  "$@" 2>&1 | tee "$f"; local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || { echo "FAILED ($rc): $*"; status=1; }
}
if [ "$QUICK" = 1 ]; then
  configs="toy"; settings="ref fp32 bf16"; iters=4; size=256; tests="tests/test_trainer_options.py"; loader_n=2
else
  configs="paper512 paper1024hd"; settings="ref fp32 bf16 bf16+ckpt bf16+cl bf16+compile fp16"; iters=200; size=1024
  tests="tests/test_networks.py tests/test_trainer_options.py tests/test_train.py tests/test_widgets.py tests/test_notebooks.py"; loader_n=8
fi
cores=$(nproc)
[ -n "${PIX2PIXHD_REF:-}" ] && settings="official $settings"

step "one training iteration per setting"
logged "$OUT/train_step.txt" timeout 240 python benchmarks/train_step.py --device "$DEVICE" --configs $configs --settings $settings \
  --steps 3 --warmup 2 --threads "$cores" --out "$OUT/train_step.jsonl"

step "channels-last and instance norm"
if [ "$QUICK" = 1 ]; then nl_args="--size 64 32 --ngf 8 --rounds 2"; else nl_args="--size 1024 512 --ngf 64 --rounds 5"; fi
logged "$OUT/norm_layout.txt" timeout 60 python benchmarks/norm_layout.py --device "$DEVICE" $nl_args

step "the data loader, per worker core"
logged "$OUT/loader.txt" timeout 45 python benchmarks/loader.py --n "$loader_n" --rounds 2

step "ToyStreets at ${size}x$((size / 2)), $iters iterations"
logged "$OUT/toy1024.txt" timeout 90 python -m pix2pixhd.train --preset toy --loadSize "$size" --max_iters "$iters" --display_freq "$iters" \
  --print_freq $((iters / 4)) --precision auto --nThreads "$cores" --device "$DEVICE" --checkpoints_dir "$OUT/ck" \
  --name toy1024 --no_progress
cp "$OUT/ck/toy1024/samples/iter_$(printf %07d "$iters").png" "$OUT/" 2>/dev/null || { echo "FAILED: no sample grid"; status=1; }

step "torchrun, one process"
logged "$OUT/torchrun.txt" timeout 60 python -m torch.distributed.run --standalone --nproc_per_node 1 -m pix2pixhd.train \
  --preset toy --max_iters 20 --checkpoints_dir "$OUT/ck" --name torchrun --no_progress --print_freq 10

step "tests and the notebooks' cuda cells"
logged "$OUT/tests.txt" timeout 120 python -m pytest -q $tests --flags cuda -k "not browser"

rm -rf "$OUT/ck"
step "done (status $status)"
exit $status
