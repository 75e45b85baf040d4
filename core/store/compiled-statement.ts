import type { ObjectLiteral, QueryBuilder } from 'typeorm'
import { parleyError } from '../contract/errors.js'

const MARK = '\u0000parley-param:'

type Slot<P extends string> = { param: P } | { literal: unknown }

/**
 * A statement generated once by TypeORM's query builder (so the SQL is right
 * for the driver, schema and column names) and then run many times with new
 * values. Building a query costs more CPU than SQLite takes to run it, and
 * these statements run for every message, so the store compiles them once
 * per DataSource.
 *
 * `build` receives `param(name)`, a marker to use wherever a value goes;
 * the markers are found in the builder's positional parameters to learn
 * where each named value belongs. Any other parameter is kept as a literal.
 *
 * The message store runs `sql` with `parameters(values)` on its
 * StatementExecutor (statements prepared once, group commit).
 */
export class CompiledStatement<P extends string> {
  readonly sql: string
  private readonly slots: Slot<P>[]

  constructor(
    names: readonly P[],
    build: (param: (name: P) => string) => QueryBuilder<ObjectLiteral>,
  ) {
    const [sql, parameters] = build((name) => `${MARK}${name}`).getQueryAndParameters()
    if (sql.includes(MARK))
      throw parleyError('PARLEY_ERR_INTERNAL', 'a parameter marker was inlined into SQL')
    this.sql = sql
    this.slots = parameters.map((value: unknown) =>
      typeof value === 'string' && value.startsWith(MARK)
        ? { param: value.slice(MARK.length) as P }
        : { literal: value },
    )
    for (const name of names) {
      if (!this.slots.some((slot) => 'param' in slot && slot.param === name)) {
        throw parleyError('PARLEY_ERR_INTERNAL', `parameter '${name}' is not used by ${sql}`)
      }
    }
  }

  /** The positional parameters for `values`, in the order `sql` expects them. */
  parameters(values: Record<P, unknown>): unknown[] {
    return this.slots.map((slot) => ('param' in slot ? values[slot.param] : slot.literal))
  }
}
