/**
 * Timestamps are stored as ISO-8601 UTC strings with millisecond precision
 * (`2026-11-27T13:29:21.123Z`, always 24 characters) on every driver.
 *
 * Why not native types: SQLite has no timestamp type and TypeORM offers no
 * column type that is `timestamptz` on PostgreSQL and a date on SQLite, so a
 * per-driver type would need per-driver entities and would make the schema
 * drift from the entities on one of the two. A fixed-width ISO string is the
 * same bytes on both, sorts chronologically as text (so indexes and
 * `ORDER BY` work), carries its time zone, reads well in `psql` and `sqlite3`,
 * and casts directly on PostgreSQL (`created_at::timestamptz`).
 * Only `isoNow()` (or `Date#toISOString()`) may produce these values.
 */
export const TIMESTAMP_COLUMN = { type: 'varchar', length: 32 } as const

/** The current time as stored in timestamp columns. */
export function isoNow(): string {
  return new Date().toISOString()
}
