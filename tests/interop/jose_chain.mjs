// Checks a node's OpenID Federation answers with the jose library alone: the Entity
// Configuration with its own keys, each statement with the keys of the statement above it,
// and each resolve answer's trust chain hop by hop.
import { outside, readInput } from './loopback.mjs'
import { compactVerify, createLocalJWKSet, decodeJwt, decodeProtectedHeader } from 'jose'

async function get (url, media) {
  const resp = await fetch(url)
  const type = resp.headers.get('content-type')
  if (resp.status !== 200) throw new Error(`${url}: ${resp.status} ${await resp.text()}`)
  if (type !== media) throw new Error(`${url}: Content-Type ${type}, expected ${media}`)
  return resp.text()
}

// Verify a compact JWS with a JWK Set; check typ and exp; return its claims.
async function verified (token, jwks, typ) {
  const header = decodeProtectedHeader(token)
  if (header.typ !== typ) throw new Error(`typ ${header.typ}, expected ${typ}`)
  const { payload } = await compactVerify(token, createLocalJWKSet(jwks))
  const claims = JSON.parse(new TextDecoder().decode(payload))
  if (!(claims.exp > Date.now() / 1000 - 5)) throw new Error(`expired: exp ${claims.exp}`)
  return claims
}

const STATEMENT = 'application/entity-statement+jwt'
const { entityConfiguration, anchor, subjects, peer } = await readInput()
const out = { subjects: {}, peer: null, outside }

const ecToken = await get(entityConfiguration, STATEMENT)
const ec = await verified(ecToken, decodeJwt(ecToken).jwks, 'entity-statement+jwt')
if (ec.iss !== anchor || ec.sub !== anchor) throw new Error('not the anchor\'s configuration')
const entity = ec.metadata.federation_entity
out.configuration = { iss: ec.iss, exp: ec.exp, authority_hints: ec.authority_hints ?? [] }

for (const sub of subjects) {
  const statement = await verified(
    await get(`${entity.federation_fetch_endpoint}?sub=${encodeURIComponent(sub)}`, STATEMENT),
    ec.jwks, 'entity-statement+jwt')
  if (statement.iss !== anchor || statement.sub !== sub) throw new Error(`${sub}: iss/sub`)
  const resolveUrl = `${entity.federation_resolve_endpoint}?sub=${encodeURIComponent(sub)}` +
    `&trust_anchor=${encodeURIComponent(anchor)}`
  const answer = await verified(
    await get(resolveUrl, 'application/resolve-response+jwt'), ec.jwks, 'resolve-response+jwt')
  const chain = answer.trust_chain
  // The top of the chain: the anchor's configuration, self-signed with the keys trusted above.
  let above = await verified(chain[chain.length - 1], ec.jwks, 'entity-statement+jwt')
  if (above.iss !== anchor || above.sub !== anchor) throw new Error(`${sub}: chain top`)
  const exps = [above.exp]
  for (let i = chain.length - 2; i >= 0; i--) {
    const claims = await verified(chain[i], above.jwks, 'entity-statement+jwt')
    if (claims.iss !== above.sub) throw new Error(`${sub}: hop ${i} iss ${claims.iss}`)
    exps.push(claims.exp)
    above = claims
  }
  if (above.sub !== sub) throw new Error(`${sub}: chain starts at ${above.sub}`)
  if (answer.exp !== Math.min(...exps)) throw new Error(`${sub}: resolve exp`)
  out.subjects[sub] = {
    name: statement.metadata.federation_entity.organization_name,
    chain: chain.length,
    vouched_by: (statement.metadata.ler_issuer?.vouched_by ?? []).map(v => v.source)
  }
}

// Through the peer's node, as a strict client builds it: the anchor's statement about the
// peer's node gives the keys that verify the peer's own statement about its issuer.
if (peer) {
  const aboutPeer = await verified(
    await get(`${entity.federation_fetch_endpoint}?sub=${encodeURIComponent(peer.id)}`, STATEMENT),
    ec.jwks, 'entity-statement+jwt')
  const peerFetch = aboutPeer.metadata.federation_entity.federation_fetch_endpoint
  const peerEcToken = await get(peer.entityConfiguration, STATEMENT)
  const peerEc = await verified(peerEcToken, aboutPeer.jwks, 'entity-statement+jwt')
  const leaf = await verified(
    await get(`${peerFetch}?sub=${encodeURIComponent(peer.issuer)}`, STATEMENT),
    aboutPeer.jwks, 'entity-statement+jwt')
  if (leaf.iss !== aboutPeer.sub || aboutPeer.iss !== anchor) throw new Error('peer chain')
  out.peer = {
    chain: [leaf.sub, leaf.iss, aboutPeer.iss],
    name: leaf.metadata.federation_entity.organization_name,
    max_path_length: aboutPeer.constraints.max_path_length,
    peer_hints: peerEc.authority_hints ?? [],
    exp_ok: Math.min(leaf.exp, aboutPeer.exp, ec.exp) > Date.now() / 1000
  }
}
process.stdout.write(JSON.stringify(out))
