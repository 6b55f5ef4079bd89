/**
 * @since 0.1.0
 */

/**
 * Encryption at rest around any payload store: AES-256-GCM through WebCrypto.
 *
 * - Confidentiality and integrity: every write is encrypted under a fresh random 96-bit IV; any change
 *   to a stored ciphertext makes it fail to decrypt (`CorruptedToken`, and the entry is kept aside).
 * - Binding: the store key and the entry's version are authenticated data, so a ciphertext copied to
 *   another key (another user's row), or an older ciphertext of the same key put back (a rollback to
 *   an old refresh token or old scopes), fails to decrypt. A write after a removal learns its version
 *   from the store and is sealed again for it; a reader in between sees a `CorruptedToken`.
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
 * A token store in a directory: one file per key, for one user on one machine (a CLI, a desktop
 * application).
 *
 * - Confidentiality: the directory is created `0700` and every file `0600`; a token file that group
 *   or others can read, or that belongs to another user, is refused with `InsecureStorage` (unless
 *   `strictPermissions: false`), and so is a directory that group or others can write to or that
 *   belongs to another user. Token files are opened without following symbolic links and without
 *   blocking: a symbolic link, a FIFO or anything else but a regular file at a token path is
 *   `InsecureStorage`, whatever `strictPermissions` says, and is left where it is. A token file
 *   larger than 1 MiB is not read (it is corrupt).
 * - Atomicity and durability: a write goes to a temporary file in the same directory, which is
 *   flushed (`fsync`), renamed over the token file, and the directory flushed; a reader, or a crash,
 *   sees the old token or the new one, never a mix. The directory flush opens the directory read-only
 *   and syncs that descriptor (Linux, macOS); where a directory cannot be opened it is skipped.
 * - Nothing is lost: a file that does not decode is renamed aside (`<file>.corrupt-<time>`) and
 *   reported as `CorruptedToken`; it is never deleted.
 * - Safe names: keys are encoded into file names (`[a-z0-9_-]` kept, anything else escaped, long keys
 *   hashed), so no key can reach outside the directory.
 * - Versions and compare-and-set across processes: the version is stored in the file beside the
 *   payload, and every write reads and writes it holding the key's lock file, created exclusively.
 *   A lock file whose holder died (same host: its pid no longer runs) or that is older than
 *   `staleLockAfter` (another host) is broken.
 * - Leases: a lease file per key (owner, pid, host, deadline from `Clock`), written under the key's
 *   lock; it is taken over when its deadline has passed or its process died on this host.
 *
 * A removed token leaves a small tombstone file (no secret in it) that keeps the key's version.
 *
 * POSIX only for the permission checks: on Windows, whose ACLs ignore modes, set `strictPermissions: false`.
 *
 * @since 0.1.0
 */
export * as FileTokenStore from "./FileTokenStore.js"

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
 * `<prefix>corrupt:<key>:<time>` before it is cleared. Nothing is encrypted or access-controlled
 * beyond what the underlying store does: wrap it with `EncryptedTokenStore`.
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
