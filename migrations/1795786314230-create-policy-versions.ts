import { type MigrationInterface, type QueryRunner, Table } from 'typeorm'

/**
 * The federation policy's versions (see core/store/entities/policy-version.ts).
 * An edit inserts version N+1; the primary key makes concurrent edits of the
 * same version collide instead of overwriting each other.
 */
export class CreatePolicyVersions1795786314230 implements MigrationInterface {
  name = 'CreatePolicyVersions1795786314230'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'policy_versions',
        columns: [
          { name: 'version', type: 'integer', isPrimary: true },
          { name: 'document', type: 'text' },
          { name: 'author', type: 'varchar', length: '160' },
          { name: 'summary', type: 'varchar', length: '500' },
          { name: 'created_at', type: 'varchar', length: '32' },
        ],
      }),
      true,
    )
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('policy_versions', true)
  }
}
