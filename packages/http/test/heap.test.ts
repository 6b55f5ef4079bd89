import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { Heap } from "../src/internal/heap.js"

interface Item {
  readonly id: number
  at: number
  slot: number
}

const make = () =>
  new Heap<Item>({
    at: (item) => item.at,
    get: (item) => item.slot,
    set: (item, slot) => {
      item.slot = slot
    }
  })

type Op =
  | { readonly op: "update"; readonly id: number; readonly at: number }
  | { readonly op: "remove"; readonly id: number }
  | { readonly op: "pop" }

const ops: FastCheck.Arbitrary<Array<Op>> = FastCheck.array(
  FastCheck.oneof(
    FastCheck.record({
      op: FastCheck.constant("update" as const),
      id: FastCheck.integer({ min: 0, max: 15 }),
      // Few distinct instants, so that ties are common.
      at: FastCheck.integer({ min: 0, max: 20 })
    }),
    FastCheck.record({ op: FastCheck.constant("remove" as const), id: FastCheck.integer({ min: 0, max: 15 }) }),
    FastCheck.record({ op: FastCheck.constant("pop" as const) })
  ),
  { maxLength: 200, size: "max" }
)

describe("Heap", () => {
  it("agrees with a sorted list under any sequence of moves, removals and pops", () =>
    FastCheck.assert(
      FastCheck.property(ops, (sequence) => {
        const heap = make()
        const items = Array.from({ length: 16 }, (_, id): Item => ({ id, at: 0, slot: -1 }))
        // The model: which items are in, at the instant each was last given.
        const model = new Map<number, number>()
        for (const step of sequence) {
          if (step.op === "update") {
            items[step.id]!.at = step.at
            heap.update(items[step.id]!)
            model.set(step.id, step.at)
          } else if (step.op === "remove") {
            heap.remove(items[step.id]!)
            model.delete(step.id)
          } else {
            const top = heap.peek()
            const least = Math.min(...model.values())
            if (top === undefined) {
              assert.strictEqual(model.size, 0)
              continue
            }
            // Any item of the least instant may come first.
            assert.strictEqual(top.at, least)
            assert.strictEqual(model.get(top.id), least)
            heap.remove(top)
            model.delete(top.id)
          }
          assert.strictEqual(heap.size, model.size)
          // An item is in exactly when the model holds it; the places the items know fill the heap
          // with no gap, and none is earlier than the item above it.
          const placed: Array<Item> = []
          for (const item of items) {
            assert.strictEqual(item.slot >= 0, model.has(item.id), `item ${item.id}`)
            if (item.slot >= 0) placed[item.slot] = item
          }
          assert.strictEqual(placed.filter((item) => item !== undefined).length, model.size)
          for (let slot = 1; slot < placed.length; slot++) {
            assert.isAtMost(placed[(slot - 1) >> 1]!.at, placed[slot]!.at, `slot ${slot}`)
          }
        }
        // Drained, the rest come out in the order of their instants.
        const drained: Array<number> = []
        for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
          drained.push(top.at)
          heap.remove(top)
          assert.strictEqual(top.slot, -1)
        }
        assert.deepStrictEqual(drained, [...model.values()].sort((a, b) => a - b))
      }),
      { numRuns: 300 }
    ))

  it("an item taken out of the middle is replaced by the last, which may belong higher up", () => {
    const heap = make()
    const items = [1, 10, 2, 11, 12, 3, 4].map((at, id): Item => ({ id, at, slot: -1 }))
    for (const item of items) heap.update(item)
    heap.remove(items[3]!)
    // The last item (4) filled slot 3, below 10: it moved above it.
    assert.strictEqual(items[6]!.slot, 1)
    assert.strictEqual(items[1]!.slot, 3)
  })

  it("moves an item whose instant changed, either way, and keeps it in once", () => {
    const heap = make()
    const items = [5, 3, 8, 1, 9].map((at, id): Item => ({ id, at, slot: -1 }))
    for (const item of items) heap.update(item)
    items[4]!.at = 0
    heap.update(items[4]!)
    assert.strictEqual(heap.peek(), items[4])
    items[4]!.at = 10
    heap.update(items[4]!)
    assert.strictEqual(heap.peek(), items[3])
    assert.strictEqual(heap.size, 5)
  })
})
