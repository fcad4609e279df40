#!/usr/bin/env bash
# boot.sh: provision a bare Debian node and start Hydra on it (docs/boot.md).
#
#   sudo ./boot.sh [--yes] [--check] [--scheduled|--standalone] [--server-name NAME]
#                  [--node-id ID] [--cert FILE --key FILE]
#
# Every step has a check and an apply: the check says what a run would change, the apply does
# it and says what it changed; a step with nothing to do changes nothing, so a second run is a
# no-op. Exit codes: 0 done (with --check: nothing would change), 1 failed (with --check: a run
# would change something, or something could not be checked), 2 bad usage.
set -Eeuo pipefail
umask 022

# ==== settings ===================================================================================
APP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SELF="$APP_DIR/boot.sh"
HYDRA_USER=hydra
HYDRA_HOME=/var/lib/hydra
ETC_DIR=/etc/hydra
ENV_FILE=$ETC_DIR/hydra.env
STATE_DIR=$ETC_DIR/boot            # root-only: what boot.sh remembers between runs
TLS_DIR=$ETC_DIR/tls
NGINX_DIR=$ETC_DIR/nginx
NGINX_CONF=$NGINX_DIR/hydra.conf
NGINX_STUB=/etc/nginx/conf.d/hydra.conf
NGINX_SUDOERS=/etc/sudoers.d/hydra-nginx
# The root-owned helper that renders, tests and reloads nginx from the node's routes (data only).
NGINX_HELPER=/usr/local/sbin/hydra-nginx-apply
NGINX_HELPER_LIB=/usr/local/lib/hydra-nginx
NGINX_DATA=$HYDRA_HOME/nginx/routes.json
PGB_DIR=/etc/pgbouncer
PGB_PID=/var/run/postgresql/pgbouncer.pid
PGB_LOG=/var/log/postgresql/pgbouncer.log
LOG_DIR=/var/log/hydra
# node.log (no-systemd mode) is rotated by boot.sh's supervisor, copytruncate style: past this
# size it becomes node.log.1 (older ones shift up to .KEEP, the oldest dropped).
NODE_LOG_MAX_KB=${HYDRA_NODE_LOG_MAX_KB:-10240}
NODE_LOG_KEEP=${HYDRA_NODE_LOG_KEEP:-5}
RUN_DIR=/run/hydra
SUPERVISE_PID=$RUN_DIR/supervise.pid
NODE_STAMP=$RUN_DIR/node.stamp
UNIT_FILE=/etc/systemd/system/hydra-node.service
CLI_WRAPPER=/usr/local/bin/hydra
PG_PORT=5432
PGB_PORT=6432
REDIS_PORT=6379
ADMIN_PORT=7070
KEY_PREFIX='hydra:'
OS_RELEASE=${HYDRA_BOOT_OS_RELEASE:-/etc/os-release} # tests point it at another OS's file
# Node.js when Debian's is older than 20.19: the npm registry's binary packages, pinned and checked.
NODE_MIN=20.19
NODE_PIN=20.19.6
NODE_SHA512_x64='sha512-nSaDjLjUZdsLMDckfinsQl+hvKifYUuzO7swyacVzrKAIi0ByaORSE1DpaRTjxfCq3mETV/3uTlKXStzd2nJWQ=='
NODE_SHA512_arm64='sha512-T28TZKZJ9yyf/ZZI1hVnzkvD3HhVrVe8O/5oSNO2WtlYVshqJrWuGnOOOk/7R3xF7psP2aVzHnbtQ1Q5UeWKmA=='
NPM_PIN=10.8.2
NPM_SHA512='sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w=='
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

