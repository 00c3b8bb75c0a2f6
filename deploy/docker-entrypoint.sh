#!/bin/sh
# Entrypoint of the tiktok_assets image: turns secret files into environment
# variables, defaults the warehouse to the instance's PostgreSQL database, then
# runs the command (the gRPC code server unless another is given).
#
# TIKTOK_*_FILE / DAGSTER_PG_*_FILE=/run/secrets/x sets the variable without
# _FILE to the file's content (trailing newlines dropped), the convention of
# the official postgres image; other *_FILE variables (SSL_CERT_FILE...) are
# paths their programs read and are left alone. docker-compose.yml
# hands TikTok's token, the app secret and the database password over as
# Docker secrets, never as values in the file or the image. An empty file sets
# an empty value (no TikTok token: the embedded simulator answers).
# On Kubernetes the chart injects secrets as variables (envSecrets): they
# pass through unchanged.
set -eu

for name in $(env | sed -n 's/^\(\(TIKTOK\|DAGSTER_PG\)_[A-Za-z0-9_]*\)_FILE=.*$/\1/p'); do
    eval "path=\${${name}_FILE}"
    if [ ! -r "$path" ] || [ -d "$path" ]; then
        echo "docker-entrypoint: ${name}_FILE names ${path}, which is not a readable file" >&2
        exit 64
    fi
    eval "${name}=\$(cat \"\$path\")"
    export "${name?}"
    unset "${name}_FILE"
done

# The warehouse lives in the instance's database unless TIKTOK_WAREHOUSE_URL says
# otherwise; the password is URL-quoted, so any character in it is safe.
if [ -z "${TIKTOK_WAREHOUSE_URL:-}" ] && [ -n "${DAGSTER_PG_HOST:-}" ]; then
    TIKTOK_WAREHOUSE_URL=$(python - <<'PY'
import os
from urllib.parse import quote

user = quote(os.environ.get("DAGSTER_PG_USER", ""), safe="")
password = quote(os.environ.get("DAGSTER_PG_PASSWORD", ""), safe="")
auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
host, port = os.environ["DAGSTER_PG_HOST"], os.environ.get("DAGSTER_PG_PORT", "5432")
print(f"postgresql+psycopg://{auth}{host}:{port}/{quote(os.environ.get('DAGSTER_PG_DB', ''), safe='')}")
PY
)
    export TIKTOK_WAREHOUSE_URL
fi

exec "$@"
