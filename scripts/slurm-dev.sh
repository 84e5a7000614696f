#!/usr/bin/env bash
# slurm-dev.sh - a real single-node Slurm cluster (Debian's slurm-wlm 22.05) for
# tests, CI and try-outs.  Runs as root; needs no systemd.
#
#   eval "$(scripts/slurm-dev.sh start)"   # installs if needed, starts, prints export line
#   scripts/slurm-dev.sh status            # exit 0 when up, 1 otherwise
#   scripts/slurm-dev.sh restart-ctld      # fault injection: restart only slurmctld
#   scripts/slurm-dev.sh kill DAEMON       # fault injection: SIGKILL slurmd, slurmctld, slurmdbd or mariadb
#                                          # (`start` brings back whatever is missing)
#   scripts/slurm-dev.sh stop [--kill-jobs] # stop daemons (and cancel/kill jobs), keep state dir
#
# Environment: FTRUN_SLURM_DIR (default /tmp/ftrun-slurm) holds all config, state,
# logs and pid files.  FTRUN_SLURM_PORT_BASE (default 16817): slurmctld = base,
# slurmd = base+1, slurmdbd = base+2, MariaDB = base+3 (TCP on 127.0.0.1 only).
#
# Layout: cluster "ftrun-dev", one node (short hostname) declared with 16 CPUs (more
# than the machine has, allowed by SlurmdParameters=config_overrides, so that many
# one-CPU jobs run concurrently) and 8 fake a100 + 8 fake h100 GPUs (/dev/null links),
# partitions a100 (default) and h100 both on that node; slurm-dev/job_submit.lua maps
# untyped GPU requests to the partition's type.
#
# restart-ctld: slurmctld saves its state in $FTRUN_SLURM_DIR/state/ctld; stopping it
# (SIGTERM) and starting it again without -c recovers every pending/running job,
# while slurmd and the job steps keep running.  Do it by hand with:
#   kill $(cat $FTRUN_SLURM_DIR/run/slurmctld.pid); SLURM_CONF=... slurmctld
# The only line `start` prints on stdout is the export line; all else goes to stderr.
set -euo pipefail

S=${FTRUN_SLURM_DIR:-/tmp/ftrun-slurm}
BASE=${FTRUN_SLURM_PORT_BASE:-16817}
CTLD_PORT=$BASE DBD_PORT=$((BASE + 2)) DB_PORT=$((BASE + 3))
SLURMD_PORT=$((BASE + 1))
CLUSTER=ftrun-dev
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)   # templates in $HERE/slurm-dev/
NODE=$(hostname -s)
DB_SOCK=$S/run/mariadb.sock
CHANGED=0                    # set by write_file when a config file changed
DB_PASS=ftrun-dev            # throw-away password of the private MariaDB
export SLURM_CONF=$S/etc/slurm.conf   # daemons find slurmdbd.conf/gres.conf next to it

