// The serialised forms of docs/FORMS.md as Node sees them: every key of the core's error JSON reaches the
// CozeError under its documented name with its value; the response metadata comes from the core's meta; the
// @coze/api adapter's stream bytes are the core's SSE framing.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { Client, CozeError, cozeAxiosInstance } from 'cozefallback'
import { startMock, repoRoot } from './mock.mjs'

const require = createRequire(import.meta.url)
// The installed package's native module (its `exports` hide the file; a path reaches it).
const native = require(path.join(path.dirname(require.resolve('cozefallback/package.json')), 'binding.js'))

/** ERROR_JSON_KEYS as the core declares it (core/src/forms.rs), so a key the core adds fails this test. */
function coreErrorKeys() {
  const src = fs.readFileSync(path.join(repoRoot, 'core', 'src', 'forms.rs'), 'utf8')
  const list = src.match(/pub const ERROR_JSON_KEYS: &\[&str\] = &\[([\s\S]*?)\];/)
  assert.ok(list, 'ERROR_JSON_KEYS not found in core/src/forms.rs')
  return [...list[1].matchAll(/"([a-z_]+)"/g)].map((m) => m[1])
}

/** The Node name of each key, as the table "Names in every language" of docs/FORMS.md gives it. */
const NODE_NAMES = {
  kind: 'kind',
  message: 'message',
  code: 'cozeCode',
  coze_message: 'cozeMessage',
  http_status: 'httpStatus',
  logid: 'logid',
  credential: 'credential',
  attempts: 'attempts',
  field: 'field',
  authorize_url: 'authorizeUrl',
  oauth_error: 'oauthError',
  events_delivered: 'eventsDelivered',
  conversation_id: 'conversationId',
  file_id: 'fileId',
  conversation_owner: 'conversationOwner',
  bot_credential: 'botCredential',
  response: 'response',
  previous: 'previous',
}

/** Asserts that every key of `raw` (the native JSON) is on `err` under its Node name, with the same value. */
function assertSameError(err, raw, keys, where) {
  assert.ok(err instanceof CozeError, `${where}: not a CozeError`)
  // serde_json writes object keys sorted, not in ERROR_JSON_KEYS order: compare them as sets.
  const sent = Object.keys(raw).filter((k) => k !== 'cozefallback_error')
  assert.deepEqual([...sent].sort(), [...keys].sort(), `${where}: native JSON keys`)
  for (const key of keys) {
    const name = NODE_NAMES[key]
    assert.ok(name, `${where}: no documented Node name for the core key ${key}`)
    assert.ok(name in err, `${where}: err.${name} (core key ${key}) is missing`)
    if (key === 'previous') {
      if (raw.previous === null) assert.equal(err.previous, null, `${where}: err.previous`)
      else assertSameError(err.previous, raw.previous, keys, `${where}.previous`)
    } else {
      assert.deepEqual(err[name], raw[key], `${where}: err.${name} (core key ${key})`)
    }
  }
  assert.equal(err.code, 'COZE_' + raw.kind.toUpperCase(), `${where}: err.code is the string constant`)
}

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

const MISSING_BOT = '/v1/bots/7359999999999999999'

function chatBody() {
  return { bot_id: mock.info.bots[0], user_id: 'u', stream: true, additional_messages: [{ role: 'user', content: 'hi', content_type: 'text' }] }
}

test('every key of the core error JSON reaches the CozeError with its documented name and value', async () => {
  const keys = coreErrorKeys()
  assert.deepEqual(Object.keys(NODE_NAMES), keys, 'the Node name table lists exactly the core keys, in order')
  const config = mock.patConfig()
  const nc = new native.NativeClient(JSON.stringify(config))
  let thrown
  try {
    await nc.request({ method: 'GET', path: MISSING_BOT })
  } catch (e) {
    thrown = e
  }
  nc.close()
  assert.ok(thrown, 'the native request should fail: the bot exists with neither credential')
  const raw = JSON.parse(thrown.message)
  assert.equal(raw.cozefallback_error, true)
  // A real failure with the facts the test is about: both credentials failed with an API error.
  assert.equal(raw.kind, 'api')
  assert.equal(typeof raw.code, 'number')
  assert.equal(typeof raw.coze_message, 'string')
  assert.equal(typeof raw.logid, 'string')
  assert.equal(raw.credential, 'enterprise')
  assert.equal(raw.attempts, 2)
  assert.equal(raw.previous.credential, 'personal')
  assert.equal(raw.response.status, raw.http_status)
  assert.equal(JSON.parse(raw.response.body).code, raw.code)
  for (const secret of [config.personal.token, config.enterprise.token]) {
    assert.ok(!thrown.message.includes(secret), 'a token shows in the error JSON')
  }
  // The JS error built from that JSON: every key, none dropped, none renamed but `code`.
  assertSameError(new CozeError(raw), raw, keys, 'err')
})

