# RabbitMQ, PostgreSQL and Redis for the stack, from Debian 12's own packages
# (no registry is reachable on the development and CI machines, so the
# upstream images cannot be pulled). One file, three targets:
#   docker build -f deploy/backends.Dockerfile --target rabbitmq -t convertix-rabbitmq .
#   docker build -f deploy/backends.Dockerfile --target postgres -t convertix-postgres .
#   docker build -f deploy/backends.Dockerfile --target redis -t convertix-redis .
# and PostgreSQL with automatic failover (deploy/README.md "PostgreSQL with
# failover"): Patroni managing PostgreSQL 15, and etcd, Patroni's lock store
#   docker build -f deploy/backends.Dockerfile --target patroni -t convertix-patroni .
#   docker build -f deploy/backends.Dockerfile --target etcd -t convertix-etcd .
# scripts/build-images.sh builds them on convertix-base:bookworm.
ARG BASE_IMAGE=debian:bookworm-slim

# --- RabbitMQ 3.10 with the management plugin (the scaler's queue stats) ----
FROM ${BASE_IMAGE} AS rabbitmq
# Logs to the console (docker logs). The application's user comes from a
# file in conf.d (the stack mounts a Swarm secret there: default_user,
# default_pass); the data, queues and their messages, live in the volume.
# The node name is rabbit@<hostname>: give the container a fixed hostname,
# or a restarted broker will not find its own data.
# (Settings before the RUN: the legacy builder copies the whole file system
# for every instruction under vfs, and the base is the smallest copy.)
ENV RABBITMQ_LOGS=- RABBITMQ_CONFIG_FILES=/etc/rabbitmq/conf.d
EXPOSE 5672 15672
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=5 \
  CMD ["rabbitmq-diagnostics", "-q", "ping"]
CMD ["rabbitmq-server"]
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && rabbitmq-plugins --offline enable rabbitmq_management \
 && mkdir -p /etc/rabbitmq/conf.d
# a cluster's member (deploy/rabbitmq-entrypoint.sh) writes its peer in conf.d
COPY deploy/rabbitmq-entrypoint.sh /usr/local/bin/rabbitmq-entrypoint.sh
RUN chown rabbitmq:rabbitmq /etc/rabbitmq/conf.d
VOLUME ["/var/lib/rabbitmq"]
USER rabbitmq
# (replaces the CMD above, kept there so that the layers above stay cached)
CMD ["/usr/local/bin/rabbitmq-entrypoint.sh"]

# --- PostgreSQL 15 -----------------------------------------------------------
FROM ${BASE_IMAGE} AS postgres
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
  CMD ["pg_isready", "-q", "-h", "127.0.0.1"]
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
# no cluster at install time: deploy/postgres-entrypoint.sh makes one in the
# volume on first start
COPY deploy/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data
VOLUME ["/var/lib/postgresql/data"]
USER postgres

# --- Redis 7: the gateway's rate-limit counters, shared by its workers --------
FROM ${BASE_IMAGE} AS redis
EXPOSE 6379
HEALTHCHECK --interval=15s --timeout=10s --start-period=10s --retries=5 \
  CMD ["redis-cli", "ping"]
# counters only: nothing to keep on disk; no protected mode (the overlay
# network is its only way in)
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
USER redis

# --- PostgreSQL 15 under Patroni: a primary and its standby, failover by etcd --
FROM ${BASE_IMAGE} AS patroni
# PGDATA is a folder inside the volume, not its mount point: Patroni removes
# and makes the data folder again when a member must be cloned anew.
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data/pgdata
EXPOSE 5432 8008
# Patroni's REST API: /health answers 200 while PostgreSQL runs (primary or
# standby); /primary answers 200 on the primary only
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=5 \
  CMD python3 -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('API_PORT', '8008'), timeout=4)"
ENTRYPOINT ["/usr/local/bin/patroni-entrypoint.sh"]
CMD ["patroni"]
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 patroni \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data
# after the packages: a change of these files rebuilds only these layers
COPY deploy/patroni-entrypoint.sh /usr/local/bin/patroni-entrypoint.sh
COPY deploy/patroni_config.py /usr/local/lib/convertix/patroni_config.py
VOLUME ["/var/lib/postgresql/data"]
USER postgres

# --- etcd 3.4: Patroni's leader lock (three members, one per node) ------------
FROM ${BASE_IMAGE} AS etcd
# etcd reads ETCD_* itself; deploy/etcd-entrypoint.sh derives the advertised
# URLs from ETCD_NAME. The stack sets ETCD_NAME, ETCD_INITIAL_CLUSTER and
# ETCD_INITIAL_CLUSTER_STATE=new.
ENV ETCD_DATA_DIR=/var/lib/etcd/data \
    ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379 \
    ETCD_LISTEN_PEER_URLS=http://0.0.0.0:2380 \
    ETCD_INITIAL_CLUSTER_TOKEN=convertix \
    ETCDCTL_API=3
EXPOSE 2379 2380
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
  CMD ["etcdctl", "--endpoints=http://127.0.0.1:2379", "--command-timeout=4s", "endpoint", "health"]
ENTRYPOINT ["/usr/local/bin/etcd-entrypoint.sh"]
CMD ["etcd"]
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server etcd-client \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && mkdir -p /var/lib/etcd \
 && chown etcd:etcd /var/lib/etcd \
 && chmod 700 /var/lib/etcd
COPY deploy/etcd-entrypoint.sh /usr/local/bin/etcd-entrypoint.sh
VOLUME ["/var/lib/etcd"]
USER etcd
