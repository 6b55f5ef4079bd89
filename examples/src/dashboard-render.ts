/**
 * Renders the dashboard from a real run: starts the Prometheus example (`prometheus.ts`), plays its traffic
 * for about a minute while scraping its metrics port every two seconds over HTTP, evaluates every panel of
 * `dashboard.ts` over the scrapes (the queries of the Grafana dashboard: rates over a 10-second window,
 * histogram quantiles), charts them with Vega-Lite, and writes:
 *
 * - `observability/tokenfx-dashboard.png`: the picture in the README (SVG from Vega, PNG from resvg);
 * - `observability/grafana/tokenfx.json`: the Grafana dashboard, from the same panel list.
 *
 * Run it with `pnpm dashboard:render` (root) or `pnpm --filter @tokenfx/examples dashboard:render`;
 * `--rounds N` changes the length of the run (default 60, a round a second). Text is drawn with the
 * system's fonts (DejaVu Sans or any sans-serif fontconfig finds).
 */
import { Resvg } from "@resvg/resvg-js"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import * as Vega from "vega"
import * as VegaLite from "vega-lite"
import * as Dashboard from "./dashboard.js"
import * as Prometheus from "./prometheus.js"

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "../..")
const pngPath = Path.join(root, "observability/tokenfx-dashboard.png")

const unitTitle = { short: "count", ops: "per second", ms: "milliseconds" } as const

const axisFormat = { short: "~s", ops: "~r", ms: ",.3~r" } as const

// One panel: a line per series, or "no data" when the run recorded none.
const chart = (panel: Dashboard.Panel, points: ReadonlyArray<Dashboard.Point>) => ({
  title: { text: panel.title, subtitle: panel.metric, fontSize: 14, subtitleFontSize: 10, anchor: "start" },
  width: 330,
  height: 150,
  ...(points.length === 0
    ? {
      data: { values: [{ text: "no data in this run" }] },
      mark: { type: "text", fontSize: 13, color: "#888" },
      encoding: { text: { field: "text" } }
    }
    : {
      data: { values: points },
      mark: { type: "line", interpolate: "linear", strokeWidth: 2 },
      encoding: {
        x: { field: "at", type: "quantitative", title: "seconds", scale: { nice: false } },
        y: {
          field: "value",
          type: "quantitative",
          title: unitTitle[panel.unit],
          scale: { zero: true },
          axis: { format: axisFormat[panel.unit] }
        },
        color: {
          field: "series",
          type: "nominal",
          title: null,
          legend: { orient: "bottom", columns: 2, labelLimit: 220, symbolType: "stroke" }
        }
      }
    })
})

/** The Vega-Lite spec of the whole picture: a title, then each row of panels three abreast. */
export const spec = (scrapes: ReadonlyArray<Dashboard.Scrape>, window: number, subtitle: string) => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title: { text: "tokenfx", subtitle, fontSize: 20, anchor: "start" },
  background: "white",
  padding: 16,
  config: {
    font: "DejaVu Sans",
    view: { stroke: "#ddd" },
    axis: { labelFontSize: 10, titleFontSize: 10 },
    concat: { spacing: 28 }
  },
  vconcat: Dashboard.rows.flatMap((row) => {
    const lines: Array<Array<Dashboard.Panel>> = []
    row.panels.forEach((panel, index) => (index % 3 === 0 ? lines.push([panel]) : lines.at(-1)!.push(panel)))
    return lines.map((line, index) => ({
      ...(index === 0 ? { title: { text: row.title, fontSize: 16, anchor: "start", offset: 8 } } : {}),
      hconcat: line.map((panel) => chart(panel, Dashboard.evaluate(panel, scrapes, window))),
      resolve: { scale: { color: "independent" } }
    }))
  })
})

/** SVG from the Vega-Lite spec (headless Vega), PNG from the SVG (resvg, system fonts). */
export const render = (vegaLite: object): Promise<{ readonly svg: string; readonly png: Buffer }> =>
  new Vega.View(Vega.parse(VegaLite.compile(vegaLite as VegaLite.TopLevelSpec).spec), { renderer: "none" })
    .toSVG()
    .then((svg) => ({
      svg,
      png: new Resvg(svg, {
        background: "white",
        fitTo: { mode: "zoom", value: 1.5 },
        font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" }
      }).render().asPng()
    }))

const roundsArgument = (): number => {
  const index = process.argv.indexOf("--rounds")
  return index === -1 ? 60 : Math.max(10, Number(process.argv[index + 1]))
}

/** The run: traffic and scrapes, then the files. */
export const main = Effect.gen(function*() {
  const rounds = roundsArgument()
  const running = yield* Prometheus.start()
  const started = yield* Clock.currentTimeMillis
  const scrapes: Array<Dashboard.Scrape> = []
  const scrapeNow = Effect.gen(function*() {
    const text = yield* Prometheus.scrape(running.metricsUrl)
    const at = ((yield* Clock.currentTimeMillis) - started) / 1000
    scrapes.push({ at, samples: Prometheus.parse(text) })
  })
  const scraper = yield* Effect.fork(Effect.forever(Effect.zipRight(scrapeNow, Effect.sleep("2 seconds"))))
  yield* Console.log(`dashboard: ${rounds} rounds of traffic, a scrape every 2 s`)
  const answers = yield* Prometheus.traffic(running, {
    rounds,
    pause: "1 second",
    onRound: (round) => round % 15 === 14 ? Console.log(`dashboard: ${round + 1} rounds`) : Effect.void
  })
  yield* Fiber.interrupt(scraper)
  yield* scrapeNow
  const statuses = Object.entries(answers).map(([status, count]) => `${count} x ${status}`).join(", ")
  const subtitle =
    `The Prometheus example (examples/src/prometheus.ts): ${Prometheus.users.length} users on 2 instances, ` +
    `${rounds} rounds of traffic (app answers: ${statuses}), scraped every 2 s; rates over 10 s`
  const { png } = yield* Effect.promise(() => render(spec(scrapes, 10, subtitle)))
  Fs.mkdirSync(Path.dirname(Dashboard.grafanaPath), { recursive: true })
  Fs.writeFileSync(pngPath, png)
  Fs.writeFileSync(Dashboard.grafanaPath, Dashboard.grafanaJson())
  const empty = Dashboard.panels.filter((panel) => Dashboard.evaluate(panel, scrapes, 10).length === 0)
  yield* Console.log(
    `dashboard: ${scrapes.length} scrapes -> ${Path.relative(root, pngPath)}, ${
      Path.relative(root, Dashboard.grafanaPath)
    }`
  )
  if (empty.length > 0) yield* Console.log(`dashboard: no data for ${empty.map((panel) => panel.metric).join(", ")}`)
}).pipe(Effect.scoped)

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(main).then(() => process.exit(0), (error) => {
    console.error(error)
    process.exit(1)
  })
}
