// An AbortSignal that fires in the middle of a stream makes `for await` throw COZE_CANCELLED (not end as if the
// stream had finished), promptly, against a slow stream from the mock.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { Client, CozeError } from 'cozefallback'
import { startMock } from './mock.mjs'

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

const GAP_MS = 300

const chat = () => ({
  bot_id: mock.info.bots[0],
  user_id: 'user-1',
  stream: true,
  additional_messages: [{ role: 'user', content: 'hi', content_type: 'text' }],
})

function cancelled(e) {
  assert.ok(e instanceof CozeError, `a CozeError, got ${e && e.stack}`)
  assert.equal(e.code, 'COZE_CANCELLED', e.message)
  assert.equal(e.kind, 'cancelled')
  return true
}

async function slowStream() {
  await mock.state({ faults: [{ path: '/v3/chat', action: { type: 'slow_stream', gap_ms: GAP_MS } }] })
}

test('aborting in the middle of a stream: for await throws COZE_CANCELLED at once', async () => {
  const client = new Client(mock.patConfig())
  await slowStream()
  const controller = new AbortController()
  const stream = client.stream('POST', '/v3/chat', { json: chat(), signal: controller.signal })
  const seen = []
  let abortedAt = 0
  await assert.rejects(
    (async () => {
      for await (const ev of stream) {
        seen.push(ev.event)
        if (seen.length === 2) {
          abortedAt = performance.now()
          controller.abort()
        }
      }
    })(),
    cancelled,
  )
  const took = performance.now() - abortedAt
  assert.equal(seen.length, 2, `events after the abort: ${seen}`)
  assert.ok(took < GAP_MS, `the loop ended ${took} ms after the abort: it waited for the next event`)
  // The stream stays cancelled: asking again rejects again, it never turns into a normal end.
  await assert.rejects(stream.next(), cancelled)
  // The client is unharmed.
  await mock.reset()
  assert.equal((await client.get(`/v1/bots/${mock.info.bots[0]}`)).status, 200)
  client.close()
})

test('an abort while next() is pending rejects that next()', async () => {
  const client = new Client(mock.patConfig())
  await slowStream()
  const stream = client.stream('POST', '/v3/chat', { json: chat(), signal: AbortSignal.timeout(GAP_MS + GAP_MS / 2) })
  const first = await stream.next()
  assert.equal(first.done, false)
  const started = performance.now()
  // The second event comes GAP_MS after the first; the signal fires halfway through the wait after it.
  const events = [first.value]
  await assert.rejects(
    (async () => {
      for (;;) {
        const r = await stream.next()
        if (r.done) assert.fail('the stream ended instead of being cancelled')
        events.push(r.value)
      }
    })(),
    cancelled,
  )
  assert.ok(events.length < 4, `${events.length} events: the abort did not stop the stream`)
  assert.ok(performance.now() - started < 3 * GAP_MS, 'the pending next() rejected at the abort')
  client.close()
})

test('an abort before the head rejects with COZE_CANCELLED; an abort after the end changes nothing', async () => {
  const client = new Client(mock.patConfig())
  await mock.state({ faults: [{ path: '/v3/chat', action: { type: 'latency', ms: 2000 } }] })
  const early = client.stream('POST', '/v3/chat', { json: chat(), signal: AbortSignal.timeout(100) })
  await assert.rejects((async () => {
    for await (const _ of early) assert.fail('no event')
  })(), cancelled)
  // Iterating an aborted stream later still reports the abort (not an empty stream).
  await assert.rejects(early.next(), cancelled)
  await mock.reset()
  const controller = new AbortController()
  const done = client.stream('POST', '/v3/chat', { json: chat(), signal: controller.signal })
  const events = []
  for await (const ev of done) events.push(ev.event)
  assert.equal(events.at(-1), 'done')
  controller.abort()
  assert.deepEqual(await done.next(), { done: true, value: undefined })
  // close() (or leaving the loop) is not an abort: a closed stream is simply done.
  const closed = client.stream('POST', '/v3/chat', { json: chat(), signal: new AbortController().signal })
  for await (const _ of closed) break
  assert.deepEqual(await closed.next(), { done: true, value: undefined })
  client.close()
})
