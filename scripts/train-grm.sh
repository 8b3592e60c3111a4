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

# The judge reads the compact judging prompt (JudgePromptTemplates.compact): under a third of the standard
# instructions' tokens, so an example costs about 400 tokens instead of 650. The adapters record it
# (grm.adapter.judge.template), so `grm eval/score --lora` use it without being told.
T=compact
[ -f "$R/judge-items.jsonl" ] || stage items $G data synth --n 2400 --seed 21 --split train --out "$R/judge-items.jsonl"
[ -f "$R/judge-cold.jsonl" ] || stage judgements $G data judgements --judge-template $T --no-inline-scores \
    --data "$R/judge-items.jsonl" --out "$R/judge-cold.jsonl"
# shellcheck disable=SC2046
[ -f "$R/judge-cold-start.gguf" ] || stage cold-start $G train sft --model "$MODEL" --data "$R/judge-cold.jsonl" \
    --out "$R/judge-cold-start.gguf" --adapter-type f16 --adapter-meta judge.template=$T --steps 200 --batch 4 --accum 2 --ctx 1024 \
    --overlong drop --lr 4e-4 --val-fraction 0.02 --eval-every 0 --no-gradient-checkpointing --seed 1 \
    --checkpoint "$R/judge-cold-start.ckpt.gguf" --save-every 10 $(resume "$R/judge-cold-start.ckpt.gguf")
# The first cold start's judge wrote right analyses under scores of one usual shape (\boxed{1, 10, 3}):
# the second trains on fresh items whose verdicts each end with their score (docs/spct.md).
[ -f "$R/judge-scores-items.jsonl" ] || stage items-2 $G data synth --n 900 --seed 23 --split train \
    --out "$R/judge-scores-items.jsonl"
[ -f "$R/judge-scores.jsonl" ] || stage judgements-2 $G data judgements --judge-template $T \
    --data "$R/judge-scores-items.jsonl" --out "$R/judge-scores.jsonl"
# shellcheck disable=SC2046
[ -f "$R/judge-cold-start-2.gguf" ] || stage cold-start-2 $G train sft --model "$MODEL" --data "$R/judge-scores.jsonl" \
    --init-lora "$R/judge-cold-start.gguf" --out "$R/judge-cold-start-2.gguf" --adapter-type f16 --steps 100 --warmup 5 \
    --batch 4 --accum 2 --ctx 1024 --overlong drop --lr 2e-4 --val-fraction 0.02 --eval-every 0 --no-gradient-checkpointing \
    --seed 2 --checkpoint "$R/judge-cold-start-2.ckpt.gguf" --save-every 10 $(resume "$R/judge-cold-start-2.ckpt.gguf")
# The second cold start's judge still decided right or wrong before writing anything to compare,
# and took the second response as right when it could not tell: the third writes each response's
# claim beside the true one first (--side-by-side; docs/spct.md).
[ -f "$R/judge-compare-items.jsonl" ] || stage items-3 $G data synth --n 1200 --seed 24 --split train \
    --out "$R/judge-compare-items.jsonl"
[ -f "$R/judge-compare.jsonl" ] || stage judgements-3 $G data judgements --judge-template $T --side-by-side \
    --data "$R/judge-compare-items.jsonl" --out "$R/judge-compare.jsonl"
# shellcheck disable=SC2046
[ -f "$R/judge-cold-start-3.gguf" ] || stage cold-start-3 $G train sft --model "$MODEL" --data "$R/judge-compare.jsonl" \
    --init-lora "$R/judge-cold-start-2.gguf" --out "$R/judge-cold-start-3.gguf" --adapter-type f16 --steps 150 --warmup 5 \
    --batch 4 --accum 2 --ctx 1024 --overlong drop --lr 2e-4 --val-fraction 0.02 --eval-every 0 --no-gradient-checkpointing \
    --seed 3 --checkpoint "$R/judge-cold-start-3.ckpt.gguf" --save-every 10 $(resume "$R/judge-cold-start-3.ckpt.gguf")
[ -f "$R/judge-rft-items.jsonl" ] || stage rft-items $G data synth --n 150 --seed 22 --split train --out "$R/judge-rft-items.jsonl"
# shellcheck disable=SC2046
[ -f "$R/judge-rft.gguf" ] || stage rft $G spct rft --model "$MODEL" --lora "$R/judge-cold-start-3.gguf" \
    --data "$R/judge-rft-items.jsonl" --out "$R/judge-rft.gguf" --samples 3 --temperature 1 --max-tokens 256 --hint --seed 1 \
    --lr 1e-4 --batch 4 --accum 2 --checkpoint "$R/judge-rft.ckpt.gguf" --save-every 10 $(resume "$R/judge-rft.ckpt.gguf")
# The RFT judge's verdicts still did not follow its own side-by-side comparisons ("gives 3
# against 1, so it is correct"): the fourth cold start trains it on 3,800 fresh side-by-side
# judgements, about one epoch, with int8 products for the frozen base (docs/spct.md).
[ -f "$R/judge-compare4-items.jsonl" ] || stage items-4 $G data synth --n 3800 --seed 27 --split train \
    --out "$R/judge-compare4-items.jsonl"
[ -f "$R/judge-compare4.jsonl" ] || stage judgements-4 $G data judgements --judge-template $T --side-by-side \
    --data "$R/judge-compare4-items.jsonl" --out "$R/judge-compare4.jsonl"
# shellcheck disable=SC2046
[ -f "$R/judge-cold-start-4.gguf" ] || stage cold-start-4 $G train sft --model "$MODEL" --data "$R/judge-compare4.jsonl" \
    --init-lora "$R/judge-rft.gguf" --out "$R/judge-cold-start-4.gguf" --adapter-type f16 --steps 440 --warmup 5 \
    --batch 4 --accum 2 --ctx 1024 --overlong drop --lr 2e-4 --val-fraction 0.02 --eval-every 0 --no-gradient-checkpointing \
    --activations q8 --seed 4 --checkpoint "$R/judge-cold-start-4.ckpt.gguf" --save-every 10 $(resume "$R/judge-cold-start-4.ckpt.gguf")
# A second round of rejective fine-tuning, from the fourth cold start, on fresh items.
[ -f "$R/judge-rft4-items.jsonl" ] || stage rft-items-2 $G data synth --n 160 --seed 28 --split train \
    --out "$R/judge-rft4-items.jsonl"
# shellcheck disable=SC2046
[ -f "$R/judge-rft-4.gguf" ] || stage rft-2 $G spct rft --model "$MODEL" --lora "$R/judge-cold-start-4.gguf" \
    --data "$R/judge-rft4-items.jsonl" --out "$R/judge-rft-4.gguf" --samples 3 --temperature 1 --max-tokens 384 --hint \
    --seed 1 --lr 1e-4 --batch 4 --accum 2 --activations q8 --kept "$R/judge-rft-4.kept.jsonl" \
    --samples-out "$R/judge-rft-4.samples.jsonl" --checkpoint "$R/judge-rft-4.ckpt.gguf" --save-every 10 \
    $(resume "$R/judge-rft-4.ckpt.gguf")
cp "$R/judge-rft-4.gguf" weights/grm-judge.gguf.tmp && mv weights/grm-judge.gguf.tmp weights/grm-judge.gguf
sha256sum weights/grm-judge.gguf
