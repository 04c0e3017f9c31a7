#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost, with accounting (slurmdbd + MariaDB), for tests
# and for trying the slurm profile on one machine. Run as root (Debian / Ubuntu).
#
#   workflow/scripts/local-slurm.sh install        # apt-get the packages (once)
#   workflow/scripts/local-slurm.sh start DIR      # config, state and logs under DIR; prints the env
#   workflow/scripts/local-slurm.sh stop DIR
#
# After start, `export SLURM_CONF=DIR/slurm.conf` (also linked at /etc/slurm/slurm.conf, because
# some tools strip SLURM_* variables before calling srun). Settings are the ones measured to work
# on this machine kind (../shared/reference/slurm-notes.md): linuxproc process tracking, no
# cgroups, cons_tres with a default memory per CPU so jobs share the node, fast scheduling, short
# credential expiry so a requeued job restarts in seconds, finished jobs kept visible for 600 s.
set -euo pipefail
cmd=${1:?usage: $0 install|start DIR|stop DIR}
PACKAGES="slurmctld slurmd slurm-client munge slurmdbd mariadb-server"

install() {
    if command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null; then
        return 0
    fi
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES) >/dev/null
}

wait_for() {  # wait_for SECONDS COMMAND...: retry until the command succeeds
    local limit=$1; shift
    for _ in $(seq 1 $((limit * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "timed out waiting for: $*" >&2
    return 1
}

refuse_second_cluster() {  # one cluster per machine: the daemons and MariaDB listen on fixed ports
    local daemons port=free conf
    daemons=$(for name in slurmctld slurmd slurmdbd; do pgrep -x "$name"; done | tr '\n' ' ' || true)
    (exec 3<>/dev/tcp/127.0.0.1/3307) 2>/dev/null && port="in use"
    [ -z "$daemons" ] && [ "$port" = free ] && return 0
    conf=$(readlink /etc/slurm/slurm.conf 2>/dev/null || echo unknown)
    echo "error: a SLURM cluster is already running on this machine (SLURM daemon pids: ${daemons:-none};" \
        "MariaDB's port 3307: $port; /etc/slurm/slurm.conf -> $conf). Stop it first: $0 stop ${conf%/slurm.conf}" >&2
    return 1
}

start() {
    local dir=$1 host cpus mem
    refuse_second_cluster
    mkdir -p "$dir"/{state,spool,log,mysql}
    dir=$(cd "$dir" && pwd)
    host=$(hostname -s)

    # munge, as its own user (munged refuses root without --force)
    mkdir -p /run/munge && chown munge:munge /run/munge
    pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
    wait_for 10 bash -c 'munge -n | unmunge'

    # MariaDB for slurmdbd, data under DIR
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld "$dir/mysql"
    if ! runuser -u mysql -- test -w "$dir/mysql"; then
        echo "error: the mysql user cannot reach $dir/mysql; use a state directory whose parents every user can traverse (mode 755)" >&2
        return 1
    fi
    if [ ! -d "$dir/mysql/mysql" ]; then
        mariadb-install-db --user=mysql --datadir="$dir/mysql" --auth-root-authentication-method=socket \
            > "$dir/log/mariadb-install.log" 2>&1 || { echo "error: mariadb-install-db failed, see $dir/log/mariadb-install.log" >&2; return 1; }
    fi
    # (socket, pid and log inside the data directory: the mysql user can write there)
    runuser -u mysql -- /usr/sbin/mariadbd --datadir="$dir/mysql" --socket="$dir/mysql/mysqld.sock" \
        --pid-file="$dir/mysql/mysqld.pid" --bind-address=127.0.0.1 --port=3307 \
        --log-error="$dir/mysql/mysqld.log" >/dev/null 2>&1 &
    wait_for 120 mariadb --socket="$dir/mysql/mysqld.sock" -e "select 1"
    mariadb --socket="$dir/mysql/mysqld.sock" -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

    cat > "$dir/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$dir/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
CONF
    chmod 600 "$dir/slurmdbd.conf"

    # the node's layout as slurmd sees it, memory below what is available
    cpus=$(nproc)
    mem=$(awk '/MemAvailable/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
    cat > "$dir/slurm.conf" <<CONF
ClusterName=osrstudy
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SchedulerParameters=batch_sched_delay=0,bf_interval=1,sched_interval=2,sched_min_interval=0
MinJobAge=600
KillWait=2
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    mkdir -p /etc/slurm
    ln -sf "$dir/slurm.conf" /etc/slurm/slurm.conf
    export SLURM_CONF=$dir/slurm.conf

    slurmdbd  # reads slurmdbd.conf beside $SLURM_CONF
    wait_for 120 sacctmgr -i show cluster
    sacctmgr -i add cluster osrstudy >/dev/null 2>&1 || true
    slurmctld -c -f "$dir/slurm.conf"
    slurmd -f "$dir/slurm.conf"
    wait_for 120 bash -c "sinfo -h -o %t | grep -qx idle"
    echo "export SLURM_CONF=$dir/slurm.conf"
}

stop() {
    local dir
    dir=$(cd "$1" && pwd)
    export SLURM_CONF=$dir/slurm.conf
    scancel --user=root >/dev/null 2>&1 || true
    for pidfile in slurmd.pid slurmctld.pid slurmdbd.pid mysql/mysqld.pid; do
        [ -f "$dir/$pidfile" ] && kill "$(cat "$dir/$pidfile")" 2>/dev/null || true
    done
    sleep 1
    for daemon in slurmd slurmctld slurmdbd; do pkill -x "$daemon" 2>/dev/null || true; done
    [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$dir/slurm.conf" ] && rm -f /etc/slurm/slurm.conf
    return 0
}

case $cmd in
    install) install ;;
    start) start "${2:?state directory}" ;;
    stop) stop "${2:?state directory}" ;;
    *) echo "usage: $0 install|start DIR|stop DIR" >&2; exit 2 ;;
esac
