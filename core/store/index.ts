/** core/store: Parley's database (TypeORM over PostgreSQL or SQLite). */
export * from './contact-store.js'
export * from './data-source.js'
export * from './entities/index.js'
export * from './identity-store.js'
export * from './message-store.js'
export * from './migrate.js'
export * from './store.js'
export * from './store-errors.js'
