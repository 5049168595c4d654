#!/usr/bin/env bash
# Services bootstrap for the courier marketplace.
#
# Makes sure everything the project needs outside Python is there before the
# run and test commands start: the GDAL/GEOS/PROJ shared libraries GeoDjango
# loads at import time, PostgreSQL with PostGIS (role, database and extension),
# and Redis. Idempotent: a second run changes nothing and says so.
#
#   scripts/services.sh           install / create / start whatever is missing
#   scripts/services.sh --check   only verify; exit 1 naming what is missing
#
# DATABASE_URL / REDIS_URL point at existing services (nothing is installed for
# them, they are only checked). Unset, the local defaults below are managed.
# Installing needs Debian/Ubuntu (apt-get) and root or passwordless sudo.
set -euo pipefail

readonly DEFAULT_DATABASE_URL="postgis://marketplace:marketplace@127.0.0.1:5432/marketplace"
readonly DEFAULT_REDIS_URL="redis://127.0.0.1:6379/0"
readonly DB_NAME=marketplace DB_USER=marketplace DB_PASSWORD=marketplace PG_PORT=5432
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-3}"

CHECK=0
case "${1:-}" in
  "") ;;
  --check) CHECK=1 ;;
  -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

STATE="$(mktemp -d)"   # shared by the section subshells: summary, change log, apt-updated marker
trap 'rm -rf "$STATE"' EXIT

say() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
changed() { say "$*"; echo "$*" >>"$STATE/changes"; }
summary() { printf '    %-9s : %s\n' "$1" "$2" >>"$STATE/summary"; }
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1@#' <<<"$1"; }   # drop the password from a URL
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
pkg_version() { local v; v="$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null)"; v="${v#*:}"; echo "${v%%[+~-]*}"; }
debian() { have apt-get && have dpkg-query; }

# Run a command as root: directly, or through passwordless sudo.
as_root() {
  if ((EUID == 0)); then "$@"
  elif have sudo && sudo -n true 2>/dev/null; then sudo -n "$@"
  else die "root is needed to run: $* — run this script as root or with passwordless sudo"
  fi
}

# Install packages (apt-get update at most once per script run).
apt_install() {
  local hint="apt-get update && apt-get install -y --no-install-recommends $*"
  if ((CHECK)); then die "missing packages: $* — run scripts/services.sh (or: $hint)"; fi
  debian || die "no apt-get here (not Debian/Ubuntu): install the equivalent of [$*] yourself, or set DATABASE_URL/REDIS_URL to existing services"
  if ((EUID != 0)) && ! { have sudo && sudo -n true 2>/dev/null; }; then
    die "missing packages: $* — no root or passwordless sudo; run as root: $hint (or set DATABASE_URL/REDIS_URL to existing services)"
  fi
  changed "installing: $*"
  local log="$STATE/apt.log"
  if [[ ! -e "$STATE/apt-updated" ]]; then
    as_root apt-get update -qq >"$log" 2>&1 ||
      die "apt-get update failed — check network / apt sources, then rerun:"$'\n'"$(tail -n 15 "$log")"
    touch "$STATE/apt-updated"
  fi
  as_root env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 apt-get install -y -q --no-install-recommends \
    -o Dpkg::Use-Pty=0 "$@" >"$log" 2>&1 9>&- ||
    die "apt-get install failed for: $* — fix the apt error and rerun:"$'\n'"$(tail -n 15 "$log")"
}

