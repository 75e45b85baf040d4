import { randomUUID } from 'node:crypto'
import type { DataSource } from 'typeorm'
import { parseAddress } from '../contract/address.js'
import { parleyError } from '../contract/errors.js'
import { Contact, isoNow, SUBSCRIPTION_STATES, type SubscriptionState } from './entities/index.js'
import { selectColumns } from './select-columns.js'
import { optionalString, requireOneOf } from './validate-input.js'

export interface ContactInput {
  /** The Parley identity's address. */
  identity: string
  /** The remote party's address. */
  address: string
  subscription: SubscriptionState
  /** Left as stored when undefined; null clears it. */
  displayName?: string | null
}

/** Each identity's roster: who it knows and the subscription state with them. */
export interface ContactStore {
  /** Inserts or updates the (identity, address) contact in one statement; resolves with the stored row. */
  upsert(input: ContactInput): Promise<Contact>
  get(identity: string, address: string): Promise<Contact | undefined>
  /** The identity's contacts, ordered by address. */
  list(identity: string): Promise<Contact[]>
}

export function createContactStore(ds: DataSource): ContactStore {
  function get(identity: string, address: string): Promise<Contact | undefined> {
    return selectColumns(ds, Contact, 'c')
      .where('c.identity = :identity', { identity })
      .andWhere('c.address = :address', { address })
      .getRawOne<Contact>()
  }

  return {
    async upsert(input) {
      parseAddress(input.identity)
      parseAddress(input.address)
      const subscription = requireOneOf('subscription', input.subscription, SUBSCRIPTION_STATES)
      const keepName = input.displayName === undefined
      await ds
        .createQueryBuilder()
        .insert()
        .into(Contact)
        .values({
          id: randomUUID(),
          identity: input.identity,
          address: input.address,
          subscription,
          displayName: optionalString('displayName', input.displayName, 255),
          updatedAt: isoNow(),
        })
        // Conflict target: the unique index uq_contacts_identity_address.
        .orUpdate(
          keepName
            ? ['subscription', 'updated_at']
            : ['subscription', 'display_name', 'updated_at'],
          ['identity', 'address'],
        )
        .updateEntity(false)
        .callListeners(false)
        .execute()
      const stored = await get(input.identity, input.address)
      if (!stored)
        throw parleyError(
          'PARLEY_ERR_INTERNAL',
          `contact ${input.address} was upserted but cannot be found`,
        )
      return stored
    },

    get,

    list(identity) {
      return selectColumns(ds, Contact, 'c')
        .where('c.identity = :identity', { identity })
        .orderBy('c.address', 'ASC')
        .getRawMany<Contact>()
    },
  }
}
