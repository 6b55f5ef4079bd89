/**
 * What `tokenfx status` reports for each profile: the server, the client, its health (the state
 * `TokenHealth.classify` gives, the vocabulary of the `tokenfx_tokens_active` gauge, or `missing` /
 * `unreadable`), when its token is due for a refresh and expires, the refresh token's horizon, its scopes,
 * and where it is kept. Never a token value.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Expiry from "@tokenfx/core/Expiry"
import type * as Token from "@tokenfx/core/Token"
import * as TokenHealth from "@tokenfx/core/TokenHealth"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CliError from "./CliError.js"
import * as display from "./internal/display.js"
import * as session from "./internal/session.js"
import * as Profile from "./Profile.js"

/**
 * One profile's state, as `status --json` prints it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProfileStatus {
  readonly name: string
  readonly isDefault: boolean
  readonly issuer: string | null
  readonly clientId: string
  readonly tokenEndpoint: string
  readonly loggedIn: boolean
  /**
   * The stored token's `TokenHealth.State` (`fresh`, `refresh_window`: the next use refreshes it,
   * `expired`: the next use tries a refresh, `dead`: log in again), or `missing` (not logged in) or
   * `unreadable` (the store failed: see `problem`).
   */
  readonly state: State
  readonly tokenType: string | null
  readonly scopes: ReadonlyArray<string>
  readonly expiresAt: string | null
  readonly expiresInSeconds: number | null
  /** When the token is due for a refresh (`null`: never before a 401, or nothing to refresh). */
  readonly refreshDueAt: string | null
  readonly hasRefreshToken: boolean
  readonly refreshTokenExpiresAt: string | null
  /** The refresh token's horizon: seconds until it expires (negative once it has), `null` with no known expiry. */
  readonly refreshTokenExpiresInSeconds: number | null
  /** The store's version of the token: how many times it was written. */
  readonly version: number | null
  /** What is wrong and what to do, when the profile cannot give a token. */
  readonly problem: string | null
}

/**
 * A profile's state: a stored token's `TokenHealth.State`, `missing` or `unreadable`.
 *
 * @since 0.3.0
 * @category models
 */
export type State = TokenHealth.State | "missing" | "unreadable"

/**
 * The refresh policy the CLI uses (the `TokenManager`'s default): the one its states are judged by.
 *
 * @since 0.3.0
 * @category models
 */
export const policy: Expiry.Policy = Expiry.defaultPolicy

/**
 * What `tokenfx status` reports: the config file, the token store, whether it is encrypted, and each profile.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  readonly configFile: string
  readonly tokenStore: string
  readonly encrypted: boolean
  /**
   * The token store's counts by state (`TokenStore.stats`, from each file's expiry, the default
   * 5-minute window), every stored token included, or `null` when the store cannot be read.
   */
  readonly stored: TokenStore.Counts | null
  readonly profiles: ReadonlyArray<ProfileStatus>
}

const iso = (instant: DateTime.Utc | undefined) => instant === undefined ? null : DateTime.formatIso(instant)

const seconds = (from: DateTime.Utc, to: DateTime.Utc | undefined) =>
  to === undefined ? null : Math.floor(DateTime.distance(from, to) / 1000)

/**
 * What a stored token tells about a profile's health at `now`, judged by `TokenHealth.classify` with
 * the CLI's {@link policy}. `login` is the command that logs the profile in again.
 *
 * @since 0.3.0
 * @category constructors
 */
export const tokenHealth = (
  token: Token.Token,
  now: DateTime.Utc,
  login: string
): Omit<ProfileStatus, "name" | "isDefault" | "issuer" | "clientId" | "tokenEndpoint" | "version"> => {
  const state = TokenHealth.classify(token, now, { policy })
  const dueAt = TokenHealth.refreshDueAtMillis(token, { policy })
  const refreshable = token.refreshToken !== undefined && TokenHealth.expiredAtMillis(token, { policy }) !== dueAt
  return {
    loggedIn: true,
    state,
    tokenType: token.tokenType,
    scopes: token.scopes,
    expiresAt: iso(token.expiresAt),
    expiresInSeconds: seconds(now, token.expiresAt),
    refreshDueAt: refreshable && Number.isFinite(dueAt) ? DateTime.formatIso(DateTime.unsafeMake(dueAt)) : null,
    hasRefreshToken: token.refreshToken !== undefined,
    refreshTokenExpiresAt: iso(token.refreshTokenExpiresAt),
    refreshTokenExpiresInSeconds: seconds(now, token.refreshTokenExpiresAt),
    problem: state === "dead" ? `the token expired and cannot be refreshed. Next: ${login}.` : null
  }
}

/**
 * Reads the state of the profiles (all of them, or the one named), without contacting any server.
 *
 * @since 0.1.0
 * @category constructors
 */
