import { randomUUID } from 'node:crypto'
import type { DataSource } from 'typeorm'
import { parseAddress } from '../contract/address.js'
import { parleyError } from '../contract/errors.js'
import { Contact, isoNow, SUBSCRIPTION_STATES, type SubscriptionState } from './entities/index.js'
import { selectColumns } from './select-columns.js'
import { optionalString, requireOneOf, requireUuid } from './validate-input.js'

/**
 * INSERT … ON CONFLICT (identity, address) DO UPDATE for `rows`; the stored
 * display name is left alone when `keepName`. Conflict target: the unique
 * index uq_contacts_identity_address.
 */
function upsertRows(
  manager: Pick<DataSource, 'createQueryBuilder'>,
  rows: Contact[],
  keepName: boolean,
) {
  return manager
    .createQueryBuilder()
    .insert()
    .into(Contact)
    .values(rows)
    .orUpdate(
      keepName ? ['subscription', 'updated_at'] : ['subscription', 'display_name', 'updated_at'],
      ['identity', 'address'],
    )
    .updateEntity(false)
    .callListeners(false)
    .execute()
}

/** Contact states that are not roster items: a full roster sync leaves them alone. */
const KEPT_OUTSIDE_ROSTER = new Set<SubscriptionState>(['pending-in', 'refused'])
/** Rows per statement: 6 columns each, well under SQLite's bound-parameter limit. */
const CHUNK = 500

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
  getById(id: string): Promise<Contact | undefined>
  /** The identity's contacts, ordered by address. */
  list(identity: string): Promise<Contact[]>
  /** Every identity's contact with `address` (who watches it). */
  watchersOf(address: string): Promise<Contact[]>
  /** Deletes the contact; resolves true if there was one. */
  remove(identity: string, address: string): Promise<boolean>
  /**
   * Brings the identity's contacts in step with a full roster: every entry is
   * upserted; contacts missing from it are deleted, except `pending-in` and
   * `refused` ones (requests and refusals are not roster items).
   */
  syncRoster(identity: string, entries: ContactInput[]): Promise<void>
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
      await upsertRows(
        ds,
        [
          {
            id: randomUUID(),
            identity: input.identity,
            address: input.address,
            subscription,
            displayName: optionalString('displayName', input.displayName, 255) ?? null,
            updatedAt: isoNow(),
          },
        ],
        keepName,
      )
      const stored = await get(input.identity, input.address)
      if (!stored)
        throw parleyError(
          'PARLEY_ERR_INTERNAL',
          `contact ${input.address} was upserted but cannot be found`,
        )
      return stored
    },

    get,

    async getById(id) {
      requireUuid('id', id)
      return selectColumns(ds, Contact, 'c').where('c.id = :id', { id }).getRawOne<Contact>()
    },

    watchersOf(address) {
      return selectColumns(ds, Contact, 'c')
        .where('c.address = :address', { address })
        .orderBy('c.identity', 'ASC')
        .getRawMany<Contact>()
    },

    async remove(identity, address) {
      const result = await ds
        .createQueryBuilder()
        .delete()
        .from(Contact)
        .where('identity = :identity', { identity })
        .andWhere('address = :address', { address })
        .callListeners(false)
        .execute()
      return (result.affected ?? 0) > 0
    },

    async syncRoster(identity, entries) {
      parseAddress(identity)
      const now = isoNow()
      const rows = entries.map((e) => {
        parseAddress(e.address)
        return {
          id: randomUUID(),
          identity,
          address: e.address,
          subscription: requireOneOf('subscription', e.subscription, SUBSCRIPTION_STATES),
          displayName: optionalString('displayName', e.displayName, 255) ?? null,
          keepName: e.displayName === undefined,
          updatedAt: now,
        }
      })
      await ds.transaction(async (manager) => {
        const keep = new Set(rows.map((r) => r.address))
        const existing = await manager
          .createQueryBuilder(Contact, 'c')
          .select('c.address', 'address')
          .addSelect('c.subscription', 'subscription')
          .where('c.identity = :identity', { identity })
          .getRawMany<{ address: string; subscription: SubscriptionState }>()
        const gone = existing
          .filter((c) => !keep.has(c.address) && !KEPT_OUTSIDE_ROSTER.has(c.subscription))
          .map((c) => c.address)
        for (let i = 0; i < gone.length; i += CHUNK) {
          await manager
            .createQueryBuilder()
            .delete()
            .from(Contact)
            .where('identity = :identity', { identity })
            .andWhere('address IN (:...gone)', { gone: gone.slice(i, i + CHUNK) })
            .callListeners(false)
            .execute()
        }
        // Entries without a name leave the stored one as it is (see ContactInput).
        for (const keepName of [true, false]) {
          const group = rows
            .filter((r) => r.keepName === keepName)
            .map(({ keepName: _, ...r }) => r)
          for (let i = 0; i < group.length; i += CHUNK)
            await upsertRows(manager, group.slice(i, i + CHUNK), keepName)
        }
      })
    },

    list(identity) {
      return selectColumns(ds, Contact, 'c')
        .where('c.identity = :identity', { identity })
        .orderBy('c.address', 'ASC')
        .getRawMany<Contact>()
    },
  }
}
