#!/bin/sh
# Runs the server as PUID:PGID (LinuxServer.io convention), never as root.
# Started as root: give /config and /data to that user, then drop
# privileges with setpriv. Started with --user: run as that user directly.
set -eu

if [ "$(id -u)" != "0" ]; then
  exec audiobook-organizer "$@"
fi

PUID="${PUID:-1000}"
PGID="${PGID:-1000}"
case "$PUID$PGID" in
  *[!0-9]*) echo "PUID and PGID must be numbers (got PUID=$PUID PGID=$PGID)" >&2; exit 64 ;;
esac
if [ "$PUID" = "0" ] || [ "$PGID" = "0" ]; then
  echo "refusing to run as root: set PUID and PGID to a normal user" >&2
  exit 64
fi
if [ ! -e /config/config.toml ]; then
  : > /config/config.toml
fi
# Only what the server writes; the library and imports keep their owners.
chown "$PUID:$PGID" /config /data /config/config.toml
[ -e "$AO_DB" ] && chown "$PUID:$PGID" "$AO_DB"
echo "audiobook-organizer: running as uid $PUID gid $PGID"
exec setpriv --reuid="$PUID" --regid="$PGID" --clear-groups --inh-caps=-all \
  audiobook-organizer "$@"
