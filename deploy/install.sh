#!/bin/sh
# Install or update pi-crm as a systemd service (Raspberry Pi OS / Debian).
#
#   sudo ./install.sh [BINARY]
#
# BINARY defaults to the one for this machine next to this script:
# pi-crm-linux-arm64 on a 64-bit OS (uname -m: aarch64), pi-crm-linux-armv7 on
# a 32-bit one (armv7l). Run it again with a new binary to update: the running
# binary is kept as /usr/local/bin/pi-crm.previous, after a backup of the data
# (the service is stopped for it) (rollback: ./install.sh
# --rollback). The data directory and the key file are never overwritten.
#
# PICRM_ROOT (default /) installs under another root and skips the user and
# systemctl steps: the tests use it to check the files this script lays down.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=${PICRM_ROOT:-/}
root=${root%/}
bin_dir=$root/usr/local/bin
etc_dir=$root/etc/pi-crm
unit_dir=$root/etc/systemd/system
data_dir=$root/var/lib/pi-crm
live=true
[ -z "$root" ] || live=false

say() { printf 'pi-crm install: %s\n' "$*"; }
die() { say "error: $*" >&2; exit 1; }

if $live && [ "$(id -u)" -ne 0 ]; then
  die "run it as root: sudo $0 $*"
fi

rollback=false
bin=""
for arg in "$@"; do
  case $arg in
    --rollback) rollback=true ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) bin=$arg ;;
  esac
done

restart() {
  if $live; then
    systemctl daemon-reload
    systemctl enable pi-crm.service >/dev/null 2>&1
    systemctl restart pi-crm.service
    say "started; status: systemctl status pi-crm, logs: journalctl -u pi-crm"
  fi
}

if $rollback; then
  [ -x "$bin_dir/pi-crm.previous" ] || die "no previous binary at $bin_dir/pi-crm.previous"
  mv "$bin_dir/pi-crm" "$bin_dir/pi-crm.rolled-back"
  mv "$bin_dir/pi-crm.previous" "$bin_dir/pi-crm"
  say "back on the previous binary (the newer one is $bin_dir/pi-crm.rolled-back)"
  say "its database may have been migrated by the newer one: if it does not start, restore the backup made before the update"
  restart
  exit 0
fi

if [ -z "$bin" ]; then
  case $(uname -m) in
    aarch64|arm64) bin=$here/pi-crm-linux-arm64 ;;
    armv7l|armv8l) bin=$here/pi-crm-linux-armv7 ;;
    x86_64) bin=$here/pi-crm-linux-amd64 ;;
    *) die "no pi-crm build for $(uname -m) (a Pi Zero or Pi 1 is ARMv6: not supported)" ;;
  esac
fi
[ -f "$bin" ] || die "binary $bin not found"
for f in pi-crm.service pi-crm-ctl; do
  [ -f "$here/$f" ] || die "$f not found next to $0"
done

# 1. the user: a system account without a login shell or a home of its own
if $live && ! id pi-crm >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/pi-crm --no-create-home --shell /usr/sbin/nologin pi-crm
  say "created the system user pi-crm"
fi

# 2. the binary, keeping the one it replaces for a rollback
mkdir -p "$bin_dir"
if [ -f "$bin_dir/pi-crm" ]; then
  if [ -f "$data_dir/data.db" ]; then
    # a backup of the data as the running version left it, before the new
    # binary migrates it; with the service stopped, so that nothing changes
    # meanwhile (and no scheduled backup runs beside this one)
    if $live; then systemctl stop pi-crm.service 2>/dev/null || true; fi
    name="before_update_$(date -u +%Y%m%d%H%M%S)"
    if "$bin_dir/pi-crm-ctl" backup create "$name"; then
      say "backup $name.zip made before the update"
    else
      if $live; then systemctl start pi-crm.service 2>/dev/null || true; fi
      die "the backup before the update failed: nothing changed"
    fi
  fi
  cp -p "$bin_dir/pi-crm" "$bin_dir/pi-crm.previous"
fi
install -m 0755 "$bin" "$bin_dir/pi-crm.new"
mv -f "$bin_dir/pi-crm.new" "$bin_dir/pi-crm"
install -m 0755 "$here/pi-crm-ctl" "$bin_dir/pi-crm-ctl"

# 3. the environment file: the settings encryption key, made once, mode 0600
mkdir -p "$etc_dir"
chmod 0755 "$etc_dir"
if [ ! -f "$etc_dir/pi-crm.env" ]; then
  old=$(umask)
  umask 077
  key=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
  {
    echo "# pi-crm service environment (root only: mode 0600)."
    echo "# The key encrypts the settings stored in the database (provider secrets, PocketBase's own settings)."
    echo "# Keep a copy of this file with your backups: a restored database needs the same key."
    echo "PICRM_ENCRYPTION_KEY=$key"
    echo "# Where to listen. For PocketBase's own HTTPS (Let's Encrypt) put the domain instead:"
    echo "#   PICRM_SERVE_ARGS=crm.example.com"
    echo 'PICRM_SERVE_ARGS="--http 0.0.0.0:8090"'
  } > "$etc_dir/pi-crm.env"
  umask "$old"
  say "wrote $etc_dir/pi-crm.env with a new encryption key"
fi
chmod 0600 "$etc_dir/pi-crm.env"
$live && chown root:root "$etc_dir/pi-crm.env"

# 4. the unit and the data directory (systemd creates it too: StateDirectory)
mkdir -p "$unit_dir"
install -m 0644 "$here/pi-crm.service" "$unit_dir/pi-crm.service"
mkdir -p "$data_dir"
chmod 0750 "$data_dir"
$live && chown pi-crm:pi-crm "$data_dir"

restart
say "installed $bin_dir/pi-crm; commands on its data: sudo pi-crm-ctl backup list (see pi-crm --help)"
