#!/bin/sh
# Runs the server as PUID:PGID (LinuxServer.io convention), never as root.
# Started as root: give the config and data folders to that user, then
# drop privileges with setpriv. Started with --user: run as that user directly.
set -eu
# What the server creates is its user's alone (the store holds the API key);
# set UMASK=027 to let a media server in the same group read the library.
umask "${UMASK:-077}"

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
# The image sets AO_CONFIG=/config/config.toml and AO_DB=/data/...; their
# folders are what the server writes.
AO_CONFIG="${AO_CONFIG:-/config/config.toml}"
AO_DB="${AO_DB:-/data/audiobook-organizer.redb}"
export AO_CONFIG AO_DB
config_dir=$(dirname "$AO_CONFIG")
data_dir=$(dirname "$AO_DB")
mkdir -p "$config_dir" "$data_dir"
if [ ! -e "$AO_CONFIG" ]; then
  : > "$AO_CONFIG"
fi
# Only what the server writes; the library and imports keep their owners.
chown "$PUID:$PGID" "$config_dir" "$data_dir" "$AO_CONFIG"
if [ -e "$AO_DB" ]; then chown "$PUID:$PGID" "$AO_DB"; fi
echo "audiobook-organizer: running as uid $PUID gid $PGID"
exec setpriv --reuid="$PUID" --regid="$PGID" --clear-groups --inh-caps=-all \
  audiobook-organizer "$@"
