/**
 * Keys and random values from WebCrypto: the provider's ES256 signing keys, the `private_key_jwt`
 * client's key, and random hex secrets.
 */

/** @internal */
export interface SigningKeys {
  readonly keys: Array<JsonWebKey & { readonly kid: string }>
}

/** @internal */
export const randomHex = (bytes: number): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("")

const generate = () => globalThis.crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"])

// The members of an exported P-256 private key, which WebCrypto always gives.
const members = async (key: CryptoKey) => {
  const { crv, d, kty, x, y } = await globalThis.crypto.subtle.exportKey("jwk", key)
  if (crv === undefined || d === undefined || kty === undefined || x === undefined || y === undefined) {
    throw new Error("OidcProvider: WebCrypto exported an incomplete EC key")
  }
  return { crv, d, kty, x, y }
}

/**
 * One ES256 signing key, new on each call (oidc-provider signs ID tokens with it).
 *
 * @internal
 */
export const signingKeys = async (): Promise<SigningKeys> => {
  const { crv, d, kty, x, y } = await members((await generate()).privateKey)
  return { keys: [{ kty, crv, x, y, d, kid: `tokenfx-${randomHex(4)}`, alg: "ES256", use: "sig" }] }
}

/**
 * The `private_key_jwt` client's ES256 key: its public JWK for the provider, and the private key as a
 * JWK and as PKCS #8 PEM for tests.
 *
 * @internal
 */
export const clientSigningKey = async (): Promise<{
  readonly publicJwk: JsonWebKey & { readonly kid: string }
  readonly privateJwk: string
  readonly privatePem: string
}> => {
  const pair = await generate()
  const { crv, d, kty, x, y } = await members(pair.privateKey)
  const kid = `client-${randomHex(4)}`
  const pkcs8 = Buffer.from(await globalThis.crypto.subtle.exportKey("pkcs8", pair.privateKey)).toString("base64")
  const lines = pkcs8.match(/.{1,64}/g) ?? []
  return {
    publicJwk: { kty, crv, x, y, kid, alg: "ES256", use: "sig" },
    privateJwk: JSON.stringify({ kty, crv, x, y, d, kid, alg: "ES256" }),
    privatePem: `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`
  }
}
