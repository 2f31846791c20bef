#!/usr/bin/env bash
# Build the test cluster's binaries from pinned Go modules into a cache folder keyed by
# their versions (not in the repo): kube-apiserver, kube-controller-manager and etcd
# (tests/cluster/k8s), Argo's
# workflow-controller, argoexec and argo CLI (the release's own go.mod), the S3 server
# (tests/cluster/s3). A binary already there is not built again. Prints the bin folder
# last; wall-clock seconds per binary go to <cache>/build-times.txt.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
cache="${DFLOWCTL_CLUSTER_CACHE:-$HOME/.cache/dflowctl-cluster}/k8s-$K8S_VERSION-argo-$ARGO_VERSION-etcd-$ETCD_VERSION"
bin="$cache/bin"
mkdir -p "$bin"
export GOFLAGS="${GOFLAGS:--buildvcs=false} -trimpath"
command -v go >/dev/null || { echo "build.sh: go is not on PATH" >&2; exit 2; }

timed() { # timed NAME DIR GO-BUILD-ARGS... : build $bin/NAME in DIR unless it is there
  local name="$1" dir="$2"; shift 2
  [ -x "$bin/$name" ] && return 0
  local start; start=$(date +%s)
  echo "build.sh: building $name ..." >&2
  (cd "$dir" && nice -n 5 go build -ldflags=-s -o "$bin/$name.tmp" "$@")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$name $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >> "$cache/build-times.txt"
}

timed kube-apiserver "$here/k8s" k8s.io/kubernetes/cmd/kube-apiserver
timed kube-controller-manager "$here/k8s" k8s.io/kubernetes/cmd/kube-controller-manager
timed etcd "$here/k8s" ./etcd
timed s3 "$here/s3" .

# Argo: build inside a writable copy of the released module (its own go.mod and
# go.sum pin its dependencies), with an empty UI folder for the CLI's go:embed,
# workflow/executor/osspecific/signal_linux.go restored (upstream it is a symlink to
# signal_darwin.go, and module zips drop symlinks, so argoexec does not compile from
# the module as it is), and one change: the controller's /healthz listens on
# 127.0.0.1:6060, not :6060.
src="$cache/src/argo-workflows"
if [ ! -f "$src/.ready" ]; then
  mod="$(cd "$here/k8s" && go mod download -json "github.com/argoproj/argo-workflows/v4@$ARGO_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$mod" ] || { echo "build.sh: could not download argo-workflows $ARGO_VERSION" >&2; exit 3; }
  rm -rf "$src"; mkdir -p "$(dirname "$src")"
  cp -r "$mod" "$src"; chmod -R u+w "$src"
  mkdir -p "$src/ui/dist/app"
  echo '<!doctype html><title>Argo UI not built (dflowctl test cluster)</title>' > "$src/ui/dist/app/index.html"
  osdir="$src/workflow/executor/osspecific"
  [ -f "$osdir/signal_linux.go" ] || cp "$osdir/signal_darwin.go" "$osdir/signal_linux.go"
  sed -i 's|http.ListenAndServe(":6060", nil)|http.ListenAndServe("127.0.0.1:6060", nil)|' "$src/cmd/workflow-controller/main.go"
  grep -q '"127.0.0.1:6060"' "$src/cmd/workflow-controller/main.go" || { echo "build.sh: healthz patch did not apply" >&2; exit 3; }
  touch "$src/.ready"
fi
ldflags="-s -X github.com/argoproj/argo-workflows/v4.version=$ARGO_VERSION"
for cmd in workflow-controller argoexec argo; do
  if [ ! -x "$bin/$cmd" ]; then
    start=$(date +%s); echo "build.sh: building $cmd ..." >&2
    (cd "$src" && nice -n 5 go build -ldflags="$ldflags" -o "$bin/$cmd.tmp" "./cmd/$cmd")
    mv "$bin/$cmd.tmp" "$bin/$cmd"
    echo "$cmd $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >> "$cache/build-times.txt"
  fi
done
echo "$bin"