log() { echo "slurm-dev: $*" >&2; }
# die MESSAGE [LOGFILE...]: print the message and the tail of each log, then exit 1.
die() {
  local msg=$1; shift
  log "ERROR: $msg"
  local f; for f in "$@"; do
    [[ -f $f ]] && { echo "----- tail $f -----" >&2; tail -n 25 "$f" >&2; }
  done
  exit 1
}
# wait_for SECONDS CMD...: poll CMD once a second until it succeeds.
wait_for() {
  local t=$1 i; shift
  for ((i = 0; i < t; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}
# wait_daemon SECONDS PID CMD...: like wait_for, but give up as soon as PID has died,
# so that a daemon that fails at once (port in use, bad config) fails start at once.
wait_daemon() {
  local t=$1 pid=$2 i; shift 2
  for ((i = 0; i < t; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    alive "$pid" || return 1
    sleep 1
  done
  return 1
}
# alive PID: the process exists and is not a zombie (exited, not yet reaped by pid 1).
alive() { local st; read -r st < <(ps -o stat= -p "$1") && [[ $st != Z* ]]; }
# pid_alive PIDFILE COMM: true when the pid file names a live process called COMM
# (checking the name guards against a recycled pid from an old run).
pid_alive() {
  local pid; pid=$(cat "$1" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && [[ $(ps -o comm= -p "$pid") == "$2" ]]
}
# stop_pid PIDFILE COMM: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
  pid_alive "$1" "$2" || { log "$2 not running"; return 0; }
  local pid; pid=$(cat "$1")
  log "stopping $2 (pid $pid)"
  kill "$pid" 2>/dev/null || true
  wait_for 30 pid_gone "$1" "$2" || { log "$2 did not exit, SIGKILL"; kill -9 "$pid" 2>/dev/null || true; }
  rm -f "$1"
}
pid_gone() { ! pid_alive "$@"; }
# run_bg PIDFILE LOG CMD...: start a daemon in the foreground mode (-D) in its own
# session, detached from our stdout so that `eval "$(slurm-dev.sh start)"` does not hang
# waiting for it to close, unless PIDFILE names a live one; sets DPID to its pid.
run_bg() {
  local pf=$1 l=$2 name=${3##*/}
  if pid_alive "$pf" "$name"; then log "$name already running"; DPID=$(cat "$pf"); return 1; fi
  log "starting $name"
  setsid "${@:3}" </dev/null >>"$l" 2>&1 &
  DPID=$!
}

# ---------------------------------------------------------------- packages
ensure_packages() {
  local pkgs=(slurm-wlm slurmctld slurmd slurm-client slurmdbd slurm-wlm-mysql-plugin
              munge mariadb-server mariadb-client procps) missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 \
    || die "apt-get install failed"
}

# ---------------------------------------------------------------- config
# write_file PATH MODE < content: rewrite only when the content changed, so a second
# `start` never touches the configuration of running daemons.
write_file() {
  local tmp; tmp=$(mktemp "$1.XXXX"); cat >"$tmp"; chmod "$2" "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; log "wrote $1"; CHANGED=1; fi
}

# render TEMPLATE: scripts/slurm-dev/TEMPLATE with its @NAME@ placeholders filled in.
render() {
  sed -e "s|@S@|$S|g; s|@NODE@|$NODE|g; s|@CLUSTER@|$CLUSTER|g; s|@MEM@|$MEM|g" \
      -e "s|@CTLD_PORT@|$CTLD_PORT|g; s|@SLURMD_PORT@|$SLURMD_PORT|g; s|@DBD_PORT@|$DBD_PORT|g" \
      -e "s|@DB_PORT@|$DB_PORT|g; s|@DB_PASS@|$DB_PASS|g" "$HERE/slurm-dev/$1"
}
write_configs() {
  mkdir -p "$S"/{etc,log,run,dev,state/ctld,state/slurmd,mysql}
  # Fake GPUs.  Slurm 22.05 schedules plain files too, but sets CUDA_VISIBLE_DEVICES only
  # for files that stat() as character devices, so each one is a symlink to /dev/null;
  # the number at the end of the name is what CUDA_VISIBLE_DEVICES shows (0-15, no cgroups).
  local i; for i in $(seq 0 15); do ln -sfn /dev/null "$S/dev/gpu$i"; done
  # RealMemory a bit under the physical memory (MemTotal is stable, unlike free).
  MEM=$(awk '/MemTotal/ {m = int($2 / 1024) - 512; print (m > 512 ? m : 512)}' /proc/meminfo)
  write_file "$S/etc/slurm.conf" 644 < <(render slurm.conf.in)
  write_file "$S/etc/gres.conf" 644 < <(render gres.conf.in)
  write_file "$S/etc/job_submit.lua" 644 <"$HERE/slurm-dev/job_submit.lua"
  # slurmdbd refuses a config readable by others; it must belong to SlurmUser.
  write_file "$S/etc/slurmdbd.conf" 600 < <(render slurmdbd.conf.in)
  chown root:root "$S/etc/slurmdbd.conf"
}

# ---------------------------------------------------------------- munge
# The system munged (default socket /run/munge/munge.socket.2, key /etc/munge) is used,
# because Slurm's client commands talk to the default socket.  It has to run as the
# munge user with /run/munge owned by it.  We only stop it if we started it.
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
start_munge() {
  if munge_ok; then log "munged already running"; return 0; fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    install -d -o munge -g munge -m 0700 /etc/munge
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  log "starting munged"
  # --force: start even if a stale socket was left behind by a killed munged.
  runuser -u munge -- /usr/sbin/munged --force </dev/null >>"$S/log/munged.stdout" 2>&1 \
    || die "munged failed" /var/log/munge/munged.log "$S/log/munged.stdout"
  wait_for 10 munge_ok || die "munged does not answer" /var/log/munge/munged.log
  cp /run/munge/munged.pid "$S/run/munged.ours"
}
stop_munge() {
  [[ -f $S/run/munged.ours ]] || { log "munged not started by us, left alone"; return 0; }
  stop_pid "$S/run/munged.ours" munged
}

# ---------------------------------------------------------------- MariaDB
# A private instance (own datadir, socket, port) so nothing depends on the system
# service.  --no-defaults keeps /etc/mysql out of it.
db() { mariadb --no-defaults -S "$DB_SOCK" -u root "$@"; }
start_mariadb() {
  pid_alive "$S/run/mariadb.pid" mariadbd && { log "mariadbd already running"; return 0; }
  if [[ ! -d $S/mysql/mysql ]]; then
    log "initialising MariaDB datadir $S/mysql"
    mariadb-install-db --no-defaults --datadir="$S/mysql" --user=root --skip-test-db \
      --auth-root-authentication-method=socket >>"$S/log/mariadb.log" 2>&1 \
      || die "mariadb-install-db failed" "$S/log/mariadb.log"
  fi
  run_bg "$S/run/mariadb.pid" "$S/log/mariadb.log" mariadbd --no-defaults --user=root --datadir="$S/mysql" \
    --socket="$DB_SOCK" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --pid-file="$S/run/mariadb.pid" --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900
  wait_daemon 60 "$DPID" db -e 'SELECT 1' || die "MariaDB did not come up" "$S/log/mariadb.log"
  db -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
         CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "MariaDB setup failed"
}
stop_mariadb() { stop_pid "$S/run/mariadb.pid" mariadbd; }

# ---------------------------------------------------------------- Slurm daemons
start_slurmdbd() {
  run_bg "$S/run/slurmdbd.pid" "$S/log/slurmdbd.stdout" slurmdbd -D || true
  wait_daemon 60 "$DPID" sacctmgr -n list cluster || die "slurmdbd does not answer" "$S/log/slurmdbd.log" "$S/log/slurmdbd.stdout"
  # The cluster must exist in the database before slurmctld reports to it; adding it
  # also creates the root account and root's association.
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >&2 || die "sacctmgr add cluster failed" "$S/log/slurmdbd.log"
  fi
}
ctld_ok() { scontrol ping | grep -q 'is UP'; }
start_slurmctld() {
  # No -c: slurmctld recovers the saved jobs.
  if ! run_bg "$S/run/slurmctld.pid" "$S/log/slurmctld.stdout" slurmctld -D && ((CHANGED)); then
    # New config for a running cluster: apply what reconfigure can (not ports/gres).
    log "config changed: scontrol reconfigure (stop + start to apply all of it)"
    scontrol reconfigure >&2 || true
  fi
  wait_daemon 60 "$DPID" ctld_ok || die "slurmctld does not answer" "$S/log/slurmctld.log" "$S/log/slurmctld.stdout"
}
start_slurmd() {
  run_bg "$S/run/slurmd.pid" "$S/log/slurmd.stdout" slurmd -D || true
  SLURMD_PID=$DPID
}
node_state() { sinfo -h -N -n "$NODE" -o %T | head -n1; }
node_ready() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }
sacct_ok() { sacct -n -X -a -S now-1minutes -o jobid >/dev/null 2>&1; }
wait_ready() {
  wait_daemon 60 "$SLURMD_PID" node_ready || {
    alive "$SLURMD_PID" || die "slurmd died" "$S/log/slurmd.log" "$S/log/slurmd.stdout"
    # A node left DOWN/DRAINED by an earlier run (e.g. a killed slurmd) is resumed once.
    log "node state '$(node_state)', resuming it"
    scontrol update nodename="$NODE" state=resume >&2 || true
    wait_for 30 node_ready || die "node $NODE not ready (state '$(node_state)')" \
      "$S/log/slurmd.log" "$S/log/slurmd.stdout" "$S/log/slurmctld.log"
  }
  wait_for 30 sacct_ok || die "sacct does not answer" "$S/log/slurmdbd.log"
}
# stop --kill-jobs: cancel every job through slurmctld first, so that accounting
# records them as CANCELLED instead of leaving "RUNNING" ghosts after the next start.
cancel_all_jobs() {
  ctld_ok 2>/dev/null || return 0
  local ids; mapfile -t ids < <(squeue -h -o %A | sort -u)
  ((${#ids[@]})) || return 0
  log "cancelling jobs ${ids[*]}"
  scancel "${ids[@]}" >&2 || true
  wait_for 30 no_active_jobs || log "some jobs did not end in 30 s"
}
no_active_jobs() { [[ -z $(squeue -h -t R,CG,S,CF -o %A) ]]; }
# Job steps (slurmstepd + the job's processes) outlive slurmd; stop --kill-jobs ends
# those of *this* cluster, recognised by the SLURM_CONF slurmd passed to them.
kill_job_steps() {
  local p pids=()
  for p in $(pgrep -x slurmstepd || true); do
    tr "\\0" "\\n" 2>/dev/null </proc/"$p"/environ | grep -qx "SLURM_CONF=$SLURM_CONF" && pids+=("$p")
  done
  ((${#pids[@]})) || return 0
  local all=("${pids[@]}") c
  for p in "${pids[@]}"; do while read -r c; do all+=("$c"); done < <(descendants "$p"); done
  log "killing leftover job steps and their processes: ${all[*]}"
  kill -KILL "${all[@]}" 2>/dev/null || true
}
descendants() { local c; for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done; }

# ---------------------------------------------------------------- commands
cmd_start() {
  [[ $EUID -eq 0 ]] || die "must run as root"
  ensure_packages
  log "state $S; ports slurmctld $CTLD_PORT, slurmd $SLURMD_PORT, slurmdbd $DBD_PORT, mariadb $DB_PORT"
  write_configs
  start_munge
  start_mariadb
  start_slurmdbd
  start_slurmctld
  start_slurmd
  wait_ready
  log "cluster $CLUSTER up: node $NODE $(node_state), partitions a100 (default), h100"
  echo "export SLURM_CONF=$SLURM_CONF"
}
# Without --kill-jobs running jobs survive a stop: their slurmstepd processes keep
# running and the next start's slurmd/slurmctld pick them up again (as on a real cluster).
cmd_stop() {
  local kill_jobs=0; [[ ${1:-} == --kill-jobs ]] && kill_jobs=1
  ((kill_jobs)) && cancel_all_jobs
  stop_pid "$S/run/slurmd.pid" slurmd
  ((kill_jobs)) && kill_job_steps
  stop_pid "$S/run/slurmctld.pid" slurmctld
  stop_pid "$S/run/slurmdbd.pid" slurmdbd
  stop_mariadb
  stop_munge
  rm -f "$S/run/munged.ours"
  log "stopped; state kept in $S"
}
# Leaves node state alone (a node a test set DOWN stays DOWN).
cmd_restart_ctld() {
  stop_pid "$S/run/slurmctld.pid" slurmctld
  start_slurmctld
  wait_for 30 sacct_ok || die "sacct does not answer" "$S/log/slurmdbd.log"
}
# kill DAEMON: SIGKILL, as a crash would; the pid file stays, start sees the daemon gone.
cmd_kill() {
  local pf comm
  case ${1:-} in
    slurmd|slurmctld|slurmdbd) pf=$S/run/$1.pid comm=$1 ;;
    mariadb) pf=$S/run/mariadb.pid comm=mariadbd ;;
    *) die "kill what? slurmd, slurmctld, slurmdbd or mariadb" ;;
  esac
  pid_alive "$pf" "$comm" || die "$comm is not running"
  log "killing $comm (pid $(cat "$pf")) with SIGKILL"
  kill -KILL "$(cat "$pf")"
  wait_for 10 pid_gone "$pf" "$comm" || die "$comm did not die"
}
cmd_status() {
  local up=0 d
  if munge_ok; then echo "munged: running"; else echo "munged: not running"; up=1; fi
  for d in mariadb:mariadbd slurmdbd:slurmdbd slurmctld:slurmctld slurmd:slurmd; do
    if pid_alive "$S/run/${d%%:*}.pid" "${d#*:}"; then echo "${d#*:}: running (pid $(cat "$S/run/${d%%:*}.pid"))"
    else echo "${d#*:}: not running"; up=1; fi
  done
  if [[ -f $SLURM_CONF ]] && timeout 15 sinfo 2>&1; then :; else echo "sinfo: failed"; up=1; fi
  if [[ -f $SLURM_CONF ]] && timeout 15 sacct -n -X -a -S now-1minutes >/dev/null 2>&1; then echo "sacct: answers"
  else echo "sacct: no answer"; up=1; fi
  echo "SLURM_CONF=$SLURM_CONF"
  return $up
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop "${2:-}" ;;
  status) cmd_status ;;
  restart-ctld) cmd_restart_ctld ;;
  kill) cmd_kill "${2:-}" ;;
  *) echo "usage: $0 start|stop [--kill-jobs]|status|restart-ctld|kill DAEMON" >&2; exit 2 ;;
esac