export const read = (
  only: string | undefined
): Effect.Effect<Status, CliError.CliError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const config = yield* Profile.load
    const where = yield* Profile.locations
    const encrypted = Option.isSome(yield* session.encryptionKey)
    const defaultName = Profile.resolveName(config, undefined)
    const names = only === undefined ? Object.keys(config.profiles).sort() : [(yield* Profile.get(only))[0]]
    if (names.length === 0) {
      return yield* CliError.make(
        "Configuration",
        "No profile is configured",
        `run "tokenfx login --issuer <URL> --client-id <ID>"`
      )
    }
    const now = yield* DateTime.now
    const profiles: Array<ProfileStatus> = []
    for (const name of names) {
      const profile = Profile.find(config, name)!
      const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(name)).pipe(
        Effect.provide(session.storeLayer(where.tokenDirectory, name)),
        Effect.either
      )
      const base = {
        name,
        isDefault: name === defaultName,
        issuer: profile.issuer ?? null,
        clientId: profile.clientId,
        tokenEndpoint: profile.tokenEndpoint
      }
      const login = CliError.loginCommand(name)
      if (stored._tag === "Left" || Option.isNone(stored.right)) {
        const problem = stored._tag === "Left"
          ? CliError.fromError(name)(stored.left).message.replace("\nNext: ", " Next: ")
          : `not logged in. Next: ${login}.`
        profiles.push({
          ...base,
          loggedIn: false,
          state: stored._tag === "Left" ? "unreadable" : "missing",
          tokenType: null,
          scopes: profile.scope ?? [],
          expiresAt: null,
          expiresInSeconds: null,
          refreshDueAt: null,
          hasRefreshToken: false,
          refreshTokenExpiresAt: null,
          refreshTokenExpiresInSeconds: null,
          version: null,
          problem
        })
        continue
      }
      const { token, version } = stored.right.value
      profiles.push({ ...base, ...tokenHealth(token, now, login), version })
    }
    const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.stats()).pipe(
      Effect.provide(session.storeLayer(where.tokenDirectory, defaultName)),
      Effect.map(({ byUser: _, ...counts }): TokenStore.Counts | null => counts),
      Effect.orElseSucceed(() => null)
    )
    return { configFile: where.configFile, tokenStore: where.tokenDirectory, encrypted, stored, profiles }
  })

const human = (seconds: number): string => {
  const rounded = Math.abs(seconds) >= 120 ? Math.round(seconds / 60) * 60 : seconds
  return Duration.format(Duration.seconds(Math.abs(rounded)))
}

const describeExpiry = (profile: ProfileStatus): string => {
  if (profile.expiresInSeconds === null) return "does not expire"
  return profile.expiresInSeconds > 0
    ? `expires in ${human(profile.expiresInSeconds)} (${profile.expiresAt})`
    : `expired ${human(profile.expiresInSeconds)} ago (${profile.expiresAt})${
      profile.state === "expired" ? "; the next use refreshes it" : ""
    }`
}

const describeRefreshToken = (profile: ProfileStatus): string => {
  if (!profile.hasRefreshToken) return "none (log in again when the access token expires)"
  const left = profile.refreshTokenExpiresInSeconds
  if (left === null) return "yes"
  return left > 0
    ? `yes, expires in ${human(left)} (${profile.refreshTokenExpiresAt})`
    : `expired ${human(left)} ago (${profile.refreshTokenExpiresAt})`
}

// The state column: what it means for the next `tokenfx token`.
const stateText: Record<State, string> = {
  fresh: "fresh",
  refresh_window: "refresh_window (the next use refreshes it)",
  expired: "expired (the next use tries a refresh)",
  dead: "dead (log in again)",
  missing: "missing (not logged in)",
  unreadable: "unreadable"
}

const shortExpiry = (left: number | null, loggedIn: boolean) =>
  !loggedIn ? "-" : left === null ? "no expiry" : left > 0 ? `in ${human(left)}` : `${human(left)} ago`

/**
 * The report as text: a table with one row per profile (its state, when its access and refresh tokens
 * expire), then one block per profile.
 *
 * @since 0.1.0
 * @category constructors
 */
export const format = (status: Status): string => {
  const rows = [
    ["PROFILE", "STATE", "ACCESS TOKEN", "REFRESH TOKEN"],
    ...status.profiles.map((profile) => [
      `${display.text(profile.name)}${profile.isDefault ? " *" : ""}`,
      profile.state,
      shortExpiry(profile.expiresInSeconds, profile.loggedIn),
      !profile.loggedIn
        ? "-"
        : !profile.hasRefreshToken
        ? "none"
        : shortExpiry(profile.refreshTokenExpiresInSeconds, true).replace("no expiry", "yes")
    ])
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  const lines: Array<string> = rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd())
  lines.push("")
  for (const profile of status.profiles) {
    lines.push(`${profile.name}${profile.isDefault ? " (default)" : ""}`)
    lines.push(`  server:        ${profile.issuer ?? profile.tokenEndpoint}`)
    lines.push(`  client id:     ${profile.clientId}`)
    lines.push(`  state:         ${stateText[profile.state]}`)
    if (!profile.loggedIn) {
      lines.push(`  logged in:     no: ${profile.problem}`)
    } else {
      lines.push(`  logged in:     yes (${profile.tokenType} token, store version ${profile.version})`)
      lines.push(`  access token:  ${describeExpiry(profile)}`)
      if (profile.refreshDueAt !== null && profile.state === "fresh") {
        lines.push(`  refresh due:   ${profile.refreshDueAt}`)
      }
      lines.push(`  refresh token: ${describeRefreshToken(profile)}`)
      lines.push(`  scopes:        ${profile.scopes.length === 0 ? "(none)" : profile.scopes.join(" ")}`)
      if (profile.problem !== null) lines.push(`  problem:       ${profile.problem}`)
    }
    lines.push("")
  }
  lines.push(`config: ${status.configFile}`)
  if (status.stored !== null) {
    const { expired, fresh, refresh_window, total } = status.stored
    lines.push(`stored: ${total} tokens (${fresh} fresh, ${refresh_window} refresh_window, ${expired} expired)`)
  }
  lines.push(
    `tokens: ${status.tokenStore} (files 0600 in a 0700 directory, ${
      status.encrypted
        ? "encrypted with TOKENFX_ENCRYPTION_KEY"
        : "not encrypted: set TOKENFX_ENCRYPTION_KEY to encrypt"
    })`
  )
  // Names, servers, token types and scopes come from the config and token files: each line escaped.
  return lines.map(display.text).join("\n")
}
