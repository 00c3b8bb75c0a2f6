#!/bin/sh
# Entrypoint of the tiktok_assets image: turns secret files into environment
# variables, defaults the warehouse to the instance's PostgreSQL database, then
# runs the command (the gRPC code server unless another is given).
#
# NAME_FILE=/run/secrets/x sets NAME to the file's content (trailing newlines
# dropped), the convention of the official postgres image: docker-compose.yml
# hands TikTok's token, the app secret and the database password over as
# Docker secrets, never as values in the file or the image. An empty file sets
# an empty value (no TikTok token: the embedded simulator answers).
# Kubernetes' chart runs `dagster` directly and injects secrets as variables
# (envSecrets), so nothing here is needed there.
set -eu

for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=.*$/\1/p'); do
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
