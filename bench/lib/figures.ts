import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = new URL('../../', import.meta.url).pathname

/** The p-th percentile of already sorted values (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

export const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d

/** Writes bench/results/<name>-<time>.json with `at` first; returns its path from the repository root. */
export function writeResults(name: string, figures: Record<string, unknown>): string {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  const at = new Date().toISOString()
  const file = join('bench/results', `${name}-${at.replace(/[:.]/g, '-')}.json`)
  writeFileSync(join(ROOT, file), `${JSON.stringify({ at, ...figures }, null, 2)}\n`)
  return file
}
