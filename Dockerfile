# The tiktok_assets code location: Dagster's gRPC code server on port 4000.
# One image serves every role of the deployment: docker-compose.yml starts it
# as the user-code server, the webserver and the daemon; the Helm chart as the
# user deployment and as the run worker pods of the K8sRunLauncher.
#
#   docker build -t tiktok-assets .
#   docker run -p 4000:4000 tiktok-assets     # the code server, on the simulator
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DAGSTER_PG_PORT=5432

WORKDIR /opt/dagster/app

# Dependencies first, pinned to the versions the tests run with (see the
# file's header): this layer is rebuilt only when the pins change.
COPY deploy/requirements.lock deploy/requirements.lock
RUN pip install --no-deps -r deploy/requirements.lock

# The project itself, built with the pinned setuptools and without resolving
# anything again; pip check fails the build if the lock misses a dependency.
COPY pyproject.toml README.md ./
COPY tiktok_assets ./tiktok_assets
RUN pip install --no-deps --no-build-isolation . && pip check

# A user of its own (no root in the container); DAGSTER_HOME is its only
# writable place besides /tmp. The instance (dagster.yaml) and the workspace
# of the webserver and daemon (workspace.yaml: the gRPC server "user_code")
# come from deploy/; compose mounts the same files, Kubernetes its ConfigMaps.
RUN groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --shell /usr/sbin/nologin dagster \
    && mkdir -p "$DAGSTER_HOME" \
    && chown -R dagster:dagster "$DAGSTER_HOME"
COPY deploy/dagster.yaml deploy/workspace.yaml $DAGSTER_HOME/
COPY --chmod=0755 deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

USER 10001:10001
EXPOSE 4000

ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["dagster", "api", "grpc", "-m", "tiktok_assets.definitions", "-h", "0.0.0.0", "-p", "4000"]
