/**
 * Encryption at rest around any payload store: AES-256-GCM through WebCrypto.
 *
 * - Confidentiality and integrity: every write is encrypted under a fresh random 96-bit IV; any change
 *   to a stored ciphertext makes it fail to decrypt (`CorruptedToken`, and the entry is kept aside).
 * - Binding: the store key is authenticated data, so a ciphertext copied to another key (another
 *   user's row) fails to decrypt.
 * - Rotation: a key ring decrypts with any of its keys and encrypts with the current one. Each key is
 *   named by an id derived from it (a truncated SHA-256), stored with the ciphertext, so a token
 *   written under a key the ring does not hold is a clear `InsecureStorage` rather than a failed
 *   decryption. Tokens move to the current key as they are rewritten (every refresh rewrites).
 * - Keys: 32 bytes, base64, read with `Config.redacted`; a missing or malformed key is
 *   `InsecureStorage`, naming the setting and never the value.
 *
 * Not encrypted: store keys, versions, leases, and the access token's expiry time (kept beside the
 * ciphertext for SQL back-ends to index).
 *
 * @since 0.1.0
 */
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as RawTokenStore from "./RawTokenStore.js"

/**
 * Encryption keys by id: `current` encrypts, all of them decrypt. The keys themselves are
 * non-extractable WebCrypto keys.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyRing {
  readonly current: string
  readonly keys: ReadonlyMap<string, CryptoKey>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface KeyRingOptions {
  /** The key that encrypts new writes: 32 bytes, base64 (standard or URL alphabet). */
  readonly current: Redacted.Redacted<string>
  /** Keys that still decrypt tokens written before a rotation. */
  readonly previous?: Iterable<Redacted.Redacted<string>> | undefined
}

const keyBytes = 32

const decodeKey = (
  key: Redacted.Redacted<string>,
  name: string
): Either.Either<Uint8Array, TokenStore.InsecureStorage> => {
  const text = Redacted.value(key).trim()
  const bytes = Either.orElse(Encoding.decodeBase64(text), () => Encoding.decodeBase64Url(text))
  return Either.match(bytes, {
    onLeft: () => Either.left(new TokenStore.InsecureStorage({ reason: `the ${name} is not base64` })),
    onRight: (bytes) =>
      bytes.length === keyBytes ? Either.right(bytes) : Either.left(
        new TokenStore.InsecureStorage({
          reason: `the ${name} must be ${keyBytes} bytes (base64), it is ${bytes.length} bytes`
        })
      )
  })
}

// A copy backed by a plain `ArrayBuffer`, as WebCrypto's types require.
const copy = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes)

const importKey = (input: Uint8Array) =>
  Effect.promise(async () => {
    const bytes = copy(input)
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes))
    const id = Encoding.encodeHex(digest.subarray(0, 8))
    const key = await globalThis.crypto.subtle.importKey("raw", bytes, { name: "AES-GCM" }, false, [
      "encrypt",
      "decrypt"
    ])
    return [id, key] as const
  })

/**
 * Builds a key ring. A key that is not 32 bytes of base64 is `InsecureStorage`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeKeyRing = (options: KeyRingOptions): Effect.Effect<KeyRing, TokenStore.InsecureStorage> =>
  Effect.gen(function*() {
    const current = yield* importKey(yield* decodeKey(options.current, "encryption key"))
    const keys = new Map<string, CryptoKey>([current])
    for (const previous of options.previous ?? []) {
      const [id, key] = yield* importKey(yield* decodeKey(previous, "previous encryption key"))
      if (!keys.has(id)) keys.set(id, key)
    }
    return { current: current[0], keys }
  })

/**
 * A fresh random key (32 bytes from WebCrypto, base64), for `makeKeyRing` or the configuration.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateKey: Effect.Effect<Redacted.Redacted<string>> = Effect.sync(() =>
  Redacted.make(Encoding.encodeBase64(globalThis.crypto.getRandomValues(new Uint8Array(keyBytes))))
)

/**
 * The default configuration: `TOKENFX_ENCRYPTION_KEY` (the current key) and
 * `TOKENFX_ENCRYPTION_PREVIOUS_KEYS` (optional, comma-separated).
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyRingConfig: Config.Config<KeyRingOptions> = Config.all({
  current: Config.redacted("TOKENFX_ENCRYPTION_KEY"),
  previous: Config.array(Config.redacted(), "TOKENFX_ENCRYPTION_PREVIOUS_KEYS").pipe(Config.withDefault([]))
})

/**
 * Reads the key ring from configuration (by default {@link keyRingConfig}). A missing key is
 * `InsecureStorage` saying which setting is missing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeKeyRingConfig = (
  config: Config.Config<KeyRingOptions> = keyRingConfig
): Effect.Effect<KeyRing, TokenStore.InsecureStorage> =>
  config.pipe(
    Effect.mapError((error) =>
      // The message of a redacted setting is itself redacted; the rendering names its path.
      new TokenStore.InsecureStorage({ reason: `no usable encryption key configured: ${String(error)}` })
    ),
    Effect.flatMap(makeKeyRing)
  )

const format = "tfx1"

const additionalData = (key: string) => new TextEncoder().encode(`tokenfx/token/v1\u0000${key}`)

/**
 * The store with payloads encrypted under `keyRing`, bound to their keys.
 *
 * @since 0.1.0
 * @category combinators
 */
