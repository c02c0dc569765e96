// err.previous (the first credential's error when both failed) carries its own attempt count.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Client, CozeError } from 'cozefallback'
import { startMock } from './mock.mjs'

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())

test('err.previous.attempts counts the first credential\'s round trips (retries included)', async () => {
  const client = new Client(mock.patConfig())
  // Not found with both credentials: one round trip each.
  await assert.rejects(client.get('/v1/bots/7359999999999999999'), (e) => {
    assert.ok(e instanceof CozeError)
    assert.equal(e.attempts, 2)
    assert.equal(e.previous.credential, 'personal')
    assert.equal(e.previous.attempts, 1)
    return true
  })
  // The personal credential is retried once after a 502, then falls back.
  await mock.state({ faults: [{ path: '/v1/bots/', credential: 'personal', times: 1, action: { type: 'http', http_status: 502 } }] })
  await assert.rejects(client.get('/v1/bots/7359999999999999999'), (e) => {
    assert.equal(e.attempts, 3)
    assert.equal(e.credential, 'enterprise')
    assert.equal(e.previous.attempts, 2)
    assert.equal(e.cause.attempts, 2)
    return true
  })
  client.close()
})
