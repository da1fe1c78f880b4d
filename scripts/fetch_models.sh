#!/usr/bin/env bash
# fetch_models — fills models/stories260K/ (stories260K.bin + tok512.bin) for `make models`:
# copied from $CARVE_MODEL_MIRROR/stories260K/ when that variable is set (CI points it at
# ../shared/models), otherwise downloaded with curl from the model's public Hugging Face
# location (karpathy/tinyllamas). Every file is checked against its sha256, copied or not;
# a file already present with the right checksum is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=models/stories260K
base=https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K
declare -A sha=(
  [stories260K.bin]=b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696
  [tok512.bin]=037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312
)
mkdir -p "$dest"
check() { # file expected-sha
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}
for f in stories260K.bin tok512.bin; do
  out=$dest/$f
  if check "$out" "${sha[$f]}"; then echo "fetch_models: $out ok"; continue; fi
  tmp=$out.tmp.$$
  if [ -n "${CARVE_MODEL_MIRROR:-}" ]; then
    src=$CARVE_MODEL_MIRROR/stories260K/$f
    [ -f "$src" ] || { echo "fetch_models: $src: not found (CARVE_MODEL_MIRROR=$CARVE_MODEL_MIRROR)" >&2; exit 2; }
    cp "$src" "$tmp"
  else
    curl -fsSL --retry 3 -o "$tmp" "$base/$f" || { rm -f "$tmp"; echo "fetch_models: download of $base/$f failed" >&2; exit 2; }
  fi
  if ! check "$tmp" "${sha[$f]}"; then
    rm -f "$tmp"
    echo "fetch_models: $f: sha256 mismatch (expected ${sha[$f]})" >&2
    exit 2
  fi
  mv "$tmp" "$out"
  echo "fetch_models: $out ok"
done
