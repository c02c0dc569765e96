// Hostile numbers: every number that reaches the core from Node is range-checked there and refused with the
// library's own error (COZE_INVALID_ARGUMENT naming the parameter), never a panic ("Panic in async function").
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { Client, CozeError, OAuthApp, cozeAxiosAdapter } from 'cozefallback'
import { startMock } from './mock.mjs'

const HOSTILE = [0, -1, NaN, Infinity, -Infinity, 1e30, 2 ** 64]

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

function refused(name) {
  return (e) => {
    assert.ok(e instanceof CozeError, `a CozeError, got ${e && e.stack}`)
    assert.equal(e.code, 'COZE_INVALID_ARGUMENT', e.message)
    assert.ok(e.message.startsWith(`${name} must be`), e.message)
    assert.doesNotMatch(e.message, /panic/i)
    return true
  }
}

test('timeoutMs: 0, -1, NaN, ±Infinity, 1e30 and 2**64 are refused by every call that takes it', async () => {
  const client = new Client(mock.patConfig())
  const bot = `/v1/bots/${mock.info.bots[0]}`
  const chat = { bot_id: mock.info.bots[0], user_id: 'u', stream: true, additional_messages: [{ role: 'user', content: 'hi', content_type: 'text' }] }
  for (const timeoutMs of HOSTILE) {
    const label = `timeoutMs=${timeoutMs}`
    await assert.rejects(client.request('GET', bot, { timeoutMs }), refused('timeoutMs'), label)
    await assert.rejects(client.get(bot, { timeoutMs }), refused('timeoutMs'), label)
    await assert.rejects(client.post('/v3/chat', { ...chat, stream: false }, { timeoutMs }), refused('timeoutMs'), label)
    await assert.rejects(client.upload('/v1/files/upload', Buffer.from('x'), { timeoutMs }), refused('timeoutMs'), label)
    const stream = client.stream('POST', '/v3/chat', { json: chat, timeoutMs })
    await assert.rejects(stream.open(), refused('timeoutMs'), label)
    await assert.rejects((async () => {
      for await (const _ of stream) assert.fail('no event from a refused stream')
    })(), refused('timeoutMs'), label)
  }
  // Nothing was sent, and the client still works with a sane value (and at the one-day maximum).
  assert.equal((await mock.stats()).requests.total, 0)
  assert.equal((await client.get(bot, { timeoutMs: 5000 })).status, 200)
  assert.equal((await client.get(bot, { timeoutMs: 86_400_000 })).status, 200)
  await assert.rejects(client.get(bot, { timeoutMs: 86_400_001 }), refused('timeoutMs'))
  client.close()
})

test('the axios adapter: a hostile axios timeout is refused the same way (0 keeps meaning "none")', async () => {
  const client = new Client(mock.patConfig())
  const adapter = cozeAxiosAdapter(client)
  const url = `${mock.base}/v1/bots/${mock.info.bots[0]}`
  for (const timeout of HOSTILE.filter((t) => t !== 0)) {
    await assert.rejects(adapter({ method: 'get', url, timeout }), refused('timeoutMs'), `timeout=${timeout}`)
  }
  const r = await adapter({ method: 'get', url, timeout: 0 })
  assert.equal(r.status, 200)
  client.close()
})

test('waitDeviceToken: expiresIn and interval are checked in the core', async () => {
  const app = new OAuthApp({ baseUrl: mock.base, clientId: mock.info.oauth_client_id })
  const device = await app.deviceCode()
  const plain = { deviceCode: device.deviceCode, userCode: device.userCode, verificationUri: device.verificationUri }
  for (const bad of HOSTILE) {
    await assert.rejects(app.waitDeviceToken({ ...plain, expiresIn: bad, interval: 1 }), refused('expiresIn'), `expiresIn=${bad}`)
    await assert.rejects(app.waitDeviceToken({ ...plain, expiresIn: 60, interval: bad }), refused('interval'), `interval=${bad}`)
  }
  await assert.rejects(app.waitDeviceToken({ ...plain, expiresIn: 60, interval: 1.5 }), refused('interval'))
  await assert.rejects(app.waitDeviceToken({ ...plain, expiresIn: 60 }), refused('interval'), 'a missing interval')
  // Sane values still work: approve, then wait.
  await mock.approveDevice({ user_code: device.userCode })
  const token = await app.waitDeviceToken(device)
  assert.ok(token.accessToken)
})

test('numbers inside the config are refused as COZE_CONFIG naming the field, never a panic', () => {
  const fields = [
    ['timeouts', 'total_ms'],
    ['timeouts', 'connect_ms'],
    ['retry', 'max_retries'],
    ['retry', 'base_delay_ms'],
    ['fallback', 'sticky_ttl_secs'],
  ]
  for (const [section, key] of fields) {
    for (const bad of [-1, 1e30, 2 ** 64, 0.5]) {
      const config = mock.patConfig({ [section]: { [key]: bad } })
      assert.throws(() => new Client(config), (e) => {
        assert.ok(e instanceof CozeError, `${section}.${key}=${bad}: ${e && e.stack}`)
        assert.equal(e.code, 'COZE_CONFIG', `${section}.${key}=${bad}: ${e.message}`)
        assert.equal(e.field, `${section}.${key}`)
        assert.doesNotMatch(e.message, /panic/i)
        return true
      })
    }
  }
})
