/**
 * A binary min-heap whose items keep their own place in it, so that one can be moved or taken out where
 * it stands: an item is in the heap at most once, with no entry object of its own and none left behind
 * when its instant changes. Where an item keeps its instant and its place is the caller's (`Place`), so
 * that a key's state can be an item without a field named for the heap.
 */

/** @internal */
export interface Place<A> {
  /** The instant the heap orders `item` by. Changed only through {@link Heap.update}. */
  readonly at: (item: A) => number
  /** Where `item` is in the heap, or `-1`. */
  readonly get: (item: A) => number
  readonly set: (item: A, slot: number) => void
}

/** @internal */
export class Heap<A> {
  readonly #items: Array<A> = []
  readonly #place: Place<A>
  constructor(place: Place<A>) {
    this.#place = place
  }

  get size(): number {
    return this.#items.length
  }

  /** The item of the earliest instant. */
  peek(): A | undefined {
    return this.#items[0]
  }

  /** Puts `item` in, or moves it to where its instant, changed since, now belongs. */
  update(item: A): void {
    const slot = this.#place.get(item)
    if (slot < 0) {
      this.#items.push(item)
      this.#up(this.#items.length - 1, item)
    } else if (slot > 0 && this.#place.at(this.#items[(slot - 1) >> 1]!) > this.#place.at(item)) {
      this.#up(slot, item)
    } else {
      this.#down(slot, item)
    }
  }

  /** Takes `item` out, if it is in. */
  remove(item: A): void {
    const slot = this.#place.get(item)
    if (slot < 0) return
    this.#place.set(item, -1)
    const last = this.#items.pop()!
    if (last === item) return
    // The last item fills the gap and moves whichever way its instant says.
    this.#place.set(last, slot)
    this.#items[slot] = last
    this.update(last)
  }

  #up(slot: number, item: A): void {
    const at = this.#place.at(item)
    while (slot > 0) {
      const parent = (slot - 1) >> 1
      const above = this.#items[parent]!
      if (this.#place.at(above) <= at) break
      this.#items[slot] = above
      this.#place.set(above, slot)
      slot = parent
    }
    this.#items[slot] = item
    this.#place.set(item, slot)
  }

  #down(slot: number, item: A): void {
    const at = this.#place.at(item)
    const n = this.#items.length
    while (true) {
      const left = 2 * slot + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && this.#place.at(this.#items[right]!) < this.#place.at(this.#items[left]!)
        ? right
        : left
      const below = this.#items[child]!
      if (this.#place.at(below) >= at) break
      this.#items[slot] = below
      this.#place.set(below, slot)
      slot = child
    }
    this.#items[slot] = item
    this.#place.set(item, slot)
  }
}
