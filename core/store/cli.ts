/**
 * What the store's command-line tools (`npm run migrate`, `npm run keys`)
 * share: the database chosen from the environment as the host chooses it,
 * the line that names it, and running `main` when the file is the entry point.
 */
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { type DataSourceConfig, redactUrl, resolveTarget } from './data-source.js'

export interface CliOutput {
  out(line: string): void
  err(line: string): void
}

/**
 * DATABASE_URL (unset: SQLite at ./data/parley.sqlite) and DATABASE_SCHEMA;
 * `line` names the database (password redacted). Throws as resolveTarget does.
 */
export function databaseFromEnv(env: NodeJS.ProcessEnv): {
  config: DataSourceConfig
  line: string
} {
  const config = { url: env.DATABASE_URL, schema: env.DATABASE_SCHEMA || undefined }
  const target = resolveTarget(config)
  const line =
    target.driver === 'postgres'
      ? `database: postgres ${redactUrl(target.url)}${target.schema ? ` schema ${target.schema}` : ''}`
      : `database: sqlite ${target.database}`
  return { config, line }
}

/** Runs `main` with the process's arguments when `moduleUrl` is the script node was started with. */
export function runAsEntryPoint(
  moduleUrl: string,
  main: (argv: string[], env: NodeJS.ProcessEnv, io: CliOutput) => Promise<number>,
): void {
  const script = process.argv[1]
  if (!script) return
  try {
    if (pathToFileURL(realpathSync(script)).href !== moduleUrl) return
  } catch {
    return
  }
  const io: CliOutput = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }
  main(process.argv.slice(2), process.env, io).then((code) => {
    process.exitCode = code
  })
}
