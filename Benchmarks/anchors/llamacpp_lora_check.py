# Checks that llama.cpp loads a LoRA adapter written by `grm train sft` and computes the logits our
# engine computes with it (`grm logits --lora`): the top-k tokens and their logits at every
# position of a prompt, with and without the adapter (run outside CI):
#   python3 -m venv venv && CMAKE_ARGS="-DGGML_NATIVE=ON" venv/bin/pip install llama-cpp-python
#   venv/bin/python llamacpp_lora_check.py BASE.gguf ADAPTER.gguf [grm binary]
import json, subprocess, sys
import numpy as np
from llama_cpp import Llama

base, adapter = sys.argv[1], sys.argv[2]
grm = sys.argv[3] if len(sys.argv) > 3 else ".build/release/grm"
prompt = "<|im_start|>user\nWhat is 12 * 11?<|im_end|>\n<|im_start|>assistant\n12 * 11 ="

def ours(tokens, lora):
    cmd = [grm, "logits", "--model", base, "--tokens", ",".join(map(str, tokens)), "--top", "5", "--all-positions"]
    if lora: cmd += ["--lora", adapter]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

runs = {}
for lora in (None, adapter):
    m = Llama(model_path=base, lora_path=lora, n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    tokens = m.tokenize(prompt.encode(), add_bos=False, special=True)
    m.reset(); m.eval(tokens)
    theirs = np.array(m.scores[: len(tokens)])
    got = ours(tokens, lora)
    worst, argmax_same = 0.0, 0
    for i, top in enumerate(got["top"]):  # per position: [[id, logit], ...], highest first
        for tid, val in top:
            worst = max(worst, abs(theirs[i, tid] - val))
        argmax_same += int(top[0][0] == int(np.argmax(theirs[i])))
    runs[lora] = (theirs, got["top"])
    print(f"{'with adapter' if lora else 'base        '}: {len(tokens)} positions, same argmax at {argmax_same}, "
          f"largest |ours - llama.cpp| over our top-5 logits {worst:.4f}")

# The adapter's own effect, which the base's rounding differences (llama.cpp rounds activations to
# int8 for Q4_1) mostly cancel out of: (with - without) in each engine, at our top-5 ids.
(t0, o0), (t1, o1) = runs[None], runs[adapter]
worst = 0.0
for i, top in enumerate(o1):
    base = dict((tid, v) for tid, v in o0[i])
    for tid, v in top:
        if tid in base:
            worst = max(worst, abs((v - base[tid]) - (t1[i, tid] - t0[i, tid])))
print(f"adapter effect (with - without): largest difference between the engines {worst:.4f}")
