#!/usr/bin/env bash
# A real, throwaway WordPress on 127.0.0.1 for Warta's publisher tests and demos.
#
#   scripts/wordpress-test-server.sh DATA_DIR [PORT]   start, or reuse what runs in DATA_DIR
#   scripts/wordpress-test-server.sh stop DATA_DIR     stop what a start in DATA_DIR started
#
# Start prints machine-readable lines on stdout (everything else goes to stderr):
#   WP_URL=http://127.0.0.1:PORT   WP_USER=admin   WP_PASSWORD=<application password>
#   WP_ADMIN_PASSWORD=<wp-admin login>   WP_DATA_DIR=<absolute DATA_DIR>
# so a caller can do:  eval "$(scripts/wordpress-test-server.sh /tmp/wp)"
# Without PORT, the port used last time in DATA_DIR is reused, or a free one is picked.
#
# What runs: Debian's `wordpress` package (installed here when missing; needs root), served by
# `php -S` from a per-DATA_DIR copy of /usr/share/wordpress, on a private MariaDB that listens
# only on a unix socket inside DATA_DIR. Any MariaDB/MySQL service of the machine is left alone.
# Starting twice is harmless: running processes are reused, stopped ones restarted, and the
# site, its posts and the Application Password survive in DATA_DIR.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WP_SRC=/usr/share/wordpress
PACKAGES=(wordpress wordpress-theme-twentytwentythree php-cli php-mysql php-gd php-mbstring
          mariadb-server-core)
export PATH="$PATH:/usr/sbin:/sbin"

log() { echo "wordpress-test-server: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    echo "usage: $0 DATA_DIR [PORT] | $0 stop DATA_DIR" >&2
    exit 2
}

# --- paths ------------------------------------------------------------------------------------

