#!/usr/bin/env bash
# The scalar and semi-scalar baselines of the DeepSeek-GRM comparison, on the default model:
# 1,000 synthetic training items (2,001 preference pairs) and the judge's 80 test items.
#   scalar, head-only     -> $GRM_RUN/rm-head.gguf   (minutes)
#   scalar, LoRA r16      -> $GRM_RUN/rm-lora.gguf   (4,000 other items, 250 steps: about 50 minutes on 2 idle
#                            cores of the AMX machine; checkpoints, resume; the adapter stored as f16),
#                            copied to weights/grm-rm-scalar.gguf
#   semi-scalar, head-only with the judge as critic -> $GRM_RUN/rm-semi.gguf (critiques of 3,001
#     responses, cached in $GRM_RUN/rm-semi.critiques.jsonl and reused when the run is repeated)
# then evaluates each with `grm eval --rm` into $GRM_RUN/eval-rm-*.json. Stages are skipped when
# their output exists.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/stages.sh
. scripts/stages.sh

[ -f "$R/rm-train.jsonl" ] || stage rm-items $G data synth --n 1000 --seed 11 --split train --out "$R/rm-train.jsonl"
[ -f "$R/test.jsonl" ] || stage test-items $G data synth --n 100 --seed 7 --split test --out "$R/test.jsonl"
[ -f "$R/test80.jsonl" ] || head -80 "$R/test.jsonl" > "$R/test80.jsonl"
[ -f "$R/rm-train4k.jsonl" ] || stage rm-items-4k $G data synth --n 4000 --seed 12 --split train --out "$R/rm-train4k.jsonl"
[ -f "$R/rm-val.jsonl" ] || stage rm-val-items $G data synth --n 64 --seed 9 --split test --out "$R/rm-val.jsonl"
[ -f "$R/rm-head.gguf" ] || stage rm-head $G train rm --head-only --model "$MODEL" --data "$R/rm-train.jsonl" \
    --out "$R/rm-head.gguf" --epochs 3
# shellcheck disable=SC2046
[ -f "$R/rm-lora.gguf" ] || stage rm-lora $G train rm --model "$MODEL" --data "$R/rm-train4k.jsonl" --val "$R/rm-val.jsonl" \
    --out "$R/rm-lora.gguf" --lora-rank 16 --epochs 1 --batch 16 --lr 3e-4 --eval-every 50 --adapter-type f16 \
    --checkpoint "$R/rm-lora.ckpt.gguf" --save-every 10 $(resume "$R/rm-lora.ckpt.gguf")
[ -f "$R/rm-semi.gguf" ] || stage rm-semi $G train rm --head semi-scalar --head-only --model "$MODEL" \
    --critic-lora weights/grm-judge.gguf --data "$R/rm-train.jsonl" --out "$R/rm-semi.gguf" \
    --critiques "$R/rm-semi.critiques.jsonl" --critique-tokens 128 --critique-batch 16 --epochs 3
cp "$R/rm-lora.gguf" weights/grm-rm-scalar.gguf.tmp && mv weights/grm-rm-scalar.gguf.tmp weights/grm-rm-scalar.gguf
sha256sum weights/grm-rm-scalar.gguf
for kind in head lora semi; do
    [ -f "$R/eval-rm-$kind.json" ] || stage "eval-rm-$kind" $G eval --rm "$R/rm-$kind.gguf" --model "$MODEL" \
        --data "$R/test.jsonl" --limit 80 --out "$R/eval-rm-$kind.json"
done
