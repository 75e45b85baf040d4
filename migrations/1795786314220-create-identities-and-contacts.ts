import { type MigrationInterface, type QueryRunner, Table } from 'typeorm'

/**
 * Identities and contacts. Written with the Table API so the same migration
 * runs on SQLite and PostgreSQL; types are spelled out here (not imported from
 * the entities) so this file keeps describing the schema as it was.
 * Timestamps are ISO-8601 UTC strings: see core/store/entities/timestamp.ts.
 */
export class CreateIdentitiesAndContacts1795786314220 implements MigrationInterface {
  name = 'CreateIdentitiesAndContacts1795786314220'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'identities',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'address', type: 'varchar', length: '1024' },
          { name: 'network', type: 'varchar', length: '32' },
          { name: 'display_name', type: 'varchar', length: '255', isNullable: true },
          { name: 'created_at', type: 'varchar', length: '32' },
        ],
        indices: [{ name: 'uq_identities_address', columnNames: ['address'], isUnique: true }],
      }),
      true,
    )
    await queryRunner.createTable(
      new Table({
        name: 'contacts',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'identity', type: 'varchar', length: '1024' },
          { name: 'address', type: 'varchar', length: '1024' },
          { name: 'subscription', type: 'varchar', length: '16' },
          { name: 'display_name', type: 'varchar', length: '255', isNullable: true },
          { name: 'updated_at', type: 'varchar', length: '32' },
        ],
        checks: [
          {
            name: 'ck_contacts_subscription',
            expression: "subscription IN ('none', 'pending-out', 'pending-in', 'both', 'refused')",
          },
        ],
        indices: [
          {
            name: 'uq_contacts_identity_address',
            columnNames: ['identity', 'address'],
            isUnique: true,
          },
        ],
      }),
      true,
    )
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('contacts', true)
    await queryRunner.dropTable('identities', true)
  }
}
