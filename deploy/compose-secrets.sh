#!/bin/sh
# Makes the Docker secrets docker-compose.yml reads, once, in deploy/secrets/
# (git-ignored, directory mode 0700):
#   postgres_password    a random password for the dagster database user
#   tiktok_access_token  $TIKTOK_ACCESS_TOKEN if set, else empty: the simulator
#   tiktok_app_secret    $TIKTOK_APP_SECRET if set, else empty
# An existing file is never overwritten. To change a token later, write the
# file yourself (printf '%s' "$TOKEN" > deploy/secrets/tiktok_access_token)
# and `docker compose up -d --force-recreate user_code`.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 0700 "$dir"
umask 022  # the containers' user (uid 10001) reads the bind-mounted files

write() {  # write NAME VALUE: creates $dir/NAME holding VALUE unless it exists
    if [ -e "$dir/$1" ]; then
        echo "kept    $dir/$1"
    else
        printf '%s' "$2" > "$dir/$1"
        echo "created $dir/$1"
    fi
}

write postgres_password "$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
write tiktok_access_token "${TIKTOK_ACCESS_TOKEN:-}"
write tiktok_app_secret "${TIKTOK_APP_SECRET:-}"