set_paths() {
    DATA=$(realpath -m "$1")
    RUN=$DATA/run
    DB=$DATA/db
    WWW=$DATA/www
    LOGS=$DATA/log
    STATE=$DATA/state.env
    SOCK_DIR=$RUN
    # A unix socket path must fit in 108 bytes; deep temp dirs do not always.
    if [ $((${#RUN} + 12)) -gt 100 ]; then
        SOCK_DIR=/tmp/warta-wp-$(printf '%s' "$DATA" | md5sum | cut -c1-16)
    fi
    SOCK=$SOCK_DIR/mysqld.sock
}

# --- processes --------------------------------------------------------------------------------

# pid_alive PIDFILE NEEDLE: the pid in PIDFILE runs and its command line mentions NEEDLE
# (our DATA_DIR), so a recycled pid of some other program is never taken for ours.
pid_alive() {
    local pid state
    [ -f "$1" ] || return 1
    pid=$(cat "$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$state" != Z ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# group_alive PGID: some process of that process group still runs. Each server is started
# with setsid, so its pid is also its group id, and `php -S` workers share the group (they
# outlive a master that gets TERM, so the whole group has to be stopped).
group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# stop_pid PIDFILE NEEDLE: TERM the group, wait up to 30 s (MariaDB flushes on the way down),
# then KILL it.
stop_pid() {
    local pid i
    if pid_alive "$1" "$2"; then
        pid=$(cat "$1")
        kill -TERM -- "-$pid" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do
            group_alive "$pid" || break
            sleep 0.1
        done
        if group_alive "$pid"; then
            log "process group $pid ignored TERM, killing"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$1"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    php -r '$s = stream_socket_server("tcp://127.0.0.1:0");
            echo explode(":", stream_socket_get_name($s, false))[1];'
}

# wait_for DESCRIPTION PIDFILE NEEDLE LOGFILE COMMAND...: poll COMMAND for up to 30 s while
# the process lives; on failure show the end of its log.
wait_for() {
    local what=$1 pidfile=$2 needle=$3 logfile=$4 i
    shift 4
    for ((i = 0; i < 300; i++)); do
        if "$@"; then return 0; fi
        if [ -f "$pidfile" ] && ! pid_alive "$pidfile" "$needle"; then break; fi
        sleep 0.1
    done
    tail -n 20 "$logfile" >&2 || true
    die "$what did not come up (log: $logfile)"
}

# --- packages ---------------------------------------------------------------------------------

packages_present() {
    command -v php >/dev/null &&
        php -r 'exit(extension_loaded("mysqli") ? 0 : 1);' &&
        [ -f "$WP_SRC/wp-settings.php" ] &&
        [ -d "$WP_SRC/wp-content/themes/twentytwentythree" ] &&
        command -v mariadbd >/dev/null &&
        command -v mariadb-install-db >/dev/null
}

ensure_packages() {
    packages_present && return 0
    # Test workers (pytest-xdist) may start their WordPress at the same moment: one installs,
    # the others wait for it and then find the packages present.
    exec 8>/tmp/warta-wp-install.lock
    flock 8
    packages_present && { flock -u 8; return 0; }
    [ "$(id -u)" = 0 ] ||
        die "missing packages and not root; install them with: apt-get install ${PACKAGES[*]}"
    local added_policy=0 status=0
    # Installing must not start system services (apache2 comes in as a dependency of wordpress).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    log "installing ${PACKAGES[*]}"
    apt_install || { apt-get update -q >&2 && apt_install; } || status=$?
    [ "$added_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
    [ "$status" = 0 ] || die "apt-get install failed"
    flock -u 8
    packages_present || die "packages installed but WordPress/PHP/MariaDB still not usable"
}

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${PACKAGES[@]}" >&2
}

# --- state (port and credentials, kept between runs) ------------------------------------------

load_state() {
    WP_PORT='' WP_USER='' WP_PASSWORD='' WP_APP_UUID='' WP_ADMIN_PASSWORD=''
    [ -f "$STATE" ] || return 0
    local key value
    while IFS='=' read -r key value; do
        case $key in
            WP_PORT | WP_USER | WP_PASSWORD | WP_APP_UUID | WP_ADMIN_PASSWORD)
                printf -v "$key" '%s' "$value" ;;
        esac
    done <"$STATE"
}

save_state() {
    printf 'WP_PORT=%s\nWP_USER=%s\nWP_PASSWORD=%s\nWP_APP_UUID=%s\nWP_ADMIN_PASSWORD=%s\n' \
        "$WP_PORT" "$WP_USER" "$WP_PASSWORD" "$WP_APP_UUID" "$WP_ADMIN_PASSWORD" >"$STATE.tmp"
    chmod 600 "$STATE.tmp"
    mv "$STATE.tmp" "$STATE"
}

random_hex() { od -vAn -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# --- MariaDB ----------------------------------------------------------------------------------

start_db() {
    local user_opt=()
    [ "$(id -u)" != 0 ] || user_opt=(--user=root)
    if pid_alive "$RUN/mariadb.pid" "$DB" && [ -S "$SOCK" ]; then
        return 0
    fi
    stop_pid "$RUN/mariadb.pid" "$DB"
    if [ ! -d "$DB/mysql" ]; then
        log "creating database files in $DB"
        rm -rf "$DB"
        mariadb-install-db --no-defaults "${user_opt[@]}" --datadir="$DB" \
            --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
            >"$LOGS/mariadb-install.log" 2>&1 ||
            { tail -n 20 "$LOGS/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
    fi
    rm -f "$SOCK"
    # --no-defaults: never read the machine's my.cnf (port, socket, datadir of its service).
    # --skip-grant-tables: no accounts to manage; the socket's 0700 directory is the gate.
    setsid mariadbd --no-defaults "${user_opt[@]}" --datadir="$DB" --socket="$SOCK" \
        --pid-file="$RUN/mariadb.pid" --skip-networking --skip-grant-tables \
        --log-error="$LOGS/mariadb.log" --innodb-buffer-pool-size=32M \
        --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 \
        --innodb-buffer-pool-dump-at-shutdown=0 --innodb-buffer-pool-load-at-startup=0 \
        </dev/null >/dev/null 2>&1 &
    echo $! >"$RUN/mariadb.pid" # mariadbd rewrites it with the same pid once it runs
    wait_for MariaDB "$RUN/mariadb.pid" "$DB" "$LOGS/mariadb.log" test -S "$SOCK"
}

# --- web root ---------------------------------------------------------------------------------

source_stamp() {
    cat "$WP_SRC/wp-includes/version.php" "$WP_SRC/wp-content/themes/twentytwentythree/style.css" |
        md5sum
}

# A private copy of /usr/share/wordpress: hard links (instant) where possible. It gets its own
# wp-config.php and a writable wp-content/uploads; Debian's symlinks to /etc/wordpress and
# relative links into /usr/share would not resolve from here, so they are made absolute.
prepare_webroot() {
    local stamp link
    stamp=$(source_stamp)
    if [ -f "$WWW/.warta-stamp" ] && [ "$(cat "$WWW/.warta-stamp")" = "$stamp" ]; then
        return 0
    fi
    log "copying $WP_SRC to $WWW"
    rm -rf "$WWW.tmp"
    cp -al "$WP_SRC" "$WWW.tmp" 2>/dev/null || { rm -rf "$WWW.tmp"; cp -a "$WP_SRC" "$WWW.tmp"; }
    while IFS= read -r -d '' link; do
        ln -sfn "$(readlink -f "$WP_SRC/$link")" "$WWW.tmp/$link"
    done < <(cd "$WP_SRC" && find . -type l -print0)
    # These are hard links to (or symlinks into) the package: remove, never write through them.
    rm -f "$WWW.tmp/wp-config.php" "$WWW.tmp/.htaccess"
    mkdir -p "$DATA/uploads"
    ln -sfn "$DATA/uploads" "$WWW.tmp/wp-content/uploads"
    echo "$stamp" >"$WWW.tmp/.warta-stamp"
    rm -rf "$WWW"
    mv "$WWW.tmp" "$WWW"
}

write_config() {
    local url=$1 secrets=$DATA/secrets.php name
    if [ ! -f "$secrets" ]; then
        {
            echo '<?php'
            for name in AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT \
                SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT; do
                echo "define('$name', '$(random_hex 32)');"
            done
        } >"$secrets"
    fi
    cat >"$WWW/wp-config.php.tmp" <<PHP
<?php
// Written by scripts/wordpress-test-server.sh on every start; edits are lost.
define('DB_NAME', 'wordpress');
define('DB_USER', 'wp');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:$SOCK');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
\$table_prefix = 'wp_';
require '$secrets';
define('WP_HOME', '$url');
define('WP_SITEURL', '$url');
// Without 'local', WordPress silently ignores Application Passwords over plain http.
define('WP_ENVIRONMENT_TYPE', 'local');
define('DISABLE_WP_CRON', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
// Core files are hard links into the Debian package: WordPress must never modify them.
define('DISALLOW_FILE_MODS', true);
define('WP_DEBUG', false);
if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
PHP
    mv "$WWW/wp-config.php.tmp" "$WWW/wp-config.php"
}

install_site() {
    local url=$1 out key value
    [ -n "$WP_ADMIN_PASSWORD" ] || WP_ADMIN_PASSWORD=$(random_hex 12)
    out=$(WP_TEST_ADMIN_PASSWORD=$WP_ADMIN_PASSWORD WP_TEST_APP_UUID=$WP_APP_UUID \
        php "$SCRIPT_DIR/wordpress/install.php" "$WWW" "$url" "$SOCK" 2>>"$LOGS/install.log") ||
        { tail -n 20 "$LOGS/install.log" >&2; die "WordPress install failed"; }
    while IFS='=' read -r key value; do
        case $key in
            WP_USER | WP_PASSWORD | WP_APP_UUID) printf -v "$key" '%s' "$value" ;;
        esac
    done <<<"$out"
    [ -n "$WP_PASSWORD" ] || die "no application password (remove $STATE to make a new one)"
}

# --- PHP built-in server ----------------------------------------------------------------------

start_web() {
    local port=$1
    if pid_alive "$RUN/php.pid" "$WWW"; then
        [ "$(cat "$RUN/php.port" 2>/dev/null)" = "$port" ] && return 0
        stop_pid "$RUN/php.pid" "$WWW"
    fi
    port_open "$port" && die "port $port on 127.0.0.1 is already used by another program"
    # The router is copied so the site keeps working if this checkout goes away.
    cp "$SCRIPT_DIR/wordpress/router.php" "$RUN/router.php"
    # Several workers, or one slow request (an upload) would block every other one.
    PHP_CLI_SERVER_WORKERS=4 setsid php -d upload_max_filesize=128M -d post_max_size=128M \
        -d memory_limit=512M -d max_execution_time=300 -d display_errors=0 -d log_errors=1 \
        -S "127.0.0.1:$port" -t "$WWW" "$RUN/router.php" </dev/null >>"$LOGS/php.log" 2>&1 &
    echo $! >"$RUN/php.pid"
    echo "$port" >"$RUN/php.port"
    wait_for "PHP server on port $port" "$RUN/php.pid" "$WWW" "$LOGS/php.log" port_open "$port"
}

# --- commands ---------------------------------------------------------------------------------

start() {
    set_paths "$1"
    ensure_packages
    mkdir -p "$RUN" "$LOGS" "$SOCK_DIR"
    # The database accepts anyone who reaches its socket (no grant tables): keep it private.
    chmod 700 "$DATA" "$RUN" "$SOCK_DIR"
    load_state
    WP_PORT=${2:-${WP_PORT:-}}
    [ -n "$WP_PORT" ] || WP_PORT=$(free_port)
    [[ $WP_PORT =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$WP_PORT'"
    local url=http://127.0.0.1:$WP_PORT
    start_db
    prepare_webroot
    write_config "$url"
    install_site "$url"
    save_state
    start_web "$WP_PORT"
    printf 'WP_URL=%s\nWP_USER=%s\nWP_PASSWORD=%s\nWP_ADMIN_PASSWORD=%s\nWP_DATA_DIR=%s\n' \
        "$url" "$WP_USER" "$WP_PASSWORD" "$WP_ADMIN_PASSWORD" "$DATA"
}

stop() {
    set_paths "$1"
    [ -d "$DATA" ] || die "no such directory: $DATA"
    # The web server first: it is the database's only client.
    stop_pid "$RUN/php.pid" "$WWW"
    stop_pid "$RUN/mariadb.pid" "$DB"
    rm -f "$SOCK"
    [ "$SOCK_DIR" = "$RUN" ] || rmdir "$SOCK_DIR" 2>/dev/null || true
    log "stopped"
}

case ${1:-} in
    '' | -h | --help) usage ;;
    stop) [ $# = 2 ] || usage; stop "$2" ;;
    *) [ $# -le 2 ] || usage; start "$@" ;;
esac
