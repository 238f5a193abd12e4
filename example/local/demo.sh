#!/usr/bin/env bash
# The offline quickstart, run by `make demo`: three releases of a "base"
# family and a child built from the newest one, over five simulated weeks
# (PACKER_LIFECYCLE_NOW), with the real Packer and the file builder. Needs
# packer and jq on PATH; takes the plugin binary to install as $1.
# DEMO_DIR chooses the working directory (default: a new temporary one).
set -euo pipefail

plugin=${1:?usage: demo.sh path/to/packer-plugin-lifecycle}
here=$(cd "$(dirname "$0")" && pwd)
work=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/packer-lifecycle-demo.XXXXXX")}
mkdir -p "$work"
cd "$work"
cp -r "$here/base" "$here/app" .
export PACKER_PLUGIN_PATH="$work/plugins" PACKER_CONFIG_DIR="$work/.packer.d" CHECKPOINT_DISABLE=1 PACKER_NO_COLOR=1

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

# run DATE TITLE packer-args...: one packer run at a simulated date, showing
# only what the lifecycle plugin said (the full log is kept beside it).
run() {
  local when=$1 title=$2; shift 2
  step=$((step + 1))
  local log="logs/$(printf '%02d' "$step")-${title//[^A-Za-z0-9.]/-}.log"
  say "[$when] $title"
  if ! PACKER_LIFECYCLE_NOW="${when}T12:00:00Z" PKR_VAR_rehearse=true packer "$@" >"$log" 2>&1; then
    cat "$log"; echo "demo: packer $* failed (log: $work/$log)" >&2; exit 1
  fi
  grep -o '(lifecycle): .*' "$log" | grep -v -e '(lifecycle): Report: ' -e '(lifecycle): Acting at the simulated time' | sed 's/^(lifecycle): /  /' || true
}
step=0
mkdir -p logs in

say "Installing the plugin offline into $PACKER_PLUGIN_PATH"
packer plugins install --path "$plugin" github.com/packer-lifecycle/lifecycle | sed 's/^/  /'

for v in 1.0.0 1.1.0 1.2.0; do # a 4 MiB "disk image" per release
  (yes "base $v" || true) | head -c $((4 << 20)) >"in/base-$v.raw"
done

run 2026-01-01 "build base 1.0.0" build -only='release.*' -var version=1.0.0 -var source_file=in/base-1.0.0.raw base
run 2026-01-15 "build base 1.1.0" build -only='release.*' -var version=1.1.0 -var source_file=in/base-1.1.0.raw base
run 2026-02-01 "build base 1.2.0" build -only='release.*' -var version=1.2.0 -var source_file=in/base-1.2.0.raw base
run 2026-02-02 "build app 1.0.0 from the newest supported base" build app
run 2026-02-15 "sweep base (no new build)" build -only='sweep.*' base
run 2026-02-15 "sweep again: nothing left to do until time passes" build -only='sweep.*' base

say "The catalog now ($work/.packer-lifecycle/catalog.json)"
jq -r '.entries[] | "  \(.family) \(.version)\t\(.stage)\tparent=\(.parent // "-")\tfiles: \([.files[] | if .deleted then "deleted" elif .quarantined then .quarantined else .path end] | join(", "))"' \
  .packer-lifecycle/catalog.json
reclaimed=$(jq -s 'map(.summary.bytes_reclaimed) | add' .packer-lifecycle/reports/*.json)
say "Reclaimed $((reclaimed >> 20)) MiB; JSON reports in $work/.packer-lifecycle/reports/"
ls .packer-lifecycle/reports | sed 's/^/  /'
