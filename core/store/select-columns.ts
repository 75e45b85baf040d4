import type { DataSource, EntityTarget, ObjectLiteral, SelectQueryBuilder } from 'typeorm'

/**
 * A SELECT of every column of `target`, each aliased to its property name,
 * so `getRawOne()`/`getRawMany()` return plain objects shaped like the entity
 * without TypeORM's entity hydration (the store returns plain objects).
 */
export function selectColumns<T extends ObjectLiteral>(
  ds: DataSource,
  target: EntityTarget<T>,
  alias: string,
): SelectQueryBuilder<T> {
  const columns = ds.getMetadata(target).columns
  const qb = ds.createQueryBuilder(target, alias).select([])
  for (const column of columns) {
    qb.addSelect(`${alias}.${column.propertyName}`, column.propertyName)
  }
  return qb
}
