#!/bin/bash
# Old against new `cluster` on the 10^5-cell synthetic file in memory, alternated, each run in
# its own process (`cellmodel.bench.outofcore.measure`, the in-memory job): wall, CPU, the
# pipeline's and the fit's stage timings, ARI.
#
#   [N=CELLS] scripts/bench_scale_ab.sh OLD_TREE NEW_TREE FILE [ROUNDS] [SEED]
#
# OLD_TREE / NEW_TREE: source trees put first on PYTHONPATH (e.g. `git archive 7427ac0 | tar -x
# -C OLD_TREE`); FILE: the synthetic file (`python -c "from cellmodel.datasets.synthetic import
# write_synthetic_h5ad; write_synthetic_h5ad('FILE', 100000, seed=0)"`). The runs start in an
# empty folder: `python -c` puts the working folder first on sys.path, which would otherwise
# shadow the tree named on PYTHONPATH when run from a checkout.
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2") file=$(realpath "$3") rounds=${4:-2} seed=${5:-0}
n=${N:-100000}  # cells read from the file's start
python=${PYTHON:-python}
empty=$(mktemp -d)
trap 'rmdir "$empty"' EXIT
cd "$empty"
for i in $(seq 1 "$rounds"); do
  for tag in old new; do
    code=$old; [ "$tag" = new ] && code=$new
    echo "== $tag $i; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    PYTHONPATH="$code" HF_HUB_OFFLINE=1 "$python" -c "
import json
from cellmodel.bench.outofcore import measure
job = {'mode': 'memory', 'n': $n, 'path': '$file', 'seed': $seed}
print(json.dumps(measure(job, 3000)))"
  done
done
