/**
 * How a `TokenEndpoint` is built: where the server is and who the client is, given outright
 * (`Options`) or found through discovery (`DiscoveryOptions`). `TokenEndpoint.Options` and
 * `TokenEndpoint.DiscoveryOptions` are the same types.
 *
 * @since 0.4.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Duration from "effect/Duration"
import type * as Redacted from "effect/Redacted"
import type * as Backoff from "./Backoff.js"
import type * as ClientAssertion from "./ClientAssertion.js"
import type * as ClientAuthentication from "./ClientAuthentication.js"
import type * as Compliance from "./Compliance.js"
import type * as Discovery from "./Discovery.js"
import type * as Dpop from "./Dpop.js"
import type * as IdToken from "./IdToken.js"

/**
 * Where the server is and who the client is.
 *
 * @since 0.4.0
 * @category models
 */
export interface Options {
  readonly tokenEndpoint: string
  readonly authorizationEndpoint?: string | undefined
  readonly revocationEndpoint?: string | undefined
  readonly introspectionEndpoint?: string | undefined
  readonly deviceAuthorizationEndpoint?: string | undefined
  /** The server's issuer: an authorization response's `iss` must equal it when both are present. */
  readonly issuer?: string | undefined
  /** Refuse authorization responses without `iss` (RFC 9207); discovery sets it from the metadata. */
  readonly requireIssuer?: boolean | undefined
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** By default `private_key_jwt` with a private key, `client_secret_basic` with a secret, `none` without. */
  readonly clientAuthentication?: ClientAuthentication.Method | undefined
  /** The client's private key for `private_key_jwt`: a private JWK (JSON) or PKCS #8 PEM. */
  readonly clientPrivateKey?: Redacted.Redacted<string> | undefined
  /** The assertions of `private_key_jwt` and `client_secret_jwt`; `aud` is the token endpoint unless given. */
  readonly clientAssertion?: Partial<ClientAssertion.Options> | undefined
  /** A DPoP key (RFC 9449): every request carries a proof, and the tokens issued are bound to it. */
  readonly dpop?: Dpop.Dpop | undefined
  /** The issuer's key set, to verify ID tokens with; by default found from the issuer's metadata. */
  readonly jwksUri?: string | undefined
  /** How ID tokens are verified; `false` keeps them unverified. On by default. */
  readonly idToken?: IdToken.Policy | false | undefined
  /** Per request, reading the body included; default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  readonly backoff?: Backoff.Options | undefined
  /** Allow plain HTTP to addresses other than loopback (tests against containers only). */
  readonly allowInsecureHttp?: boolean | undefined
  /** How to read a provider that bends the RFCs: see `Compliance` (the `Provider` profiles set it). */
  readonly compliance?: Compliance.Compliance | undefined
  /**
   * The largest body read from the server, in bytes (token, error, introspection, device and
   * metadata answers); reading stops there and the answer is refused. Default 1 MiB.
   */
  readonly maxBodySize?: number | undefined
  /**
   * The longest an endpoint stays quiet after a `Retry-After`, whatever the server asked for (the
   * error still reports the server's value). Default: the backoff's `maxElapsed` (1 minute).
   */
  readonly maxCooldown?: Duration.DurationInput | undefined
  /** The `client` label of the metrics this endpoint records (see `Telemetry`). Default: `"default"`. */
  readonly clientLabel?: string | undefined
  /**
   * The user's middleware (logging, a proxy's headers, ...), wrapped around the client that every
   * request to the authorization server goes through, discovery and key set fetches included. It sees
   * each request finished but for its DPoP proof, which is made afterwards, for the request as changed.
   */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * Options for a client whose endpoints come from the issuer's metadata. An endpoint given here wins
 * over the discovered one.
 *
 * @since 0.4.0
 * @category models
 */
export interface DiscoveryOptions extends Omit<Options, "tokenEndpoint" | "issuer" | "requireIssuer"> {
  readonly issuer: string
  readonly tokenEndpoint?: string | undefined
  /** Which metadata document to read; by default RFC 8414's, then OpenID Connect's. */
  readonly discovery?: Discovery.Kind | undefined
}
