#!/bin/bash
# Old against new `cellmodel cluster` on a warm dataset, alternated, with the load beside each run.
#
#   scripts/bench_cluster_ab.sh OLD_TREE NEW_TREE ROOT [ROUNDS] [extra env for new, e.g. X=1]
#
# OLD_TREE / NEW_TREE: source trees put first on PYTHONPATH (e.g. `git archive 9deec91 | tar -x
# -C OLD_TREE`); ROOT: a store root that already holds datasets/baron-human.h5ad; $CELLMODEL:
# the console script (default: cellmodel on PATH). Prints wall,
# CPU (user + sys) and peak RSS of each run; the outputs go to ROOT/ab-{old,new}N.h5ad.
set -euo pipefail
old=$1 new=$2 root=$3 rounds=${4:-2}
shift $(( $# < 4 ? $# : 4 ))
for i in $(seq 1 "$rounds"); do
  for tag in old new; do
    code=$old; extra=()
    if [ "$tag" = new ]; then code=$new; extra=("$@"); fi
    echo "== $tag $i; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    env -u OMP_WAIT_POLICY -u OMP_NUM_THREADS "${extra[@]}" PYTHONPATH="$code" \
      HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
      /usr/bin/time -f "$tag $i: wall %e s, user %U s, sys %S s, peak RSS %M KB" \
      "${CELLMODEL:-cellmodel}" cluster baron-human --no-semantic -k 14 -o "$root/ab-$tag$i.h5ad" --force \
      --root "$root" 2>&1 | grep -E "wall|clusters of"
  done
done
