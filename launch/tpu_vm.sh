#!/usr/bin/env bash
# launch/train.py on a Cloud TPU VM slice: create (a queued resource), set up every worker,
# train on all of them, follow the log, delete.
#
#   launch/tpu_vm.sh [create|wait|setup|train|logs|delete|all|hosts] [--flag=VALUE ...]
#                    [-- TRAIN_ARGS...]
#
# Settings come from the environment or the same-named flags (--accelerator-type=v4-32 sets
# ACCELERATOR_TYPE):
#   PROJECT, ZONE          default: gcloud's configured project / compute zone
#   NAME                   TPU node name (default soundgen-$USER); QUEUED_RESOURCE defaults to it
#   ACCELERATOR_TYPE       v4-8 (default), v4-32, v5p-16, v5litepod-16, v6e-8, ...
#   RUNTIME_VERSION        default: the usual base image of the accelerator's generation
#   PROVISIONING           spot (default) | best-effort | reserved | on-demand
#   CONFIG                 launch/train.py --config (default configs/soundstorm.py)
#   WORKDIR                gs://BUCKET/PATH (required by train)
#   WORKDIR_MODE           fuse (default): the bucket is mounted with gcsfuse on every worker
#                          and train.py gets the mounted path, because the trainer writes its
#                          metrics and configs with plain file I/O; direct: train.py gets gs://
#   REPO, REF              git URL and ref to clone on the workers (default: this checkout's
#                          HEAD, copied with git archive + scp)
#   NUM_HOSTS              workers in the slice (default: from ACCELERATOR_TYPE)
#   DRY_RUN=1              print the gcloud commands instead of running them
# Arguments after -- go to launch/train.py, e.g. -- --config.total_steps=1000.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

COMMAND=all
TRAIN_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    create|wait|setup|train|logs|delete|all|hosts) COMMAND=$1 ;;
    -h|--help|help) usage; exit 0 ;;
    --) shift; TRAIN_ARGS=("$@"); break ;;
    --*=*)
      key=${1%%=*}; key=${key#--}; key=${key//-/_}
      key=$(printf '%s' "$key" | tr '[:lower:]' '[:upper:]')
      case "$key" in
        PROJECT|ZONE|NAME|QUEUED_RESOURCE|ACCELERATOR_TYPE|RUNTIME_VERSION|PROVISIONING|\
CONFIG|WORKDIR|WORKDIR_MODE|REPO|REF|NUM_HOSTS|DRY_RUN) printf -v "$key" '%s' "${1#*=}" ;;
        *) echo "error: unknown flag $1 (see --help)" >&2; exit 2 ;;
      esac ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

DRY_RUN=${DRY_RUN:-0}
ACCELERATOR_TYPE=${ACCELERATOR_TYPE:-v4-8}
NAME=${NAME:-soundgen-${USER:-tpu}}
QUEUED_RESOURCE=${QUEUED_RESOURCE:-$NAME}
PROVISIONING=${PROVISIONING:-spot}
CONFIG=${CONFIG:-configs/soundstorm.py}
WORKDIR=${WORKDIR:-}
WORKDIR_MODE=${WORKDIR_MODE:-fuse}
REPO=${REPO:-}
REF=${REF:-HEAD}
POLL_SECONDS=${POLL_SECONDS:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REMOTE_DIR=soundgen_jax  # under each worker's home

die() { echo "error: $*" >&2; exit 2; }

gcloud_default() {  # a gcloud config value, or empty (no gcloud on a dry run)
  [ "$DRY_RUN" = 1 ] && return 0
  command -v gcloud >/dev/null || die "gcloud is not installed (https://cloud.google.com/sdk)"
  gcloud config get-value "$1" 2>/dev/null || true
}
PROJECT=${PROJECT:-$(gcloud_default project)}
ZONE=${ZONE:-$(gcloud_default compute/zone)}
[ -n "$PROJECT" ] || die "set PROJECT (or --project=ID)"
[ -n "$ZONE" ] || die "set ZONE (or --zone=ZONE), e.g. us-central2-b for v4"

GEN=${ACCELERATOR_TYPE%-*}
SIZE=${ACCELERATOR_TYPE##*-}
[[ "$SIZE" =~ ^[0-9]+$ && "$GEN" != "$ACCELERATOR_TYPE" ]] || \
  die "ACCELERATOR_TYPE=$ACCELERATOR_TYPE: expected GENERATION-SIZE, e.g. v4-32"
if [ -z "${RUNTIME_VERSION:-}" ]; then
  case "$GEN" in
    v2|v3|v4) RUNTIME_VERSION=tpu-ubuntu2204-base ;;
    v5p) RUNTIME_VERSION=v2-alpha-tpuv5 ;;
    v5litepod|v5e) RUNTIME_VERSION=v2-alpha-tpuv5-lite ;;
    v6e) RUNTIME_VERSION=v2-alpha-tpuv6e ;;
    *) die "no default RUNTIME_VERSION for $GEN; set one" ;;
  esac
