/**
 * A tracer that keeps every span it starts, to assert names and attributes.
 */
import type * as Context from "effect/Context"
import type * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

export interface RecordedSpan extends Tracer.Span {
  readonly attributes: Map<string, unknown>
  readonly events: Array<{ readonly name: string; readonly attributes?: Record<string, unknown> | undefined }>
}

export const make = (): { readonly tracer: Tracer.Tracer; readonly spans: Array<RecordedSpan> } => {
  const spans: Array<RecordedSpan> = []
  let ids = 0
  const tracer = Tracer.make({
    span(name, parent, context, links, startTime, kind) {
      const id = String(++ids)
      const attributes = new Map<string, unknown>()
      const events: RecordedSpan["events"] = []
      let status: Tracer.SpanStatus = { _tag: "Started", startTime }
      const span: RecordedSpan = {
        _tag: "Span",
        name,
        spanId: id,
        traceId: parent._tag === "Some" ? parent.value.traceId : id,
        parent: parent as Option.Option<Tracer.AnySpan>,
        context: context as Context.Context<never>,
        get status() {
          return status
        },
        attributes,
        events,
        links: [...links],
        sampled: true,
        kind,
        end(endTime: bigint, exit: Exit.Exit<unknown, unknown>) {
          status = { _tag: "Ended", startTime, endTime, exit }
        },
        attribute(key, value) {
          attributes.set(key, value)
        },
        event(eventName, _startTime, eventAttributes) {
          events.push({ name: eventName, attributes: eventAttributes })
        },
        addLinks() {}
      }
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
  return { tracer, spans }
}
