import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm'

/**
 * Message records, both directions. `id` is a UUID made by the application;
 * `dedup_key` is unique (NULLs allowed many times on both databases) so an
 * `INSERT ... ON CONFLICT DO NOTHING` makes redelivery idempotent.
 * The check ties each status to its direction.
 */
export class CreateMessages1795786314221 implements MigrationInterface {
  name = 'CreateMessages1795786314221'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'messages',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'direction', type: 'varchar', length: '3' },
          { name: 'network', type: 'varchar', length: '32' },
          { name: 'dedup_key', type: 'varchar', length: '255', isNullable: true },
          { name: 'from_address', type: 'varchar', length: '1024' },
          { name: 'to_address', type: 'varchar', length: '1024' },
          { name: 'text', type: 'text' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'attempts', type: 'integer', default: 0 },
          { name: 'remote_id', type: 'varchar', length: '1024', isNullable: true },
          { name: 'reply_to', type: 'varchar', length: '1024', isNullable: true },
          { name: 'error', type: 'text', isNullable: true },
          { name: 'bot', type: 'varchar', length: '64', isNullable: true },
          { name: 'created_at', type: 'varchar', length: '32' },
          { name: 'updated_at', type: 'varchar', length: '32' },
        ],
        checks: [
          {
            name: 'ck_messages_status',
            expression:
              "(direction = 'out' AND status IN ('queued', 'sent', 'delivered', 'failed')) OR (direction = 'in' AND status IN ('received', 'handled', 'failed'))",
          },
        ],
      }),
      true,
    )
    await queryRunner.createIndices(
      'messages',
      [
        { name: 'uq_messages_dedup_key', columnNames: ['dedup_key'], isUnique: true },
        // Only failed messages are looked up by status (to inspect and retry them);
        // a full status index costs every status change an index update.
        {
          name: 'ix_messages_failed',
          columnNames: ['created_at'],
          where: "status = 'failed'",
        },
        { name: 'ix_messages_network_created_at', columnNames: ['network', 'created_at'] },
      ].map((index) => new TableIndex(index)),
    )
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('messages', true)
  }
}
