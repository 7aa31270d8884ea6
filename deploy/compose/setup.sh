#!/bin/sh
# One-shot set-up of the three-state compose federation; the `setup` service of compose.yaml
# runs it in the registry-node image, as root, before the nodes start. It is idempotent: what
# exists already is kept, so it runs again harmlessly on every `docker compose up`.
#
# For each state (its volume mounted at /state/<state>, its config folder at /deploy/<state>):
#   1. give the volume to the node's user (uid 10001), mode 0700;
#   2. create an admin token once, kept in the volume as admin-token (mode 0600), as that
#      user: the first command that writes creates the database and the state's first signing
#      key, as the node's own first start would;
#   3. read the key's thumbprint (`keys list`, which only reads).
# Then:
#   4. write each state's peers.yaml from its peers.template.yaml, pinning the other two
#      states' thumbprints (only when peers.yaml does not exist yet; an existing one that
#      does not pin a neighbour's current key gets a warning), and check it;
#   5. create a private certificate authority and one certificate for the three https names,
#      in the tls volume (only once): the tls service serves it, and the nodes trust the CA
#      through SSL_CERT_FILE=/tls/ca-bundle.pem.
#
# Between real states, steps 2 to 4 are done by each state's operator on its own machine, and
# the thumbprints are exchanged out of band (docs/operations.md, "Adding a neighbouring state").
set -eu

STATES="us-oh us-in us-mi"
NAMES="registry.ohio.example registry.indiana.example registry.michigan.example"
NODE_UID=$(id -u registry)
NODE_GID=$(id -g registry)
TAB=$(printf '\t')

as_node() {
    setpriv --reuid="$NODE_UID" --regid="$NODE_GID" --clear-groups "$@"
}

# The state's node.yaml, with its data_dir moved to where this container mounts the volume,
# and its peers.yaml (if any) next to it: the same node as the service runs, seen from here.
config_for() {
    dir="/tmp/config/$1"
    mkdir -p "$dir"
    sed "s#/var/lib/registry-node#/state/$1#g" "/deploy/$1/node.yaml" > "$dir/node.yaml"
    ln -sf "/deploy/$1/peers.yaml" "$dir/peers.yaml"
    printf '%s\n' "$dir/node.yaml"
}

current_kid() {
    as_node registry-node --config "$(config_for "$1")" keys list |
        while IFS="$TAB" read -r kid _alg state _rest; do
            if [ "$state" = current ]; then printf '%s\n' "$kid"; fi
        done
}

for state in $STATES; do
    data="/state/$state"
    chown "$NODE_UID:$NODE_GID" "$data"
    chmod 0700 "$data"
    if [ ! -s "$data/admin-token" ]; then
        token=$(as_node registry-node --config "$(config_for "$state")" token create compose-admin)
        (umask 077 && printf '%s\n' "$token" > "$data/admin-token")
        chown "$NODE_UID:$NODE_GID" "$data/admin-token"
        echo "setup: $state: admin token written to /var/lib/registry-node/admin-token"
    fi
    kid=$(current_kid "$state")
    if [ -z "$kid" ]; then
        echo "setup: $state: no current signing key" >&2
        exit 1
    fi
    echo "setup: $state: signing key $kid"
    eval "KID_$(echo "$state" | tr 'a-z-' 'A-Z_')=\$kid"
done

for state in $STATES; do
    peers="/deploy/$state/peers.yaml"
    if [ ! -e "$peers" ]; then
        sed -e "s/@US_OH_KID@/$KID_US_OH/" \
            -e "s/@US_IN_KID@/$KID_US_IN/" \
            -e "s/@US_MI_KID@/$KID_US_MI/" \
            "/deploy/$state/peers.template.yaml" > "$peers"
        # Owned like the folder it is in, so that the person who checked it out can edit it
        # (best effort: some hosts' shared folders do not allow it).
        chown --reference="/deploy/$state" "$peers" 2>/dev/null || true
        chmod 0644 "$peers"
        echo "setup: $state: wrote deploy/compose/$state/peers.yaml"
    else
        for other in $STATES; do
            if [ "$other" = "$state" ]; then continue; fi
            eval "kid=\$KID_$(echo "$other" | tr 'a-z-' 'A-Z_')"
            if ! grep -q -- "$kid" "$peers"; then
                echo "setup: warning: deploy/compose/$state/peers.yaml does not pin $other's" \
                    "current key $kid. That is expected after a key rotation; after" \
                    "'docker compose down -v', delete the file so that it is written again." >&2
            fi
        done
    fi
    as_node registry-node --config "$(config_for "$state")" peers check
done

if [ ! -s /tls/server.pem ]; then
    work=$(mktemp -d)
    san=""
    for name in $NAMES; do san="${san:+$san,}DNS:$name"; done
    cat > "$work/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca
[dn]
CN = registry-node compose federation CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    cat > "$work/server.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
        -config "$work/ca.cnf" -days 825 -keyout "$work/ca-key.pem" -out /tls/ca.pem
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
        -subj "/CN=registry-node compose federation" -keyout /tls/server-key.pem -out "$work/server.csr"
    openssl x509 -req -in "$work/server.csr" -CA /tls/ca.pem -CAkey "$work/ca-key.pem" \
        -CAserial "$work/ca.srl" -CAcreateserial -days 825 -extfile "$work/server.ext" -out /tls/server.pem
    # What the nodes trust for peers' https URLs: the usual public CAs plus this one.
    cat /etc/ssl/certs/ca-certificates.crt /tls/ca.pem > /tls/ca-bundle.pem
    chmod 0600 /tls/server-key.pem
    chmod 0644 /tls/ca.pem /tls/server.pem /tls/ca-bundle.pem
    rm -rf "$work"  # the CA's key is not kept: nothing else is ever signed with it
    echo "setup: wrote a private CA and a certificate for $NAMES to the tls volume"
fi
echo "setup: done"
