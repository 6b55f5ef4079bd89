/**
 * An option's number brought into `[min, max]`, or `fallback` when it is missing or not finite.
 *
 * @internal
 */
export const finiteOr = (value: number | undefined, fallback: number, min = -Infinity, max = Infinity): number =>
  value === undefined || !Number.isFinite(value) ? fallback : Math.min(max, Math.max(min, value))
