import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from './app.js'

const TSX = import.meta.resolve('tsx')

export interface CliRun {
  code: number | null
  stdout: string[]
  stderr: string[]
}

/**
 * Runs a TypeScript CLI of the project (`core/...-cli.ts`) as `npm run`
 * would, without the caller's DATABASE_URL/DATABASE_SCHEMA unless `env`
 * sets them; resolves with its exit code and non-empty output lines.
 */
export function runCli(
  script: string,
  args: string[],
  env: Record<string, string | undefined>,
  cwd = ROOT,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const { DATABASE_URL: _u, DATABASE_SCHEMA: _s, ...inherited } = process.env
    const child = spawn(process.execPath, ['--import', TSX, join(ROOT, script), ...args], {
      cwd,
      env: { ...inherited, TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const lines = (s: string) => s.split('\n').filter((l) => l.length > 0)
      resolve({ code, stdout: lines(stdout), stderr: lines(stderr) })
    })
  })
}
