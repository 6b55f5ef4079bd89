import * as HttpClient from "@effect/platform/HttpClient"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as AuthorizationCode from "../AuthorizationCode.js"
import * as ClientAuthentication from "../ClientAuthentication.js"
import * as DeviceAuthorization from "../DeviceAuthorization.js"
import * as Discovery from "../Discovery.js"
import * as Dpop from "../Dpop.js"
import * as Introspection from "../Introspection.js"
import * as TokenEndpointError from "../TokenEndpointError.js"
// The options from their own module, not from `TokenEndpoint`, which imports this one.
import type * as TokenEndpointOptions from "../TokenEndpointOptions.js"
import * as TokenRequest from "../TokenRequest.js"
import * as answered from "./answered.js"
import * as destination from "./destination.js"
import * as endpointCall from "./endpointCall.js"
import type * as form from "./form.js"
import * as idTokens from "./idTokens.js"
import * as narrow from "./narrow.js"
import * as tokenRequest from "./tokenRequest.js"
import * as transport from "./transport.js"

// The codes each operation may fail with; a server sending any other gets an `UnknownOAuthError`.
const grantTags = [
  ...narrow.serverTags,
  "InvalidRequest",
  "InvalidClient",
  "InvalidGrant",
  "UnauthorizedClient",
  "UnsupportedGrantType",
  "InvalidScope",
  "InvalidTarget",
  "AccessDenied",
  "InteractionRequired",
  "ConsentRequired",
  "LoginRequired",
  "MfaRequired"
] as const
const narrowGrant = narrow.narrow(grantTags)
const narrowPoll = narrow.narrow([...grantTags, "AuthorizationPending", "SlowDown", "ExpiredToken"])
const narrowRevocation = narrow.narrow([
  ...narrow.serverTags,
  "InvalidRequest",
  "InvalidClient",
  "UnsupportedTokenType"
])
const narrowIntrospection = narrow.narrow([...narrow.serverTags, "InvalidRequest", "InvalidClient"])
const narrowDevice = narrow.narrow([
  ...narrow.serverTags,
  "InvalidRequest",
  "InvalidClient",
  "UnauthorizedClient",
  "InvalidScope",
  "InvalidTarget",
  "AccessDenied"
])

const decodeToken = transport.decode(Token.TokenResponse)
const decodeIntrospection = transport.decode(Introspection.Introspection)
const decodeDevice = transport.decode(DeviceAuthorization.DeviceAuthorizationResponse)

// The user signs in where the verification URIs point: over HTTPS, as the client's own requests go.
const verificationSecure = (
  response: DeviceAuthorization.DeviceAuthorizationResponse,
  answer: transport.Answer,
  allowInsecure: boolean
): Either.Either<void, OAuthError.MalformedResponse> => {
  for (const field of ["verification_uri", "verification_uri_complete"] as const) {
    const uri = response[field]
    if (uri !== undefined && !destination.isSecure(new URL(uri), allowInsecure)) {
      return Either.left(
        new OAuthError.MalformedResponse({
          reason: "is not an HTTPS URL",
          field,
          status: answer.status,
          endpoint: answer.endpoint
        })
      )
    }
  }
  return Either.void
}

// What died, by its class name alone.
const defectKind = (defect: unknown): string =>
  defect instanceof Error ? defect.name : defect === null ? "null" : typeof defect