test('a failed call through the Client carries the same facts', async () => {
  const client = new Client(mock.patConfig())
  await assert.rejects(client.get(MISSING_BOT), (e) => {
    assert.ok(e instanceof CozeError)
    assert.equal(e.code, 'COZE_API')
    assert.equal(e.kind, 'api')
    const body = JSON.parse(e.response.body)
    assert.equal(e.cozeCode, body.code)
    assert.equal(e.cozeMessage, body.msg)
    assert.equal(e.httpStatus, e.response.status)
    const logHeader = e.response.headers.find(([k]) => k.toLowerCase() === 'x-tt-logid')
    assert.ok(logHeader, 'the failed answer has an X-Tt-Logid header')
    assert.equal(e.logid, logHeader[1])
    assert.equal(e.credential, 'enterprise')
    assert.equal(e.attempts, 2)
    assert.equal(e.previous.credential, 'personal')
    assert.equal(e.previous.attempts, 1)
    assert.equal(e.previous.code, 'COZE_API')
    assert.equal(e.previous.cozeCode, JSON.parse(e.previous.response.body).code)
    assert.equal(e.field, null)
    assert.equal(e.eventsDelivered, 0)
    return true
  })
  client.close()
})

test('a hand-built CozeError has every documented property (null or 0 when absent)', () => {
  const err = new CozeError({ kind: 'invalid_argument', message: 'bad' })
  assert.equal(err.code, 'COZE_INVALID_ARGUMENT')
  assert.equal(err.message, 'bad')
  for (const [key, name] of Object.entries(NODE_NAMES)) {
    if (key === 'kind' || key === 'message') continue
    assert.ok(name in err, `err.${name}`)
  }
  assert.equal(err.attempts, 0)
  assert.equal(err.eventsDelivered, 0)
  assert.equal(err.cozeCode, null)
  assert.equal(err.previous, null)
})

test('response and stream metadata come from the core (status, credential, attempts, logid)', async () => {
  const client = new Client(mock.patConfig())
  const r = await client.get('/v1/bots/' + mock.info.bots[0])
  assert.equal(r.status, 200)
  assert.ok(r.credential === 'personal' || r.credential === 'enterprise')
  assert.equal(r.attempts, 1)
  assert.equal(r.logid, r.headers['x-tt-logid'])
  assert.equal(r.conversationMoved, null)
  const stream = client.stream('POST', '/v3/chat', { json: chatBody() })
  await stream.open()
  assert.equal(stream.status, 200)
  assert.equal(stream.attempts, 1)
  assert.equal(stream.logid, stream.headers['x-tt-logid'])
  assert.ok(stream.credential === 'personal' || stream.credential === 'enterprise')
  const events = []
  for await (const ev of stream) events.push(ev)
  assert.ok(events.length > 1)
  client.close()
})

test('the axios adapter hands the SDK the core\'s SSE text, which parses back to the client\'s events', async () => {
  const client = new Client(mock.patConfig())
  const body = chatBody()
  const events = []
  for await (const ev of client.stream('POST', '/v3/chat', { json: body })) events.push(ev)
  const instance = cozeAxiosInstance(client)
  const res = await instance({ method: 'POST', url: mock.base + '/v3/chat', data: body, responseType: 'stream' })
  assert.equal(res.status, 200)
  const chunks = []
  for await (const c of res.data) chunks.push(c)
  const text = Buffer.concat(chunks).toString('utf8')
  const expected = events
    .map((ev) => (ev.id != null ? `id:${ev.id}\n` : '') + `event:${ev.event}\n` + ev.data.split('\n').map((l) => `data:${l}\n`).join('') + '\n')
    .join('')
  // The mock's chat ids differ per call: compare with them masked.
  const mask = (s) => s.replace(/\d{6,}/g, 'N')
  assert.equal(mask(text), mask(expected))
  client.close()
})
