# llama.cpp anchor for `grm bench --model ... -p 512 -n 128`: llama-bench's conventions (random
# token ids; pp = one prompt of 512 tokens; tg = 128 single-token steps from an empty cache; mean
# and sd of 3 runs after a warm-up), through llama-cpp-python built natively:
#   python3 -m venv venv && CMAKE_ARGS="-DGGML_NATIVE=ON" venv/bin/pip install llama-cpp-python==0.3.36
#   venv/bin/python llamacpp_bench.py [threads] [model.gguf]
# On an Intel Xeon KVM guest that lists AMX (machine C, docs/performance.md) the native build dies
# with "Illegal instruction"; build its AVX-512 kernels explicitly instead:
#   CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON
#     -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON" venv/bin/pip install ...
import random, statistics, sys, time
from llama_cpp import Llama

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
model = sys.argv[2] if len(sys.argv) > 2 else "weights/SmolLM2-135M-Instruct.Q4_1.gguf"
m = Llama(model_path=model, n_ctx=1024, n_threads=threads, n_threads_batch=threads, n_batch=512, verbose=False)
vocab = m.n_vocab()
random.seed(42)

def pp():
    m.reset()
    toks = [random.randrange(vocab) for _ in range(512)]
    t = time.perf_counter(); m.eval(toks)
    return 512 / (time.perf_counter() - t)

def tg():
    m.reset()
    toks = [random.randrange(vocab) for _ in range(128)]
    t = time.perf_counter()
    for x in toks: m.eval([x])
    return 128 / (time.perf_counter() - t)

for name, f in (("pp512", pp), ("tg128", tg)):
    f()
    r = [f() for _ in range(3)]
    print(f"llama.cpp {name} threads={threads}: {statistics.mean(r):.1f} ± {statistics.stdev(r):.1f} t/s")
