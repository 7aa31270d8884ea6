#!/bin/sh
# One-shot set-up of compose.replicas.yaml, run as root in the registry-node image before the
# database and the replicas start. Idempotent: what exists is kept.
#   1. the database user's password, random, in the db-secret volume (readable by the node's
#      user and by postgres only through their group);
#   2. the shared key folder, owned by the node's user, mode 0700.
# The first replica to start creates the tables (the migrations take the writers' lock, so
# the other waits), the first signing key and the first list (the lease decides which).
set -eu
NODE_UID=$(id -u registry)
if [ ! -s /run/registry-db/password ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '/+=\n' > /run/registry-db/password)
    echo "setup: database password written"
fi
# The node (uid 10001) and PostgreSQL (uid of the postgres user in the db image) both read it.
chown "$NODE_UID:999" /run/registry-db/password
chmod 0440 /run/registry-db/password
chown "$NODE_UID:$NODE_UID" /var/lib/registry-keys /state/oh-1 /state/oh-2
chmod 0700 /var/lib/registry-keys /state/oh-1 /state/oh-2