usage() {
  cat <<EOF
Usage: sudo ./boot.sh [options]

Provisions this Debian machine as a Hydra node and starts it: packages, Node.js, the hydra
user, npm ci + build, TLS, Redis, PostgreSQL + PgBouncer, the schema, nginx on 443, the node
daemon (systemd, or boot.sh's own supervisor without it), the git deploy repo and the CLI.
Safe to run again: it changes only what differs, and says what it changed.

Options:
  --yes               do not ask before changing the machine (needed without a terminal)
  --check             change nothing; print what a run would change
                      (exit 0: nothing would change, 1: something would)
  --scheduled         run the node in scheduled mode (it runs what the scheduler places)
  --standalone        run the reference pipeline from the topology file (the default)
  --server-name NAME  the node's DNS name, for nginx and the certificate (default: hostname -f)
  --node-id ID        the node's id (default: kept, else from the host name)
  --cert FILE         your own TLS certificate (PEM, chain included) instead of the node CA's;
  --key FILE          its private key (PEM); both are checked before anything changes
  -h, --help          this help

Exit codes: 0 done, 1 failed (or, with --check, something would change), 2 bad usage.
Files: /etc/hydra/hydra.env (settings and secrets), /var/log/hydra/boot.log (command output).
EOF
}

# ==== output ====================================================================================
STEP_NO=0
STEP_TOTAL=15
STEP_TITLE=''
CHECK=0
YES=0
DRIFT=()
CHANGES=()
INFO=''
CHANGED_STEPS=()
DRIFT_STEPS=()
WARNINGS=()
BOOT_LOG=/dev/null

say() { printf '%s\n' "$*"; }
warn() { WARNINGS+=("$*"); }
die() {
  printf 'boot.sh: %s%s\n' "${STEP_TITLE:+$STEP_TITLE: }" "$*" >&2
  exit 1
}
usage_error() {
  printf 'boot.sh: %s\nRun ./boot.sh --help for the options.\n' "$*" >&2
  exit 2
}
drift() { DRIFT+=("$*"); }
changed() { CHANGES+=("$*"); }
note() { INFO="$*"; }
join() {
  local IFS=';'
  local s="$*"
  printf '%s' "${s//;/; }"
}

# Runs a command with its output into the boot log; on failure shows the end of it and stops.
quiet() {
  printf '\n$ %s\n' "$(redact "$*")" >>"$BOOT_LOG"
  if ! "$@" >>"$BOOT_LOG" 2>&1; then
    printf 'boot.sh: %s: `%s` failed; its last output (all of it in %s):\n' "$STEP_TITLE" "$*" "$BOOT_LOG" >&2
    tail -n 15 "$BOOT_LOG" | sed 's/^/  | /' >&2
    exit 1
  fi
}

# The log shows the commands, never the passwords in them.
redact() {
  local text=$1 secret
  for secret in "${PG_PASSWORD:-}" "${REDIS_PASSWORD:-}" "$(cat "$STATE_DIR/redis-admin.password" 2>/dev/null || true)"; do
    [ -n "$secret" ] && text=${text//$secret/***}
  done
  printf '%s' "$text"
}

on_error() {
  local code=$? line=$1 cmd=$2
  # Command substitutions run with errexit off: a failure there is a value, not an error.
  [ "$BASHPID" = "$$" ] || return 0
  cmd=$(redact "$cmd")
  printf 'boot.sh: %sunexpected failure (exit %s) at boot.sh line %s: %s; see %s\n' "${STEP_TITLE:+$STEP_TITLE: }" "$code" "$line" "$cmd" "$BOOT_LOG" >&2
  exit 1
}

# One step: its check, then (unless --check) its apply; one line saying what it found or did.
step() {
  local name=$1
  STEP_TITLE=$2
  STEP_NO=$((STEP_NO + 1))
  DRIFT=()
  CHANGES=()
  INFO=''
  "check_$name"
  local head
  head=$(printf '[%2d/%d] %-22s' "$STEP_NO" "$STEP_TOTAL" "$STEP_TITLE")
  if [ ${#DRIFT[@]} -eq 0 ]; then
    say "$head unchanged${INFO:+ ($INFO)}"
  elif [ "$CHECK" = 1 ]; then
    say "$head would change: $(join "${DRIFT[@]}")"
    DRIFT_STEPS+=("$STEP_TITLE")
  else
    "apply_$name"
    if [ ${#CHANGES[@]} -eq 0 ]; then
      say "$head unchanged${INFO:+ ($INFO)}"
    else
      say "$head changed: $(join "${CHANGES[@]}")"
      CHANGED_STEPS+=("$STEP_TITLE")
    fi
  fi
  STEP_TITLE=''
}

# ==== small helpers =============================================================================
have() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = 'install ok installed' ]; }
systemd_running() { [ -d /run/systemd/system ]; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
file_mode() { stat -c '%a %U:%G' "$1" 2>/dev/null || echo missing; }
same_content() { [ -f "$2" ] && [ "$1" = "$(cat "$2")" ]; }

# Writes stdin to $1 with mode $2 and owner $3, through a temp file and a rename.
write_file() {
  local file=$1 mode=$2 owner=$3 tmp
  tmp=$(mktemp "$(dirname "$file")/.boot.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  mv -f "$tmp" "$file"
}

# "<command name> <pid>" of whatever listens on TCP port $1 (any address), nothing when free.
# Read from /proc so it works before iproute2 or lsof are installed.
listener() {
  local hex inode found
  hex=$(printf '%04X' "$1")
  for inode in $(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u); do
    found=$(find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\\[$inode\\]" 2>/dev/null | head -n 1 || true)
    if [ -n "$found" ]; then
      found=${found#/proc/}
      found=${found%%/*}
      printf '%s %s\n' "$(cat "/proc/$found/comm" 2>/dev/null || echo '?')" "$found"
      return 0
    fi
    printf '? ?\n'
    return 0
  done
}

# Waits up to $2 seconds for the command after it to succeed.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  local i
  for ((i = 0; i < seconds * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$what did not happen within ${seconds}s"
}

env_get() { # value of $1 in hydra.env (quotes removed), empty when unset
  [ -r "$ENV_FILE" ] || return 0
  sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1 | sed 's/^"\(.*\)"$/\1/'
}

node_bin() { # the node this node runs on (absolute), empty when none is good enough
  local n
  n=$(command -v node 2>/dev/null || true)
  [ -n "$n" ] || return 0
  if "$n" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then readlink -f "$n"; fi
}

# Runs a command as the hydra user with hydra.env as its only environment (as the node runs).
# The file belongs to hydra, so it is read only after the switch to hydra: root never sources it.
as_hydra() {
  (cd "$HYDRA_HOME" 2>/dev/null || cd /
    env -i PATH="$PATH" HOME="$HYDRA_HOME" LANG=C.UTF-8 ENV_FILE="$ENV_FILE" \
      setpriv --reuid="$HYDRA_USER" --regid="$HYDRA_USER" --init-groups bash -c 'set -a; . "$ENV_FILE"; set +a; exec "$@"' as_hydra "$@")
}
hydra_cli() { as_hydra "$NODE" "$APP_DIR/bin/hydra" "$@"; }

psql_admin() { # psql as postgres over the local socket (peer auth), unaligned, stop on error
  (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -At "$@")
}

# Passwords go to redis-cli in REDISCLI_AUTH and to Redis and PostgreSQL on stdin, never on a
# command line (any local user reads those in /proc/<pid>/cmdline).
redis_admin() { # redis-cli with the admin login boot.sh knows
  local args=(-h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning) auth=''
  if [ -n "${HYDRA_REDIS_ADMIN_URL:-}" ]; then
    args=(-u "$HYDRA_REDIS_ADMIN_URL" --no-auth-warning)
  elif [ -s "$STATE_DIR/redis-admin.password" ]; then
    args+=(--user hydra-admin)
    auth=$(cat "$STATE_DIR/redis-admin.password")
  fi
  if [ -n "$auth" ]; then REDISCLI_AUTH=$auth redis-cli "${args[@]}" "$@"; else redis-cli "${args[@]}" "$@"; fi
}
# One admin command read from stdin (so a password in it stays off the command line); OK or fail.
redis_admin_stdin() {
  local out
  out=$(printf '%s\n' "$1" | redis_admin 2>&1)
  [ "$out" = OK ] || { printf '%s\n' "$out"; return 1; }
}
redis_hydra_ping() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning --user hydra ping 2>&1; }

# ==== options ===================================================================================
MODE_FLAG=''
SERVER_NAME_FLAG=''
NODE_ID_FLAG=''
CERT_FLAG=''
KEY_FLAG=''

parse_options() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --yes | -y) YES=1 ;;
      --check) CHECK=1 ;;
      --scheduled) MODE_FLAG=scheduled ;;
      --standalone) MODE_FLAG=standalone ;;
      --server-name | --node-id | --cert | --key)
        [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"
        case "$1" in
          --server-name) SERVER_NAME_FLAG=$2 ;;
          --node-id) NODE_ID_FLAG=$2 ;;
          --cert) CERT_FLAG=$2 ;;
          --key) KEY_FLAG=$2 ;;
        esac
        shift
        ;;
      --server-name=* | --node-id=* | --cert=* | --key=*) local k=${1%%=*} v=${1#*=}; set -- "$k" "$v" "${@:2}"; continue ;;
      -h | --help) usage; exit 0 ;;
      *) usage_error "unknown option '$1'" ;;
    esac
    shift
  done
  if [ -n "$CERT_FLAG" ] && [ -z "$KEY_FLAG" ]; then usage_error '--cert needs --key (the private key of that certificate)'; fi
  if [ -n "$KEY_FLAG" ] && [ -z "$CERT_FLAG" ]; then usage_error '--key needs --cert'; fi
  if [ -n "$SERVER_NAME_FLAG" ] && ! [[ $SERVER_NAME_FLAG =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$ ]]; then
    usage_error "--server-name '$SERVER_NAME_FLAG' is not a DNS name (letters, digits, '.', '-')"
  fi
  if [ -n "$NODE_ID_FLAG" ] && ! [[ $NODE_ID_FLAG =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]]; then
    usage_error "--node-id '$NODE_ID_FLAG' is invalid; expected 1-63 characters of [a-z0-9-]"
  fi
  return 0
}

os_field() { sed -n "s/^$1=//p" "$OS_RELEASE" | head -n 1 | sed 's/^"\(.*\)"$/\1/'; }

# ==== preflight: everything that can stop the run is checked before anything changes ==========
preflight() {
  STEP_TITLE='preflight'
  [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and configures services): sudo ./boot.sh"
  [ -r "$OS_RELEASE" ] || die "unsupported OS: no $OS_RELEASE; boot.sh supports Debian 12 (bookworm) or newer"
  local id version pretty
  id=$(os_field ID)
  version=$(os_field VERSION_ID)
  pretty=$(os_field PRETTY_NAME)
  pretty=${pretty:-$id}
  if [ "$id" != debian ] || ! [[ ${version%%.*} =~ ^[0-9]+$ ]] || [ "${version%%.*}" -lt 12 ]; then
    die "unsupported OS: $pretty; boot.sh supports Debian 12 (bookworm) or newer"
  fi
  have dpkg-query && have apt-get || die "unsupported OS: $pretty has no dpkg/apt-get"
  case "$(uname -m)" in x86_64 | aarch64) ;; *) die "unsupported machine $(uname -m): boot.sh supports x86_64 and aarch64" ;; esac

  # The node runs as the hydra user from this checkout: it must be able to read it.
  local d=$APP_DIR
  while [ "$d" != / ]; do
    [ "$(stat -c %A "$d" | cut -c10)" = x ] || [ "$(stat -c %A "$d" | cut -c10)" = t ] ||
      die "the hydra user cannot reach $APP_DIR ($d is mode $(stat -c %a "$d")); clone Hydra somewhere readable, e.g. git clone <repo> /opt/hydra && sudo /opt/hydra/boot.sh"
    d=$(dirname "$d")
  done
  [ "$(stat -c %A "$APP_DIR" | cut -c8)" = r ] || die "the hydra user cannot read $APP_DIR (mode $(stat -c %a "$APP_DIR")); chmod o+rx $APP_DIR"

  # An operator's certificate: usable, or stop now.
  if [ -n "$CERT_FLAG" ]; then check_given_certificate; fi

  # Ports this node needs: free, or held by what boot.sh would run there anyway.
  local port want holder
  for port in 443 80 "$PGB_PORT" "$ADMIN_PORT"; do
    case $port in
      443 | 80) want=nginx ;;
      "$PGB_PORT") want=pgbouncer ;;
      *) want=node ;;
    esac
    holder=$(listener "$port")
    [ -z "$holder" ] && continue
    [ "${holder%% *}" = "$want" ] && continue
    die "port $port is taken by ${holder%% *} (pid ${holder##* }), and the node needs it for $want; stop that program or move it to another port, then run boot.sh again"
  done

  if [ "$CHECK" = 0 ] && [ "$YES" = 0 ]; then
    [ -t 0 ] || die 'no terminal to confirm on: run with --yes to provision without questions (or --check to only look)'
    printf 'boot.sh will install packages and configure PostgreSQL, PgBouncer, Redis, nginx (ports 80, 443) and the Hydra node on %s. Continue? [y/N] ' "$(hostname)"
    local answer
    read -r answer
    [[ $answer =~ ^[Yy] ]] || { say 'Nothing changed.'; exit 1; }
  fi
  STEP_TITLE=''
}

check_given_certificate() {
  [ -r "$CERT_FLAG" ] || die "--cert $CERT_FLAG: cannot read the file; give the path of your PEM certificate"
  [ -r "$KEY_FLAG" ] || die "--key $KEY_FLAG: cannot read the file; give the path of the certificate's PEM private key"
  openssl x509 -in "$CERT_FLAG" -noout 2>/dev/null || die "--cert $CERT_FLAG is not a PEM certificate; give the certificate (-----BEGIN CERTIFICATE-----, your chain after it)"
  openssl pkey -in "$KEY_FLAG" -noout 2>/dev/null || die "--key $KEY_FLAG is not a PEM private key (or it is encrypted); give the unencrypted key (-----BEGIN PRIVATE KEY-----)"
  [ "$(openssl x509 -in "$CERT_FLAG" -noout -pubkey | openssl sha256)" = "$(openssl pkey -in "$KEY_FLAG" -pubout | openssl sha256)" ] ||
    die "--key $KEY_FLAG is not the key of --cert $CERT_FLAG (their public keys differ); give the matching pair"
  openssl x509 -in "$CERT_FLAG" -noout -checkend 0 >/dev/null || die "--cert $CERT_FLAG has expired ($(openssl x509 -in "$CERT_FLAG" -noout -enddate | cut -d= -f2)); renew it first"
  openssl x509 -in "$CERT_FLAG" -noout -checkend 604800 >/dev/null || warn "the certificate $CERT_FLAG expires within 7 days ($(openssl x509 -in "$CERT_FLAG" -noout -enddate | cut -d= -f2)); renew it and run boot.sh --cert … again"
}

# ==== 1. packages ===============================================================================
# poppler-utils is for the test suite only (pdftotext reads the report PDFs back): with it, `npm test`
# runs on a node boot.sh provisioned with nothing else installed.
PACKAGES=(postgresql pgbouncer redis-server nginx git openssl sudo curl ca-certificates poppler-utils)

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    case $p in
      # A PostgreSQL or Redis that already runs is reused; their clients are what boot.sh needs.
      postgresql) pkg_installed postgresql || { have pg_isready && pg_isready -h 127.0.0.1 -p "$PG_PORT" -q && have psql; } || echo "$p" ;;
      redis-server) pkg_installed redis-server || { have redis-cli && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q -e PONG -e NOAUTH; } || echo "$p" ;;
      *) pkg_installed "$p" || echo "$p" ;;
    esac
  done
}

check_packages() {
  local missing
  missing=$(missing_packages | xargs)
  if [ -n "$missing" ]; then drift "install $missing"; else note "${PACKAGES[*]}"; fi
}

apply_packages() {
  local missing
  missing=$(missing_packages | xargs)
  # Remember a Redis installed here: its default (passwordless) user gets disabled below.
  if [[ " $missing " == *' redis-server '* ]]; then mkdir -p "$STATE_DIR" && chmod 700 "$STATE_DIR" && touch "$STATE_DIR/redis-installed"; fi
  quiet apt-get update -qq
  # shellcheck disable=SC2086
  quiet apt-get install -y -qq --no-install-recommends $missing
  changed "installed $missing"
}

# ==== 2. Node.js ================================================================================
NODE=''

check_nodejs() {
  NODE=$(node_bin)
  if [ -z "$NODE" ]; then
    drift "install Node.js >= $NODE_MIN ($(have node && node --version || echo 'none installed'))"
  elif ! have npm; then
    drift 'install npm'
  else
    note "$("$NODE" --version) at $NODE"
  fi
}

apply_nodejs() {
  local candidate arch dir tgz
  candidate=$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ { print $2 }')
  if [ -n "$candidate" ] && [ "$candidate" != '(none)' ] && dpkg --compare-versions "${candidate#*:}" ge "$NODE_MIN"; then
    quiet apt-get install -y -qq --no-install-recommends nodejs npm
    changed "installed nodejs $candidate from apt"
  else
    # Debian's is too old: the npm registry's node binary package, checked against the pinned hash.
    local sha
    case "$(uname -m)" in x86_64) arch=x64 sha=$NODE_SHA512_x64 ;; aarch64) arch=arm64 sha=$NODE_SHA512_arm64 ;; esac
    dir=/opt/hydra-node/node-v$NODE_PIN-linux-$arch
    tgz=$(mktemp -d)
    fetch_checked "https://registry.npmjs.org/node-linux-$arch/-/node-linux-$arch-$NODE_PIN.tgz" "$sha" "$tgz/node.tgz"
    fetch_checked "https://registry.npmjs.org/npm/-/npm-$NPM_PIN.tgz" "$NPM_SHA512" "$tgz/npm.tgz"
    rm -rf "$dir" && mkdir -p "$dir/lib/node_modules/npm"
    quiet tar -xzf "$tgz/node.tgz" -C "$dir" --strip-components=1
    quiet tar -xzf "$tgz/npm.tgz" -C "$dir/lib/node_modules/npm" --strip-components=1
    rm -rf "$tgz"
    ln -sfn "$dir/bin/node" /usr/local/bin/node
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$dir/bin/node" "$dir/lib/node_modules/npm/bin/npm-cli.js" | write_file /usr/local/bin/npm 755 root:root
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$dir/bin/node" "$dir/lib/node_modules/npm/bin/npx-cli.js" | write_file /usr/local/bin/npx 755 root:root
    changed "installed Node.js $NODE_PIN and npm $NPM_PIN from the npm registry into $dir"
  fi
  NODE=$(node_bin)
  [ -n "$NODE" ] || die "Node.js >= $NODE_MIN is still not on PATH after the install; see $BOOT_LOG"
}

fetch_checked() { # url, sha512 integrity, destination
  quiet curl -fsSL --retry 3 -o "$3" "$1"
  local got
  got="sha512-$(openssl dgst -sha512 -binary "$3" | base64 -w0)"
  [ "$got" = "$2" ] || die "$1 does not match its pinned hash ($got); not installing it"
}

# ==== 3. hydra user and directories =============================================================
check_user() {
  id -u "$HYDRA_USER" >/dev/null 2>&1 || { drift "create the system user $HYDRA_USER (home $HYDRA_HOME)"; return 0; }
  [ "$(file_mode "$HYDRA_HOME")" = "750 $HYDRA_USER:$HYDRA_USER" ] || drift "make $HYDRA_HOME (0750, $HYDRA_USER)"
  [ "$(file_mode "$LOG_DIR")" = '755 root:root' ] || drift "make $LOG_DIR"
  [ "$(file_mode "$ETC_DIR")" = '755 root:root' ] || drift "make $ETC_DIR"
  [ "$(file_mode "$STATE_DIR")" = '700 root:root' ] || drift "make $STATE_DIR"
  if sshd_present && ! same_content "$(sshd_text)" "$SSHD_DROPIN"; then drift "no SSH forwarding for $HYDRA_USER ($SSHD_DROPIN)"; fi
  note "$HYDRA_USER, home $HYDRA_HOME"
}

apply_user() {
  if ! id -u "$HYDRA_USER" >/dev/null 2>&1; then
    # git-shell: the user pushes deploys over SSH and can do nothing else with a login.
    quiet useradd --system --user-group --home-dir "$HYDRA_HOME" --shell "$(command -v git-shell || echo /usr/sbin/nologin)" --comment 'Hydra node' "$HYDRA_USER"
    changed "created user $HYDRA_USER"
  fi
  local spec dir mode owner
  for spec in "$HYDRA_HOME 750 $HYDRA_USER:$HYDRA_USER" "$LOG_DIR 755 root:root" "$ETC_DIR 755 root:root" "$STATE_DIR 700 root:root"; do
    read -r dir mode owner <<<"$spec"
    if [ "$(file_mode "$dir")" != "$mode $owner" ]; then
      install -d -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$dir"
      changed "made $dir"
    fi
  done
  if sshd_present && ! same_content "$(sshd_text)" "$SSHD_DROPIN"; then
    sshd_text | write_file "$SSHD_DROPIN" 644 root:root
    sshd -t 2>/dev/null || { rm -f "$SSHD_DROPIN"; die "sshd -t refused $SSHD_DROPIN: $(sshd -t 2>&1 | tail -n 1)"; }
    if systemd_running; then systemctl reload ssh 2>/dev/null || true; elif [ -s /run/sshd.pid ]; then kill -HUP "$(cat /run/sshd.pid)" 2>/dev/null || true; fi
    changed "no SSH forwarding or tunnels for $HYDRA_USER ($SSHD_DROPIN)"
  fi
}

# git-shell limits what a pusher runs, not what SSH forwards: without this, a deploy key opens
# tunnels to every loopback port (admin API, Redis, PostgreSQL, the services).
SSHD_DROPIN=/etc/ssh/sshd_config.d/hydra.conf
sshd_present() { [ -d /etc/ssh/sshd_config.d ] && have sshd; }
sshd_text() {
  cat <<EOF
# Hydra node (boot.sh): the $HYDRA_USER user pushes deploys over SSH (git-shell), nothing else.
Match User $HYDRA_USER
    AllowTcpForwarding no
    AllowStreamLocalForwarding no
    AllowAgentForwarding no
    X11Forwarding no
    PermitTunnel no
    PermitTTY no
    GatewayPorts no
EOF
}

# ==== 4. npm ci and build =======================================================================
newer_sources() { # a source file newer than the build, if any
  find "$APP_DIR/bin" "$APP_DIR/core" "$APP_DIR/channels" "$APP_DIR/supervisor" "$APP_DIR/runtime" "$APP_DIR/deploy" "$APP_DIR/node" "$APP_DIR/scheduler" "$APP_DIR/services" "$APP_DIR/nginx" "$APP_DIR/pgbouncer" \
    "$APP_DIR/package.json" "$APP_DIR/tsconfig.json" "$APP_DIR/tsconfig.build.json" -newer "$APP_DIR/dist/bin/hydra.js" -type f 2>/dev/null | head -n 1
}
deps_current() { [ -f "$APP_DIR/node_modules/.package-lock.json" ] && [ -x "$APP_DIR/node_modules/.bin/tsc" ] && ! [ "$APP_DIR/package-lock.json" -nt "$APP_DIR/node_modules/.package-lock.json" ]; }

check_app() {
  deps_current || drift "npm ci in $APP_DIR"
  if [ ! -f "$APP_DIR/dist/bin/hydra.js" ]; then drift 'build (npm run build)'; elif [ -n "$(newer_sources)" ]; then drift "rebuild ($(newer_sources) changed)"; fi
  note "$APP_DIR, hydra $(sed -n 's/^ *"version": *"\(.*\)".*/\1/p' "$APP_DIR/package.json" | head -n 1)"
}

apply_app() {
  [ -n "$NODE" ] || NODE=$(node_bin)
  if ! deps_current; then
    (cd "$APP_DIR" && quiet npm ci --no-audit --no-fund) # runs the build too (prepare)
    changed 'npm ci (and build)'
  elif [ ! -f "$APP_DIR/dist/bin/hydra.js" ] || [ -n "$(newer_sources)" ]; then
    (cd "$APP_DIR" && quiet npm run build)
    changed 'built dist/'
  fi
  setpriv --reuid="$HYDRA_USER" --regid="$HYDRA_USER" --init-groups test -r "$APP_DIR/dist/bin/hydra.js" || die "the hydra user cannot read $APP_DIR/dist; make the checkout readable (chmod -R o+rX $APP_DIR)"
}

# ==== 5. settings: /etc/hydra/hydra.env =========================================================
default_node_id() {
  local id
  id=$(hostname | cut -d. -f1 | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9-]/-/g; s/^-*//' | cut -c1-63)
  echo "${id:-node}"
}
default_server_name() {
  local name
  name=$(hostname -f 2>/dev/null || hostname)
  [[ $name =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] && echo "$name" || echo localhost
}

PG_PASSWORD=''
REDIS_PASSWORD=''
SERVER_NAME=''
NODE_ID=''
MODE=''

# The settings a run wants, from the flags, else what hydra.env holds, else the defaults;
# passwords are generated once and kept.
load_settings() {
  local url
  url=$(env_get DATABASE_URL)
  PG_PASSWORD=$(printf '%s' "$url" | sed -n 's|^postgres://hydra:\([0-9a-f]\{32,\}\)@.*|\1|p')
  url=$(env_get REDIS_URL)
  REDIS_PASSWORD=$(printf '%s' "$url" | sed -n 's|^redis://hydra:\([0-9a-f]\{32,\}\)@.*|\1|p')
  SERVER_NAME=${SERVER_NAME_FLAG:-$(env_get HYDRA_SERVER_NAME)}
  SERVER_NAME=${SERVER_NAME:-$(default_server_name)}
  NODE_ID=${NODE_ID_FLAG:-$(env_get HYDRA_NODE_ID)}
  NODE_ID=${NODE_ID:-$(default_node_id)}
  MODE=${MODE_FLAG:-$(env_get HYDRA_MODE)}
  MODE=${MODE:-standalone}
  # Every value read back is checked again before root uses it (in the certificate, the config):
  # the file was once hydra's, and an old one may still say anything.
  valid_server_name "$SERVER_NAME" || die "HYDRA_SERVER_NAME '$SERVER_NAME' in $ENV_FILE is not a DNS name (letters, digits, '.', '-'); fix it or run boot.sh --server-name NAME"
  [[ $NODE_ID =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || die "HYDRA_NODE_ID '$NODE_ID' in $ENV_FILE is invalid; expected 1-63 characters of [a-z0-9-] (or run boot.sh --node-id ID)"
  case $MODE in standalone | scheduled) ;; *) die "HYDRA_MODE '$MODE' in $ENV_FILE is invalid; expected standalone or scheduled" ;; esac
}
valid_server_name() { [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$ ]] && [[ $1 != *..* ]]; }

settings_text() {
  cat <<EOF
# Hydra node settings and secrets, written by boot.sh (kept across its runs: passwords are made
# once). Root's (0640 root:hydra): the node, the CLI and the deploy hook read it; only root writes.
HYDRA_NODE_ID=$NODE_ID
HYDRA_HOME=$HYDRA_HOME
HYDRA_MODE=$MODE
HYDRA_ADMIN_HOST=127.0.0.1
HYDRA_ADMIN_PORT=$ADMIN_PORT
HYDRA_SERVICE_PORT_BASE=7100
HYDRA_KEY_PREFIX=$KEY_PREFIX
# The services reach PostgreSQL through PgBouncer (transaction pooling).
DATABASE_URL=postgres://hydra:$PG_PASSWORD@127.0.0.1:$PGB_PORT/hydra
# The daemon's LISTEN connection goes straight to PostgreSQL: transaction pooling breaks LISTEN.
HYDRA_LISTEN_DATABASE_URL=postgres://hydra:$PG_PASSWORD@127.0.0.1:$PG_PORT/hydra
REDIS_URL=redis://hydra:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT
HYDRA_SERVER_NAME=$SERVER_NAME
HYDRA_TLS_CERT=$TLS_DIR/node.crt
HYDRA_TLS_KEY=$TLS_DIR/node.key
HYDRA_NGINX_CONF=$NGINX_CONF
HYDRA_NGINX_BIN=/usr/sbin/nginx
HYDRA_NGINX_APPLY="/usr/bin/sudo -n $NGINX_HELPER"
HYDRA_NGINX_DATA=$NGINX_DATA
HYDRA_NGINX_PID=/run/nginx.pid
EOF
}

check_settings() {
  load_settings
  if [ ! -f "$ENV_FILE" ]; then drift "write $ENV_FILE (new passwords)"; return 0; fi
  [ -n "$PG_PASSWORD" ] || drift 'make a PostgreSQL password'
  [ -n "$REDIS_PASSWORD" ] || drift 'make a Redis password'
  if [ -n "$PG_PASSWORD" ] && [ -n "$REDIS_PASSWORD" ] && ! same_content "$(settings_text)" "$ENV_FILE"; then
    drift "rewrite $ENV_FILE ($(diff <(settings_text) "$ENV_FILE" | sed -n 's/^< \([A-Z_]*\)=.*/\1/p' | xargs | sed 's/ /, /g'))"
  fi
  [ "$(file_mode "$ENV_FILE")" = "640 root:$HYDRA_USER" ] || drift "make $ENV_FILE root's (0640 root:$HYDRA_USER: hydra reads it, only root writes it)"
  note "node $NODE_ID, $MODE, $SERVER_NAME"
}

apply_settings() {
  local before=''
  [ -f "$ENV_FILE" ] && before=$(cat "$ENV_FILE")
  [ -n "$PG_PASSWORD" ] || PG_PASSWORD=$(openssl rand -hex 24)
  [ -n "$REDIS_PASSWORD" ] || REDIS_PASSWORD=$(openssl rand -hex 24)
  settings_text | write_file "$ENV_FILE" 640 "root:$HYDRA_USER"
  if [ -z "$before" ]; then changed "wrote $ENV_FILE"; elif [ "$before" != "$(cat "$ENV_FILE")" ]; then changed "updated $ENV_FILE"; else changed "fixed the mode of $ENV_FILE"; fi
}

# ==== 6. TLS ====================================================================================
tls_san() { # the names the node certificate must carry
  local names=(DNS:localhost IP:127.0.0.1 IP:::1) h
  for h in "$SERVER_NAME" "$(hostname)"; do
    [ "$h" = localhost ] || [[ " ${names[*]} " == *" DNS:$h "* ]] || names=("DNS:$h" "${names[@]}")
  done
  local IFS=,
  echo "${names[*]}"
}

# The CA's name constraints: exactly the names the node certificate carries.
ca_name_constraints() {
  local n out=()
  for n in $(tls_san | tr ',' ' '); do
    case $n in
      DNS:*) out+=("permitted;$n") ;;
      IP:*:*) out+=("permitted;$n/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") ;;
      IP:*) out+=("permitted;$n/255.255.255.255") ;;
    esac
  done
  local IFS=,
  echo "${out[*]}"
}
# Whether the node CA is one that signs no other CA and only this node's names.
ca_constrained() {
  local text
  text=$(openssl x509 -in "$TLS_DIR/ca.crt" -noout -text 2>/dev/null) || return 1
  [[ $text == *'CA:TRUE, pathlen:0'* ]] && [[ $text == *'X509v3 Name Constraints: critical'* ]] &&
    [ "$(cat "$STATE_DIR/ca-names" 2>/dev/null)" = "$(tls_san)" ]
}

check_tls() {
  local source
  source=$(cat "$STATE_DIR/tls-source" 2>/dev/null || echo none)
  if [ -n "$CERT_FLAG" ]; then
    if ! cmp -s "$CERT_FLAG" "$TLS_DIR/node.crt" || ! cmp -s "$KEY_FLAG" "$TLS_DIR/node.key"; then drift "install the certificate $CERT_FLAG"; fi
  elif [ "$source" = operator ]; then
    if [ ! -f "$TLS_DIR/node.crt" ] || [ ! -f "$TLS_DIR/node.key" ]; then
      drift 'the operator certificate is gone: issue one from the node CA (or run boot.sh --cert … --key …)'
    elif ! openssl x509 -in "$TLS_DIR/node.crt" -noout -checkend 1209600 >/dev/null; then
      warn "the TLS certificate $TLS_DIR/node.crt (yours) expires on $(openssl x509 -in "$TLS_DIR/node.crt" -noout -enddate | cut -d= -f2); renew it and run boot.sh --cert … --key …"
    fi
  else
    if [ ! -f "$TLS_DIR/ca.crt" ] || [ ! -f "$TLS_DIR/ca.key" ]; then drift 'make the node CA'
    elif ! ca_constrained; then drift "remake the node CA (pathlen:0, names limited to $(tls_san)); clients must trust the new $TLS_DIR/ca.crt"; fi
    if [ ! -f "$TLS_DIR/node.crt" ] || [ ! -f "$TLS_DIR/node.key" ]; then
      drift 'issue the node certificate'
    elif ! openssl verify -CAfile "$TLS_DIR/ca.crt" "$TLS_DIR/node.crt" >/dev/null 2>&1; then
      drift 'reissue the node certificate (not signed by the node CA)'
    elif ! openssl x509 -in "$TLS_DIR/node.crt" -noout -checkend 2592000 >/dev/null; then
      drift 'renew the node certificate (expires within 30 days)'
    elif [ "$(cat "$STATE_DIR/tls-san" 2>/dev/null)" != "$(tls_san)" ]; then
      drift "reissue the node certificate for $(tls_san)"
    fi
  fi
  # Only the nginx master (root) reads the key: the node never needs it.
  if [ -f "$TLS_DIR/node.key" ] && [ "$(file_mode "$TLS_DIR/node.key")" != '600 root:root' ]; then drift "make $TLS_DIR/node.key readable by root only"; fi
  if [ ${#DRIFT[@]} -eq 0 ] && [ -f "$TLS_DIR/node.crt" ]; then note "$([ "$source" = operator ] && echo 'your certificate' || echo 'node CA'), until $(openssl x509 -in "$TLS_DIR/node.crt" -noout -enddate | cut -d= -f2)"; fi
}

apply_tls() {
  install -d -m 755 -o root -g root "$TLS_DIR"
  if [ -n "$CERT_FLAG" ]; then
    if ! cmp -s "$CERT_FLAG" "$TLS_DIR/node.crt" || ! cmp -s "$KEY_FLAG" "$TLS_DIR/node.key"; then
      write_file "$TLS_DIR/node.crt" 644 root:root <"$CERT_FLAG"
      write_file "$TLS_DIR/node.key" 600 root:root <"$KEY_FLAG"
      echo operator >"$STATE_DIR/tls-source"
      changed "installed your certificate ($(openssl x509 -in "$CERT_FLAG" -noout -subject | sed 's/^subject= *//'))"
    fi
  elif [ "$(cat "$STATE_DIR/tls-source" 2>/dev/null || echo none)" != operator ] || [ ! -f "$TLS_DIR/node.crt" ] || [ ! -f "$TLS_DIR/node.key" ]; then
    if [ ! -f "$TLS_DIR/ca.crt" ] || [ ! -f "$TLS_DIR/ca.key" ] || ! ca_constrained; then
      local remade=''
      [ -f "$TLS_DIR/ca.crt" ] && remade=1
      # pathlen:0 (it signs no other CA) and name constraints (it vouches for this node's names
      # only), so a stolen CA key, or a CA trusted by a client, cannot serve any other site.
      quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=Hydra node CA ($NODE_ID)" -addext 'basicConstraints=critical,CA:TRUE,pathlen:0' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
        -addext "nameConstraints=critical,$(ca_name_constraints)" -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt"
      chown root:root "$TLS_DIR/ca.key" && chmod 600 "$TLS_DIR/ca.key"
      tls_san >"$STATE_DIR/ca-names"
      changed "$([ -n "$remade" ] && echo 'remade' || echo 'made') the node CA $TLS_DIR/ca.crt (pathlen:0, names $(tls_san))$([ -n "$remade" ] && echo '; clients must trust the new one')"
    fi
    local reason=''
    if [ ! -f "$TLS_DIR/node.crt" ] || [ ! -f "$TLS_DIR/node.key" ]; then reason=issued
    elif ! openssl verify -CAfile "$TLS_DIR/ca.crt" "$TLS_DIR/node.crt" >/dev/null 2>&1; then reason=reissued
    elif ! openssl x509 -in "$TLS_DIR/node.crt" -noout -checkend 2592000 >/dev/null; then reason=renewed
    elif [ "$(cat "$STATE_DIR/tls-san" 2>/dev/null)" != "$(tls_san)" ]; then reason=reissued
    fi
    if [ -n "$reason" ]; then
      local work
      work=$(mktemp -d)
      printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$(tls_san)" >"$work/ext"
      quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$SERVER_NAME" -keyout "$work/node.key" -out "$work/node.csr"
      quiet openssl x509 -req -in "$work/node.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" -CAcreateserial -days 825 -sha256 -extfile "$work/ext" -out "$work/node.crt"
      write_file "$TLS_DIR/node.key" 600 root:root <"$work/node.key"
      write_file "$TLS_DIR/node.crt" 644 root:root <"$work/node.crt"
      rm -rf "$work"
      tls_san >"$STATE_DIR/tls-san"
      echo node-ca >"$STATE_DIR/tls-source"
      changed "$reason the node certificate for $(tls_san)"
    fi
  fi
  if [ "$(file_mode "$TLS_DIR/node.key")" != '600 root:root' ]; then
    chown root:root "$TLS_DIR/node.key" && chmod 600 "$TLS_DIR/node.key"
    changed "made $TLS_DIR/node.key readable by root only"
  fi
}

# ==== 7. Redis ==================================================================================
REDIS_ACL="on ~${KEY_PREFIX}* &${KEY_PREFIX}* +@all -@admin -@dangerous +info +client|id +client|setname +client|getname +client|unblock"

redis_maxmemory() { echo "$(($(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) * 1024 / 2))"; }
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>&1 | grep -q -e PONG -e NOAUTH; }
redis_installed_here() { [ -f "$STATE_DIR/redis-installed" ]; }
redis_config() { redis_admin CONFIG GET "$1" 2>/dev/null | sed -n 2p; }
redis_acl_line() { redis_admin ACL LIST 2>/dev/null | grep "^user $1 " || true; }
redis_loopback() {
  local a
  for a in $(redis_config bind); do
    case ${a#-} in 127.* | ::1 | localhost) ;; *) return 1 ;; esac
  done
}

check_redis() {
  if ! redis_up; then drift "start Redis on 127.0.0.1:$REDIS_PORT"; return 0; fi
  if [ "$(redis_admin ping 2>&1)" != PONG ]; then
    die "Redis at 127.0.0.1:$REDIS_PORT wants a password boot.sh does not have; run it with HYDRA_REDIS_ADMIN_URL=redis://<admin user>:<password>@127.0.0.1:$REDIS_PORT"
  fi
  [ "$(redis_config appendonly)" = yes ] || drift 'appendonly yes'
  [ "$(redis_config appendfsync)" = everysec ] || drift 'appendfsync everysec'
  [ "$(redis_config maxmemory-policy)" = noeviction ] || drift 'maxmemory-policy noeviction'
  [ "$(redis_config maxmemory)" != 0 ] || drift "maxmemory $(redis_maxmemory) (half the RAM: past it writes fail, nothing is evicted, the machine does not swap)"
  redis_loopback || drift "bind loopback only (now: $(redis_config bind))"
  if [ -z "$(redis_acl_line hydra)" ] || [ "$(redis_acl_line hydra)" != "$(cat "$STATE_DIR/redis-acl" 2>/dev/null)" ] || [ -z "$REDIS_PASSWORD" ] ||
    [ "$(redis_hydra_ping)" != PONG ]; then
    drift "ACL user hydra (keys ${KEY_PREFIX}*)"
  fi
  if redis_installed_here && redis_admin ACL LIST | grep -q '^user default on'; then drift 'disable the passwordless default user'; fi
  redis_warnings
  note "$(redis_admin INFO server | sed -n 's/^redis_version:\(.*\)\r*$/\1/p' | tr -d '\r'), AOF everysec, user hydra"
}

redis_warnings() {
  if [ -z "$(redis_config dir >/dev/null; redis_admin INFO server | sed -n 's/^config_file:\(.*\)/\1/p' | tr -d '\r')" ]; then
    warn "Redis runs without a config file: its AOF settings and the hydra user are lost when it restarts (boot.sh sets them again on its next run); start Redis from /etc/redis/redis.conf to keep them"
  fi
  if ! redis_installed_here && redis_admin ACL LIST | grep -q '^user default on nopass'; then
    warn "Redis's default user has no password ($(redis_acl_line default | cut -c1-80)…; Redis was running before boot.sh, so other clients may use it): any local user can read and write the node's streams; once they have their own users, lock it: redis-cli ACL SETUSER default off && redis-cli CONFIG REWRITE"
  fi
}

start_redis() {
  if systemd_running; then
    quiet systemctl enable --now redis-server
  else
    install -d -o redis -g redis /run/redis /var/log/redis
    (cd / && quiet runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes)
  fi
  wait_for 'Redis to answer' 30 redis_up
  changed 'started Redis'
}

apply_redis() {
  redis_up || start_redis
  [ "$(redis_config appendonly)" = yes ] || { quiet redis_admin CONFIG SET appendonly yes; changed 'AOF on'; }
  [ "$(redis_config appendfsync)" = everysec ] || { quiet redis_admin CONFIG SET appendfsync everysec; changed 'appendfsync everysec'; }
  [ "$(redis_config maxmemory-policy)" = noeviction ] || { quiet redis_admin CONFIG SET maxmemory-policy noeviction; changed 'noeviction'; }
  [ "$(redis_config maxmemory)" != 0 ] || { quiet redis_admin CONFIG SET maxmemory "$(redis_maxmemory)"; changed "maxmemory $(redis_maxmemory)"; }
  redis_loopback || { quiet redis_admin CONFIG SET bind '127.0.0.1 -::1'; changed 'bound to loopback'; }
  local -a want
  read -r -a want <<<"$REDIS_ACL"
  want+=(">$REDIS_PASSWORD")
  if [ -z "$(redis_acl_line hydra)" ] || [ "$(redis_acl_line hydra)" != "$(cat "$STATE_DIR/redis-acl" 2>/dev/null)" ] ||
    [ "$(redis_hydra_ping)" != PONG ]; then
    quiet redis_admin_stdin "ACL SETUSER hydra reset ${want[*]}"
    redis_acl_line hydra >"$STATE_DIR/redis-acl"
    changed "ACL user hydra (keys ${KEY_PREFIX}*)"
  fi
  if redis_installed_here && redis_admin ACL LIST | grep -q '^user default on'; then
    # An admin login for boot.sh's later runs first, then no more passwordless access.
    [ -s "$STATE_DIR/redis-admin.password" ] || (umask 077 && openssl rand -hex 24 >"$STATE_DIR/redis-admin.password")
    quiet redis_admin_stdin "ACL SETUSER hydra-admin reset on >$(cat "$STATE_DIR/redis-admin.password") ~* &* +@all"
    quiet redis_admin ACL SETUSER default off
    changed 'disabled the default user (boot.sh uses hydra-admin)'
  fi
  # Keep it across restarts: into the ACL file or the config file, when Redis has one.
  if [ ${#CHANGES[@]} -gt 0 ]; then
    if [ -n "$(redis_config aclfile)" ]; then quiet redis_admin ACL SAVE; fi
    if [ -n "$(redis_admin INFO server | sed -n 's/^config_file:\(.*\)/\1/p' | tr -d '\r')" ]; then quiet redis_admin CONFIG REWRITE; fi
  fi
  redis_warnings
}

# ==== 8. PostgreSQL =============================================================================
pg_up() { pg_isready -h 127.0.0.1 -p "$PG_PORT" -q; }
HBA_LINE='host    hydra   hydra   127.0.0.1/32    scram-sha-256'

scram_matches() { # secret, password
  S=$1 P=$2 "$NODE" --input-type=module -e "import { scramMatches } from '$APP_DIR/dist/pgbouncer/scram.js'; process.exit(scramMatches(process.env.S, process.env.P) ? 0 : 1);"
}
scram_make() { P=$1 "$NODE" --input-type=module -e "import { makeScram } from '$APP_DIR/dist/pgbouncer/scram.js'; process.stdout.write(makeScram(process.env.P));"; }

# Whether our line comes before every other TCP rule of pg_hba.conf (the first match decides).
hba_effective() {
  local hba
  hba=$(psql_admin -c 'SHOW hba_file') || return 1
  awk -v want="$HBA_LINE" '
    /^[ \t]*(#|$)/ { next }
    { line = $0; gsub(/[ \t]+/, " ", line); w = want; gsub(/[ \t]+/, " ", w) }
    line == w { found = 1; exit }
    $1 ~ /^host/ { exit }
    END { exit found ? 0 : 1 }' "$hba"
}

# A `trust` rule lets a local user in as any role (hydra, postgres) without a password.
hba_warnings() {
  local hba line
  hba=$(psql_admin -c 'SHOW hba_file' 2>/dev/null) || return 0
  while IFS= read -r line; do
    warn "pg_hba.conf allows connections without a password ($hba line ${line%%:*}: $(printf '%s' "${line#*:}" | xargs)): any local user can connect as any role, hydra's included; replace trust by scram-sha-256 (or peer for local) and reload PostgreSQL"
  done < <(grep -n -E '^[[:space:]]*(local|host[a-z]*)[[:space:]].*[[:space:]]trust([[:space:]]|$)' "$hba" 2>/dev/null || true)
}

check_postgresql() {
  if ! pg_up; then drift "start PostgreSQL on 127.0.0.1:$PG_PORT"; return 0; fi
  psql_admin -c 'SELECT 1' >/dev/null 2>&1 || die "cannot run psql as the postgres user over the local socket (port $PG_PORT); boot.sh needs peer access for postgres (Debian's default pg_hba.conf line: local all postgres peer)"
  local secret
  secret=$(psql_admin -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'hydra' AND rolcanlogin")
  if [ -z "$secret" ]; then drift 'create role hydra'; elif [ -z "$PG_PASSWORD" ] || ! scram_matches "$secret" "$PG_PASSWORD"; then drift "set role hydra's password (SCRAM)"; fi
  [ "$(psql_admin -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'hydra'")" = hydra ] || drift 'create database hydra (owner hydra)'
  hba_effective || drift "pg_hba.conf: $HBA_LINE"
  hba_warnings
  note "$(psql_admin -c 'SHOW server_version' | cut -d' ' -f1), role and database hydra"
}

apply_postgresql() {
  if ! pg_up; then
    if systemd_running; then
      quiet systemctl enable --now postgresql
    else
      local cluster
      cluster=$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print $1 " " $2; exit }')
      if [ -z "$cluster" ]; then
        quiet pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -n 1)" main --port "$PG_PORT"
        cluster=$(pg_lsclusters -h | awk -v p="$PG_PORT" '$3 == p { print $1 " " $2; exit }')
        changed "created cluster $cluster"
      fi
      # shellcheck disable=SC2086
      quiet pg_ctlcluster --skip-systemctl-redirect $cluster start
    fi
    wait_for 'PostgreSQL to accept connections' 60 pg_up
    changed 'started PostgreSQL'
  fi
  local secret
  secret=$(psql_admin -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'hydra' AND rolcanlogin")
  if [ -z "$secret" ] || ! scram_matches "$secret" "$PG_PASSWORD"; then
    # The SCRAM secret is made here: the plain password never reaches the server (or its logs).
    local verifier
    verifier=$(scram_make "$PG_PASSWORD")
    if [ -z "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'hydra'")" ]; then
      printf "CREATE ROLE hydra LOGIN PASSWORD '%s';\n" "$verifier" | quiet psql_admin
      changed 'created role hydra'
    else
      printf "ALTER ROLE hydra LOGIN PASSWORD '%s';\n" "$verifier" | quiet psql_admin
      changed "set role hydra's password"
    fi
  fi
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'hydra'")" ]; then
    quiet psql_admin -c 'CREATE DATABASE hydra OWNER hydra'
    changed 'created database hydra'
  elif [ "$(psql_admin -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'hydra'")" != hydra ]; then
    quiet psql_admin -c 'ALTER DATABASE hydra OWNER TO hydra'
    changed 'made hydra the owner of database hydra'
  fi
  if ! hba_effective; then
    local hba
    hba=$(psql_admin -c 'SHOW hba_file')
    # Before the first TCP rule, so it decides for hydra@hydra over 127.0.0.1 (first match wins).
    awk -v line="$HBA_LINE" '
      !done && /^[ \t]*host/ { print "# Hydra (boot.sh): the node role logs in with SCRAM, also through PgBouncer"; print line; done = 1 }
      { print }
      END { if (!done) { print "# Hydra (boot.sh): the node role logs in with SCRAM, also through PgBouncer"; print line } }' "$hba" >"$hba.hydra-new"
    cat "$hba.hydra-new" >"$hba" && rm -f "$hba.hydra-new"
    quiet psql_admin -c 'SELECT pg_reload_conf()'
    changed "pg_hba.conf: $HBA_LINE"
  fi
}

# ==== 9. PgBouncer ==============================================================================
pgb_render() { # extra args for hydra pgbouncer render; the secret comes from pg_authid on stdin
  psql_admin -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'hydra'" |
    env -i PATH="$PATH" DATABASE_URL="postgres://hydra:$PG_PASSWORD@127.0.0.1:$PGB_PORT/hydra" \
      "$NODE" "$APP_DIR/bin/hydra" pgbouncer render --secret-stdin --dir "$PGB_DIR" --logfile "$PGB_LOG" --pidfile "$PGB_PID" "$@"
}
pgb_pid() { local p; p=$(cat "$PGB_PID" 2>/dev/null || true); alive "$p" && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = pgbouncer ] && echo "$p"; return 0; }
pgb_lets_in() { PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -h 127.0.0.1 -p "$PGB_PORT" -U hydra -d hydra -Atc 'SELECT 1' 2>/dev/null | grep -qx 1; }

check_pgbouncer() {
  if [ -z "$PG_PASSWORD" ] || [ -z "$(psql_admin -c "SELECT 1 FROM pg_authid WHERE rolname = 'hydra'" 2>/dev/null)" ]; then drift "render $PGB_DIR/pgbouncer.ini and userlist.txt"; return 0; fi
  pgb_render --check >/dev/null 2>&1 || drift "render $PGB_DIR/pgbouncer.ini and userlist.txt"
  local f
  for f in pgbouncer.ini userlist.txt; do [ "$(file_mode "$PGB_DIR/$f")" = '640 postgres:postgres' ] || drift "make $PGB_DIR/$f readable by postgres only"; done
  if [ -z "$(pgb_pid)" ]; then drift "start PgBouncer on 127.0.0.1:$PGB_PORT"; elif ! pgb_lets_in; then drift 'PgBouncer does not let hydra in yet'; fi
  note "127.0.0.1:$PGB_PORT → PostgreSQL, transaction pooling, scram"
}

apply_pgbouncer() {
  local out
  out=$(pgb_render 2>&1) || die "hydra pgbouncer render failed: $out"
  [[ $out == *'is current'* ]] || changed "rendered $PGB_DIR ($out)"
  local f
  for f in pgbouncer.ini userlist.txt; do
    if [ "$(file_mode "$PGB_DIR/$f")" != '640 postgres:postgres' ]; then chown postgres:postgres "$PGB_DIR/$f" && chmod 640 "$PGB_DIR/$f"; fi
  done
  if [ -z "$(pgb_pid)" ]; then
    if systemd_running; then
      quiet systemctl enable pgbouncer
      quiet systemctl restart pgbouncer
    else
      install -d -o postgres -g postgres "$(dirname "$PGB_PID")" "$(dirname "$PGB_LOG")"
      (cd / && quiet runuser -u postgres -- /usr/sbin/pgbouncer -d -q "$PGB_DIR/pgbouncer.ini")
    fi
    changed "started PgBouncer on 127.0.0.1:$PGB_PORT"
  elif [ ${#CHANGES[@]} -gt 0 ]; then
    kill -HUP "$(pgb_pid)" # re-reads pgbouncer.ini and the userlist
    changed 'reloaded PgBouncer'
  fi
  wait_for 'PgBouncer to let hydra in (see '"$PGB_LOG"')' 30 pgb_lets_in
}

# ==== 10. schema ================================================================================
schema_versions() { # "<applied> <known>"
  local applied known
  applied=$(psql_admin -d hydra -c "SELECT coalesce(max(version), 0) FROM schema_migrations" 2>/dev/null || echo 0)
  known=$(find "$APP_DIR/dist/scheduler/migrations" -name '[0-9]*_*.sql' 2>/dev/null | wc -l)
  echo "${applied:-0} $known"
}

check_schema() {
  local applied known
  read -r applied known <<<"$(schema_versions)"
  if [ "$known" -eq 0 ]; then drift 'migrate the database (after the build)'; return 0; fi
  if [ "$applied" -lt "$known" ]; then drift "migrate the database from version $applied to $known"; else note "version $applied"; fi
}

apply_schema() {
  local out
  out=$(hydra_cli db migrate 2>&1) || die "hydra db migrate failed: $out"
  changed "$(printf '%s' "$out" | tail -n 1)"
}

# ==== 11. nginx =================================================================================
nginx_pid() { local p; p=$(cat /run/nginx.pid 2>/dev/null || true); alive "$p" && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = nginx ] && echo "$p"; return 0; }
stub_text() { printf '# Hydra node (boot.sh): rendered by %s from the routes the node writes.\ninclude %s;\n' "$NGINX_HELPER" "$NGINX_CONF"; }
# Exactly the helper, with no arguments ("" in sudoers): the node can neither write nginx's
# config nor reload it with a config of its own (the root master opens every path it names).
sudoers_text() { printf '# Hydra node (boot.sh): the node asks the root-owned helper to render, test and reload nginx.\n%s ALL=(root) NOPASSWD: %s ""\n' "$HYDRA_USER" "$NGINX_HELPER"; }
DEBIAN_DEFAULT_SITE=/etc/nginx/sites-enabled/default
NGINX_MAIN=/etc/nginx/nginx.conf
# Sized for held viewer streams (each proxied request takes two connections; the rendered config
# lets viewers hold 3/8 of them, so devices and /healthz keep the rest): Debian ships 768.
NGINX_WORKER_CONNECTIONS=4096
NGINX_RLIMIT_NOFILE=8192
nginx_workers_sized() { grep -Eq "^\s*worker_connections\s+$NGINX_WORKER_CONNECTIONS;" "$NGINX_MAIN" && grep -Eq "^\s*worker_rlimit_nofile\s+$NGINX_RLIMIT_NOFILE;" "$NGINX_MAIN"; }
size_nginx_workers() {
  sed -i -E "s/^(\s*)worker_connections\s+[0-9]+;/\1worker_connections $NGINX_WORKER_CONNECTIONS;/" "$NGINX_MAIN"
  if grep -Eq '^\s*worker_rlimit_nofile\s' "$NGINX_MAIN"; then sed -i -E "s/^(\s*)worker_rlimit_nofile\s+[0-9]+;/\1worker_rlimit_nofile $NGINX_RLIMIT_NOFILE;/" "$NGINX_MAIN"
  else sed -i -E "0,/^\s*events\s*\{/s//worker_rlimit_nofile $NGINX_RLIMIT_NOFILE;\n&/" "$NGINX_MAIN"; fi
  grep -Eq "^\s*worker_connections\s+$NGINX_WORKER_CONNECTIONS;" "$NGINX_MAIN" || die "could not set worker_connections $NGINX_WORKER_CONNECTIONS in $NGINX_MAIN (no worker_connections line in its events block?); set it by hand, then run boot.sh again"
}

# The helper's command line: fixed paths only; the settings file is root-owned, the data file is
# the node's and holds mounts and ports, validated again by the helper.
helper_argv() { printf '%s %s/nginx/nginxApplyMain.js --settings %s --data %s --out %s --nginx /usr/sbin/nginx --pid /run/nginx.pid' "$NODE" "$NGINX_HELPER_LIB" "$ENV_FILE" "$NGINX_DATA" "$NGINX_CONF"; }
helper_text() {
  cat <<EOF
#!/bin/sh
# hydra-nginx-apply, written by boot.sh: renders $NGINX_CONF from the node's routes
# ($NGINX_DATA) and the root-owned settings ($ENV_FILE), runs nginx -t, puts it in place and
# reloads nginx. The code is boot.sh's root-owned copy in $NGINX_HELPER_LIB, not the checkout.
if [ \$# -ne 0 ]; then echo 'hydra-nginx-apply takes no arguments' >&2; exit 2; fi
cd /
exec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin $(helper_argv)
EOF
}
# The root-owned copy of the helper's code, as it should be, into $1 (from this checkout's build).
helper_stage() {
  mkdir -p "$1/nginx/templates" "$1/core"
  cp "$APP_DIR"/dist/nginx/*.js "$1/nginx/" && cp "$APP_DIR"/dist/nginx/templates/*.conf "$1/nginx/templates/" &&
    cp "$APP_DIR/dist/core/fill.js" "$APP_DIR/dist/core/errors.js" "$1/core/" && printf '{ "type": "module" }\n' >"$1/package.json"
}
helper_current() {
  local work ok=0
  [ -d "$NGINX_HELPER_LIB" ] && [ -f "$APP_DIR/dist/nginx/nginxApplyMain.js" ] || return 1
  work=$(mktemp -d)
  if helper_stage "$work" 2>/dev/null && diff -r -q "$work" "$NGINX_HELPER_LIB" >/dev/null 2>&1 &&
    [ -z "$(find "$NGINX_HELPER_LIB" \( ! -user root -o ! -group root -o -perm /022 \) -print -quit)" ]; then ok=1; fi
  rm -rf "$work"
  [ "$ok" = 1 ]
}
# Code root copies and then runs must not be writable by hydra (a pusher runs code as hydra).
helper_source_safe() {
  [ -z "$(find "$APP_DIR" "$APP_DIR/dist" -maxdepth 0 \( -user "$HYDRA_USER" -o -perm -002 \) -print -quit 2>/dev/null)" ] &&
    [ -z "$(find "$APP_DIR/dist/nginx" "$APP_DIR/dist/core" \( -user "$HYDRA_USER" -o -perm -002 \) -print -quit 2>/dev/null)" ]
}

check_nginx() {
  [ -n "$NODE" ] || NODE=$(node_bin)
  [ "$(file_mode "$NGINX_DIR")" = '755 root:root' ] || drift "make $NGINX_DIR root's (the helper writes there, the node does not)"
  [ -f "$NGINX_CONF" ] || drift "render $NGINX_CONF"
  if [ -f "$NGINX_CONF" ] && [ "$(file_mode "$NGINX_CONF")" != '644 root:root' ]; then drift "make $NGINX_CONF root's"; fi
  same_content "$(stub_text)" "$NGINX_STUB" || drift "include it from $NGINX_STUB"
  same_content "$(sudoers_text)" "$NGINX_SUDOERS" || drift "let $HYDRA_USER run $NGINX_HELPER only ($NGINX_SUDOERS)"
  helper_current || drift "install the nginx helper's code in $NGINX_HELPER_LIB (root-owned)"
  { same_content "$(helper_text)" "$NGINX_HELPER" && [ "$(file_mode "$NGINX_HELPER")" = '755 root:root' ]; } || drift "write $NGINX_HELPER"
  if [ -L "$DEBIAN_DEFAULT_SITE" ]; then drift "disable Debian's default site (port 80 belongs to the redirect)"; fi
  nginx_workers_sized || drift "size nginx's workers in $NGINX_MAIN (worker_connections $NGINX_WORKER_CONNECTIONS, worker_rlimit_nofile $NGINX_RLIMIT_NOFILE)"
  if [ -z "$(nginx_pid)" ]; then drift 'start nginx'; fi
  if [ ${#DRIFT[@]} -eq 0 ]; then nginx -t -q 2>/dev/null || die "nginx -t fails on the system config: $(nginx -t 2>&1 | tail -n 3 | xargs); fix it, then run boot.sh again"; fi
  note "$(nginx -v 2>&1 | sed 's/.*\///'), pid $(nginx_pid)"
}

apply_nginx() {
  [ -n "$NODE" ] || NODE=$(node_bin)
  if [ "$(file_mode "$NGINX_DIR")" != '755 root:root' ]; then install -d -m 755 -o root -g root "$NGINX_DIR" && chown root:root "$NGINX_DIR" && changed "made $NGINX_DIR root's"; fi
  # Left by an older boot.sh, when the node wrote the config itself.
  find "$NGINX_DIR" -mindepth 1 -maxdepth 1 ! -user root -exec rm -f {} + 2>/dev/null || true
  if ! helper_current; then
    helper_source_safe || die "$APP_DIR (or its dist/) is writable by $HYDRA_USER or by anyone; root would copy and run code from it: chown -R root:root $APP_DIR && chmod -R go-w $APP_DIR"
    local stage="$NGINX_HELPER_LIB.new"
    rm -rf "$stage" && (umask 022 && helper_stage "$stage") && chown -R root:root "$stage" && chmod -R go-w "$stage"
    rm -rf "$NGINX_HELPER_LIB" && mv "$stage" "$NGINX_HELPER_LIB"
    changed "installed the nginx helper's code in $NGINX_HELPER_LIB"
  fi
  if ! same_content "$(helper_text)" "$NGINX_HELPER" || [ "$(file_mode "$NGINX_HELPER")" != '755 root:root' ]; then
    helper_text | write_file "$NGINX_HELPER" 755 root:root
    changed "wrote $NGINX_HELPER"
  fi
  if ! same_content "$(sudoers_text)" "$NGINX_SUDOERS"; then
    sudoers_text | write_file "$NGINX_SUDOERS" 440 root:root
    visudo -cqf "$NGINX_SUDOERS" || { rm -f "$NGINX_SUDOERS"; die "visudo refused $NGINX_SUDOERS"; }
    changed "$HYDRA_USER may run $NGINX_HELPER (and nothing else as root)"
  fi
  if [ ! -f "$NGINX_CONF" ]; then
    # Before the node runs there are no routes: admin and /healthz only; the node fills it in.
    local out
    # shellcheck disable=SC2046 # helper_argv is fixed paths without spaces
    out=$(cd / && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin $(helper_argv) --no-reload 2>&1) || die "the nginx helper failed: $out"
    changed "rendered $NGINX_CONF"
  fi
  if [ "$(file_mode "$NGINX_CONF")" != '644 root:root' ]; then chown root:root "$NGINX_CONF" && chmod 644 "$NGINX_CONF" && changed "made $NGINX_CONF root's"; fi
  if ! same_content "$(stub_text)" "$NGINX_STUB"; then stub_text | write_file "$NGINX_STUB" 644 root:root && changed "included it from $NGINX_STUB"; fi
  if [ -L "$DEBIAN_DEFAULT_SITE" ]; then rm -f "$DEBIAN_DEFAULT_SITE" && changed "disabled Debian's default site"; fi
  if ! nginx_workers_sized; then size_nginx_workers && changed "sized nginx's workers (worker_connections $NGINX_WORKER_CONNECTIONS, worker_rlimit_nofile $NGINX_RLIMIT_NOFILE)"; fi
  local test
  test=$(nginx -t 2>&1) || die "nginx -t refuses the config, nothing was reloaded: $(printf '%s' "$test" | tail -n 3 | xargs)"
  if [ -z "$(nginx_pid)" ]; then
    if systemd_running; then quiet systemctl enable nginx && quiet systemctl restart nginx; else quiet nginx; fi
    wait_for 'nginx to start' 15 nginx_pid_exists
    changed 'started nginx'
  elif [ ${#CHANGES[@]} -gt 0 ]; then
    quiet nginx -s reload
    changed 'reloaded nginx'
  fi
}
nginx_pid_exists() { [ -n "$(nginx_pid)" ]; }

# ==== 12. the node daemon =======================================================================
node_stamp() { # what the running daemon must have started with: settings, build, app, node
  printf '%s\n' "$(sha256sum "$ENV_FILE" 2>/dev/null | cut -d' ' -f1)" "$(stat -c %Y "$APP_DIR/dist/bin/hydra.js" 2>/dev/null)" "$APP_DIR" "$NODE"
}
node_healthy() { curl -fsS -m 3 "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null 2>&1; }
supervise_pid() { local p; p=$(cat "$SUPERVISE_PID" 2>/dev/null || true); alive "$p" && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q __supervise && echo "$p"; return 0; }
# Whether the running supervisor is this checkout's (one started from another runs that one's code).
supervise_ours() { local p; p=$(supervise_pid); [ -n "$p" ] && [ "$(tr '\0' ' ' <"/proc/$p/cmdline")" = "bash $SELF __supervise " ]; }
unit_text() {
  cat <<EOF
# Hydra node daemon, written by boot.sh.
[Unit]
Description=Hydra node (supervised dataflow)
After=network-online.target postgresql.service redis-server.service pgbouncer.service nginx.service
Wants=network-online.target

[Service]
Type=simple
User=$HYDRA_USER
Group=$HYDRA_USER
EnvironmentFile=$ENV_FILE
WorkingDirectory=$HYDRA_HOME
ExecStart=$NODE $APP_DIR/bin/hydra node start
# The daemon stops its children (SIGTERM, drain) itself; whatever is left after the timeout goes.
KillMode=mixed
TimeoutStopSec=120
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
EOF
}

check_node() {
  [ -n "$NODE" ] || NODE=$(node_bin)
  if systemd_running; then
    same_content "$(unit_text)" "$UNIT_FILE" || drift "write $UNIT_FILE"
    systemctl is-enabled --quiet hydra-node 2>/dev/null || drift 'enable hydra-node'
    systemctl is-active --quiet hydra-node 2>/dev/null || { drift 'start hydra-node'; return 0; }
  elif [ -z "$(supervise_pid)" ]; then
    drift "start the node (boot.sh's supervisor: no systemd here)"
    return 0
  elif ! supervise_ours; then
    drift "restart the node from $APP_DIR (it runs from another checkout)"
  fi
  if [ "$(node_stamp)" != "$(cat "$NODE_STAMP" 2>/dev/null)" ]; then drift 'restart the node (its settings or build changed)'; fi
  node_healthy || drift "the node does not answer http://127.0.0.1:$ADMIN_PORT/healthz"
  note "$(systemd_running && echo 'systemd unit hydra-node' || echo "boot.sh supervisor pid $(supervise_pid)"), admin 127.0.0.1:$ADMIN_PORT"
}

supervise_started() { [ -n "$(supervise_pid)" ]; }
node_daemon_pid() { sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$HYDRA_HOME/run/node.json" 2>/dev/null | head -n 1; }

apply_node() {
  install -d -m 755 -o root -g root "$RUN_DIR"
  local restart=0
  if [ "$(node_stamp)" != "$(cat "$NODE_STAMP" 2>/dev/null)" ] || ! node_healthy; then restart=1; fi
  if ! systemd_running && [ -n "$(supervise_pid)" ] && ! supervise_ours; then restart=1; fi
  if systemd_running; then
    if ! same_content "$(unit_text)" "$UNIT_FILE"; then unit_text | write_file "$UNIT_FILE" 644 root:root && quiet systemctl daemon-reload && changed "wrote $UNIT_FILE"; fi
    systemctl is-enabled --quiet hydra-node 2>/dev/null || { quiet systemctl enable hydra-node && changed 'enabled hydra-node'; }
    if ! systemctl is-active --quiet hydra-node; then quiet systemctl start hydra-node && changed 'started hydra-node'
    elif [ "$restart" = 1 ]; then quiet systemctl restart hydra-node && changed 'restarted hydra-node (settings or build changed)'; fi
  else
    local old
    old=$(supervise_pid)
    if [ -n "$old" ] && [ "$restart" = 1 ]; then
      # A new supervisor, not just a new daemon: the old one runs the checkout and node it was
      # started from. On SIGTERM it stops the daemon gracefully, then exits.
      kill -TERM "$old"
      wait_for "the old supervisor (pid $old) to stop the node" 130 bash -c "! kill -0 $old 2>/dev/null"
    fi
    if [ -z "$(supervise_pid)" ]; then
      # No systemd: boot.sh's own supervisor, in its own session, restarts the daemon when it exits.
      (umask 027 && touch "$LOG_DIR/node.log") && chgrp "$HYDRA_USER" "$LOG_DIR/node.log"
      setsid bash "$SELF" __supervise </dev/null >>"$LOG_DIR/node.log" 2>&1 &
      wait_for "boot.sh's supervisor to start" 10 supervise_started
      changed "$([ -n "$old" ] && echo 'restarted (new settings, build or checkout)' || echo started) the node under boot.sh's supervisor (pid $(supervise_pid), log $LOG_DIR/node.log)"
    fi
  fi
  node_stamp >"$NODE_STAMP"
  wait_for "the node to answer http://127.0.0.1:$ADMIN_PORT/healthz (see $LOG_DIR/node.log)" 90 node_healthy
}

# Rotates a log written with O_APPEND by processes that keep it open (copytruncate): when it is
# over max_kb, file.N-1 → file.N … file.1 → file.2, a copy to file.1, then the file is truncated
# (the writers' next appends land at its new end). Nothing rotates below the size.
rotate_log() { # file, max_kb, keep
  local file=$1 max_kb=$2 keep=$3 i
  case "$max_kb$keep" in *[!0-9]*|'') echo "rotate_log: size '$max_kb' KB and count '$keep' must be whole numbers (HYDRA_NODE_LOG_MAX_KB, HYDRA_NODE_LOG_KEEP)" >&2; return 1 ;; esac
  [ "$keep" -ge 1 ] || { echo "rotate_log: count '$keep' must be at least 1 (HYDRA_NODE_LOG_KEEP)" >&2; return 1; }
  [ -f "$file" ] && [ "$(stat -c %s "$file")" -gt $((max_kb * 1024)) ] || return 0
  rm -f "$file.$keep"
  for ((i = keep - 1; i >= 1; i--)); do if [ -f "$file.$i" ]; then mv -f "$file.$i" "$file.$((i + 1))"; fi; done
  cp -p "$file" "$file.1" && truncate -s 0 "$file"
}

# The fallback supervisor (no systemd): runs the daemon as hydra, restarts it when it exits
# (backoff 1 s doubling to 30 s, back to 1 s after a minute of running), stops it on SIGTERM.
# A companion loop rotates node.log every minute while the supervisor lives (no cron needed).
supervise() {
  mkdir -p "$RUN_DIR"
  echo $$ >"$SUPERVISE_PID"
  local child='' stop=0 backoff=1 started code sup=$$ rotator
  (while sleep 60 && kill -0 "$sup" 2>/dev/null; do rotate_log "$LOG_DIR/node.log" "$NODE_LOG_MAX_KB" "$NODE_LOG_KEEP" || true; done) &
  rotator=$!
  trap 'stop=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
  NODE=$(node_bin)
  while [ "$stop" = 0 ]; do
    started=$(date +%s)
    printf '{"ts":"%s","level":"info","msg":"boot.sh supervisor: starting the node daemon","component":"boot"}\n' "$(date -u +%FT%TZ)"
    (cd "$HYDRA_HOME" && exec env -i PATH="$PATH" HOME="$HYDRA_HOME" LANG=C.UTF-8 ENV_FILE="$ENV_FILE" NODE="$NODE" APP_DIR="$APP_DIR" \
      setpriv --reuid="$HYDRA_USER" --regid="$HYDRA_USER" --init-groups bash -c 'set -a; . "$ENV_FILE"; set +a; exec "$NODE" "$APP_DIR/bin/hydra" node start') &
    child=$!
    code=0
    wait "$child" || code=$?
    # A signal interrupts `wait`: wait again for the daemon's own exit.
    while kill -0 "$child" 2>/dev/null; do wait "$child" || code=$?; done
    child=''
    [ "$stop" = 1 ] && break
    if [ $(($(date +%s) - started)) -ge 60 ]; then backoff=1; fi
    printf '{"ts":"%s","level":"warn","msg":"boot.sh supervisor: node daemon exited; restarting","component":"boot","code":%s,"delayS":%s}\n' "$(date -u +%FT%TZ)" "$code" "$backoff"
    sleep "$backoff" & wait $! || true
    backoff=$((backoff * 2 > 30 ? 30 : backoff * 2))
  done
  kill "$rotator" 2>/dev/null || true
  rm -f "$SUPERVISE_PID"
}

# ==== 13. nginx routes from the running services ================================================
services_up() { # every service child of the node running
  curl -fsS -m 3 "http://127.0.0.1:$ADMIN_PORT/admin/tree" 2>/dev/null | "$NODE" -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const svc = JSON.parse(s).tree.children.find((c) => c.id === "services");
      const all = (n) => (n.children ?? []).flatMap((c) => (c.kind === "supervisor" ? all(c) : [c]));
      process.exit(svc && svc.state === "running" && all(svc).every((c) => c.state === "running") ? 0 : 1);
    });'
}

check_routes() {
  if ! node_healthy || [ ! -f "$ENV_FILE" ]; then drift "render $NGINX_CONF from the node's services"; return 0; fi
  local out
  out=$(hydra_cli nginx render --check 2>&1) || drift "render $NGINX_CONF from the node's services"
  note "$(printf '%s' "$out" | sed -n 's/.*(\(.*\)).*/\1/p' | head -n 1)"
}

apply_routes() {
  wait_for "the node's services to run (see $LOG_DIR/node.log)" 120 services_up
  local out
  out=$(hydra_cli nginx render 2>&1) || die "$out"
  if [[ $out == *'written and nginx reloaded'* ]]; then changed "$(printf '%s' "$out" | sed 's/^nginx config //')"; else note "$(printf '%s' "$out" | sed -n 's/.*(\(.*\)).*/\1/p')"; fi
}

# ==== 14. git deploy repository =================================================================
DEPLOY_AVAILABLE=0
check_deploy() {
  if [ -z "$NODE" ] || [ ! -f "$ENV_FILE" ] || ! id -u "$HYDRA_USER" >/dev/null 2>&1 || [ ! -f "$APP_DIR/dist/bin/hydra.js" ]; then
    drift "create $HYDRA_HOME/deploy.git (once Hydra is built)"
    return 0
  fi
  if ! hydra_cli deploy init --help >/dev/null 2>&1; then
    note 'deploys are not available in this version of Hydra yet (no hydra deploy)'
    return 0
  fi
  DEPLOY_AVAILABLE=1
  if [ ! -f "$HYDRA_HOME/deploy.git/HEAD" ]; then drift "create $HYDRA_HOME/deploy.git"
  # The hook names this checkout's hydra and the settings: refreshed when either changed.
  elif [ "$(node_stamp)" != "$(cat "$STATE_DIR/deploy.stamp" 2>/dev/null)" ]; then drift 'refresh its pre-receive hook (build or settings changed)'; fi
  note "$HYDRA_HOME/deploy.git"
}

apply_deploy() {
  local out
  out=$(hydra_cli deploy init --env-file "$ENV_FILE" --json 2>&1) || die "hydra deploy init failed: $out"
  if printf '%s' "$out" | grep -q '"created": *true'; then changed "created $HYDRA_HOME/deploy.git"; fi
  if printf '%s' "$out" | grep -q '"hookState": *"\(written\|updated\)"'; then changed 'wrote its pre-receive hook'; fi
  node_stamp >"$STATE_DIR/deploy.stamp"
}

# ==== 15. the CLI ===============================================================================
cli_text() {
  cat <<EOF
#!/bin/sh
# hydra CLI with this node's settings ($ENV_FILE), written by boot.sh. The file is parsed here,
# never sourced, and only its HYDRA_* and *_URL lines are used. Run by root, the CLI drops to
# the $HYDRA_USER user first: nothing of the node's code or settings runs with uid 0.
if [ "\$(id -u)" = 0 ]; then
  exec setpriv --reuid=$HYDRA_USER --regid=$HYDRA_USER --init-groups --reset-env -- "\$0" "\$@"
fi
if [ -r $ENV_FILE ]; then
  while IFS= read -r line; do
    key=\${line%%=*}
    value=\${line#*=}
    case \$key in HYDRA_*|DATABASE_URL|REDIS_URL) ;; *) continue ;; esac
    case \$key in *[!A-Z0-9_]*) continue ;; esac
    case \$value in \"*\") value=\${value#\"}; value=\${value%\"} ;; esac
    export "\$key=\$value"
  done <$ENV_FILE
fi
exec $NODE $APP_DIR/bin/hydra "\$@"
EOF
}

check_cli() { same_content "$(cli_text)" "$CLI_WRAPPER" || drift "write $CLI_WRAPPER"; note "$CLI_WRAPPER"; }
apply_cli() { cli_text | write_file "$CLI_WRAPPER" 755 root:root; changed "wrote $CLI_WRAPPER"; }

# ==== summary ===================================================================================
summary() {
  local base="https://$SERVER_NAME" mounts ca=''
  [ "$(cat "$STATE_DIR/tls-source" 2>/dev/null)" = operator ] || ca=" --cacert $TLS_DIR/ca.crt"
  mounts=$(curl -fsS -m 3 "http://127.0.0.1:$ADMIN_PORT/admin/tree" 2>/dev/null | "$NODE" -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const all = (n) => (n.children ?? []).flatMap((c) => (c.kind === "supervisor" ? all(c) : [c]));
      const svc = JSON.parse(s).tree.children.find((c) => c.id === "services");
      console.log([...new Set(all(svc).filter((c) => c.mount).map((c) => c.mount))].sort().join(" "));
    });' 2>/dev/null || true)
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -k "https://127.0.0.1/healthz" || true)
  [ "$code" = 200 ] || warn "https://127.0.0.1/healthz answered ${code:-nothing} instead of 200; look at $LOG_DIR/node.log and /var/log/nginx/error.log"
  say ''
  say "Node $NODE_ID ($MODE) on $base"
  say "  health     curl$ca $base/healthz          (127.0.0.1 works too: curl$ca https://127.0.0.1/healthz)"
  local m
  for m in $mounts; do say "  service    $base$m/"; done
  say "  admin      $base/admin/tree and $base/metrics (from this machine only)"
  say "  CA         $([ -n "$ca" ] && echo "$TLS_DIR/ca.crt: give it to clients that should trust this node" || echo 'your certificate is served')"
  say "  fleet      device keys and tokens in $HYDRA_HOME/fleet.json (hydra simulate makes a demo one)"
  if [ "$DEPLOY_AVAILABLE" = 1 ]; then
    say "  deploy     add your SSH key to $HYDRA_HOME/.ssh/authorized_keys, then:"
    say "             git remote add node $HYDRA_USER@$SERVER_NAME:$HYDRA_HOME/deploy.git && git push node main"
    [ "$MODE" = scheduled ] || say "             (a push builds a release; the scheduler rolls it out: run sudo ./boot.sh --scheduled and place services with hydra scheduler place)"
  else
    say '  deploy     not available yet in this version of Hydra (no hydra deploy command)'
  fi
  say "  CLI        sudo hydra node tree | sudo hydra node status | hydra --help   (settings from $ENV_FILE)"
  say "  logs       $(systemd_running && echo 'journalctl -u hydra-node' || echo "$LOG_DIR/node.log (boot.sh supervisor pid $(supervise_pid))"); boot.sh's commands in $LOG_DIR/boot.log"
  local w
  for w in "${WARNINGS[@]}"; do say "  WARNING    $w"; done
  say ''
  if [ ${#CHANGED_STEPS[@]} -eq 0 ]; then
    say "boot.sh: node $NODE_ID is up at $base/; nothing changed ($STEP_TOTAL steps checked)"
  else
    say "boot.sh: node $NODE_ID is up at $base/; ${#CHANGED_STEPS[@]} of $STEP_TOTAL steps changed ($(join "${CHANGED_STEPS[@]}"))"
  fi
}

# ==== main ======================================================================================
main() {
  if [ "${1:-}" = __supervise ]; then supervise; exit 0; fi
  # For tests (test/boot/rotateLog.test.ts): one rotation of a file, as the supervisor does.
  if [ "${1:-}" = __rotate_log ]; then rotate_log "$2" "$3" "$4"; exit $?; fi
  parse_options "$@"
  preflight
  trap 'on_error $LINENO "$BASH_COMMAND"' ERR
  if [ "$CHECK" = 1 ]; then
    BOOT_LOG=$(mktemp)
    trap 'rm -f "$BOOT_LOG"' EXIT
  else
    install -d -m 755 "$LOG_DIR"
    BOOT_LOG=$LOG_DIR/boot.log
    (umask 077 && touch "$BOOT_LOG")
    printf '\n==== boot.sh %s (%s) ====\n' "$(date -u +%FT%TZ)" "$*" >>"$BOOT_LOG"
  fi
  say "boot.sh: $([ "$CHECK" = 1 ] && echo 'checking' || echo 'provisioning') $(hostname) as a Hydra node from $APP_DIR"
  load_settings
  step packages 'packages'
  step nodejs 'Node.js'
  step user 'hydra user'
  step app 'npm ci and build'
  step settings 'settings'
  step tls 'TLS'
  step redis 'Redis'
  step postgresql 'PostgreSQL'
  step pgbouncer 'PgBouncer'
  step schema 'schema'
  step nginx 'nginx'
  step node 'node daemon'
  step routes 'nginx routes'
  step deploy 'deploy repository'
  step cli 'CLI'
  if [ "$CHECK" = 1 ]; then
    for w in "${WARNINGS[@]}"; do say "  WARNING    $w"; done
    if [ ${#DRIFT_STEPS[@]} -eq 0 ]; then say "boot.sh --check: nothing would change ($STEP_TOTAL steps checked)"; exit 0; fi
    say "boot.sh --check: a run would change ${#DRIFT_STEPS[@]} of $STEP_TOTAL steps ($(join "${DRIFT_STEPS[@]}"))"
    exit 1
  fi
  summary
}

main "$@"
