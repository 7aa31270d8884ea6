// The DCC registry client, as wallets and verifiers use it: given a state's Entity
// Configuration URL and issuer ids on standard input, print what it finds for each.
import { outside, readInput } from './loopback.mjs'
import { RegistryClient } from '@digitalcredentials/issuer-registry-client'

const { entityConfiguration, name, issuers } = await readInput()
const client = new RegistryClient()
client.use({ registries: [{ type: 'oidf', name, trustAnchorEC: entityConfiguration }] })
const found = {}
for (const id of issuers) {
  found[id] = await client.lookupIssuersFor(id)
}
process.stdout.write(JSON.stringify({ found, outside }))
