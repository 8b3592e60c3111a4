#!/usr/bin/env bash
# What a reward costs, by kind, in one back-to-back run on the judge's 80 test items (after
# scripts/train-rm.sh and scripts/train-grm-rl.sh): greedy judging by the shipped judge between two
# runs of the head-only scalar model, then the LoRA scalar model. (The semi-scalar model writes a
# greedy critique per response, so its own eval report's wall time holds a judging-like cost.)
# Each `grm eval` prints its wall time ("scored in"), `grm score` the judging's. Run nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/stages.sh
. scripts/stages.sh
echo "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo)"
grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16)$' | tr '\n' ' '
echo
uptime
scalar() { $G eval --rm "$R/rm-$1.gguf" --model "$MODEL" --data "$R/test.jsonl" --limit 80 --out "$R/cost-rm-$1.json" 2>&1 | tr '\r' '\n' | grep "scored in"; }
scalar head
$G score --model "$MODEL" --lora weights/grm-judge.gguf --data "$R/test.jsonl" --limit 80 --k 1 --temperature 0 \
    --max-tokens 256 --batch-items 8 --seed 3 --out "$R/cost-greedy.jsonl" 2>&1 | tr '\r' '\n' | grep "grm score:"
scalar head
scalar lora
uptime
