#!/usr/bin/env bash
# Runs launch/train.py as N processes on this machine (jax.distributed over a free local port,
# gloo collectives on CPU), each with its own --process_id, and waits for all of them:
#
#   launch/local_multihost.sh 2 --config=configs/encodec.py:tiny --workdir=runs/two
#
# Exits with the first non-zero status of a process (stopping the others), else 0. SIGTERM or
# SIGINT is passed on to every process (a preempted run checkpoints and exits 0).
# Environment: PYTHON (default python3), DEVICES_PER_PROCESS (default 1: XLA's host platform
# device count, which replaces any in XLA_FLAGS), JAX_PLATFORMS (default cpu).
set -u

if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ || "$1" -lt 1 ]]; then
  echo "error: usage: $0 N [launch/train.py flags...] (N: the number of processes, 1 or more)" >&2
  exit 2
fi
n=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${PYTHON:-python3}
devices=${DEVICES_PER_PROCESS:-1}
if [[ ! "$devices" =~ ^[0-9]+$ || "$devices" -lt 1 ]]; then
  echo "error: DEVICES_PER_PROCESS=$devices: use a whole number, 1 or more" >&2
  exit 2
fi
free_port='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
port=$("$python" -c "$free_port") || {
  echo "error: could not find a free local port with $python" >&2
  exit 2
}
flags=$(echo "${XLA_FLAGS:-}" | sed -E 's/--xla_force_host_platform_device_count=[^ ]*//g')
export XLA_FLAGS="$flags --xla_force_host_platform_device_count=$devices"
export JAX_PLATFORMS=${JAX_PLATFORMS:-cpu}
unset JAX_COORDINATOR_ADDRESS JAX_NUM_PROCESSES JAX_PROCESS_ID

declare -A running=()
for ((i = 0; i < n; i++)); do
  "$python" "$here/train.py" "$@" --coordinator_address="127.0.0.1:$port" \
    --num_processes="$n" --process_id="$i" &
  running[$!]=$i
done

forward() {
  kill -s "$1" "${!running[@]}" 2>/dev/null
}
trap 'forward TERM' TERM
trap 'forward INT' INT

status=0
while ((${#running[@]} > 0)); do
  unset done_pid
  wait -n -p done_pid "${!running[@]}" 2>/dev/null  # no "Killed" job reports
  rc=$?
  if [[ -z "${done_pid:-}" ]]; then  # a trapped signal interrupted the wait
    continue
  fi
  index=${running[$done_pid]}
  unset "running[$done_pid]"
  if ((rc != 0 && status == 0)); then
    status=$rc
    echo "local_multihost: process $index exited with status $rc; stopping the others" >&2
    forward KILL  # they would wait for it in their next collective
  fi
done
exit $status
