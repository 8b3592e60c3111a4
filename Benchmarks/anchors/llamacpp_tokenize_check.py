# Checks that `grm tokenize` gives llama.cpp's ids, special parsing off and on, for every model
# given, on one (large) text file, and times llama.cpp's tokenizer on it (run outside CI):
#   venv/bin/python Benchmarks/anchors/llamacpp_tokenize_check.py TEXT MODEL.gguf [MODEL.gguf ...]
# (llama-cpp-python 0.3.36 built natively, see llamacpp_bench.py; the grm binary in .build/release).
import json, subprocess, sys, time
from llama_cpp import Llama

text = sys.argv[1]
data = open(text, "rb").read()
for model in sys.argv[2:]:
    m = Llama(model_path=model, n_ctx=64, vocab_only=True, verbose=False)
    for special in (False, True):
        start = time.perf_counter()
        theirs = m.tokenize(data, add_bos=False, special=special)
        seconds = time.perf_counter() - start
        cmd = [".build/release/grm", "tokenize", "--model", model, "--file", text] + (["--special"] if special else [])
        ours = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        first = next((i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b), None)
        verdict = "identical" if theirs == ours else f"DIFFER (first at {first}, lengths {len(theirs)} vs {len(ours)})"
        print(f"{model}: special {'on' if special else 'off'}: {len(theirs)} tokens, {verdict}; "
              f"llama.cpp {len(data) / seconds / 1e6:.2f} MB/s")
