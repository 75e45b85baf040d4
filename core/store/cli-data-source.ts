import { createDataSource } from './data-source.js'

/**
 * The DataSource the TypeORM CLI loads (`-d core/store/cli-data-source.ts`),
 * e.g. `node --import tsx node_modules/typeorm/cli.js migration:show -d core/store/cli-data-source.ts`.
 * DATABASE_URL picks the database (unset: SQLite at ./data/parley.sqlite);
 * DATABASE_SCHEMA picks a PostgreSQL schema.
 */
export default createDataSource({
  url: process.env.DATABASE_URL,
  schema: process.env.DATABASE_SCHEMA || undefined,
})
