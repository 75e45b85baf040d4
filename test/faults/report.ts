/**
 * One row per fault scenario: asserted with tap (nothing lost, nothing
 * duplicated), shown as a comment, and appended as JSON to the file named
 * by PARLEY_FAULTS_RESULTS (set by `npm run faults`, test/faults/run.ts,
 * which prints the table).
 */
import { appendFileSync } from 'node:fs'
import type { Test } from 'tap'
import type { Tally } from './conversation.js'

export interface ScenarioRow {
  scenario: string
  network: string
  sent: number
  delivered: number
  refused: number
  lost: number
  duplicatedToUsers: number
  duplicatedToBot: number
  redelivered: number
  /** ms, or null when the scenario has no outage to recover from. */
  recoverMs: number | null
  note?: string
}

export const COLUMNS = [
  'scenario',
  'network',
  'sent',
  'delivered',
  'refused',
  'lost',
  'dup→users',
  'dup→bot',
  'recover',
] as const

export function rowCells(row: ScenarioRow): string[] {
  return [
    row.scenario,
    row.network,
    String(row.sent),
    String(row.delivered),
    String(row.refused),
    String(row.lost),
    String(row.duplicatedToUsers),
    String(row.duplicatedToBot),
    row.recoverMs === null ? '-' : `${(row.recoverMs / 1000).toFixed(1)} s`,
  ]
}

export function formatTable(rows: ScenarioRow[]): string {
  const cells = [COLUMNS.map(String), ...rows.map(rowCells)]
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  return [
    line(cells[0] as string[]),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.slice(1).map(line),
  ].join('\n')
}

export function summaryLine(rows: ScenarioRow[]): string {
  const lost = rows.reduce((s, r) => s + r.lost, 0)
  const duplicated = rows.reduce((s, r) => s + r.duplicatedToUsers + r.duplicatedToBot, 0)
  return `faults: ${rows.length} scenarios, lost ${lost}, duplicated ${duplicated}`
}

/**
 * Asserts the scenario's tally (both directions: every message answered
 * once, every id turned once by the bot) and records the row.
 */
export function reportScenario(
  t: Test,
  info: { scenario: string; network: string; recoverMs: number | null | undefined; note?: string },
  tally: Tally,
  minimum = 1000,
): ScenarioRow {
  const row: ScenarioRow = {
    ...info,
    recoverMs: info.recoverMs ?? null,
    sent: tally.sent,
    delivered: tally.delivered,
    refused: tally.refused,
    lost: tally.lost,
    duplicatedToUsers: tally.duplicatedToUsers,
    duplicatedToBot: tally.duplicatedToBot,
    redelivered: tally.redelivered,
  }
  const file = process.env.PARLEY_FAULTS_RESULTS
  if (file) appendFileSync(file, `${JSON.stringify(row)}\n`)
  t.comment(`${formatTable([row])}`)
  if (tally.redelivered || tally.unanswered)
    t.comment(
      `redelivered under the same network id: ${tally.redelivered}; sends nobody answered (sent again): ${tally.unanswered}`,
    )
  t.ok(tally.sent >= minimum, `at least ${minimum} messages each way (sent ${tally.sent})`)
  t.equal(
    tally.lost,
    0,
    `nothing lost${tally.lostIds.length ? `: ${tally.lostIds.slice(0, 10).join(', ')}` : ''}`,
  )
  t.equal(tally.delivered, tally.sent, 'every message answered')
  t.equal(
    tally.duplicatedToUsers,
    0,
    `no duplicate to users${tally.duplicateIds.length ? `: ${tally.duplicateIds.slice(0, 10).join(', ')}` : ''}`,
  )
  t.equal(
    tally.duplicatedToBot,
    0,
    `no duplicate to the bot${tally.duplicateIds.length ? `: ${tally.duplicateIds.slice(0, 10).join(', ')}` : ''}`,
  )
  t.equal(tally.answeredUnseen, 0, 'every answer comes from a turn the bot recorded')
  return row
}