ensure_pkgs() {
  local p missing=()
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

# First installed package matching REGEX, else PREFERRED if apt knows it, else the newest match.
pick_pkg() {
  local preferred="$1" regex="$2" p
  p="$(dpkg-query -W -f='${Package} ${Status}\n' 2>/dev/null | awk '/install ok installed$/ {print $1}' | grep -E "$regex" | sort -V | tail -1 || true)"
  [[ -n "$p" ]] && { echo "$p"; return; }
  if apt-cache policy "$preferred" 2>/dev/null | grep -q 'Candidate: [0-9]'; then echo "$preferred"; return; fi
  p="$(apt-cache pkgnames 2>/dev/null | grep -E "$regex" | sort -V | tail -1 || true)"
  echo "${p:-$preferred}"
}

# --- GDAL / GEOS / PROJ --------------------------------------------------------
section_libs() {
  if ! debian; then
    local lib missing=()
    for lib in libgdal.so libgeos_c.so libproj.so; do
      { ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | grep -q "$lib" || missing+=("$lib")
    done
    ((${#missing[@]} == 0)) || die "missing shared libraries: ${missing[*]} — install GDAL, GEOS and PROJ with your OS package manager"
    say "GDAL/GEOS/PROJ libraries: present — ok"; summary libraries "GDAL, GEOS, PROJ found by ldconfig"; return
  fi
  local gdal geos proj
  gdal="$(pick_pkg libgdal32 '^libgdal[0-9]+(t64)?$')"
  geos="$(pick_pkg libgeos-c1v5 '^libgeos-c1(v5|t64)?$')"
  proj="$(pick_pkg libproj25 '^libproj[0-9]+(t64)?$')"
  if pkg_installed "$gdal" && pkg_installed "$geos" && pkg_installed "$proj"; then
    say "GDAL/GEOS/PROJ libraries: $gdal $geos $proj installed — ok"
  else
    ensure_pkgs "$gdal" "$geos" "$proj"
  fi
  summary libraries "GDAL $(pkg_version "$gdal") ($gdal), GEOS $(pkg_version "$geos") ($geos), PROJ $(pkg_version "$proj") ($proj)"
}

# --- PostgreSQL + PostGIS --------------------------------------------------------
q() { psql -X -w -v ON_ERROR_STOP=1 -Atq "$@"; }

section_db_external() {
  local url="$DATABASE_URL" shown err
  case "$url" in
    postgis://* | postgres://* | postgresql://*) url="postgresql://${url#*://}" ;;
    *) die "DATABASE_URL must start with postgis://, postgres:// or postgresql:// (got '$(redact "$url")')" ;;
  esac
  shown="$(redact "$url")"
  have psql || ensure_pkgs postgresql-client
  err="$(q "$url" -c 'select 1' 2>&1 >/dev/null)" ||
    die "DATABASE_URL ($shown) does not answer: ${err:-no reply} — start that server, fix DATABASE_URL, or unset it to use the local default"
  if ((CHECK)); then
    [[ -n "$(q "$url" -c "select 1 from pg_extension where extname = 'postgis'")" ]] ||
      die "PostGIS is not enabled in DATABASE_URL ($shown) — run: psql \"\$DATABASE_URL\" -c 'CREATE EXTENSION postgis' (as a superuser)"
  else
    err="$(q "$url" -c 'CREATE EXTENSION IF NOT EXISTS postgis' 2>&1 >/dev/null)" ||
      die "PostGIS is not available in DATABASE_URL ($shown): $err — install the postgresql-<version>-postgis-3 package on that server and run CREATE EXTENSION postgis as a superuser"
  fi
  local pg gis
  pg="$(q "$url" -c 'show server_version')"; gis="$(q "$url" -c 'select postgis_lib_version()')"
  say "PostgreSQL (DATABASE_URL): answering, PostGIS $gis — ok"
  summary database "$shown — PostgreSQL ${pg%% *}, PostGIS $gis"
}

# Prints "VERSION NAME STATUS" of the cluster on $PG_PORT (empty if none).
cluster_on_port() { pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p {print $1, $2, $4; exit}'; }

local_server() {
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then ensure_pkgs postgresql; fi
  local v name status cl
  cl="$(cluster_on_port)"
  if [[ -z "$cl" ]]; then
    [[ -z "$(pg_lsclusters -h 2>/dev/null)" ]] ||
      die "PostgreSQL clusters exist but none on port $PG_PORT (see pg_lsclusters) — move one to $PG_PORT or set DATABASE_URL"
    ((CHECK)) && die "no PostgreSQL cluster — run scripts/services.sh to create one"
    v="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -1)"
    changed "creating PostgreSQL cluster $v/main on port $PG_PORT"
    as_root pg_createcluster "$v" main -p "$PG_PORT" --locale C.UTF-8 >/dev/null   # UTF8, as Django expects
    cl="$(cluster_on_port)"
  fi
  read -r v name status <<<"$cl"
  PG_VERSION="$v"
  ensure_pkgs "postgresql-$v-postgis-3" "postgresql-$v-postgis-3-scripts"
  if [[ "$status" != online* ]]; then
    ((CHECK)) && die "PostgreSQL cluster $v/$name is $status — run scripts/services.sh to start it"
    changed "starting PostgreSQL cluster $v/$name"
    as_root pg_ctlcluster --skip-systemctl-redirect "$v" "$name" start 9>&- ||
      die "could not start PostgreSQL $v/$name — see /var/log/postgresql/postgresql-$v-$name.log"
  fi
}

wait_pg() {
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 1 && return 0
    sleep 1
  done
  die "PostgreSQL does not accept connections on 127.0.0.1:$PG_PORT after 30s — check the server log under /var/log/postgresql"
}

# Find a way to run psql as the database superuser: TCP, peer auth via runuser, sudo.
find_superuser() {
  SU=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres)
  (cd / && "${SU[@]}" -Xw -d postgres -Atqc 'select 1') >/dev/null 2>&1 && return
  SU=(runuser -u postgres -- psql -p "$PG_PORT")
  ((EUID == 0)) && (cd / && "${SU[@]}" -Xw -d postgres -Atqc 'select 1') >/dev/null 2>&1 && return
  SU=(sudo -n -u postgres psql -p "$PG_PORT")
  have sudo && (cd / && "${SU[@]}" -Xw -d postgres -Atqc 'select 1') >/dev/null 2>&1 && return
  die "cannot connect to PostgreSQL as superuser 'postgres' (tried TCP, runuser, sudo) — run this script as root, or set DATABASE_URL"
}
su_q() { (cd / && "${SU[@]}" -X -w -v ON_ERROR_STOP=1 -Atq "$@"); }

ensure_db_objects() {
  find_superuser
  local r
  r="$(su_q -d postgres -c "select rolcreatedb from pg_roles where rolname = '$DB_USER'")"
  if [[ -z "$r" ]]; then
    ((CHECK)) && die "PostgreSQL role $DB_USER is missing — run scripts/services.sh"
    changed "creating role $DB_USER"
    su_q -d postgres -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD' CREATEDB"
  elif [[ "$r" != t ]]; then
    ((CHECK)) && die "role $DB_USER lacks CREATEDB (the test runner needs it) — run scripts/services.sh"
    changed "granting CREATEDB to role $DB_USER"
    su_q -d postgres -c "ALTER ROLE $DB_USER CREATEDB"
  fi
  local db
  for db in template1 "$DB_NAME"; do
    if [[ -z "$(su_q -d postgres -c "select 1 from pg_database where datname = '$db'")" ]]; then
      ((CHECK)) && die "database $db is missing — run scripts/services.sh"
      changed "creating database $db owned by $DB_USER"
      su_q -d postgres -c "CREATE DATABASE $db OWNER $DB_USER"
    fi
    if [[ -z "$(su_q -d "$db" -c "select 1 from pg_extension where extname = 'postgis'")" ]]; then
      ((CHECK)) && die "PostGIS extension is missing in database $db — run scripts/services.sh"
      changed "creating extension postgis in $db"
      su_q -d "$db" -c 'CREATE EXTENSION IF NOT EXISTS postgis'
    fi
  done
}

section_db_local() {
  PG_VERSION="?"
  if debian; then
    local_server
  elif ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 1 2>/dev/null; then
    die "no PostgreSQL on 127.0.0.1:$PG_PORT and no apt-get to install it — install PostgreSQL + PostGIS yourself, or set DATABASE_URL"
  fi
  wait_pg
  ensure_db_objects
  local gis pg shown
  shown="$(redact "$DEFAULT_DATABASE_URL")"
  gis="$(PGPASSWORD="$DB_PASSWORD" q -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d "$DB_NAME" -c 'select postgis_lib_version()' 2>&1)" ||
    die "cannot use PostGIS as $DB_USER over TCP ($shown): $gis — check pg_hba.conf allows password (md5/scram) logins from 127.0.0.1"
  pg="$(PGPASSWORD="$DB_PASSWORD" q -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d "$DB_NAME" -c 'show server_version')"
  say "PostgreSQL: running, PostGIS $gis in $DB_NAME — ok"
  summary database "$shown — PostgreSQL ${pg%% *}, PostGIS $gis (cluster $PG_VERSION/main)"
}

section_db() { if [[ -n "${DATABASE_URL:-}" ]]; then section_db_external; else section_db_local; fi; }

# --- Redis -------------------------------------------------------------------------
# Prints the Redis version (or "unknown") if URL answers PING, fails otherwise.
redis_ping() {
  local url="$1" rest hostport host port
  if have redis-cli; then
    [[ "$(timeout 5 redis-cli -u "$url" --no-auth-warning PING 2>/dev/null)" == PONG ]] || return 1
    timeout 5 redis-cli -u "$url" --no-auth-warning INFO server 2>/dev/null |
      tr -d '\r' | awk -F: '$1 == "redis_version" {v = $2} END {print v ? v : "unknown"}'
    return 0
  fi
  [[ "$url" == redis://* && "$url" != *@* ]] || return 2   # TLS or AUTH needs redis-cli
  rest="${url#redis://}"; hostport="${rest%%/*}"
  host="${hostport%:*}"; port="${hostport##*:}"; [[ "$hostport" == *:* ]] || port=6379
  # shellcheck disable=SC2016  # $0/$1 expand in the child bash
  timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "PING\r\n" >&3 && read -r -t 3 r <&3 && [[ $r == +PONG* ]]' \
    "$host" "$port" 2>/dev/null || return 1
  echo unknown
}

section_redis() {
  local url="${REDIS_URL:-}" v rc=0
  if [[ -n "$url" ]]; then
    v="$(redis_ping "$url")" || rc=$?
    if ((rc == 2)); then ensure_pkgs redis-tools; rc=0; v="$(redis_ping "$url")" || rc=$?; fi
    ((rc == 0)) || die "REDIS_URL ($(redact "$url")) does not answer PING — start that Redis, fix REDIS_URL, or unset it to use the local default"
    say "Redis (REDIS_URL): answering PING — ok"
    summary redis "$(redact "$url") — Redis $v"; return
  fi
  url="$DEFAULT_REDIS_URL"
  if ! v="$(redis_ping "$url")"; then
    have redis-server || ensure_pkgs redis-server
    if ! v="$(redis_ping "$url")"; then
      ((CHECK)) && die "Redis does not answer on $url — run scripts/services.sh to start it"
      changed "starting redis-server on 127.0.0.1:6379"
      local -a run=(as_root)
      if ((EUID == 0)) && id redis >/dev/null 2>&1; then
        mkdir -p /var/lib/redis /var/log/redis && chown redis: /var/lib/redis /var/log/redis
        run=(runuser -u redis --)
      else
        as_root mkdir -p /var/lib/redis /var/log/redis
      fi
      (cd / && "${run[@]}" redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/redis-server.log) 9>&- ||
        die "could not start redis-server — see /var/log/redis/redis-server.log"
      for _ in $(seq 1 20); do v="$(redis_ping "$url")" && break; sleep 0.5; done
      [[ -n "${v:-}" ]] || die "redis-server started but does not answer PING on $url — see /var/log/redis/redis-server.log"
    fi
  fi
  say "Redis: answering PING on 127.0.0.1:6379 — ok"
  summary redis "$url — Redis $v"
}

# Headless Chromium for the tracking page's browser tests (Debian's package; the tests
# drive it through playwright's Python API, never a downloaded browser build).
section_browser() {
  local bin
  for bin in chromium chromium-browser; do have "$bin" && break; done
  if ! have "$bin"; then
    ensure_pkgs chromium
    have chromium || die "the chromium package installed but no chromium command is on PATH — run: apt-get install --reinstall chromium"
    bin=chromium
  fi
  say "Chromium: $(command -v "$bin") — ok"
  summary browser "$("$bin" --version 2>/dev/null | head -1 || echo "$bin")"
}

# --- main ------------------------------------------------------------------------------
# Each section runs in its own subshell with errexit on; a failure stops the run
# (with --check the other sections are still checked, then the script exits 1).
# Servers started here get fd 9 closed (9>&-): a daemon that inherited it would hold
# the lock for as long as it runs, and every later run would wait for it.
exec 9>"${TMPDIR:-/tmp}/marketplace-services.$EUID.lock"
flock -w 600 9 || die "another scripts/services.sh run holds the lock"
failed=()
for section in libs db redis browser; do
  set +e; (set -e; "section_$section"); rc=$?; set -e
  if ((rc != 0)); then
    ((CHECK)) || exit "$rc"
    failed+=("$section")
  fi
done

say "summary"
cat "$STATE/summary" 2>/dev/null || true
if ((${#failed[@]})); then
  say "check failed: ${failed[*]} (see the ERROR lines above)"; exit 1
elif [[ -s "$STATE/changes" ]]; then
  say "services ready — $(wc -l <"$STATE/changes") change(s) made"
else
  say "services ready — nothing changed"
fi
