import { type MigrationInterface, type QueryRunner, Table } from 'typeorm'

/** The per-plugin key/value store behind `PluginContext.state`. */
export class CreatePluginState1795786314222 implements MigrationInterface {
  name = 'CreatePluginState1795786314222'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'plugin_state',
        columns: [
          { name: 'plugin', type: 'varchar', length: '64', isPrimary: true },
          { name: 'key', type: 'varchar', length: '255', isPrimary: true },
          { name: 'value', type: 'text' },
          { name: 'updated_at', type: 'varchar', length: '32' },
        ],
      }),
      true,
    )
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('plugin_state', true)
  }
}
