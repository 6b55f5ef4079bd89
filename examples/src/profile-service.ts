/**
 * Your own code: a service that calls an API on a user's behalf through `AuthorizedClient`. Its test
 * (`test/profile-service.test.ts`) runs it against the in-memory authorization server on `TestClock`,
 * moving time across expiry and rotation in microseconds.
 */
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

export class Profile extends Schema.Class<Profile>("Profile")({ sub: Schema.String, scope: Schema.String }) {}

export class ProfileService extends Context.Tag("ProfileService")<ProfileService, {
  readonly current: Effect.Effect<Profile, unknown>
}>() {}

export const layer = (url: string) =>
  Layer.effect(
    ProfileService,
    Effect.map(AuthorizedClient.AuthorizedClient, (api) => ({
      current: api.get(url).pipe(Effect.flatMap(HttpClientResponse.schemaBodyJson(Profile)), Effect.scoped)
    }))
  )
