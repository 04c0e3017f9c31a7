#!/bin/bash
# Usage: N=10 WINDOW=150 workflow/scripts/measure-slurm-queries.sh  (root; starts and stops its own local SLURM)
# count sacct / squeue calls made by N waiting launchers over a window
set -e
cd "$(dirname "$0")/../.."  # the repository root, from any clone
STATE=$(mktemp -d /tmp/osrstudy-slurm-XXXX); chmod 755 $STATE
workflow/scripts/local-slurm.sh start $STATE > /dev/null
export SLURM_CONF=$STATE/slurm.conf
SHIM=$(mktemp -d); LOG=$SHIM/calls.log
for tool in sacct squeue; do
  printf '#!/bin/bash\necho "$(date +%%s.%%N) %s" >> %s\nexec /usr/bin/%s "$@"\n' $tool $LOG $tool > $SHIM/$tool; chmod +x $SHIM/$tool
done
export PATH=$SHIM:$PATH
N=${N:-10}; WINDOW=${WINDOW:-150}
SPEC=$(.venv/bin/python -c "
import json; from osrstudy.study import expand_study, job_spec
s={'name':'rate','training':{'epochs':500,'batch_size':16,'checkpoint_every':50},'blocks':{'t':{'datasets':['digits'],'splits':[1],'backbones':['small_cnn'],'embed_dims':[8],'losses':['sce']}}}
print(json.dumps(job_spec(expand_study(s)[0])))")
W=$(mktemp -d)
for i in $(seq 1 $N); do
  .venv/bin/python -m osrstudy.launch --spec "$SPEC" --output $W/r$i.zarr --checkpoint-dir $W/ckpt$i --jobs-dir $W/jobs$i --record $W/launch$i.json --launcher slurm --threads 1 --slurm '{"mem_mb": 1000}' > $W/l$i.log 2>&1 &
done
START=$(date +%s); sleep $WINDOW
echo "launchers: $N, window: ${WINDOW}s"
awk -v s=$START '{split($1,a,"."); t=a[1]-s; tool=$2; n[tool]++; if (t>60) late[tool]++} END {for (k in n) printf "%s: %d calls in total, %d after the first 60 s\n", k, n[k], late[k]}' $LOG
squeue -h | awk '{print $5}' | sort | uniq -c
kill $(jobs -p) 2>/dev/null || true
scancel --user=root || true
workflow/scripts/local-slurm.sh stop $STATE > /dev/null; rm -rf $STATE
