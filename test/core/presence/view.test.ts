import t from 'tap'
import {
  AVAILABILITIES,
  fromLyncAvailability,
  LYNC_AVAILABILITY,
  toLyncAvailability,
} from '../../../core/contract/index.js'
import type { ConnectionState } from '../../../core/contract/plugin.js'
import type { LiveEntry } from '../../../core/presence/live-store.js'
import { presenceView } from '../../../core/presence/view.js'
import type { LastKnown } from '../../../core/store/presence-store.js'

const ALICE = 'xmpp:alice@example.org'
const ECHO = 'xmpp:echo@example.org'
const LOST_AT = '2030-01-01T10:00:00.000Z'

function network(state: ConnectionState, lostAt = LOST_AT) {
  return { status: { state }, lostAt }
}

function live(overrides: Partial<LiveEntry> = {}): LiveEntry {
  return {
    address: ALICE,
    availability: 'busy',
    status: 'In a meeting',
    raw: 'dnd',
    observedAt: '2030-01-01T10:05:00.000Z',
    source: ECHO,
    version: '1893492300000-0',
    ...overrides,
  }
}

function stored(overrides: Partial<LastKnown> = {}): LastKnown {
  return {
    address: ALICE,
    availability: 'away',
    status: 'Lunch',
    raw: 'xa',
    observedAt: '2030-01-01T09:00:00.000Z',
    source: ECHO,
    ...overrides,
  }
}

t.test('presenceView: a current live value is reported with its Lync number', async (t) => {
  t.strictSame(presenceView(ALICE, network('online'), live()), {
    address: ALICE,
    availability: 'busy',
    observedAt: '2030-01-01T10:05:00.000Z',
    source: ECHO,
    status: 'In a meeting',
    raw: 'dnd',
    lync: LYNC_AVAILABILITY.busy,
  })
  t.strictSame(
    presenceView(ALICE, network('degraded'), live({ availability: 'offline' })),
    {
      address: ALICE,
      availability: 'offline',
      observedAt: '2030-01-01T10:05:00.000Z',
      source: ECHO,
      status: 'In a meeting',
      raw: 'dnd',
      lync: LYNC_AVAILABILITY.offline,
    },
    'degraded still carries presence',
  )
  const plain = live({ availability: 'available' })
  delete plain.status
  delete plain.raw
  const view = presenceView(ALICE, network('online'), plain, stored())
  t.strictSame(
    view,
    {
      address: ALICE,
      availability: 'available',
      observedAt: plain.observedAt,
      source: ECHO,
      lync: LYNC_AVAILABILITY.available,
    },
    'no status/raw keys; the database row is ignored when Redis has a value',
  )
  t.notOk('version' in view, 'the stream version is not part of the answer')
  t.strictSame(
    presenceView(ALICE, network('online'), live({ observedAt: LOST_AT })).availability,
    'busy',
    'observed exactly at the loss is not stale',
  )
})

t.test('presenceView: not-watched when Redis records a removed watch', async (t) => {
  for (const state of ['online', 'offline'] as const) {
    t.strictSame(
      presenceView(ALICE, network(state), live({ availability: 'unknown' }), stored()),
      { address: ALICE, availability: 'unknown', reason: 'not-watched' },
      `${state}: no lastKnown, even with a database row`,
    )
  }
  t.strictSame(presenceView(ALICE, undefined, live({ availability: 'unknown' })), {
    address: ALICE,
    availability: 'unknown',
    reason: 'not-watched',
  })
})

t.test('presenceView: no-presence when neither Redis nor the database has one', async (t) => {
  for (const net of [network('online'), network('offline'), undefined]) {
    t.strictSame(presenceView(ALICE, net, undefined), {
      address: ALICE,
      availability: 'unknown',
      reason: 'no-presence',
    })
    t.strictSame(presenceView(ALICE, net, undefined, undefined), {
      address: ALICE,
      availability: 'unknown',
      reason: 'no-presence',
    })
  }
})

