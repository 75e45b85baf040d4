import type { FastifyBaseLogger } from 'fastify'
import {
  type AddressString,
  type Connection,
  type InboundSubscription,
  parleyError,
  type RosterEntry,
  type SubscriptionRequest,
  type SubscriptionState,
} from '../contract/index.js'
import type { Network, NetworkRegistry } from '../loader/network-registry.js'
import type { Contact } from '../store/entities/index.js'
import type { Store } from '../store/store.js'

export type Operation = 'subscribe' | 'unsubscribe' | 'approve' | 'refuse'

export interface ContactServiceDeps {
  store: Store
  registry: NetworkRegistry
  log: FastifyBaseLogger
  /** Identities that approve every contact request themselves. */
  autoAccept: ReadonlySet<string>
  /** Called when a watch ends: the address's presence is no longer known. */
  forget(network: string, identity: string, address: string): Promise<void>
  /**
   * The federation policy's say on a presence subscription from `identity`
   * to `remote` (a watch, or approving a request): throws
   * PARLEY_ERR_POLICY_DENIED to refuse it (core/policy/gate.ts).
   */
  admit?(question: { network: string; identity: string; remote: string }): Promise<void>
  /**
   * When another host process owns the network's connection: asks it to run
   * the operation and waits for the outcome (core/cluster/owner-calls.ts).
   * Returns undefined when this process owns the connection itself.
   */
  viaOwner?(network: string, op: Operation, request: SubscriptionRequest): Promise<void> | undefined
}

/** What the inbound worker tells a bot after a subscription event. */
export interface SubscriptionOutcome {
  contact: Contact | undefined
  /** `contactRelationUpdate` action for the bot, if any. */
  relation?: 'add' | 'remove'
  autoAccepted: boolean
}

/**
 * Federated contacts: watches (our subscription requests), contact requests
 * from others (never approved unless a bot, a REST client or the identity's
 * `autoAccept` config says so), and the roster the network reports.
 */
export class ContactService {
  /** Changes to one (identity, address) contact run one at a time (REST, bots and roster pushes race). */
  private readonly locks = new Map<string, Promise<unknown>>()

  constructor(private readonly deps: ContactServiceDeps) {}

  private exclusive<T>(identity: string, address: string, work: () => Promise<T>): Promise<T> {
    const key = `${identity}|${address}`
    const run = (this.locks.get(key) ?? Promise.resolve()).catch(() => undefined).then(work)
    this.locks.set(key, run)
    void run
      .catch(() => undefined)
      .finally(() => {
        if (this.locks.get(key) === run) this.locks.delete(key)
      })
    return run
  }

  /** `address` as its network's plugin spells it (throws 400-class errors). */
  normalize(address: string): string {
    return this.deps.registry.resolve(address).address
  }

  /** The identity on `network` to act as: `identity` if it is one of its own, else its first. */
  identityFor(network: Network, identity?: string): AddressString {
    const identities = network.connection?.identities() ?? []
    const chosen = identity ?? identities[0]
    if (!chosen || !identities.includes(chosen)) {
      throw parleyError(
        'PARLEY_ERR_NO_IDENTITY',
        network.name,
        chosen
          ? `'${chosen}' is not one of ${identities.join(', ')}`
          : 'the network has no identity',
      )
    }
    return chosen
  }

  /** Asks `address` for their presence from `identity` and tracks the request. */
  async watch(input: {
    address: string
    identity?: string
    displayName?: string
  }): Promise<Contact> {
    const { network, address } = this.deps.registry.resolve(input.address)
    const identity = this.identityFor(network, input.identity)
    await this.deps.admit?.({ network: network.name, identity, remote: address })
    return this.exclusive(identity, address, async () => {
      const existing = await this.deps.store.contacts.get(identity, address)
      await this.call(network, 'subscribe', { from: identity, to: address })
      const subscription: SubscriptionState =
        existing?.subscription === 'both' ? 'both' : 'pending-out'
      return this.deps.store.contacts.upsert({
        identity,
        address,
        subscription,
        ...(input.displayName !== undefined && { displayName: input.displayName }),
      })
    })
  }

  /** Stops watching: unsubscribes on the network and forgets the contact. */
  async unwatch(contact: Contact): Promise<void> {
    const { network } = this.deps.registry.resolve(contact.address)
    await this.exclusive(contact.identity, contact.address, async () => {
      await this.call(network, 'unsubscribe', { from: contact.identity, to: contact.address })
      await this.deps.store.contacts.remove(contact.identity, contact.address)
      await this.forgetIfUnwatched(network.name, contact.identity, contact.address)
    })
  }

  /** Accepts a pending contact request, and asks for their presence in return. */
  async approve(contact: Contact): Promise<Contact> {
    const { network } = this.deps.registry.resolve(contact.address)
    await this.deps.admit?.({
      network: network.name,
      identity: contact.identity,
      remote: contact.address,
    })
    return this.exclusive(contact.identity, contact.address, async () => {
      this.requirePending(await this.current(contact), 'approve')
      const request = { from: contact.identity, to: contact.address }
      await this.call(network, 'approve', request)
      // A bot that accepts someone also watches them (the usual client behaviour).
      await this.call(network, 'subscribe', request)
      return this.deps.store.contacts.upsert({
        identity: contact.identity,
        address: contact.address,
        subscription: 'pending-out',
      })
    })
  }

