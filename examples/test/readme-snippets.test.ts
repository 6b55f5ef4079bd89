import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"

// Every ```ts / ```typescript block of README.md and packages/*/README.md, type-checked as a module of a
// user's own, importing the workspace packages by their public paths, with the repo's compiler options.
// A block marked ```ts fragment is not checked: keep those rare, and say in the README what is left out.

const root = path.join(__dirname, "..", "..")
// Snippets live, in memory only, in a folder of the examples package: its node_modules resolve every
// package, and its package.json makes them ES modules, as a user's `"type": "module"` app would.
const snippetDir = path.join(__dirname, "..", ".readme-snippets")

interface Snippet {
  readonly readme: string
  /** 1-based line of the README holding the block's first line of code. */
  readonly line: number
  readonly code: string
  readonly fragment: boolean
  readonly fileName: string
}

const markers = new Set(["fragment"])

const snippetsOf = (readme: string, text: string): Array<Snippet> => {
  const snippets: Array<Snippet> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i])
    if (open === null) continue
    const [, indent, fence, info] = open
    let end = i + 1
    while (end < lines.length && !new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`).test(lines[end])) end++
    const [language, ...rest] = info.trim().split(/\s+/)
    if (language === "ts" || language === "typescript") {
      // A misspelt marker must not pass silently, as a skipped block or as a checked one.
      const unknown = rest.filter((word) => !markers.has(word))
      if (unknown.length > 0) throw new Error(`${readme}:${i + 1}: unknown fence marker ${unknown.join(" ")}`)
      const code = lines.slice(i + 1, end).map((line) => line.startsWith(indent) ? line.slice(indent.length) : line)
      snippets.push({
        readme,
        line: i + 2,
        code: code.join("\n") + "\n",
        fragment: rest.includes("fragment"),
        fileName: path.join(snippetDir, `${readme.replaceAll("/", "_")}_${i + 2}.ts`)
      })
    }
    i = end
  }
  return snippets
}

const readmes = [
  "README.md",
  ...fs.readdirSync(path.join(root, "packages")).sort().map((name) => `packages/${name}/README.md`)
].filter((readme) => fs.existsSync(path.join(root, readme)))

const snippets = readmes.flatMap((readme) => snippetsOf(readme, fs.readFileSync(path.join(root, readme), "utf8")))
const checked = snippets.filter((snippet) => !snippet.fragment)

// Proves on every run that a type error is found and reported at its README line.
const selfTest: Snippet = {
  readme: "(self-test)",
  line: 10,
  code: "import * as Effect from \"effect/Effect\"\n\nexport const n: number = Effect.succeed(1)\n",
  fragment: false,
  fileName: path.join(snippetDir, "self-test.ts")
}

const compilerOptions = (): ts.CompilerOptions => {
  const configFile = path.join(root, "tsconfig.base.json")
  const { config, error } = ts.readConfigFile(configFile, ts.sys.readFile)
  if (error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, "\n"))
  const { errors, options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, root, configFile)
  if (errors.length > 0) throw new Error(ts.formatDiagnostics(errors, formatHost))
  return {
    ...options,
    noEmit: true,
    composite: false,
    incremental: false,
    declaration: false,
    declarationMap: false,
    emitDeclarationOnly: false,
    sourceMap: false
  }
}

const formatHost: ts.FormatDiagnosticsHost = {
  getCanonicalFileName: (fileName) => fileName,
  getCurrentDirectory: () => root,
  getNewLine: () => "\n"
}

// One program for every block, its files in memory; everything else (packages, lib) from disk.
const createProgram = (files: ReadonlyArray<Snippet>): ts.Program => {
  const options = compilerOptions()
  const byName = new Map(files.map((snippet) => [snippet.fileName, snippet.code]))
  const host = ts.createCompilerHost(options, true)
  const { fileExists, getSourceFile, readFile } = host
  host.fileExists = (fileName) => byName.has(fileName) || fileExists.call(host, fileName)
  host.readFile = (fileName) => byName.get(fileName) ?? readFile.call(host, fileName)
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const code = byName.get(fileName)
    return code === undefined
      ? getSourceFile.call(host, fileName, languageVersion, ...rest)
      : ts.createSourceFile(fileName, code, languageVersion, true)
  }
  return ts.createProgram({ rootNames: [...byName.keys()], options, host })
}

// noUnusedLocals stays on for imports (a README importing what it does not use is sloppy), but a block
// that declares `program` and stops there is normal for an excerpt.
const unusedCodes = new Set([6133, 6196, 6198, 6199, 6205])
const isInImport = (sourceFile: ts.SourceFile, position: number): boolean => {
  let found = false
  const visit = (node: ts.Node): void => {
    if (found || position < node.getFullStart() || position >= node.getEnd()) return
    if (ts.isImportDeclaration(node) || ts.isImportEqualsDeclaration(node)) found = true
    else ts.forEachChild(node, visit)
  }
  ts.forEachChild(sourceFile, visit)
  return found
}

const diagnosticsOf = (program: ts.Program, snippet: Snippet): Array<string> => {
  const sourceFile = program.getSourceFile(snippet.fileName)
  if (sourceFile === undefined) return [`${snippet.readme}:${snippet.line}: not in the program`]
  return [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)]
    .filter((d) => !unusedCodes.has(d.code) || d.start === undefined || isInImport(sourceFile, d.start))
    .map((d) => {
      const { character, line } = sourceFile.getLineAndCharacterOfPosition(d.start ?? 0)
      const message = ts.flattenDiagnosticMessageText(d.messageText, "\n  ")
      return `${snippet.readme}:${snippet.line + line}:${character + 1} TS${d.code}: ${message}`
    })
}

describe(`README snippets: ${checked.length} checked, ${snippets.length - checked.length} fragments skipped`, () => {
  let program: ts.Program

  beforeAll(() => {
    program = createProgram([...checked, selfTest])
  })

  it("the compiler options and the program have no error of their own", () => {
    const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]
    assert.deepStrictEqual(global.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")), [])
  })

  it("every ts fence opens a block of its own (none swallowed by an unclosed fence)", () => {
    const fences = readmes.flatMap((readme) =>
      fs.readFileSync(path.join(root, readme), "utf8").split("\n").flatMap((line, i) =>
        /^\s*(`{3,}|~{3,})\s*(ts|typescript)(\s|$)/.test(line) ? [`${readme}:${i + 2}`] : []
      )
    )
    assert.deepStrictEqual(snippets.map((snippet) => `${snippet.readme}:${snippet.line}`), fences)
  })

  it("a type error is reported with its README line", () => {
    const [error, ...others] = diagnosticsOf(program, selfTest)
    assert.match(error, /^\(self-test\):12:14 TS2322: Type 'Effect<number, never, never>' is not assignable/)
    assert.deepStrictEqual(others, [])
  })

  // Fragments are counted in the suite's name, not listed as skipped tests.
  for (const snippet of checked) {
    it(`${snippet.readme}:${snippet.line}`, () => {
      const diagnostics = diagnosticsOf(program, snippet)
      // One line per error, README file and line first, instead of a diff of arrays.
      if (diagnostics.length > 0) assert.fail(diagnostics.join("\n"))
    })
  }
})