t.test('presenceView: network-offline, with the last known value', async (t) => {
  for (const state of ['offline', 'failed', 'connecting'] as const) {
    t.strictSame(
      presenceView(ALICE, network(state), live()),
      {
        address: ALICE,
        availability: 'unknown',
        reason: 'network-offline',
        lastKnown: {
          availability: 'busy',
          observedAt: '2030-01-01T10:05:00.000Z',
          source: ECHO,
          status: 'In a meeting',
          raw: 'dnd',
          from: 'redis',
        },
      },
      `${state}: from Redis`,
    )
  }
  t.strictSame(
    presenceView(ALICE, network('offline'), undefined, stored()),
    {
      address: ALICE,
      availability: 'unknown',
      reason: 'network-offline',
      lastKnown: {
        availability: 'away',
        observedAt: '2030-01-01T09:00:00.000Z',
        source: ECHO,
        status: 'Lunch',
        raw: 'xa',
        from: 'database',
      },
    },
    'from the database when Redis has nothing',
  )
  const view = presenceView(ALICE, undefined, live())
  t.equal(view.reason, 'network-offline', 'a network Parley does not know carries nothing')
  t.equal(view.lastKnown?.from, 'redis')
  t.notOk('lync' in view, 'no Lync number for unknown')
})

t.test('presenceView: stale when the value predates the last loss', async (t) => {
  t.strictSame(
    presenceView(ALICE, network('online'), live({ observedAt: '2030-01-01T09:59:59.999Z' })),
    {
      address: ALICE,
      availability: 'unknown',
      reason: 'stale',
      lastKnown: {
        availability: 'busy',
        observedAt: '2030-01-01T09:59:59.999Z',
        source: ECHO,
        status: 'In a meeting',
        raw: 'dnd',
        from: 'redis',
      },
    },
  )
  const plain = stored({ observedAt: '2030-01-01T11:00:00.000Z' })
  delete plain.status
  delete plain.raw
  t.strictSame(
    presenceView(ALICE, network('degraded'), undefined, plain),
    {
      address: ALICE,
      availability: 'unknown',
      reason: 'stale',
      lastKnown: {
        availability: 'away',
        observedAt: '2030-01-01T11:00:00.000Z',
        source: ECHO,
        from: 'database',
      },
    },
    'a database value is never current, even one newer than the loss',
  )
})

t.test('toLyncAvailability gives one number per availability, none for unknown', async (t) => {
  t.equal(toLyncAvailability('available'), 3500)
  t.equal(toLyncAvailability('away'), 15500)
  t.equal(toLyncAvailability('busy'), 6500)
  t.equal(toLyncAvailability('dnd'), 9500)
  t.equal(toLyncAvailability('offline'), 18500)
  t.equal(toLyncAvailability('unknown'), undefined)
  for (const availability of AVAILABILITIES) {
    const n = toLyncAvailability(availability)
    if (n !== undefined)
      t.equal(fromLyncAvailability(n), availability, `${availability} round-trips`)
  }
})

t.test('fromLyncAvailability at every Lync 2013 range boundary', async (t) => {
  const cases: [number, string][] = [
    [0, 'available'],
    [4499, 'available'],
    [4500, 'away'], // available-idle
    [5999, 'away'],
    [6000, 'busy'],
    [7499, 'busy'],
    [7500, 'busy'], // busy-idle
    [8999, 'busy'],
    [9000, 'dnd'],
    [11999, 'dnd'],
    [12000, 'away'], // be right back
    [14999, 'away'],
    [15000, 'away'],
    [17999, 'away'],
    [18000, 'offline'],
    [1_000_000, 'offline'],
    [4499.5, 'available'],
    [-1, 'unknown'],
    [-0.5, 'unknown'],
    [Number.NaN, 'unknown'],
    [Number.NEGATIVE_INFINITY, 'unknown'],
  ]
  for (const [value, expected] of cases) {
    t.equal(fromLyncAvailability(value), expected, String(value))
  }
})