fi
if [ -z "${NUM_HOSTS:-}" ]; then
  case "$GEN" in
    # The size counts TensorCores: 8 per host (4 chips of 2 cores).
    v2|v3|v4|v5p) NUM_HOSTS=$(( (SIZE + 7) / 8 )) ;;
    # The size counts chips: up to 8 on one host, 4 per host beyond.
    v5litepod|v5e|v6e) NUM_HOSTS=$(( SIZE <= 8 ? 1 : SIZE / 4 )) ;;
    *) die "set NUM_HOSTS for $ACCELERATOR_TYPE" ;;
  esac
fi

# One word for a shell, readable: as it is when safe, else in single quotes (--flag='...').
quote() {
  local word=$1 flag=""
  if [[ "$word" =~ ^(--[a-z-]+=)(.*)$ ]]; then flag=${BASH_REMATCH[1]}; word=${BASH_REMATCH[2]}; fi
  if [[ "$word" =~ ^[A-Za-z0-9_./:=@%+,-]*$ ]]; then
    printf '%s%s' "$flag" "$word"
  else
    printf "%s'%s'" "$flag" "${word//\'/\'\\\'\'}"
  fi
}

# Runs a command, or prints it (one line a shell would read back) on a dry run.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    local line="" word
    for word in "$@"; do line+="$(quote "$word") "; done
    echo "${line% }"
  else
    "$@"
  fi
}

LOCATION=(--project="$PROJECT" --zone="$ZONE")
ssh_all() {
  run gcloud compute tpus tpu-vm ssh "$NAME" "${LOCATION[@]}" --worker=all --command="$1"
}

do_create() {
  local gcloud=(gcloud compute tpus queued-resources create) extra=()
  case "$PROVISIONING" in
    spot) extra=(--spot) ;;
    best-effort)  # only in gcloud alpha
      gcloud=(gcloud alpha compute tpus queued-resources create); extra=(--best-effort) ;;
    reserved) extra=(--reserved) ;;
    on-demand) ;;
    *) die "PROVISIONING=$PROVISIONING: spot, best-effort, reserved or on-demand" ;;
  esac
  run "${gcloud[@]}" "$QUEUED_RESOURCE" "${LOCATION[@]}" --node-id="$NAME" \
    --accelerator-type="$ACCELERATOR_TYPE" --runtime-version="$RUNTIME_VERSION" "${extra[@]}"
}

do_wait() {
  local describe=(gcloud compute tpus queued-resources describe "$QUEUED_RESOURCE"
                  "${LOCATION[@]}" --format='value(state.state)')
  if [ "$DRY_RUN" = 1 ]; then
    run "${describe[@]}"
    echo "# (repeated every ${POLL_SECONDS}s until ACTIVE)"
    return
  fi
  local state
  while true; do
    state=$("${describe[@]}")
    echo "queued resource $QUEUED_RESOURCE: $state" >&2
    case "$state" in
      ACTIVE) return ;;
      FAILED|SUSPENDED) die "queued resource $QUEUED_RESOURCE is $state" ;;
    esac
    sleep "$POLL_SECONDS"
  done
}

