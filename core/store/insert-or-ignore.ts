import type { DataSource, EntityTarget, ObjectLiteral, QueryDeepPartialEntity } from 'typeorm'

/**
 * `INSERT … ON CONFLICT DO NOTHING` for one row, resolving true when the row
 * was inserted and false when a unique key (primary or other) already held
 * it. The database settles concurrent inserts of the same key, so exactly one
 * caller sees true, on SQLite and PostgreSQL alike.
 *
 * The statement is built by the query builder but run through a query runner
 * asking for a structured result: TypeORM's InsertResult does not expose the
 * affected row count, and SQLite's driver cannot add RETURNING.
 */
export async function insertOrIgnore<T extends ObjectLiteral>(
  ds: DataSource,
  target: EntityTarget<T>,
  values: QueryDeepPartialEntity<T>,
): Promise<boolean> {
  const [sql, parameters] = ds
    .createQueryBuilder()
    .insert()
    .into(target)
    .values(values)
    .orIgnore()
    .updateEntity(false)
    .callListeners(false)
    .getQueryAndParameters()
  const runner = ds.driver.createQueryRunner('master')
  try {
    const result = await runner.query(sql, parameters, true)
    return result.affected === 1
  } finally {
    await runner.release()
  }
}
