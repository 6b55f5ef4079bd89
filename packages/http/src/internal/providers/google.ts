import * as Compliance from "../../Compliance.js"
import * as profile from "./profile.js"

/** Left public: `Provider`'s public types extend it, so its declaration ships (the module path stays closed). */
export interface Options extends profile.ClientOptions {
  /**
   * Ask for a refresh token (`access_type=offline`) and consent again (`prompt=consent`), without which
   * Google issues a refresh token only on the first consent. Default `true`.
   */
  readonly offline?: boolean | undefined
}

/**
 * Google's answers: the device endpoint spells `verification_url`; revoking a token that is no longer
 * valid answers 400 `invalid_token` where RFC 7009 answers 200.
 *
 * @internal
 */
export const compliance: Compliance.Compliance = Compliance.compose(
  Compliance.forEndpoints(["device_authorization"], Compliance.renameFields({ verification_url: "verification_uri" })),
  Compliance.forEndpoints(
    ["revocation"],
    Compliance.mapAnswer((answer) =>
      answer.status === 400 && Compliance.parseObject(answer.body)?.["error"] === "invalid_token"
        ? { ...answer, status: 200, body: "{}" }
        : answer
    )
  )
)

/** @internal */
export const make = (options: Options): profile.Profile => ({
  name: "google",
  endpoint: profile.endpointOptions(options, {
    issuer: "https://accounts.google.com",
    authorizationEndpoint: "https://accounts.google.com/o/oauth2/v2/auth",
    tokenEndpoint: "https://oauth2.googleapis.com/token",
    revocationEndpoint: "https://oauth2.googleapis.com/revoke",
    deviceAuthorizationEndpoint: "https://oauth2.googleapis.com/device/code",
    clientAuthentication: options.clientSecret === undefined ? "none" : "client_secret_post",
    compliance
  }),
  scope: options.scope,
  authorizationParameters: options.offline === false ? {} : { access_type: "offline", prompt: "consent" }
})
