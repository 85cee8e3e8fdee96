#!/usr/bin/env bash
# `cellmodel bench --device cuda` against `--device cpu` on a machine with a GPU: the graph
# encoder (`structure`: the labels `cellmodel` returns, without the store) on registry datasets,
# then the 10^5-cell out-of-core scale run. Run from the repository root on the GPU machine, whose
# python3 has torch, scikit-learn, numba and h5py but no network. Arguments:
#   WHEELS  a folder of wheels for that Python that it lacks (anndata, scanpy, leidenalg, igraph,
#           dask, distributed and their own needs; pandas 2.x where its pandas is 3, which
#           anndata does not take)
#   DATA    a folder of registry cache files compressed with xz (`artifacts/datasets/NAME.xz`);
#           each is checked against its pinned sha256 when the bench reads it
#   OUTDIR  where the bench folders and a summary go
# Environment: DATASETS (the registry names to run on cuda), CPU_DATASETS (also on cpu; empty:
# none), SEEDS,
# REPEAT_DATASETS (run on cuda a second time, to see whether a GPU run repeats itself; default
# none), SCALE_SIZE (cells of the synthetic scale file, default 10^5; 0 skips the scale runs).
set -uo pipefail
wheels=${1:?usage: gpu_cluster_check.sh WHEELS DATA OUTDIR}
data=${2:?usage: gpu_cluster_check.sh WHEELS DATA OUTDIR}
outdir=${3:?usage: gpu_cluster_check.sh WHEELS DATA OUTDIR}
work=${WORK:-/tmp/gpu_cluster_check}
seeds=${SEEDS:-3}
mkdir -p "$work/root/datasets" "$outdir"

keep=()
for w in "$wheels"/*.whl; do
  case $(basename "$w") in
    pandas-*) python3 -c "import pandas, sys; sys.exit(int(pandas.__version__.split('.')[0]) < 3)" \
                && keep+=("$w") ;;  # only where the machine's pandas is 3 or newer
    *) keep+=("$w") ;;
  esac
done
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$work/site" \
  "${keep[@]}" || exit 1
for f in "$data"/*.xz; do xz -dc "$f" > "$work/root/datasets/$(basename "$f" .xz)"; done
export PYTHONPATH=$PWD:$work/site HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
cm() { python3 -c "from cli.cellmodel_app import main; main()" "$@"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, pandas, numpy, scanpy, anndata; print('torch', torch.__version__,
'cuda', torch.cuda.is_available(), '| pandas', pandas.__version__, '| numpy', numpy.__version__,
'| scanpy', scanpy.__version__, '| anndata', anndata.__version__)" || exit 1

names=${DATASETS:-baron-human}
cpu_names=${CPU_DATASETS-baron-human}
for device in cuda cpu; do
  list=$names; [ "$device" = cpu ] && list=$cpu_names
  [ -z "$list" ] && continue
  echo "== bench $device: $list, seeds 0..$((seeds - 1))"
  cm bench --datasets "$list" --methods structure --seeds "$seeds" --device "$device" \
    --root "$work/root" --out "$outdir/bench-$device" --timeout 300 > /dev/null
  if [ "$device" = cuda ] && [ -n "${REPEAT_DATASETS:-}" ]; then
    echo "== bench cuda again: $REPEAT_DATASETS, seeds 0..$((seeds - 1))"
    cm bench --datasets "$REPEAT_DATASETS" --methods structure --seeds "$seeds" --device cuda \
      --root "$work/root" --out "$outdir/bench-cuda-again" --timeout 300 > /dev/null
  fi
done
size=${SCALE_SIZE:-100000}
[ "$size" = 0 ] && exit 0
# One synthetic file for both devices (the bench writes it where it is missing, seed 0), so the
# two devices cluster the same bytes and neither pays for writing it.
mkdir -p "$work/scale-cuda" "$work/scale-cpu"
file=synthetic-$size.h5ad
[ -e "$work/scale-cuda/$file" ] || python3 -c "import sys; from cellmodel.datasets.synthetic import \
write_synthetic_h5ad as w; w(sys.argv[1], int(sys.argv[2]), seed=0)" "$work/scale-cuda/$file" "$size"
ln -f "$work/scale-cuda/$file" "$work/scale-cpu/$file"
for device in cuda cpu; do
  echo "== out of core and in memory, $size cells, $device"
  timeout "${SCALE_TIMEOUT:-300}" python3 -c "from cli.cellmodel_app import main; main()" bench \
    --scale "$size" --out-of-core --device "$device" --out "$work/scale-$device" 2>&1 | tail -2
  cp "$work/scale-$device/outofcore.jsonl" "$outdir/scale-$device.jsonl"
done
