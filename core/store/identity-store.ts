import { randomUUID } from 'node:crypto'
import type { DataSource } from 'typeorm'
import { parseAddress } from '../contract/address.js'
import { parleyError } from '../contract/errors.js'
import { Identity, isoNow } from './entities/index.js'
import { insertOrIgnore } from './insert-or-ignore.js'
import { selectColumns } from './select-columns.js'

/** Parley's own addresses, one row each. */
export interface IdentityStore {
  /**
   * The identity for `address`, created if new (race-safe). `address` must
   * be `network:id` on `network`, else PARLEY_ERR_ADDRESS_INVALID.
   */
  ensure(address: string, network: string): Promise<Identity>
  get(address: string): Promise<Identity | undefined>
  /** Ordered by address; only `network`'s when given. */
  list(network?: string): Promise<Identity[]>
}

export function createIdentityStore(ds: DataSource): IdentityStore {
  function get(address: string): Promise<Identity | undefined> {
    return selectColumns(ds, Identity, 'i')
      .where('i.address = :address', { address })
      .getRawOne<Identity>()
  }

  return {
    async ensure(address, network) {
      const parsed = parseAddress(address)
      if (parsed.network !== network) {
        throw parleyError(
          'PARLEY_ERR_ADDRESS_INVALID',
          address,
          `not an address on network '${network}'`,
        )
      }
      const row: Identity = {
        id: randomUUID(),
        address,
        network,
        displayName: null,
        createdAt: isoNow(),
      }
      if (await insertOrIgnore(ds, Identity, row)) return row
      const found = await get(address)
      if (!found)
        throw parleyError(
          'PARLEY_ERR_INTERNAL',
          `identity ${address} conflicted on insert but cannot be found`,
        )
      return found
    },

    get,

    list(network) {
      const qb = selectColumns(ds, Identity, 'i')
      if (network !== undefined) qb.where('i.network = :network', { network })
      return qb.orderBy('i.address', 'ASC').getRawMany<Identity>()
    },
  }
}
