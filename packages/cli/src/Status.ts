/**
 * What `tokenfx status` reports for each profile: the server, the client, whether a token is stored,
 * when it and its refresh token expire, its scopes, and where it is kept. Never a token value.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CliError from "./CliError.js"
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
  /** `valid`, `expired` (a refresh will be tried), `missing`, or `unreadable`. */
  readonly state: "valid" | "expired" | "missing" | "unreadable"
  readonly tokenType: string | null
  readonly scopes: ReadonlyArray<string>
  readonly expiresAt: string | null
  readonly expiresInSeconds: number | null
  readonly hasRefreshToken: boolean
  readonly refreshTokenExpiresAt: string | null
  /** What is wrong and what to do, when the profile cannot give a token. */
  readonly problem: string | null
}

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
  readonly profiles: ReadonlyArray<ProfileStatus>
}

const iso = (instant: DateTime.Utc | undefined) => instant === undefined ? null : DateTime.formatIso(instant)

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
      const profile = config.profiles[name]!
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
          hasRefreshToken: false,
          refreshTokenExpiresAt: null,
          problem
        })
        continue
      }
      const token = stored.right.value.token
      const left = token.expiresAt === undefined
        ? null
        : Math.floor(DateTime.distance(now, token.expiresAt) / 1000)
      const expired = left !== null && left <= 0
      const refreshable = token.refreshToken !== undefined &&
        (token.refreshTokenExpiresAt === undefined || DateTime.lessThan(now, token.refreshTokenExpiresAt))
      profiles.push({
        ...base,
        loggedIn: true,
        state: expired ? "expired" : "valid",
        tokenType: token.tokenType,
        scopes: token.scopes,
        expiresAt: iso(token.expiresAt),
        expiresInSeconds: left,
        hasRefreshToken: token.refreshToken !== undefined,
        refreshTokenExpiresAt: iso(token.refreshTokenExpiresAt),
        problem: expired && !refreshable ? `the token expired and cannot be refreshed. Next: ${login}.` : null
      })
    }
    return { configFile: where.configFile, tokenStore: where.tokenDirectory, encrypted, profiles }
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
      profile.hasRefreshToken ? "; the next use refreshes it" : ""
    }`
}

/**
 * The report as text, one block per profile.
 *
 * @since 0.1.0
 * @category constructors
 */
export const format = (status: Status): string => {
  const lines: Array<string> = []
  for (const profile of status.profiles) {
    lines.push(`${profile.name}${profile.isDefault ? " (default)" : ""}`)
    lines.push(`  server:        ${profile.issuer ?? profile.tokenEndpoint}`)
    lines.push(`  client id:     ${profile.clientId}`)
    if (!profile.loggedIn) {
      lines.push(`  logged in:     no: ${profile.problem}`)
    } else {
      lines.push(`  logged in:     yes (${profile.tokenType} token)`)
      lines.push(`  access token:  ${describeExpiry(profile)}`)
      lines.push(
        `  refresh token: ${
          !profile.hasRefreshToken
            ? "none (log in again when the access token expires)"
            : profile.refreshTokenExpiresAt === null
            ? "yes"
            : `yes, until ${profile.refreshTokenExpiresAt}`
        }`
      )
      lines.push(`  scopes:        ${profile.scopes.length === 0 ? "(none)" : profile.scopes.join(" ")}`)
      if (profile.problem !== null) lines.push(`  problem:       ${profile.problem}`)
    }
    lines.push("")
  }
  lines.push(`config: ${status.configFile}`)
  lines.push(
    `tokens: ${status.tokenStore} (files 0600 in a 0700 directory, ${
      status.encrypted
        ? "encrypted with TOKENFX_ENCRYPTION_KEY"
        : "not encrypted: set TOKENFX_ENCRYPTION_KEY to encrypt"
    })`
  )
  return lines.join("\n")
}
