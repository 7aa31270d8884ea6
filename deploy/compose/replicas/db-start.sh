#!/bin/sh
# The db service of compose.replicas.yaml: on first start, create the cluster and the
# registry user and database, with the password the setup service wrote; then run the server.
set -eu
data=/var/lib/postgresql/data/pgdata
password=/run/registry-db/password
until [ -s "$password" ]; do sleep 1; done   # written by the setup service
if [ ! -s "$data/PG_VERSION" ]; then
    initdb --pgdata="$data" --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 \
        --locale=C.UTF-8 >/dev/null
    echo "listen_addresses = '*'" >> "$data/postgresql.conf"
    echo "host registry registry 0.0.0.0/0 scram-sha-256" >> "$data/pg_hba.conf"
    pg_ctl --pgdata="$data" --wait --options="-c listen_addresses=''" start >/dev/null
    psql --quiet --set=ON_ERROR_STOP=1 --set=pw="$(head -n1 "$password")" postgres <<'SQL'
CREATE ROLE registry LOGIN PASSWORD :'pw';
CREATE DATABASE registry OWNER registry;
SQL
    pg_ctl --pgdata="$data" --wait stop >/dev/null
fi
exec postgres -D "$data"
