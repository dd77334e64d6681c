#!/bin/sh
# Starts one Redis of the redis-node StatefulSet. It serves as a replica of whichever node the Sentinels name the
# primary; when no Sentinel answers (the first start of the deployment), redis-node-0 is the primary. A node
# that comes back after a failover thus rejoins as a replica instead of a second primary.
set -eu
self="$(hostname).redis-headless"
primary=""
for i in 0 1 2; do
  primary="$(redis-cli -t 1 -h "redis-sentinel-$i.redis-sentinel-headless" -p 26379 --raw \
    sentinel get-master-addr-by-name tailor 2>/dev/null | head -n 1)" || primary=""
  [ -n "$primary" ] && break
done
if [ -z "$primary" ]; then
  primary="redis-node-0.redis-headless"
fi
# Derived state, rebuilt from Kafka: no persistence. Announced by name so that Sentinels and clients reach the
# node by its stable DNS name, not a pod IP that changes on restart.
set -- redis-server --port 6379 --save "" --appendonly no --replica-announce-ip "$self"
if [ "$primary" != "$self" ]; then
  set -- "$@" --replicaof "$primary" 6379
fi
exec "$@"
