#!/usr/bin/env bash
# Draws docs/layers.svg: the folders (units) of the layer table and the dependencies the code
# actually has between them, transitively reduced (an edge implied by a path is left out); a
# dashed edge goes through named narrow headers only. Needs graphviz (dot, tred).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dot_file=$(mktemp)
trap 'rm -f "$dot_file"' EXIT
python3 "$root/scripts/check_layers.py" --root "$root" --graph "$dot_file" >/dev/null
tred "$dot_file" | dot -Tsvg -o "$root/docs/layers.svg"
echo "wrote docs/layers.svg"
