import { type MigrationInterface, type QueryRunner, Table } from 'typeorm'

/** Last known presence per address (see core/store/entities/presence-record.ts). */
export class CreatePresenceLastKnown1795786314223 implements MigrationInterface {
  name = 'CreatePresenceLastKnown1795786314223'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'presence_last_known',
        columns: [
          { name: 'address', type: 'varchar', length: '1024', isPrimary: true },
          { name: 'availability', type: 'varchar', length: '16' },
          { name: 'status', type: 'varchar', length: '1024', isNullable: true },
          { name: 'raw', type: 'varchar', length: '64', isNullable: true },
          { name: 'source', type: 'varchar', length: '1024' },
          { name: 'observed_at', type: 'varchar', length: '32' },
        ],
        checks: [
          {
            name: 'ck_presence_availability',
            expression: "availability IN ('available', 'away', 'busy', 'dnd', 'offline')",
          },
        ],
      }),
      true,
    )
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('presence_last_known', true)
  }
}