# Bring the repository to every worker, then an idempotent venv: created once, pip run again
# only when setup.py changes.
do_setup() {
  local fetch
  if [ -n "$REPO" ]; then
    fetch="if [ -d $REMOTE_DIR/.git ]; then git -C $REMOTE_DIR fetch -q origin; \
else git clone -q $(printf %q "$REPO") $REMOTE_DIR; fi && \
git -C $REMOTE_DIR checkout -q $(printf %q "$REF")"
  else
    local archive=/tmp/soundgen_jax-$NAME.tar.gz
    run git -C "$ROOT" archive --format=tar.gz -o "$archive" "$REF"
    run gcloud compute tpus tpu-vm scp "$archive" "$NAME:soundgen_jax.tar.gz" "${LOCATION[@]}" \
      --worker=all
    # Replace the tree (files deleted upstream go too), keep the venv.
    fetch="mkdir -p $REMOTE_DIR && find $REMOTE_DIR -mindepth 1 -maxdepth 1 ! -name .venv \
-exec rm -rf {} + && tar -xzf soundgen_jax.tar.gz -C $REMOTE_DIR"
  fi
  local venv="cd $REMOTE_DIR && { test -x .venv/bin/python || python3 -m venv .venv; } && \
stamp=.venv/.installed-\$(sha256sum setup.py | cut -c1-16) && \
if [ ! -f \$stamp ]; then .venv/bin/pip install -q --upgrade pip && \
.venv/bin/pip install -q -e . 'jax[tpu]' && touch \$stamp; fi && \
.venv/bin/python -c 'import jax, soundgen_jax; print(\"jax\", jax.__version__)'"
  local fuse=""
  if [ "$WORKDIR_MODE" = fuse ]; then
    # gcsfuse from Google's apt repository, once.
    fuse="{ command -v gcsfuse >/dev/null || { \
echo 'deb https://packages.cloud.google.com/apt gcsfuse-'\$(lsb_release -c -s)' main' | \
sudo tee /etc/apt/sources.list.d/gcsfuse.list >/dev/null && \
curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo apt-key add - && \
sudo apt-get update -qq && sudo apt-get install -y -qq gcsfuse; }; } && "
  fi
  ssh_all "set -e; $fuse$fetch && $venv"
}

do_train() {
  [[ "$WORKDIR" == gs://?* ]] || die "set WORKDIR=gs://BUCKET/PATH (every worker writes there)"
  local workdir=$WORKDIR mount=""
  if [ "$WORKDIR_MODE" = fuse ]; then
    local rest=${WORKDIR#gs://} bucket
    bucket=${rest%%/*}
    # Orbax commits a checkpoint by renaming its temporary folder (--rename-dir-limit), and
    # every host writes into it (no metadata cache, or one host misses the others' files).
    mount="mkdir -p \$HOME/gcs/$bucket && { mountpoint -q \$HOME/gcs/$bucket || gcsfuse \
--implicit-dirs --rename-dir-limit=1000000 --metadata-cache-ttl-secs=0 $bucket \
\$HOME/gcs/$bucket; } && "
    workdir="\$HOME/gcs/$rest"
  elif [ "$WORKDIR_MODE" != direct ]; then
    die "WORKDIR_MODE=$WORKDIR_MODE: fuse or direct"
  fi
  local args=""
  [ ${#TRAIN_ARGS[@]} -gt 0 ] && args=" $(printf '%q ' "${TRAIN_ARGS[@]}")"
  # Several hosts: launch/train.py initialises jax.distributed, which reads the rest of the
  # topology from the TPU metadata.
  local env=""
  [ "$NUM_HOSTS" -gt 1 ] && env="JAX_NUM_PROCESSES=$NUM_HOSTS "
  local job="${env}.venv/bin/python launch/train.py --config=$(printf %q "$CONFIG") \
--workdir=$workdir --progress=false${args% }; echo \$? > ../train.rc"
  # Detached, so the ssh returns; the exit status lands in train.rc for `logs`.
  ssh_all "set -e; cd $REMOTE_DIR && ${mount}rm -f ../train.rc && \
nohup setsid bash -c $(quote "$job") > ../train.log 2>&1 < /dev/null & \
echo \$! > ../train.pid; echo \"\$(hostname): started, pid \$(cat ../train.pid)\""
}

# Worker 0's log until its training process ends; its exit status is this command's.
do_logs() {
  run gcloud compute tpus tpu-vm ssh "$NAME" "${LOCATION[@]}" --worker=0 --command="tail -n +1 \
-F --pid=\$(cat train.pid) train.log; exit \$(cat train.rc 2>/dev/null || echo 1)"
}

do_delete() {
  run gcloud compute tpus queued-resources delete "$QUEUED_RESOURCE" "${LOCATION[@]}" --force \
    --quiet
}

case "$COMMAND" in
  hosts) echo "$NUM_HOSTS" ;;
  create) do_create ;;
  wait) do_wait ;;
  setup) do_setup ;;
  train) do_train ;;
  logs) do_logs ;;
  delete) do_delete ;;
  all)
    [[ "$WORKDIR" == gs://?* ]] || die "set WORKDIR=gs://BUCKET/PATH (every worker writes there)"
    do_create
    do_wait
    do_setup
    do_train
    status=0
    do_logs || status=$?
    do_delete
    exit "$status"
    ;;
esac
