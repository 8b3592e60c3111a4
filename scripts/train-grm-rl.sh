#!/usr/bin/env bash
# SPCT stage two for the generative judge, after scripts/train-grm.sh (stage one):
#   rule-based GRPO from the RFT judge (weights/grm-judge.gguf) -> a meta reward model trained on
#   the GRPO judge's own sampled judgements.
# Outputs: $GRM_RUN/grpo.gguf (the RL judge) and $GRM_RUN/meta.gguf (the meta RM), copied to
# weights/grm-judge-grpo.gguf and weights/grm-meta.gguf, and their evaluations. Seeds are fixed.
#
# As in stage one, every stage writes atomically, is skipped when its output exists, and resumes
# from its checkpoint (GRPO) or its saved judgements (the meta RM) when cut short: run it again to
# continue. Each stage is sized to finish inside about 90 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/stages.sh
. scripts/stages.sh
JUDGE=${GRM_JUDGE:-weights/grm-judge.gguf}
export GRM_BUFFER_CACHE_MB=${GRM_BUFFER_CACHE_MB:-12000}

# GRPO: 40 steps of 4 items x 4 judgements (about 1.6 min a step on 2 cores, measured in the smoke run).
[ -f "$R/grpo-items.jsonl" ] || stage grpo-items $G data synth --n 400 --seed 3 --split train --out "$R/grpo-items.jsonl"
# shellcheck disable=SC2046
[ -f "$R/grpo.gguf" ] || stage grpo $G spct grpo --model "$MODEL" --lora "$JUDGE" --data "$R/grpo-items.jsonl" \
    --out "$R/grpo.gguf" --group 4 --items-per-step 4 --steps 40 --max-tokens 200 --lr 2e-5 --beta 0.08 --seed 1 \
    --checkpoint "$R/grpo.ckpt.gguf" --save-every 5 $(resume "$R/grpo.ckpt.gguf")
# The meta RM: 8 judgements on each of 150 fresh training items, sampled by the GRPO judge.
[ -f "$R/meta-items.jsonl" ] || stage meta-items $G data synth --n 150 --seed 4 --split train --out "$R/meta-items.jsonl"
[ -f "$R/meta.gguf" ] || stage metarm $G spct metarm --model "$MODEL" --lora "$R/grpo.gguf" --data "$R/meta-items.jsonl" \
    --out "$R/meta.gguf" --samples 8 --temperature 0.5 --max-tokens 256 --seed 1 \
    --trajectories "$R/meta.trajectories.jsonl"
[ -f "$R/test.jsonl" ] || stage test-items $G data synth --n 100 --seed 7 --split test --out "$R/test.jsonl"
# The RL judge on the 80 test items and on the 24 hand-written unseen pairs, as the RFT judge was
# (same seed, orders and budget), with voting and the meta RM choosing the half it votes with.
[ -f "$R/eval-grpo.json" ] || stage eval-grpo $G eval --model "$MODEL" --lora "$R/grpo.gguf" --meta "$R/meta.gguf" \
    --data "$R/test.jsonl" --limit 80 --k 1,2,4,8,16 --orders 2 --max-tokens 256 --batch-items 8 --seed 3 \
    --out "$R/eval-grpo.json"
[ -f "$R/eval-grpo-unseen.json" ] || stage eval-grpo-unseen $G eval --model "$MODEL" --lora "$R/grpo.gguf" \
    --meta "$R/meta.gguf" --data examples/unseen-chat.jsonl --k 1,8 --orders 2 --max-tokens 256 --batch-items 8 --seed 3 \
    --out "$R/eval-grpo-unseen.json"
for f in grpo:grm-judge-grpo meta:grm-meta; do
    cp "$R/${f%%:*}.gguf" "weights/${f#*:}.gguf.tmp" && mv "weights/${f#*:}.gguf.tmp" "weights/${f#*:}.gguf"
done
sha256sum weights/grm-judge-grpo.gguf weights/grm-meta.gguf