export const encrypt: {
  /**
   * @since 0.1.0
   * @category combinators
   */
  (keyRing: KeyRing): (self: RawTokenStore.RawTokenStore["Type"]) => RawTokenStore.RawTokenStore["Type"]
  /**
   * @since 0.1.0
   * @category combinators
   */
  (self: RawTokenStore.RawTokenStore["Type"], keyRing: KeyRing): RawTokenStore.RawTokenStore["Type"]
} = dual(2, (self: RawTokenStore.RawTokenStore["Type"], keyRing: KeyRing): RawTokenStore.RawTokenStore["Type"] => {
  const seal = (key: string, payload: RawTokenStore.Payload) =>
    Effect.tryPromise({
      try: async () => {
        const cryptoKey = keyRing.keys.get(keyRing.current)
        if (cryptoKey === undefined) throw new Error("the current key is not in the key ring")
        const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
        const cipher = await globalThis.crypto.subtle.encrypt(
          { name: "AES-GCM", iv, additionalData: additionalData(key) },
          cryptoKey,
          new TextEncoder().encode(payload.data)
        )
        return `${format}.${keyRing.current}.${Encoding.encodeBase64Url(iv)}.${
          Encoding.encodeBase64Url(new Uint8Array(cipher))
        }`
      },
      catch: (cause) =>
        new TokenStore.TokenStoreError({ operation: "encrypt", key, description: "encryption failed", cause })
    }).pipe(Effect.map((data): RawTokenStore.Payload => ({ data, expiresAt: payload.expiresAt })))

  const corrupted = (key: string, version: number, reason: string) =>
    Effect.flatMap(
      self.quarantine(key, version),
      (movedTo) => Effect.fail(new TokenStore.CorruptedToken({ key, reason, movedTo: Option.getOrUndefined(movedTo) }))
    )

  const open = (key: string, entry: RawTokenStore.Entry): Effect.Effect<RawTokenStore.Entry, TokenStore.StoreError> => {
    const parts = entry.data.split(".")
    const iv = parts.length === 4 && parts[0] === format ? Encoding.decodeBase64Url(parts[2]) : undefined
    const sealed = iv === undefined ? undefined : Encoding.decodeBase64Url(parts[3])
    if (
      iv === undefined || sealed === undefined || Either.isLeft(iv) || Either.isLeft(sealed) || iv.right.length !== 12
    ) {
      return corrupted(key, entry.version, "the stored token is not encrypted in the expected format")
    }
    const cryptoKey = keyRing.keys.get(parts[1])
    if (cryptoKey === undefined) {
      return Effect.fail(
        new TokenStore.InsecureStorage({
          key,
          reason: `the stored token is encrypted with key ${
            parts[1]
          }, which is not in the key ring (add it to the previous keys)`
        })
      )
    }
    return Effect.tryPromise(() =>
      globalThis.crypto.subtle.decrypt(
        { name: "AES-GCM", iv: copy(iv.right), additionalData: additionalData(key) },
        cryptoKey,
        copy(sealed.right)
      )
    ).pipe(
      Effect.matchEffect({
        onFailure: () =>
          corrupted(
            key,
            entry.version,
            "the stored token does not decrypt: it was altered, or copied from another key"
          ),
        onSuccess: (plain) => Effect.succeed({ data: new TextDecoder().decode(plain), version: entry.version })
      })
    )
  }

  return RawTokenStore.RawTokenStore.of({
    ...self,
    get: (key) =>
      Effect.flatMap(
        self.get(key),
        (entry) => Option.isNone(entry) ? Effect.succeedNone : Effect.asSome(open(key, entry.value))
      ),
    set: (key, payload) => Effect.flatMap(seal(key, payload), (sealed) => self.set(key, sealed)),
    compareAndSet: (key, payload, expected) =>
      Effect.flatMap(seal(key, payload), (sealed) => self.compareAndSet(key, sealed, expected))
  })
})

/**
 * The encrypted `TokenStore` over the payload store in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  keyRing: KeyRing
): Layer.Layer<TokenStore.TokenStore, never, RawTokenStore.RawTokenStore> =>
  Layer.effect(
    TokenStore.TokenStore,
    Effect.map(RawTokenStore.RawTokenStore, (raw) => RawTokenStore.toTokenStore(encrypt(raw, keyRing)))
  )

/**
 * The encrypted `TokenStore` over the payload store in context, its key ring read from
 * configuration (by default {@link keyRingConfig}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config?: Config.Config<KeyRingOptions>
): Layer.Layer<TokenStore.TokenStore, TokenStore.InsecureStorage, RawTokenStore.RawTokenStore> =>
  Layer.unwrapEffect(Effect.map(makeKeyRingConfig(config), layer))
