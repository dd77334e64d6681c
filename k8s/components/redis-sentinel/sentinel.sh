#!/bin/sh
# Starts one Sentinel. It watches the primary the other Sentinels know (after a failover, the promoted node),
# or redis-node-0 on the first start. Sentinel rewrites its configuration file, so it lives on an emptyDir.
set -eu
primary=""
for i in 0 1 2; do
  [ "$(hostname)" = "redis-sentinel-$i" ] && continue
  primary="$(redis-cli -t 1 -h "redis-sentinel-$i.redis-sentinel-headless" -p 26379 --raw \
    sentinel get-master-addr-by-name tailor 2>/dev/null | head -n 1)" || primary=""
  [ -n "$primary" ] && break
done
if [ -z "$primary" ]; then
  primary="redis-node-0.redis-headless"
fi
cat > /data/sentinel.conf <<CONF
port 26379
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $(hostname).redis-sentinel-headless
sentinel monitor tailor $primary 6379 2
sentinel down-after-milliseconds tailor 5000
sentinel failover-timeout tailor 60000
sentinel parallel-syncs tailor 1
CONF
exec redis-sentinel /data/sentinel.conf
