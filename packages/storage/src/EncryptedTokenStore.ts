/**
 * Encryption at rest around any payload store: AES-256-GCM through WebCrypto.
 *
 * - Confidentiality and integrity: every write is encrypted under a fresh random 96-bit IV; any change
 *   to a stored ciphertext makes it fail to decrypt (`CorruptedToken`, and the entry is kept aside).
 * - Binding: the store key and the entry's version are authenticated data, so a ciphertext copied to
 *   another key (another user's row), or an older ciphertext of the same key put back (a rollback to
 *   an old refresh token or old scopes), fails to decrypt. A write after a removal is sealed for the
 *   version the store will give it (`RawTokenStore`'s `head`); over a back-end without `head` it is
 *   written, then sealed again for the version it got, and a reader in between sees a `CorruptedToken`.
 * - Rotation: a key ring decrypts with any of its keys and encrypts with the current one. Each key is
 *   named by an id derived from it (HMAC-SHA-256 of a fixed label under the key, truncated, which
 *   reveals nothing of the key), stored with the ciphertext, so a token written under a key the ring
 *   does not hold is a clear `InsecureStorage` rather than a failed decryption. Tokens move to the
 *   current key as they are rewritten (every refresh rewrites).
 * - Keys: 32 bytes, base64, read with `Config.redacted`; a missing, malformed or obviously weak key
 *   (all one byte, a short repeated pattern, a counting sequence) is `InsecureStorage`, naming the
 *   setting and never the value.
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
import { isWellFormed } from "./internal/storeKey.js"
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
 * The keys of a key ring: the current one, and previous ones kept for reading older tokens.
 *
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
      bytes.length !== keyBytes
        ? Either.left(
          new TokenStore.InsecureStorage({
            reason: `the ${name} must be ${keyBytes} bytes (base64), it is ${bytes.length} bytes`
          })
        )
        : isWeak(bytes)
        ? Either.left(
          new TokenStore.InsecureStorage({
            reason: `the ${name} is not random (too few distinct bytes, or a sequence): generate one with generateKey`
          })
        )
        : Either.right(bytes)
  })
}

// Obviously not random: 32 random bytes hold about 30 distinct values (fewer than 16 has a chance
// below 2^-60), and never form an arithmetic sequence.
const isWeak = (bytes: Uint8Array): boolean => {
  if (new Set(bytes).size < 16) return true
  const step = (bytes[1] - bytes[0] + 256) % 256
  return bytes.every((byte, i) => i === 0 || (byte - bytes[i - 1] + 256) % 256 === step)
}

// A copy backed by a plain `ArrayBuffer`, as WebCrypto's types require.
const copy = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes)

const keyIdLabel = new TextEncoder().encode("tokenfx/encryption-key-id/v1")

const importKey = (input: Uint8Array) =>
  Effect.promise(async () => {
    const bytes = copy(input)
    // A MAC of a fixed label under the key: a stable name for it that says nothing about it.
    const mac = await globalThis.crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign"
    ])
    const tag = new Uint8Array(await globalThis.crypto.subtle.sign("HMAC", mac, keyIdLabel))
    const id = Encoding.encodeHex(tag.subarray(0, 8))
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

const format = "tfx2"

// Injective in the key. A well-formed key goes in as UTF-8, as it always has (stored tokens still
// decrypt); TextEncoder would turn every lone surrogate into U+FFFD, making `"a\uD800"` and `"a\uDBFF"`
// one key, so any other key goes in by its UTF-16 code units, under a label of its own.
const additionalData = (key: string, version: number) =>
  new TextEncoder().encode(
    isWellFormed(key)
      ? `tokenfx/token/v2\u0000${key}\u0000${version}`
      : `tokenfx/token/v2-utf16\u0000${codeUnits(key)}\u0000${version}`
  )

// Four hex digits per code unit (not per code point: a pair stays two units).
const codeUnits = (key: string) => {
  let out = ""
  for (let i = 0; i < key.length; i++) out += key.charCodeAt(i).toString(16).padStart(4, "0")
  return out
}

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
  const seal = (key: string, payload: RawTokenStore.Payload, version: number) =>
    Effect.tryPromise({
      try: async () => {
        const cryptoKey = keyRing.keys.get(keyRing.current)
        if (cryptoKey === undefined) throw new Error("the current key is not in the key ring")
        const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
        const cipher = await globalThis.crypto.subtle.encrypt(
          { name: "AES-GCM", iv, additionalData: additionalData(key, version) },
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
        { name: "AES-GCM", iv: copy(iv.right), additionalData: additionalData(key, entry.version) },
        cryptoKey,
        copy(sealed.right)
      )
    ).pipe(
      Effect.matchEffect({
        onFailure: () =>
          corrupted(
            key,
            entry.version,
            "the stored token does not decrypt: it was altered, copied from another key, or put back from an older version"
          ),
        onSuccess: (plain) => Effect.succeed({ data: new TextDecoder().decode(plain), version: entry.version })
      })
    )
  }

  // A version is bound before it is written, so every write names the version it will get: each store
  // numbers a write `expected + 1`. A write into an empty key gets the version after its tombstone's,
  // which the store reports (`head`), so the write is sealed for it and lands only if that still holds.
  const head = self.head
  const compareAndSetRemoved = self.compareAndSetRemoved
  const maxAttempts = 10

  const contended = (operation: string, key: string) =>
    new TokenStore.TokenStoreError({
      operation,
      key,
      description: `other writers changed the key ${maxAttempts} times in a row; the token was not stored`
    })

  const insert = (
    key: string,
    payload: RawTokenStore.Payload,
    attempt: number
  ): Effect.Effect<Option.Option<number>, TokenStore.StoreError> => {
    const again = Effect.suspend(() =>
      attempt >= maxAttempts ? Effect.fail(contended("compareAndSet", key)) : insert(key, payload, attempt + 1)
    )
    if (head !== undefined && compareAndSetRemoved !== undefined) {
      return Effect.flatMap(
        head(key),
        (current) =>
          current.stored ? Effect.succeedNone : seal(key, payload, current.version + 1).pipe(
            Effect.flatMap((sealed) => compareAndSetRemoved(key, sealed, current.version)),
            // Lost: the key was written (then `head` says so) or written and removed again.
            Effect.flatMap((written) => Option.isSome(written) ? Effect.succeed(written) : again)
          )
      )
    }
    // A back-end without `head`: sealed for 1, then again for the version the store gave. A reader in
    // between finds a ciphertext that does not decrypt and quarantines it; the second write then loses,
    // and the token is written anew rather than reported stored.
    return Effect.flatMap(
      seal(key, payload, 1),
      (sealed) =>
        Effect.flatMap(self.compareAndSet(key, sealed, undefined), (written) => {
          if (Option.isNone(written) || written.value === 1) return Effect.succeed(written)
          return seal(key, payload, written.value + 1).pipe(
            Effect.flatMap((resealed) => self.compareAndSet(key, resealed, written.value)),
            Effect.flatMap((settled) => Option.isSome(settled) ? Effect.succeed(settled) : again)
          )
        })
    )
  }

  const compareAndSet = (
    key: string,
    payload: RawTokenStore.Payload,
    expected: number | undefined
  ): Effect.Effect<Option.Option<number>, TokenStore.StoreError> =>
    expected === undefined
      ? insert(key, payload, 1)
      : Effect.flatMap(seal(key, payload, expected + 1), (sealed) => self.compareAndSet(key, sealed, expected))

  // An unconditional write, as compare-and-set against whatever is there, retried while other writers win
  // the race, a bounded number of times: never an unconditional write, whose version is known only after.
  const set = (
    key: string,
    payload: RawTokenStore.Payload,
    attempt: number
  ): Effect.Effect<number, TokenStore.StoreError> =>
    // An entry that does not decode was moved aside (or is kept for inspection): it is overwritten.
    Effect.flatMap(Effect.catchTag(self.get(key), "CorruptedToken", () => Effect.succeedNone), (current) =>
      Effect.flatMap(
        compareAndSet(key, payload, Option.isSome(current) ? current.value.version : undefined),
        Option.match({
          onSome: Effect.succeed,
          onNone: () =>
            attempt >= maxAttempts ? Effect.fail(contended("set", key)) : set(key, payload, attempt + 1)
        })
      ))

  return RawTokenStore.RawTokenStore.of({
    ...self,
    get: (key) =>
      Effect.flatMap(
        self.get(key),
        (entry) => Option.isNone(entry) ? Effect.succeedNone : Effect.asSome(open(key, entry.value))
      ),
    set: (key, payload) => set(key, payload, 1),
    compareAndSet,
    // Passed through, it would write the payload unencrypted.
    compareAndSetRemoved: compareAndSetRemoved === undefined ?
      undefined :
      (key, payload, version) =>
        Effect.flatMap(seal(key, payload, version + 1), (sealed) => compareAndSetRemoved(key, sealed, version))
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
