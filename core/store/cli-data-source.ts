import { createDataSource } from './data-source.js'

/**
 * The DataSource the TypeORM CLI loads, e.g.
 * `node --import tsx node_modules/typeorm/cli.js migration:show -d core/store/cli-data-source.ts`.
 * DATABASE_URL picks the database (unset: SQLite at ./data/parley.sqlite);
 * DATABASE_SCHEMA picks a PostgreSQL schema. Parley's own `migrate-cli.ts`
 * is the everyday tool; this exists for TypeORM's commands (`migration:show`,
 * `schema:log`, `migration:create`).
 */
const dataSource = createDataSource({
  url: process.env.DATABASE_URL,
  schema: process.env.DATABASE_SCHEMA || undefined,
})
// The TypeORM CLI reports through the DataSource's logger: use its console logger here.
dataSource.setOptions({
  logger: 'advanced-console',
  logging: ['error', 'warn', 'schema', 'migration'],
})

export default dataSource