  async refuse(contact: Contact): Promise<Contact> {
    const { network } = this.deps.registry.resolve(contact.address)
    return this.exclusive(contact.identity, contact.address, async () => {
      this.requirePending(await this.current(contact), 'refuse')
      await this.call(network, 'refuse', { from: contact.identity, to: contact.address })
      return this.deps.store.contacts.upsert({
        identity: contact.identity,
        address: contact.address,
        subscription: 'refused',
      })
    })
  }

  /** The contact as stored now (it may have changed since the caller read it). */
  private async current(contact: Contact): Promise<Contact> {
    const stored = await this.deps.store.contacts.get(contact.identity, contact.address)
    if (!stored) throw parleyError('PARLEY_ERR_CONTACT_NOT_FOUND', contact.id)
    return stored
  }

  /** Applies a subscription event from a network to the contact it concerns. */
  async onSubscription(network: string, event: InboundSubscription): Promise<SubscriptionOutcome> {
    const identity = event.to
    const address = event.from
    const outcome = await this.exclusive(identity, address, () =>
      this.applySubscription(network, event),
    )
    if (event.action !== 'request' || !outcome.contact || !this.deps.autoAccept.has(identity))
      return outcome
    try {
      return { contact: await this.approve(outcome.contact), relation: 'add', autoAccepted: true }
    } catch (err) {
      this.deps.log.warn(
        { network, identity, address, err },
        'auto-accept failed; request left pending',
      )
      return outcome
    }
  }

  private async applySubscription(
    network: string,
    event: InboundSubscription,
  ): Promise<SubscriptionOutcome> {
    const { contacts } = this.deps.store
    const identity = event.to
    const address = event.from
    switch (event.action) {
      case 'request': {
        const contact = await contacts.upsert({ identity, address, subscription: 'pending-in' })
        return { contact, relation: 'add', autoAccepted: false }
      }
      case 'approved': {
        const contact = await contacts.upsert({ identity, address, subscription: 'both' })
        return { contact, autoAccepted: false }
      }
      case 'refused': {
        const contact = await contacts.upsert({ identity, address, subscription: 'refused' })
        await this.forgetIfUnwatched(network, identity, address)
        return { contact, autoAccepted: false }
      }
      case 'removed': {
        // They stopped watching us; a pending request of theirs is withdrawn.
        const current = await contacts.get(identity, address)
        const contact =
          current?.subscription === 'pending-in'
            ? await contacts.upsert({ identity, address, subscription: 'none' })
            : current
        return { contact, relation: 'remove', autoAccepted: false }
      }
    }
  }

  /** The roster a plugin reported: all of it (`complete`) or changed entries (a push). */
  async onRoster(
    network: string,
    identity: string,
    entries: RosterEntry[],
    complete: boolean,
  ): Promise<void> {
    const { contacts } = this.deps.store
    const resolved = entries.map((e) => ({
      ...e,
      address: this.deps.registry.resolve(e.address).address,
    }))
    const bad = resolved.find((e) => !e.address.startsWith(`${network}:`))
    if (bad)
      throw parleyError('PARLEY_ERR_ADDRESS_INVALID', bad.address, `not on network '${network}'`)
    const present = (e: RosterEntry) => ({
      identity,
      address: e.address,
      subscription: e.subscription,
      ...(e.displayName !== undefined && { displayName: e.displayName }),
    })
    if (complete) {
      await contacts.syncRoster(identity, resolved.filter((e) => !e.removed).map(present))
      return
    }
    for (const entry of resolved) {
      await this.exclusive(identity, entry.address, async () => {
        if (entry.removed) {
          await contacts.remove(identity, entry.address)
          await this.forgetIfUnwatched(network, identity, entry.address)
        } else if (
          entry.subscription !== 'none' ||
          (await contacts.get(identity, entry.address)) !== undefined
        ) {
          // A push that leaves nothing in force (e.g. after an unwatch) does not create a contact.
          await contacts.upsert(present(entry))
        }
      })
    }
  }

  private requirePending(contact: Contact, what: string): void {
    if (contact.subscription !== 'pending-in') {
      throw parleyError(
        'PARLEY_ERR_CONTACT_STATE',
        contact.id,
        `cannot ${what}: subscription is '${contact.subscription}', not 'pending-in'`,
      )
    }
  }

  private async forgetIfUnwatched(network: string, identity: string, address: string) {
    const watchers = await this.deps.store.contacts.watchersOf(address)
    if (!watchers.some((c) => c.subscription === 'both' || c.subscription === 'pending-out'))
      await this.deps.forget(network, identity, address)
  }

  /** Calls a subscription method of the network's plugin; 422 if it has none, 503 if it is down. */
  private async call(network: Network, op: Operation, request: SubscriptionRequest): Promise<void> {
    const connection: Connection | undefined = network.connection
    const method = connection?.[op]
    if (!network.definition?.capabilities.subscriptions || !connection || !method)
      throw parleyError('PARLEY_ERR_CAPABILITY', network.name, 'subscriptions')
    if (!this.deps.registry.isCarrying(network.name))
      throw parleyError('PARLEY_ERR_NOT_CONNECTED', network.name)
    const forwarded = this.deps.viaOwner?.(network.name, op, request)
    if (forwarded) await forwarded
    else await method.call(connection, request)
  }
}
