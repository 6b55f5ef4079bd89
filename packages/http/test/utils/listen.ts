/**
 * A Node server (HTTP, or a raw `net` one that writes answers by hand) listening on 127.0.0.1 at a port
 * of its own for the scope's life.
 */
import * as Effect from "effect/Effect"
import type * as Net from "node:net"

export const listen = (server: Net.Server) =>
  Effect.acquireRelease(
    Effect.async<void>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.void))
    }),
    () =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )
