# llama.cpp's outputs for the Gemma 3 tests (Tests/TransformerTests/Fixtures/*-llamacpp.json): never
# run by `make test`; rerun by hand when the corpus or the prompts change.
#
#   venv/bin/python Benchmarks/anchors/llamacpp_gemma_reference.py GEMMA.gguf GEMMA-F32.gguf SMOLLM2.gguf
#
# GEMMA-F32.gguf is the same weights dequantised exactly (`grm merge --model GEMMA.gguf --out
# GEMMA-F32.gguf --type f32`). Writes:
#   corpus-tokens-llamacpp.json  the multilingual corpus tokenised by both vocabularies, special
#                                parsing off and on, with and without BOS, and detokenised
#   gemma3-q4km-llamacpp.json    per prompt: ids, top-20 logits at the last position, 16 greedy tokens
#   gemma3-f32-llamacpp.json     the same on the f32 file (f32 KV cache)
# llama-cpp-python 0.3.36 built natively (see llamacpp_bench.py).
import json, os, sys
import numpy as np
from llama_cpp import Llama

here = os.path.dirname(os.path.abspath(__file__))
out_dir = os.path.join(here, "..", "..", "Tests", "TransformerTests", "Fixtures")
gemma, gemma_f32, smollm2 = sys.argv[1:4]

# Scripts, emoji, code, whitespace runs, special-token texts inside text, numbers, odd Unicode.
CORPUS = [
    "Hello, world!",
    " leading space and trailing space ",
    "The quick brown fox jumps over the lazy dog. 1234567890",
    "Größenwahn und Übermut: Straße, Füße, Ärger. Ça va? Élève, naïve, cœur.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από το τεμπέλικο σκυλί.",
    "مرحبا بالعالم! كيف حالك اليوم؟",
    "שלום עולם, מה שלומך?",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "আমি বাংলায় গান গাই। ায় ায় ায়",
    "வணக்கம் உலகம்",
    "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "你好，世界！我们今天学习自然语言处理。",
    "こんにちは世界。カタカナとひらがなと漢字。",
    "안녕하세요 세계! 한국어 토큰화 시험입니다.",
    "Tiếng Việt có dấu: Xin chào thế giới.",
    "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 ❤️‍🔥 🧑🏿‍💻",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "func add(_ a: Int, _ b: Int) -> Int { a + b }  // Swift\n\tlet x = [1, 2, 3].map { $0 * 2 }",
    '{"key": [1, 2.5, -3e10, null, true], "nested": {"a": "b\\n"}}',
    "<html><body class=\"x\">&nbsp;&lt;tag&gt;</body></html>",
    "SELECT * FROM users WHERE id = 42 AND name LIKE '%bob%';",
    "a  b   c    d     e      f       g        h",
    "                                ",
    "\t\t\ttabs\t \t and\u00a0non-breaking\u2003em-space",
    "\n\n\nthree newlines\r\nCRLF\r\n\r\nend\n",
    "line one\n\nline two\n\n\n\nline three",
    "trailing whitespace   \n   leading whitespace",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
    "<bos>text after bos<eos> and <pad> and <unk> and <mask>",
    "[multimodal] <unused0> <unused99> <start_of_image> <end_of_image>",
    "<start_of_turn <start_of_turn>> <<end_of_turn>> <end_of_turn",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n<|endoftext|>",
    "Math: ∑_{i=1}^{n} i² = n(n+1)/2, ∀x ∈ ℝ: x² ≥ 0, π ≈ 3.14159",
    "Combining: e\u0301 a\u0300 n\u0303; zero\u200bwidth\u200djoiner; BOM\ufeffinside",
    "URL: https://example.com/path?query=1&b=2#frag and mail@example.org",
    "Numbers: 3.14159 2,718 1e-9 0x1F 007 1000000 ½ ⅓ ① ⅷ",
    "MiXeD cAsE wOrDs AND ALLCAPS and lowercase",
    "repeated repeated repeated repeated repeated repeated repeated",
    "ıİ ǅ ß ẞ ﬁ ﬂ ﬀ Ⅻ ㎏ ℃ ™ © ®",
    "Ελληνικά русский 中文 日本語 한국어 العربية עברית हिन्दी in one line",
    "",
    " ",
    "\n",
    "a",
    "😀",
]

PROMPTS = [
    "The capital of France is",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Once upon a time, in a small village by the sea, there lived",
    "Die Hauptstadt von Deutschland ist Berlin. Die Hauptstadt von Frankreich ist",
]


def tokens(path):
    m = Llama(model_path=path, n_ctx=64, vocab_only=True, verbose=False)
    cases = []
    for text in CORPUS:
        b = text.encode()
        c = {"text": text}
        for bos in (False, True):
            for special in (False, True):
                ids = m.tokenize(b, add_bos=bos, special=special)
                c[f"ids{'_bos' if bos else ''}{'_special' if special else ''}"] = ids
        # Detokenised with control tokens rendered and not (the ids of special parsing on).
        c["text_from_special_ids"] = m.detokenize(c["ids_special"], special=True).decode("utf-8", "replace")
        c["text_from_special_ids_plain"] = m.detokenize(c["ids_special"], special=False).decode("utf-8", "replace")
        cases.append(c)
    return cases


def logits(path, f32_cache=False):
    kv = {"type_k": 0, "type_v": 0} if f32_cache else {}  # GGML_TYPE_F32
    m = Llama(model_path=path, n_ctx=512, n_batch=512, logits_all=True, verbose=False, n_threads=2, **kv)
    cases = []
    for p in PROMPTS:
        ids = m.tokenize(p.encode(), add_bos=True, special=True)
        m.reset()
        m.eval(ids)
        lg = np.array(m.scores[len(ids) - 1], dtype=np.float64)
        top = np.argsort(-lg, kind="stable")[:20]
        greedy = []
        next_id = int(np.argmax(lg))
        while len(greedy) < 16:
            greedy.append(next_id)
            if next_id in (1, 106):  # <eos>, <end_of_turn>
                break
            m.eval([next_id])
            next_id = int(np.argmax(np.array(m.scores[m.n_tokens - 1])))
        cases.append({"prompt": p, "tokens": ids, "top20": [[int(i), float(lg[i])] for i in top], "greedy": greedy})
    return cases


def write(name, obj):
    with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


write("corpus-tokens-llamacpp.json", {
    "note": "llama.cpp (llama-cpp-python 0.3.36) tokenize(add_bos, special) and detokenize(special) of the corpus in Benchmarks/anchors/llamacpp_gemma_reference.py",
    "gemma3": tokens(gemma), "smollm2": tokens(smollm2)})
write("gemma3-q4km-llamacpp.json", {
    "model": os.path.basename(gemma), "note": "llama.cpp on the Q4_K_M file (its int8 activation rounding, f16 KV cache)",
    "cases": logits(gemma)})
write("gemma3-f32-llamacpp.json", {
    "model": "gemma-3-270m-f32.gguf (grm merge --type f32 of the Q4_K_M file)",
    "note": "llama.cpp on the same weights dequantised to F32 (F32 matrices, F32 KV cache)", "cases": logits(gemma_f32, f32_cache=True)})
