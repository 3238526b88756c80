#!/usr/bin/env bash
# The namespace the project uses and its custom search attributes, on the compose stack's
# Temporal server (the local stack's dev server is started with both). Run on every `up`: only
# what is missing is created. The `temporal` CLI reads TEMPORAL_ADDRESS from the environment.
#   NAMESPACE          the namespace (HYBRID_TEMPORAL_NAMESPACE of the project's containers)
#   SEARCH_ATTRIBUTES  space-separated name=Type pairs (workflows/search_attributes.py)
set -euo pipefail

# A namespace registered a moment ago reaches every part of the server only after its cache
# refresh: operations on it are retried for a while.
retry() {
  for _ in $(seq 30); do
    "$@" && return 0
    sleep 2
  done
  "$@"
}

if ! temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
  temporal operator namespace create --namespace "$NAMESPACE"
fi

registered=$(retry temporal operator search-attribute list --namespace "$NAMESPACE")
for attribute in $SEARCH_ATTRIBUTES; do
  name=${attribute%%=*}
  type=${attribute#*=}
  if grep -qw -- "$name" <<<"$registered"; then
    echo "search attribute $name: registered"
  else
    retry temporal operator search-attribute create --namespace "$NAMESPACE" \
      --name "$name" --type "$type"
  fi
done
