/**
 * oidc-provider's storage: an in-memory adapter per server, and the admin operations tests run on it
 * (revoking an account's grants, forgetting its access tokens). Expiry is oidc-provider's own check on
 * read; entries are dropped when the server closes.
 */
import type { Adapter, AdapterPayload } from "oidc-provider"

/** @internal */
export type Store = Map<string, AdapterPayload>

/**
 * The adapter of one model (`AccessToken`, `Grant`, ...) over the server's store.
 *
 * @internal
 */
export const memoryAdapter = (store: Store) => (model: string): Adapter => {
  const key = (id: string) => `${model}:${id}`
  const indexed = (field: "uid" | "userCode", value: string) => {
    for (const [k, payload] of store) {
      if (k.startsWith(`${model}:`) && payload[field] === value) return payload
    }
    return undefined
  }
  return {
    upsert: async (id, payload) => {
      store.set(key(id), payload)
    },
    find: async (id) => store.get(key(id)),
    findByUid: async (uid) => indexed("uid", uid),
    findByUserCode: async (userCode) => indexed("userCode", userCode),
    consume: async (id) => {
      const payload = store.get(key(id))
      // Only its truthiness is read (reuse detection); the time is not ours to take.
      if (payload !== undefined) payload.consumed = true
    },
    destroy: async (id) => {
      store.delete(key(id))
    },
    revokeByGrantId: async (grantId) => {
      for (const [k, payload] of store) {
        if (k.startsWith(`${model}:`) && payload.grantId === grantId) store.delete(k)
      }
    }
  }
}

/**
 * Drops every grant of an account and everything issued under them.
 *
 * @internal
 */
export const revokeGrants = (store: Store, accountId: string): void => {
  const grants = new Set<string>()
  for (const [key, payload] of store) {
    if (key.startsWith("Grant:") && payload.accountId === accountId && typeof payload.jti === "string") {
      grants.add(payload.jti)
    }
  }
  for (const [key, payload] of store) {
    const grantId = key.startsWith("Grant:") ? payload.jti : payload.grantId
    if (typeof grantId === "string" && grants.has(grantId)) store.delete(key)
  }
}

/**
 * Drops the access tokens of an account, leaving its grants and refresh tokens.
 *
 * @internal
 */
export const invalidateAccessTokens = (store: Store, accountId: string): void => {
  for (const [key, payload] of store) {
    if (key.startsWith("AccessToken:") && payload.accountId === accountId) store.delete(key)
  }
}
