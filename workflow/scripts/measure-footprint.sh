#!/bin/bash
# What `snakemake --profile slurm` costs on the machine it runs on, with N runs in flight, for both
# ways of submitting: `executor` (the shipped profile: the osrstudy executor inside snakemake) and
# `launchers` (--executor local --config launcher=slurm: one osrstudy.launch process per run).
#
#   N="30 300" WINDOW=300 DESIGNS="launchers executor" workflow/scripts/measure-footprint.sh
#
# Root only: starts (and stops) its own local SLURM (workflow/scripts/local-slurm.sh), whose node is
# drained first, so every job stays pending, as on a busy cluster. Per design and N: a study of N
# long digits runs through the production profile (GPU request removed); once all N jobs are queued,
# WINDOW seconds of samples every 5 s of the processes beside snakemake (count, resident MB) and of
# snakemake's own resident MB, and every sacct / squeue / scontrol call snakemake or its children
# make (a logging shim on their PATH). Runs from any clone: paths are relative to this script.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
NS=${N:-30 300}
WINDOW=${WINDOW:-300}
DESIGNS=${DESIGNS:-launchers executor}
STATE=$(mktemp -d /tmp/osrstudy-slurm-XXXX)
chmod 755 "$STATE"
workflow/scripts/local-slurm.sh start "$STATE" >/dev/null
export SLURM_CONF=$STATE/slurm.conf
trap 'scancel --user="$(id -un)" 2>/dev/null || true; workflow/scripts/local-slurm.sh stop "$STATE" >/dev/null; rm -rf "$STATE" 2>/dev/null || true' EXIT
scontrol update nodename="$(hostname -s)" state=drain reason=footprint-measurement

SHIM=$(mktemp -d)
for tool in sacct squeue scontrol; do
  real=$(command -v $tool)
  printf '#!/bin/bash\necho "$(date +%%s.%%N) %s" >> %s/calls.log\nexec %s "$@"\n' $tool "$SHIM" "$real" >"$SHIM/$tool"
  chmod +x "$SHIM/$tool"
done

descendants() {  # every process below $1
  local kids
  kids=$(ps -o pid= --ppid "$1" | tr -d ' ')
  for k in $kids; do echo "$k"; descendants "$k"; done
}

rss_mb() {  # resident MB of the given pids together
  [ $# -eq 0 ] && { echo 0; return; }
  ps -o rss= -p "$(echo "$@" | tr ' ' ',')" 2>/dev/null | awk '{s += $1} END {printf "%.0f", s / 1024}'
}

measure() {  # measure DESIGN N
  local design=$1 n=$2 work
  work=$(mktemp -d /tmp/osrstudy-footprint-XXXX)
  "$PY" - "$work" "$n" "$design" <<'EOF'
import sys, pathlib, yaml
work, n, design = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
production = yaml.safe_load(open("workflow/profiles/slurm/config.yaml"))
study = {"name": "footprint", "training": {"epochs": 500, "batch_size": 16, "checkpoint_every": 50},
         "blocks": {"t": {"datasets": ["digits"], "splits": [1], "backbones": ["small_cnn"], "embed_dims": [8],
                          "losses": ["sce"], "seeds": list(range(n))}}}
(work / "config").mkdir()
(work / "config/study.yaml").write_text(yaml.safe_dump(study))
train = {**production["set-resources"]["train"], "gpus": 0, "cpus": 1, "mem_mb": 500}
profile = {**production, "jobs": n, "set-resources": {"train": train}}
if design == "launchers":
    profile.update({"executor": "local", "cores": n})
(work / "profile").mkdir()
(work / "profile/config.yaml").write_text(yaml.safe_dump(profile))
EOF
  rm -f "$SHIM/calls.log"
  (cd "$work" && exec setsid env PATH="$SHIM:$PATH" "$PY" -m snakemake -s "$REPO/Snakefile" -d "$work" \
     --profile "$work/profile" >"$work/snakemake.log" 2>&1) &
  local smk=$! queued=0
  for _ in $(seq 1 240); do  # up to 20 min for all N to be queued
    queued=$(squeue -h -u "$(id -un)" | wc -l)
    [ "$queued" -ge "$n" ] && break
    sleep 5
  done
  local start procs_max=0 rss_max=0 smk_max=0 pids procs rss smk_rss
  start=$(date +%s)
  while [ $(($(date +%s) - start)) -lt "$WINDOW" ]; do
    pids=$(descendants $smk | tr '\n' ' ')
    procs=$(echo $pids | wc -w)
    rss=$(rss_mb $pids)
    smk_rss=$(rss_mb $smk)
    [ "$procs" -gt "$procs_max" ] && procs_max=$procs
    [ "$rss" -gt "$rss_max" ] && rss_max=$rss
    [ "$smk_rss" -gt "$smk_max" ] && smk_max=$smk_rss
    sleep 5
  done
  local queries
  queries=$(awk -v s="$start" -v w="$WINDOW" '{split($1, a, "."); if (a[1] >= s && a[1] < s + w) n++} END {print n + 0}' \
    "$SHIM/calls.log" 2>/dev/null || echo 0)
  printf '| %s | %d | %d | %d | %d | %d | %d | %.2f |\n' "$design" "$n" "$queued" "$procs_max" "$rss_max" "$smk_max" \
    "$queries" "$(echo "$queries * 10 / $WINDOW" | bc -l)"
  kill -KILL -- -$smk 2>/dev/null || true
  wait $smk 2>/dev/null || true
  scancel --user="$(id -un)" 2>/dev/null || true
  sleep 2
  rm -rf "$work"
}

echo "window: ${WINDOW} s, node drained (all jobs pending); peaks over the window"
echo "| design | runs in flight (N) | jobs queued | processes beside snakemake | their resident MB | snakemake's resident MB | status queries in the window | per 10 s |"
echo "|---|---|---|---|---|---|---|---|"
for n in $NS; do
  for design in $DESIGNS; do
    measure "$design" "$n"
  done
done
