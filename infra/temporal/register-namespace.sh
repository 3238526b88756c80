#!/bin/sh
# The namespace the project uses and its custom search attributes, on the compose stack's
# Temporal server (the local stack's dev server is started with both). POSIX sh: the image is
# Alpine with BusyBox, no bash. Run on every `up`: only what is missing is created. The
# `temporal` CLI reads TEMPORAL_ADDRESS from the environment.
#   NAMESPACE          the namespace (HYBRID_TEMPORAL_NAMESPACE of the project's containers)
#   SEARCH_ATTRIBUTES  space-separated name=Type pairs (domain/orders/search_attributes.py)
set -eu

# Each step is retried for a while: the server's health check only sees its port open, which
# comes before its frontend serves, and a namespace registered a moment ago reaches every part
# of the server only after its cache refresh.
retry() {
  for _ in $(seq 60); do
    "$@" && return 0
    sleep 2
  done
  "$@"
}

# a step whose effect is already there (another run made it) counts as done
namespace_exists() {
  temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1
}
create_namespace() {
  namespace_exists || temporal operator namespace create --namespace "$NAMESPACE" ||
    namespace_exists
}
attribute_exists() {
  temporal operator search-attribute list --namespace "$NAMESPACE" | grep -qw -- "$1"
}
create_attribute() {
  attribute_exists "$1" ||
    temporal operator search-attribute create --namespace "$NAMESPACE" --name "$1" \
      --type "$2" ||
    attribute_exists "$1"
}

retry temporal operator cluster health
retry create_namespace
for attribute in $SEARCH_ATTRIBUTES; do
  retry create_attribute "${attribute%%=*}" "${attribute#*=}"
  echo "search attribute ${attribute%%=*}: registered"
done
