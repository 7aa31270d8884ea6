// verifier-core's verifyCredential with a state's node as its only registry: prints the
// registered_issuer step and the signature step of the verification log.
import { outside, readInput } from './loopback.mjs'
import { verifyCredential } from '@digitalcredentials/verifier-core'

const { entityConfiguration, name, credential } = await readInput()
const knownDIDRegistries = [{ type: 'oidf', name, trustAnchorEC: entityConfiguration }]
const result = await verifyCredential({ credential, knownDIDRegistries })
const steps = Object.fromEntries((result.log ?? []).map(step => [step.id, step]))
process.stdout.write(JSON.stringify({ steps, errors: result.errors ?? null, outside }))
