import t from 'tap'
import { KeyedSerial, type Order, Sequencer } from '../../../core/queue/keyed-serial.js'

t.test('the sequencer numbers a conversation and names each event’s predecessor', async (t) => {
  const sequencer = new Sequencer()
  const first = sequencer.next('bot|alice', 'job-1')
  const second = sequencer.next('bot|alice', 'job-2')
  const other = sequencer.next('bot|bob', 'job-3')
  t.equal(first.n, 1)
  t.notOk('prev' in first, 'the first event has no predecessor')
  t.equal(second.n, 2)
  t.equal(second.prev, 'job-1')
  t.equal(second.epoch, first.epoch)
  t.equal(other.n, 1, 'each conversation counts on its own')
  t.notOk('prev' in other)
})

t.test('tasks of one key run one at a time, in order', async (t) => {
  const serial = new KeyedSerial()
  t.teardown(() => serial.close())
  const ran: number[] = []
  const order = (n: number): Order => ({ epoch: 'e', n })
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  const first = serial.run('k', order(1), async () => {
    await gate
    ran.push(1)
  })
  const third = serial.run('k', order(3), async () => ran.push(3))
  const second = serial.run('k', order(2), async () => ran.push(2))
  release()
  await Promise.all([first, second, third])
  t.same(ran, [1, 2, 3], 'the late second task still ran before the third')
})

t.test('a task whose predecessor ran in another process runs once the queue says so', async (t) => {
  const asked: string[] = []
  let finishedAt = 0
  // The predecessor (job-2) is "active" elsewhere for two probes, then done.
  const serial = new KeyedSerial(async (prev) => {
    asked.push(prev)
    if (asked.length < 3) return false
    finishedAt = Date.now()
    return true
  })
  t.teardown(() => serial.close())
  const ran: Array<{ n: number; at: number }> = []
  await serial.run('k', { epoch: 'e', n: 1 }, async () => ran.push({ n: 1, at: Date.now() }))
  // n=2 went to the other process: this one sees 1 then 3.
  await serial.run('k', { epoch: 'e', n: 3, prev: 'job-2' }, async () =>
    ran.push({ n: 3, at: Date.now() }),
  )
  t.same(
    ran.map((r) => r.n),
    [1, 3],
  )
  t.same(asked, ['job-2', 'job-2', 'job-2'], 'it asked about the predecessor until it was done')
  t.ok(finishedAt > 0 && (ran[1]?.at ?? 0) >= finishedAt, 'it ran only after the answer was yes')
})

t.test('without a way to ask, a task with a gap still runs after the hold', async (t) => {
  const serial = new KeyedSerial()
  t.teardown(() => serial.close())
  const ran: number[] = []
  await serial.run('k', { epoch: 'e', n: 1 }, async () => ran.push(1))
  await serial.run('k', { epoch: 'e', n: 3, prev: 'job-2' }, async () => ran.push(3))
  t.same(ran, [1, 3], 'nothing waits forever for an event that never comes')
})
