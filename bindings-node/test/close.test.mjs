// client.close() cancels what is in flight: against a mock that never answers, close() returns at once, the call
// rejects with COZE_CANCELLED within a second, an open stream ends with COZE_CANCELLED, later calls are refused.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client, CozeError } from 'cozefallback'
import { startMock } from './mock.mjs'

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

test('close() cancels a call in flight (COZE_CANCELLED within 1 s) and refuses later calls', async () => {
  await mock.state({ faults: [{ path: '/v1/', action: { type: 'hang' } }] })
  const client = new Client(mock.patConfig())
  const settled = client.get('/v1/workspaces').then(() => 'answered', (e) => e)
  await sleep(300)
  const started = performance.now()
  client.close()
  assert.ok(performance.now() - started < 100, 'close() returns at once')
  const err = await Promise.race([settled, sleep(1000).then(() => 'still pending')])
  assert.ok(err instanceof CozeError, `the call ended with ${err}`)
  assert.equal(err.code, 'COZE_CANCELLED')
  assert.match(err.message, /closed/)
  assert.equal(client.closed, true)
  await assert.rejects(client.get('/v1/workspaces'), (e) => e.code === 'COZE_INVALID_ARGUMENT')
})

test('close() ends an open stream with COZE_CANCELLED', async () => {
  const client = new Client(mock.patConfig())
  const stream = await client.stream('POST', '/v3/chat', {
    json: { bot_id: mock.info.bots[0], user_id: 'u1', stream: true, additional_messages: [{ role: 'user', content: 'hi', content_type: 'text' }] },
  })
  const it = stream[Symbol.asyncIterator]()
  assert.equal((await it.next()).done, false)
  client.close()
  await assert.rejects(async () => {
    for (;;) if ((await it.next()).done) break
  }, (e) => e.code === 'COZE_CANCELLED')
})
