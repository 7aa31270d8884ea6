// Checks the node's tokens with the `jose` library, as a verifier's JavaScript would: only
// with the node's JWK Set. Reads one JSON request on standard input, writes one JSON answer.
//   {"op": "jwt", "token", "jwks", "typ", "now"}   jwtVerify: signature, typ, iat/exp at now
//   {"op": "compact", "token", "jwks"}             compactVerify: the signature only
//   {"op": "general", "jws", "jwks"}               generalVerify: some signature verifies
//   {"op": "each", "jws", "jwks"}                  flattenedVerify of every signature
import { compactVerify, createLocalJWKSet, flattenedVerify, generalVerify, jwtVerify } from "jose";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const keys = createLocalJWKSet(request.jwks);
const decoder = new TextDecoder();

async function run() {
  switch (request.op) {
    case "jwt": {
      const { payload, protectedHeader } = await jwtVerify(request.token, keys, {
        typ: request.typ,
        currentDate: new Date(request.now * 1000),
      });
      return { header: protectedHeader, payload };
    }
    case "compact": {
      const { payload, protectedHeader } = await compactVerify(request.token, keys);
      return { header: protectedHeader, payload: JSON.parse(decoder.decode(payload)) };
    }
    case "general": {
      const { payload, protectedHeader } = await generalVerify(request.jws, keys);
      return { header: protectedHeader, payload: JSON.parse(decoder.decode(payload)) };
    }
    case "each": {
      const headers = [];
      for (const signature of request.jws.signatures) {
        const flat = { payload: request.jws.payload, ...signature };
        headers.push((await flattenedVerify(flat, keys)).protectedHeader);
      }
      return { headers };
    }
    default:
      throw new Error(`unknown op ${request.op}`);
  }
}

try {
  process.stdout.write(JSON.stringify({ ok: true, ...(await run()) }));
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, error: `${error.code ?? error.name}: ${error.message}` }));
}
