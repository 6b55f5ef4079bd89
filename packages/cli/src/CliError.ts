/**
 * What a failed command tells the user: what went wrong, what to do next, and an exit code a script
 * can branch on. Library errors are translated here, and none of them carries a secret.
 *
 * | code | kind                | what to do                                    |
 * | ---- | ------------------- | --------------------------------------------- |
 * | 1    | `Failure`           | read the message (a denied login, HTTP error) |
 * | 2    | `Usage`             | fix the command line (`tokenfx --help`)       |
 * | 3    | `Configuration`     | fix the profile, client or storage settings   |
 * | 4    | `ReconnectRequired` | log in again (`tokenfx login`)                |
 * | 5    | `Server`            | retry later: the server or network failed     |
 *
 * @since 0.1.0
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Schema from "effect/Schema"
import * as display from "./internal/display.js"

/**
 * What went wrong, in the terms of the exit status: a failure, a usage or configuration error, a login
 * needed again, or the server.
 *
 * @since 0.1.0
 * @category models
 */
export const Kind = Schema.Literal("Failure", "Usage", "Configuration", "ReconnectRequired", "Server")

/**
 * The type of `Kind`.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = typeof Kind.Type

/**
 * A command failed; `next` says what to do about it.
 *
 * @since 0.1.0
 * @category errors
 */
export class CliError extends Schema.TaggedError<CliError>("@tokenfx/cli/CliError")("CliError", {
  kind: Kind,
  reason: Schema.String,
  next: Schema.String
}) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
  // One line of what went wrong and one of what to do: server and file text in either is escaped, so
  // that it can neither drive the terminal nor forge a line.
  override get message(): string {
    const reason = display.text(this.reason)
    return this.next.length === 0 ? reason : `${reason}.\nNext: ${display.text(this.next)}.`
  }
}

/**
 * The process exit code of each kind.
 *
 * @since 0.1.0
 * @category constructors
 */
export const exitCodes: Readonly<Record<Kind, number>> = {
  Failure: 1,
  Usage: 2,
  Configuration: 3,
  ReconnectRequired: 4,
  Server: 5
}

/**
 * A `CliError` of a kind, with its reason and the next step for the user.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (kind: Kind, reason: string, next: string): CliError => new CliError({ kind, reason, next })

/**
 * A configuration error, failed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const configuration = (reason: string, next: string) => new CliError({ kind: "Configuration", reason, next })

/**
 * The command to log `profile` in again.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loginCommand = (profile: string): string =>
  `run "tokenfx login${profile === "default" ? "" : ` --profile ${profile}`}"`

const isOAuthError = Schema.is(OAuthError.OAuthError)

/**
 * Translates what the library fails with into what the user is told, for an operation on `profile`.
 * Errors already translated pass through.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromError = (profile: string) => (error: unknown): CliError => {
  if (error instanceof CliError) return error
  const login = loginCommand(profile)
  if (TokenStore.isStoreError(error)) {
    switch (error._tag) {
      case "CorruptedToken":
        return make(
          "ReconnectRequired",
          `The stored token of profile "${profile}" is unreadable: ${error.reason}${
            error.movedTo === undefined ? "" : ` (kept aside as ${error.movedTo})`
          }`,
          `${login} to get a new one`
        )
      case "InsecureStorage":
        return make(
          "Configuration",
          `The token store refused to work: ${error.reason}`,
          "fix the permissions (chmod 600 for token files, 700 for their directory) or TOKENFX_ENCRYPTION_KEY"
        )
      case "TokenStoreError":
        return make("Failure", `The token store failed: ${error.message}`, "check the config directory's disk")
    }
  }
  if (isOAuthError(error)) {
    switch (error._tag) {
      case "ReconnectRequired":
        return make(
          "ReconnectRequired",
          `Profile "${profile}" must log in again: ${error.reason}`,
          login
        )
      case "AccessDenied":
        return make("Failure", `The authorization was denied: ${error.message}`, `${login} and approve it`)
      case "ExpiredToken":
        return make("Failure", "The login took too long: the code expired", `${login} again and approve it sooner`)
      case "InsufficientScope":
        return make(
          "Configuration",
          `The token lacks a scope the resource requires${error.scope === undefined ? "" : ` (${error.scope})`}`,
          `run "tokenfx login${profile === "default" ? "" : ` --profile ${profile}`} --scope '<scopes>'"`
        )
      case "TransportError":
        return error.disposition === "retry"
          ? make("Server", `Cannot reach the server: ${error.message}`, "check the network and retry")
          : make(
            "Configuration",
            `Refused to send the token: ${error.message}`,
            "use an https:// URL (plain http only to 127.0.0.1 or localhost), and no redirect to another origin"
          )
      case "MalformedResponse":
        return make("Server", `The server sent an answer tokenfx cannot read: ${error.message}`, "retry later")
    }
    switch (error.disposition) {
      case "reauthenticate":
        return make("ReconnectRequired", `The server rejected the credentials: ${error.message}`, login)
      case "configuration":
        return make(
          "Configuration",
          `The server refused the client's request: ${error.message}`,
          `check the profile's client id, scopes and endpoints ("tokenfx status") and ${login} with corrected flags`
        )
      case "retry":
      case "poll":
        return make("Server", `The server is unavailable: ${error.message}`, "retry later")
    }
  }
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const tagged = error as { readonly _tag: string; readonly message?: unknown }
    const message = typeof tagged.message === "string" ? tagged.message : tagged._tag
    switch (tagged._tag) {
      case "LeaseTimeout":
        return make("Server", message, "another tokenfx process is refreshing this token: retry in a moment")
      case "MissingEndpoint":
      case "IssuerMismatch":
      case "InvalidAuthorizationResponse":
        return make("Configuration", message, `check the profile's issuer and ${login}`)
      case "RequestError":
      case "ResponseError":
        return make("Server", `The request failed: ${message}`, "check the URL and the network, then retry")
    }
    return make("Failure", message, "retry; if it persists, report it with the output of \"tokenfx status\"")
  }
  return make("Failure", "An unexpected error occurred", "retry; if it persists, report it")
}
