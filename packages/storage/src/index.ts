/**
 * Token stores: encrypted, `KeyValueStore` and the raw-payload interface (the file and SQL stores are imported from their own paths, `@tokenfx/storage/FileTokenStore` and `@tokenfx/storage/SqlTokenStore`).
 *
 * @since 0.1.0
 */

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
export * as EncryptedTokenStore from "./EncryptedTokenStore.js"

/**
 * A token store over `@effect/platform`'s `KeyValueStore`: any back-end that has one (memory, a
 * directory, browser storage, your own).
 *
 * Compare-and-set is only as strong as the underlying store: `KeyValueStore` has no conditional
 * write, so the read, the comparison and the write are serialized within this process only. Two
 * processes sharing the underlying store can both win a compare-and-set, and both hold a lease;
 * share a store across processes through `FileTokenStore` or `SqlTokenStore` instead.
 *
 * Entries live under `<prefix>token:<key>`, leases under `<prefix>lease:<key>`, the list of keys
 * under `<prefix>keys`, and an entry that does not decode is copied to
 * `<prefix>corrupt:<key>:<time>` (plus `-<n>` should that exist) before it is cleared. Nothing is
 * encrypted or access-controlled beyond what the underlying store does: wrap it with `EncryptedTokenStore`.
 * A key that is not well-formed UTF-16 (a lone surrogate) is a `TokenStoreError`: back-ends keep keys as
 * UTF-8 or URI components, where it has no faithful form.
 *
 * @since 0.1.0
 */
export * as KeyValueTokenStore from "./KeyValueTokenStore.js"

/**
 * The store beneath the stores: opaque string payloads with a version and a lease per key. The file,
 * `KeyValueStore` and SQL back-ends implement it; the `Token` codec (`toTokenStore`) and encryption
 * (`EncryptedTokenStore`) are layered on top, so each back-end knows nothing of tokens or keys.
 *
 * Implement it to bring your own back-end: `toTokenStore` then gives you the `TokenStore`, and
 * `EncryptedTokenStore` encryption at rest.
 *
 * @since 0.1.0
 */
export * as RawTokenStore from "./RawTokenStore.js"
