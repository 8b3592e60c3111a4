#!/usr/bin/env bash
# SPCT stage one for the generative judge, on the CPU, from the default model:
#   synthetic items -> reference judgements -> cold-start LoRA SFT -> rejective fine-tuning (RFT)
# then copies the RFT adapter to weights/grm-judge.gguf. Seeds are fixed, so a run repeats.
#
# Every stage writes its output atomically and is skipped when that output exists; a training
# stage that was cut short resumes from its checkpoint. Run it again to continue. Each stage's
# wall time is printed (and logged by `make train-grm`). Stage outputs live in $GRM_RUN
# (default runs/grm, git-ignored). Measured times are in docs/spct.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/stages.sh
. scripts/stages.sh
# Training without activation recomputation holds ~11 GB; keep freed buffers for reuse.
export GRM_BUFFER_CACHE_MB=${GRM_BUFFER_CACHE_MB:-12000}

[ -f "$R/train.jsonl" ] || stage items $G data synth --n 720 --seed 1 --split train --out "$R/train.jsonl"
[ -f "$R/cold.jsonl" ] || stage judgements $G data judgements --data "$R/train.jsonl" --out "$R/cold.jsonl"
# shellcheck disable=SC2046
[ -f "$R/cold-start.gguf" ] || stage cold-start $G train sft --model "$MODEL" --data "$R/cold.jsonl" \
    --out "$R/cold-start.gguf" --adapter-type f16 --batch 4 --accum 2 --ctx 1024 --overlong drop --lr 3e-4 \
    --val-fraction 0.02 --eval-every 0 --no-gradient-checkpointing --seed 1 \
    --checkpoint "$R/cold-start.ckpt.gguf" --save-every 10 $(resume "$R/cold-start.ckpt.gguf")
[ -f "$R/rft-items.jsonl" ] || stage rft-items $G data synth --n 150 --seed 2 --split train --out "$R/rft-items.jsonl"
# shellcheck disable=SC2046
[ -f "$R/rft.gguf" ] || stage rft $G spct rft --model "$MODEL" --lora "$R/cold-start.gguf" --data "$R/rft-items.jsonl" \
    --out "$R/rft.gguf" --samples 3 --temperature 1 --max-tokens 256 --hint --seed 1 --lr 1e-4 --batch 4 --accum 2 \
    --checkpoint "$R/rft.ckpt.gguf" --save-every 10 $(resume "$R/rft.ckpt.gguf")
cp "$R/rft.gguf" weights/grm-judge.gguf.tmp && mv weights/grm-judge.gguf.tmp weights/grm-judge.gguf
sha256sum weights/grm-judge.gguf
