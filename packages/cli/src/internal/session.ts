/** @internal */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import * as Expiry from "@tokenfx/core/Expiry"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as EncryptedTokenStore from "@tokenfx/storage/EncryptedTokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as CliError from "../CliError.js"
import type * as Profile from "../Profile.js"

/**
 * The optional client secret of a confidential client, from `TOKENFX_CLIENT_SECRET`: never stored in
 * the config file, never printed.
 *
 * @internal
 */
export const clientSecret: Effect.Effect<Redacted.Redacted<string> | undefined, CliError.CliError> = Config.option(
  Config.redacted("TOKENFX_CLIENT_SECRET")
).pipe(
  Effect.map(Option.getOrUndefined),
  Effect.orElseFail(() => CliError.configuration("Cannot read TOKENFX_CLIENT_SECRET", "check the environment"))
)

/** @internal */
export const encryptionKey: Effect.Effect<Option.Option<Redacted.Redacted<string>>, CliError.CliError> = Config
  .option(Config.redacted("TOKENFX_ENCRYPTION_KEY")).pipe(
    Effect.orElseFail(() => CliError.configuration("Cannot read TOKENFX_ENCRYPTION_KEY", "check the environment"))
  )

/**
 * The token store in `directory`: files 0600 in a 0700 directory, AES-256-GCM encrypted when
 * `TOKENFX_ENCRYPTION_KEY` (32 bytes, base64) is set.
 *
 * @internal
 */
export const storeLayer = (
  directory: string,
  profile: string
): Layer.Layer<TokenStore.TokenStore, CliError.CliError, FileSystem.FileSystem | Path.Path> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const key = yield* encryptionKey
      if (Option.isNone(key)) return FileTokenStore.layerFileSystem(directory)
      const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: key.value })
      return EncryptedTokenStore.layer(keyRing).pipe(Layer.provide(FileTokenStore.layerRaw(directory)))
    }).pipe(Effect.mapError(CliError.fromError(profile)))
  ).pipe(
    Layer.mapError(CliError.fromError(profile))
  )

/** @internal */
export const endpointOptions = (
  profile: Profile.Profile,
  secret: Redacted.Redacted<string> | undefined
): TokenEndpoint.Options => ({
  tokenEndpoint: profile.tokenEndpoint,
  authorizationEndpoint: profile.authorizationEndpoint,
  deviceAuthorizationEndpoint: profile.deviceAuthorizationEndpoint,
  revocationEndpoint: profile.revocationEndpoint,
  issuer: profile.issuer,
  requireIssuer: profile.requireIssuer,
  clientId: profile.clientId,
  clientSecret: secret,
  // A public client sends only its id; a secret given later picks the method the server supports.
  clientAuthentication: secret === undefined
    ? "none"
    : profile.clientAuthentication === "none"
    ? undefined
    : profile.clientAuthentication
})

/** @internal */
export const endpointLayer = (
  profile: Profile.Profile
): Layer.Layer<TokenEndpoint.TokenEndpoint, CliError.CliError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.map(clientSecret, (secret) => TokenEndpoint.layer(endpointOptions(profile, secret))))

/**
 * Everything a command on a logged-in profile needs: its store, its endpoint, and a manager that
 * refreshes (once, across processes, through the store's lease) when the token is about to expire.
 *
 * @internal
 */
export const layer = (
  name: string,
  profile: Profile.Profile,
  tokenDirectory: string
): Layer.Layer<
  TokenManager.TokenManager | TokenStore.TokenStore | TokenEndpoint.TokenEndpoint,
  CliError.CliError,
  FileSystem.FileSystem | Path.Path | HttpClient.HttpClient
> =>
  TokenManager.layer({ policy: Expiry.defaultPolicy }).pipe(
    Layer.provideMerge(storeLayer(tokenDirectory, name)),
    Layer.provideMerge(endpointLayer(profile))
  )