/** @internal */
// The service's type is `TokenEndpoint`'s, checked where the public `make` is declared.
export const make = (options: TokenEndpointOptions.Options) =>
  Effect.gen(function*() {
    const base = yield* HttpClient.HttpClient
    const transform = options.transformClient ?? identity
    // DPoP proofs go on requests to the authorization server only, not on key set fetches.
    const client = transform(options.dpop === undefined ? base : Dpop.withProofs(base, options.dpop))
    const { annotate, call, settings, waited } = yield* endpointCall.make(client, options)
    const tokenLabel = destination.labelOf(options.tokenEndpoint)
    const verifyIdToken = yield* Effect.provideService(
      idTokens.make(options, settings),
      HttpClient.HttpClient,
      transform(base)
    )

    const tokenCall = <E extends transport.Failure>(
      operation: string,
      grantType: string,
      parameters: form.Form,
      narrowed: (failure: transport.Failure) => E
    ) =>
      Effect.flatMap(
        call(operation, grantType, options.tokenEndpoint, { grant_type: grantType, ...parameters }, narrowed),
        decodeToken
      )

    const endpoint = <const Name extends TokenEndpointError.MissingEndpoint["endpoint"]>(
      url: string | undefined,
      name: Name
    ) =>
      url === undefined ? Effect.fail(new TokenEndpointError.MissingEndpoint({ endpoint: name })) : Effect.succeed(url)

    // A grant whose answer is a fresh token, inside the caller's span (one span per public operation).
    const obtain = Effect.fnUntraced(function*(operation: string, grantType: string, parameters: form.Form) {
      yield* annotate(options.tokenEndpoint, grantType)
      const response = yield* tokenCall(operation, grantType, parameters, narrowGrant)
      return yield* Token.fromResponse(response)
    })

    return {
      refresh: Effect.fn("TokenEndpoint.refresh")(function*(token: Token.Token, scope?: TokenRequest.ScopeOptions) {
        yield* annotate(options.tokenEndpoint, "refresh_token")
        if (token.refreshToken === undefined) {
          return yield* new OAuthError.InvalidGrant({
            description: "the token has no refresh token",
            endpoint: tokenLabel
          })
        }
        const response = yield* tokenCall("refresh", "refresh_token", {
          refresh_token: token.refreshToken,
          ...tokenRequest.scope(scope)
        }, narrowGrant)
        const rotated = yield* Token.rotate(token, response)
        // Answered: a manager's refreshTimeout must not cut the verification below short.
        yield* answered.signal
        if (response.id_token === undefined) return rotated
        // The server has rotated the refresh token by now: failing would lose it, and with reuse
        // detection the whole grant. A refreshed ID token that does not verify, or whose verification
        // dies (a key set fetcher that throws, a bug), is refused on its own; the one verified before
        // stands (OpenID Connect Core section 12.2). Interruption stays interruption.
        return yield* verifyIdToken(rotated, { previous: token }).pipe(
          Effect.catchAllCause((cause) => {
            if (Cause.isInterrupted(cause)) return Effect.failCause(Cause.stripFailures(cause))
            const kept = Token.withIdToken(rotated, token)
            const failure = Cause.failureOption(cause)
            if (Option.isSome(failure) && !Cause.isDie(cause)) {
              return Effect.as(
                Effect.logWarning("TokenEndpoint.refresh: the refreshed ID token is refused", failure.value.message),
                kept
              )
            }
            // Only the defect's kind: its message could quote anything, a token included.
            return Effect.as(
              Effect.logError("TokenEndpoint.refresh: verifying the refreshed ID token died; it is refused").pipe(
                Effect.annotateLogs("defect", defectKind(Cause.squash(cause)))
              ),
              kept
            )
          })
        )
      }),

      clientCredentials: Effect.fn("TokenEndpoint.clientCredentials")(function*(scope?: TokenRequest.ScopeOptions) {
        return yield* obtain("clientCredentials", "client_credentials", tokenRequest.scope(scope))
      }),

      revoke: Effect.fn("TokenEndpoint.revoke")(
        function*(token: Redacted.Redacted<string>, hint?: "access_token" | "refresh_token" | undefined) {
          yield* annotate(options.revocationEndpoint)
          const url = yield* endpoint(options.revocationEndpoint, "revocation")
          // Any 2xx is success: RFC 7009 answers 200 even for a token that was already invalid.
          yield* call("revoke", undefined, url, { token, token_type_hint: hint }, narrowRevocation)
        }
      ),

      authorizationUrl: Effect.fn("TokenEndpoint.authorizationUrl")(
        function*(urlOptions: AuthorizationCode.UrlOptions) {
          yield* annotate(options.authorizationEndpoint)
          const url = yield* endpoint(options.authorizationEndpoint, "authorization")
          const checked = yield* destination.checkEndpoint(url, settings.allowInsecure)
          return yield* AuthorizationCode.makeRequest(checked, options.clientId, urlOptions)
        }
      ),

      exchangeCode: Effect.fn("TokenEndpoint.exchangeCode")(
        function*(
          request: AuthorizationCode.AuthorizationRequest,
          callback: AuthorizationCode.Callback | URL | string
        ) {
          const parsed = typeof callback === "string" || callback instanceof URL
            ? AuthorizationCode.parseCallback(callback)
            : callback
          const code = yield* AuthorizationCode.verify(request, parsed, {
            issuer: options.issuer,
            requireIssuer: options.requireIssuer
          })
          const token = yield* obtain(
            "exchangeCode",
            "authorization_code",
            tokenRequest.authorizationCode({ code, verifier: request.verifier, redirectUri: request.redirectUri })
          )
          return yield* verifyIdToken(token, {
            nonce: request.nonce ?? null,
            code,
            maxAge: idTokens.maxAgeOf(request.url)
          })
        }
      ),

      authorizationCode: Effect.fn("TokenEndpoint.authorizationCode")(
        function*(code: TokenRequest.AuthorizationCodeOptions) {
          const token = yield* obtain("authorizationCode", "authorization_code", tokenRequest.authorizationCode(code))
          return yield* verifyIdToken(token, { nonce: code.nonce ?? null, code: code.code })
        }
      ),

      deviceAuthorization: Effect.fn("TokenEndpoint.deviceAuthorization")(
        function*(scope?: TokenRequest.ScopeOptions) {
          yield* annotate(options.deviceAuthorizationEndpoint)
          const url = yield* endpoint(options.deviceAuthorizationEndpoint, "device_authorization")
          const answer = yield* call("deviceAuthorization", undefined, url, tokenRequest.scope(scope), narrowDevice)
          const response = yield* decodeDevice(answer)
          yield* verificationSecure(response, answer, settings.allowInsecure)
          const now = yield* Clock.currentTimeMillis
          return DeviceAuthorization.make(response, now)
        }
      ),

      pollDeviceToken: Effect.fn("TokenEndpoint.pollDeviceToken")(
        function*(
          authorization: DeviceAuthorization.DeviceAuthorization,
          pollOptions?: DeviceAuthorization.PollOptions
        ) {
          yield* annotate(options.tokenEndpoint, TokenRequest.deviceCodeGrantType)
          const polls = yield* Ref.make(0)
          const poll = Effect.zipRight(
            Ref.update(polls, (n) => n + 1),
            tokenCall(
              "pollDeviceToken",
              TokenRequest.deviceCodeGrantType,
              { device_code: authorization.deviceCode },
              narrowPoll
            ).pipe(Effect.tapErrorTag("SlowDown", () => waited("pollDeviceToken")))
          )
          const response = yield* DeviceAuthorization.poll(poll, authorization, pollOptions).pipe(
            Effect.catchTag("ExpiredToken", (error) =>
              Effect.fail(
                error.endpoint === undefined
                  ? new OAuthError.ExpiredToken({ description: error.description, endpoint: tokenLabel })
                  : error
              )),
            Effect.ensuring(Effect.flatMap(Ref.get(polls), (n) => Effect.annotateCurrentSpan("tokenfx.polls", n)))
          )
          // No nonce in the device flow: every other check applies.
          return yield* verifyIdToken(yield* Token.fromResponse(response), {})
        }
      ),

      grant: Effect.fn("TokenEndpoint.grant")(
        function*(grantType: string, parameters: TokenRequest.GrantParameters, scope?: TokenRequest.ScopeOptions) {
          return yield* obtain("grant", grantType, { ...parameters, ...tokenRequest.scope(scope) })
        }
      ),

      tokenExchange: Effect.fn("TokenEndpoint.tokenExchange")(function*(exchange: TokenRequest.TokenExchangeOptions) {
        return yield* obtain(
          "tokenExchange",
          TokenRequest.tokenExchangeGrantType,
          tokenRequest.tokenExchange(exchange, TokenRequest.accessTokenType)
        )
      }),

      jwtBearer: Effect.fn("TokenEndpoint.jwtBearer")(
        function*(assertion: Redacted.Redacted<string>, scope?: TokenRequest.ScopeOptions) {
          return yield* obtain("jwtBearer", TokenRequest.jwtBearerGrantType, {
            assertion,
            ...tokenRequest.scope(scope)
          })
        }
      ),

      introspect: Effect.fn("TokenEndpoint.introspect")(
        function*(token: Redacted.Redacted<string>, hint?: "access_token" | "refresh_token" | undefined) {
          yield* annotate(options.introspectionEndpoint)
          const url = yield* endpoint(options.introspectionEndpoint, "introspection")
          const answer = yield* call(
            "introspect",
            undefined,
            url,
            { token, token_type_hint: hint },
            narrowIntrospection
          )
          return yield* decodeIntrospection(answer)
        }
      )
    }
  })

