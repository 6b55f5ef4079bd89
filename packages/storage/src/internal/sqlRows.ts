/**
 * Reading rows and errors of the SQL store: driver numbers, exact versions, counts by state, and
 * database failures described without their data.
 */
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"

// The messages (and the driver's error code) along a database error's chain of causes. The error
// itself is not kept as a cause: drivers attach data to it, such as PostgreSQL's `detail` ("Failing
// row contains (…)", the payload included), which `JSON.stringify` or `inspect` would print.
/** @internal */
export const describeFailure = (error: unknown): string => {
  const messages: Array<string> = []
  let code: string | undefined
  let current = error
  for (let depth = 0; depth < 4 && Predicate.isObject(current); depth++) {
    if (Predicate.hasProperty(current, "message") && Predicate.isString(current.message) && current.message !== "") {
      if (!messages.includes(current.message)) messages.push(current.message)
    }
    if (Predicate.hasProperty(current, "code") && Predicate.isString(current.code)) code = current.code
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  return `${messages.length === 0 ? "unknown error" : messages.join(": ")}${code === undefined ? "" : ` (${code})`}`
}

/** @internal */
export const failure = (operation: string, key?: string) => (error: unknown) =>
  new TokenStore.TokenStoreError({ operation, key, description: `the database failed: ${describeFailure(error)}` })

// Drivers answer BIGINT as a number (SQLite) or a string (PostgreSQL).
/** @internal */
export const toNumber = (u: unknown): number => typeof u === "number" ? u : Number(u)

// A version is an exact JavaScript number up to 2^53 - 1. A larger one (no store counts that far, but
// a database may hold one) would come back rounded, and no compare-and-set could ever match it again:
// it is a typed error instead.
/** @internal */
export const toVersion =
  (operation: string, key: string) => (u: unknown): Effect.Effect<number, TokenStore.TokenStoreError> => {
    const version = toNumber(u)
    return Number.isSafeInteger(version)
      ? Effect.succeed(version)
      : Effect.fail(
        new TokenStore.TokenStoreError({
          operation,
          key,
          description: "the stored version is beyond 2^53 - 1 and cannot be represented exactly"
        })
      )
  }

// Writes stop at 2^53 - 1 (a condition of each statement) rather than store a version `toVersion`
// refuses to read back: nothing is written, and the writer gets this error.
/** @internal */
export const maxVersion = Number.MAX_SAFE_INTEGER

/** @internal */
export const beyondSafe = (operation: string, key: string) =>
  new TokenStore.TokenStoreError({
    operation,
    key,
    description: "the version would pass 2^53 - 1 and could not be represented exactly; nothing was written"
  })

type Counts = { total: number; fresh: number; refresh_window: number; expired: number }

const zero = (): Counts => ({ total: 0, fresh: 0, refresh_window: 0, expired: 0 })

/** @internal */
export const countRows = (
  rows: ReadonlyArray<{ readonly state: string; readonly user_id?: string; readonly n: unknown }>,
  byUser: boolean
): TokenStore.Stats => {
  const all = zero()
  const users = new Map<string, Counts>()
  for (const row of rows) {
    const state = row.state as "fresh" | "refresh_window" | "expired"
    const n = toNumber(row.n)
    all.total += n
    all[state] += n
    if (byUser && row.user_id !== undefined) {
      const user = users.get(row.user_id) ?? zero()
      user.total += n
      user[state] += n
      users.set(row.user_id, user)
    }
  }
  return {
    ...all,
    byUser: byUser
      ? Array.from(users, ([user, counts]) => ({ user, ...counts })).sort((a, b) => a.user.localeCompare(b.user))
      : undefined
  }
}
