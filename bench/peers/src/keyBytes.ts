/**
 * Bytes per key of one peer, measured in a process of its own: `node --expose-gc --import tsx
 * keyBytes.ts <peer> <keys> <base>` prints the figure. In the process that runs the other blocks, the
 * runtimes they disposed free their heap lazily, after their dispose: measured there, the heap shrinks
 * while the keys are added, and a peer measured later reads less than one measured first.
 */
import { keyTokens, peers } from "./peers.js"

const [name, count, base] = process.argv.slice(2)
const peer = peers.find((peer) => peer.name === name)
const gc = (globalThis as { gc?: () => void }).gc
if (peer === undefined || count === undefined || base === undefined || gc === undefined) {
  throw new Error("usage: node --expose-gc --import tsx keyBytes.ts <peer> <keys> <base>")
}
const heap = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
const keys = Number(count)
// The tokens are the server's, made beforehand and not counted; what the library keeps per key is.
const { tokens, names } = keyTokens(keys)
// Per key: what the clients add once the library's fixed cost is paid: its factory, and what its first
// 1,000 clients make once (code compiled as it runs hot, tables made on first use), which a process that
// had run the library before would not count either. Below 100,000 keys the heap's noise is still
// about 200 B per key.
const factory = await peer.make(base)
// As an application finds a user's client: by key, in a map (tokenfx's manager is that map).
const clients = new Map<string, unknown>()
const warm = keyTokens(1_000, "warm")
for (let i = 0; i < warm.names.length; i++) {
  clients.set(warm.names[i]!, await factory.client(warm.tokens[i]!, warm.names[i]!))
}
const before = heap()
for (let i = 0; i < keys; i++) clients.set(names[i]!, await factory.client(tokens[i]!, names[i]!))
const bytes = (heap() - before) / keys
if (clients.size !== keys + warm.names.length) throw new Error(`${clients.size} clients for ${keys} keys`)
process.stdout.write(String(bytes))
await factory.dispose()
process.exit(0)
