/**
 * `npm run faults`: runs the fault-injection scenarios (test/faults/*.test.ts,
 * with tap, as `npm test` does), then prints one table of what each counted
 * and the last line `faults: N scenarios, lost L, duplicated D`. Exits
 * non-zero when a scenario failed, or lost or duplicated anything.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatTable, type ScenarioRow, summaryLine } from './report.js'

const ROOT = new URL('../../', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'parley-faults-run-'))
const results = join(dir, 'results.jsonl')
const files = readdirSync(join(ROOT, 'test/faults'))
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
  .map((f) => `test/faults/${f}`)

const began = Date.now()
const code = await new Promise<number>((resolve) => {
  const tap = spawn(join(ROOT, 'node_modules/.bin/tap'), ['--reporter', 'terse', ...files], {
    cwd: ROOT,
    env: { ...process.env, PARLEY_FAULTS_RESULTS: results },
    stdio: 'inherit',
  })
  tap.on('exit', (status) => resolve(status ?? 1))
})

let rows: ScenarioRow[] = []
try {
  rows = readFileSync(results, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ScenarioRow)
} catch {}
rmSync(dir, { recursive: true, force: true })

console.log('')
console.log(formatTable(rows))
for (const row of rows) if (row.note) console.log(`  ${row.scenario}: ${row.note}`)
console.log(
  `(${files.length} files, ${Math.round((Date.now() - began) / 1000)} s; tap exit ${code})`,
)
console.log(summaryLine(rows))
const bad = rows.some((r) => r.lost > 0 || r.duplicatedToUsers > 0 || r.duplicatedToBot > 0)
process.exit(code !== 0 || bad || rows.length === 0 ? 1 : 0)
