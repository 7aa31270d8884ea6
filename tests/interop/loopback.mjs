// Only loopback is reachable from these scripts: any other request fails at once and is
// recorded, so that a test can assert that a client did everything against the node.
export const outside = []
const realFetch = globalThis.fetch
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

globalThis.fetch = (input, init) => {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url)
  if (!LOOPBACK.has(url.hostname)) {
    outside.push(url.href)
    return Promise.reject(new Error(`only loopback may be fetched: ${url.href}`))
  }
  return realFetch(input, init)
}

export async function readInput () {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}