/** @internal */
export const fromMetadata = (
  metadata: Discovery.Metadata,
  options: TokenEndpointOptions.DiscoveryOptions
): Either.Either<TokenEndpointOptions.Options, OAuthError.MalformedResponse> => {
  const tokenEndpoint = options.tokenEndpoint ?? metadata.token_endpoint
  if (tokenEndpoint === undefined) {
    return Either.left(
      new OAuthError.MalformedResponse({
        reason: "is missing",
        field: "token_endpoint",
        endpoint: Discovery.metadataUrl(options.issuer, options.discovery ?? "oauth-authorization-server")
      })
    )
  }
  const authentication = ClientAuthentication.make({
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    privateKey: options.clientPrivateKey,
    method: options.clientAuthentication,
    supported: metadata.token_endpoint_auth_methods_supported
  })
  return Either.right({
    ...options,
    tokenEndpoint,
    authorizationEndpoint: options.authorizationEndpoint ?? metadata.authorization_endpoint,
    revocationEndpoint: options.revocationEndpoint ?? metadata.revocation_endpoint,
    introspectionEndpoint: options.introspectionEndpoint ?? metadata.introspection_endpoint,
    deviceAuthorizationEndpoint: options.deviceAuthorizationEndpoint ?? metadata.device_authorization_endpoint,
    issuer: metadata.issuer,
    jwksUri: options.jwksUri ?? metadata.jwks_uri,
    requireIssuer: metadata.authorization_response_iss_parameter_supported === true,
    clientAuthentication: authentication.method
  })
}

/** @internal */
export const discover = (options: TokenEndpointOptions.DiscoveryOptions) => {
  const discovered = Discovery.discover(options.issuer, {
    kind: options.discovery,
    timeout: options.timeout,
    backoff: options.backoff,
    allowInsecureHttp: options.allowInsecureHttp,
    maxBodySize: options.maxBodySize
  })
  const transform = options.transformClient
  return (transform === undefined ? discovered : Effect.updateService(discovered, HttpClient.HttpClient, transform))
    .pipe(
      Effect.flatMap((metadata) => fromMetadata(metadata, options)),
      Effect.flatMap(make)
    )
}
