import { type MigrationInterface, type QueryRunner, Table } from 'typeorm'

/**
 * API keys (see core/store/entities/api-key.ts and core/auth/keys.ts).
 *
 * `hash` is the hex SHA-256 of the key's secret. A fast hash is right here:
 * the secret is 32 random bytes (256 bits), so there is nothing to brute-force
 * and no dictionary to try; this is what GitHub-style tokens do. Slow,
 * salted hashes (argon2, scrypt, bcrypt) exist for low-entropy, human-chosen
 * passwords and would only cost CPU on every request.
 * `prefix` is the public part of the key, unique, used to find the row.
 * `scopes` is a comma-separated list; timestamps are ISO-8601 UTC strings.
 */
export class CreateApiKeys1795786314224 implements MigrationInterface {
  name = 'CreateApiKeys1795786314224'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'api_keys',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'name', type: 'varchar', length: '128' },
          { name: 'prefix', type: 'varchar', length: '16' },
          { name: 'hash', type: 'varchar', length: '64' },
          { name: 'scopes', type: 'varchar', length: '255' },
          { name: 'created_at', type: 'varchar', length: '32' },
          { name: 'last_used_at', type: 'varchar', length: '32', isNullable: true },
          { name: 'revoked_at', type: 'varchar', length: '32', isNullable: true },
        ],
        indices: [{ name: 'uq_api_keys_prefix', columnNames: ['prefix'], isUnique: true }],
      }),
      true,
    )
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('api_keys', true)
  }
}
