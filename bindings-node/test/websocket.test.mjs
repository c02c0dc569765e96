// The realtime WebSocket session of the Node binding: client.websocket(path, {query}) with send, for await and
// close, against the mock: before and after the move, the error-first fallback with the held events replayed,
// refused handshakes, a 403 without a Coze code (not a fallback), breaks, aborts and closes.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { Client, CozeError, WebSocketSession } from 'cozefallback'
import { startMock } from './mock.mjs'

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

const update = { id: 'e1', event_type: 'chat.update', data: { chat_config: { user_id: 'user-1' } } }
const message = { id: 'e2', event_type: 'conversation.message.create', data: { role: 'user', content_type: 'text', content: 'hi' } }
const CHAT = [
  'chat.created',
  'chat.updated',
  'conversation.chat.created',
  'conversation.chat.in_progress',
  'conversation.message.delta',
  'conversation.message.delta',
  'conversation.message.delta',
  'conversation.message.completed',
  'conversation.chat.completed',
]

/** Sends the chat's two events without awaiting them (their order must hold) and reads to the completion. */
async function chat(session) {
  const sent = [session.send(update), session.send(message)]
  const events = []
  for await (const ev of session) {
    events.push(ev)
    if (ev.event_type === 'conversation.chat.completed') break
  }
  await Promise.all(sent)
  return events
}

const sessions = async () => (await mock.stats()).websocket.sessions

test('before the move: the personal credential serves; events are the server objects', async () => {
  const client = new Client(mock.patConfig())
  const session = await client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] } })
  assert.ok(session instanceof WebSocketSession)
  const events = await chat(session)
  assert.deepEqual(events.map((e) => e.event_type), CHAT)
  const delta = events.find((e) => e.event_type === 'conversation.message.delta')
  assert.equal(typeof delta.data.content, 'string')
  assert.equal(typeof delta.id, 'string')
  assert.equal(typeof delta.detail.logid, 'string')
  assert.equal(events.map((e) => (e.data.content_type === 'text' && e.event_type.endsWith('delta') ? e.data.content : '')).join(''), 'hello')
  assert.equal(session.credential, 'personal')
  assert.equal(session.attempts, 1)
  assert.ok(session.logid, 'the handshake answer\'s logid')
  assert.equal(session.eventsDelivered, CHAT.length)
  assert.equal(session.closeCode, null)
  assert.ok(!session.url.includes(mock.info.personal_pat) && !session.url.includes('authorization'), session.url)
  // After the loop was left (break), the session is closed: more reads are done at once.
  assert.deepEqual(await session.next(), { done: true, value: undefined })
  const s = await sessions()
  assert.equal(s.length, 1)
  assert.equal(s[0].credential, 'personal')
  client.close()
})

test('after the move: the first event `error` 4101 falls back and the held events are replayed in order', async () => {
  await mock.state({ moved: true })
  const client = new Client(mock.patConfig())
  const session = await client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] } })
  const events = await chat(session)
  assert.deepEqual(events.map((e) => e.event_type), CHAT, 'the refused connection\'s error never reaches the caller')
  assert.equal(session.credential, 'enterprise')
  assert.equal(session.attempts, 2)
  const [refused, served] = await sessions()
  assert.equal(refused.credential, 'personal')
  assert.equal(refused.outcome, 'refused')
  assert.equal(refused.code, 4101)
  assert.equal(served.credential, 'enterprise')
  assert.deepEqual(served.received.map((r) => r.id), ['e1', 'e2'])
  assert.ok(client.metrics().fallbacks_total >= 1)
  // Sticky: the next session for the bot connects once, with the enterprise credential.
  const again = await client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] } })
  await chat(again)
  assert.equal(again.credential, 'enterprise')
  assert.equal(again.attempts, 1)
  client.close()
})

test('a handshake refused with 401 and code 4100 falls back to the other credential', async () => {
  await mock.state({ moved: true, personal_error_after_move: { code: 4100, http_status: 401 } })
  const client = new Client(mock.patConfig())
  const session = await client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] } })
  assert.equal(session.credential, 'enterprise')
  assert.equal(session.attempts, 2)
  assert.deepEqual((await chat(session)).map((e) => e.event_type), CHAT)
  client.close()
})

test('a handshake refused with 403 and no Coze code is not a fallback: COZE_API with httpStatus 403', async () => {
  await mock.state({ faults: [{ path: '/v1/chat', credential: 'personal', action: { type: 'http', http_status: 403, body: 'Forbidden' } }] })
  const client = new Client(mock.patConfig())
  await assert.rejects(client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] } }), (e) => {
    assert.ok(e instanceof CozeError)
    assert.equal(e.code, 'COZE_API')
    assert.equal(e.httpStatus, 403)
    assert.equal(e.credential, 'personal')
    assert.equal(e.attempts, 1)
    assert.ok(!e.message.includes(mock.info.personal_pat))
    return true
  })
  const stats = await mock.stats()
  assert.equal(stats.websocket.by_credential.enterprise ?? 0, 0, 'the enterprise credential was not tried')
  client.close()
})

test('both credentials refuse: the last error, with the first as previous', async () => {
  const client = new Client(mock.patConfig())
  const session = await client.websocket('/v1/chat', { query: { bot_id: '7359999999999999999' } })
  session.send(update)
  await assert.rejects(session.next(), (e) => {
    assert.ok(e instanceof CozeError, String(e))
    assert.equal(e.credential, 'enterprise')
    assert.equal(e.previous?.credential, 'personal')
    return true
  })
  await session.close()
  client.close()
})

test('a break after the first event is COZE_STREAM_INTERRUPTED with the count, nothing replayed', async () => {
  await mock.state({ faults: [{ path: '/v1/chat', action: { type: 'close_session', after_events: 3, code: 1011, reason: 'server overloaded' } }] })
  const client = new Client(mock.patConfig())
  const session = await client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] } })
  const seen = []
  await assert.rejects(
    (async () => {
      session.send(update)
      session.send(message)
      for await (const ev of session) seen.push(ev.event_type)
    })(),
    (e) => {
      assert.equal(e.code, 'COZE_STREAM_INTERRUPTED')
      assert.equal(e.eventsDelivered, 3)
      assert.match(e.message, /1011/)
      return true
    },
  )
  assert.equal(seen.length, 3)
  assert.equal(session.closeCode, 1011)
  assert.equal(session.closeReason, 'server overloaded')
  assert.equal((await mock.stats()).websocket.handshakes, 1, 'no reconnection after the first event')
  await session.close()
  client.close()
})

test('a silent server: COZE_TIMEOUT within the idle timeout, not a fallback', async () => {
  await mock.state({ faults: [{ path: '/v1/chat', action: { type: 'slow_stream', gap_ms: 1500 } }] })
  const client = new Client(mock.patConfig({ timeouts: { idle_ms: 300 } }))
  const session = await client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] } })
  session.send(update)
  const started = Date.now()
  await assert.rejects(session.next(), (e) => e.code === 'COZE_TIMEOUT')
  assert.ok(Date.now() - started < 1400, 'bounded by idle_ms')
  assert.equal((await mock.stats()).websocket.by_credential.enterprise ?? 0, 0)
  await session.close()
  client.close()
})

test('close() ends a pending next() (done); send after close is COZE_INVALID_ARGUMENT; close is idempotent', async () => {
  await mock.state({ faults: [{ path: '/v1/chat', action: { type: 'slow_stream', gap_ms: 5000 } }] })
  const client = new Client(mock.patConfig())
  const session = await client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] } })
  await session.send(update)
  const pending = session.next()
  await new Promise((r) => setTimeout(r, 100))
  const started = Date.now()
  await session.close()
  assert.deepEqual(await pending, { done: true, value: undefined })
  assert.ok(Date.now() - started < 3000)
  await assert.rejects(session.send(message), (e) => e.code === 'COZE_INVALID_ARGUMENT' && /closed/.test(e.message))
  await session.close()
  client.close()
})

test('an AbortSignal: before the open rejects COZE_CANCELLED; during a pending next() too', async () => {
  const client = new Client(mock.patConfig())
  await assert.rejects(client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] }, signal: AbortSignal.abort() }), (e) => e.code === 'COZE_CANCELLED')
  await mock.state({ faults: [{ path: '/v1/chat', action: { type: 'slow_stream', gap_ms: 5000 } }] })
  const ac = new AbortController()
  const session = await client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] }, signal: ac.signal })
  session.send(update)
  const pending = session.next()
  setTimeout(() => ac.abort(), 100)
  await assert.rejects(pending, (e) => e.code === 'COZE_CANCELLED')
  await assert.rejects(session.next(), (e) => e.code === 'COZE_CANCELLED', 'later reads reject too')
  client.close()
})

test('client.close() ends a waiting session with COZE_CANCELLED', async () => {
  await mock.state({ faults: [{ path: '/v1/chat', action: { type: 'slow_stream', gap_ms: 5000 } }] })
  const client = new Client(mock.patConfig())
  const session = await client.websocket('/v1/chat', { query: { bot_id: mock.info.bots[0] } })
  session.send(update)
  const pending = session.next()
  setTimeout(() => client.close(), 100)
  await assert.rejects(pending, (e) => e.code === 'COZE_CANCELLED')
  await assert.rejects(client.websocket('/v1/chat'), (e) => e.code === 'COZE_INVALID_ARGUMENT')
})

test('bad input: clear errors, never a crash', async () => {
  const client = new Client(mock.patConfig())
  await assert.rejects(client.websocket(42), TypeError)
  await assert.rejects(client.websocket('/v1/chat', { query: 'bot_id=1' }), TypeError)
  await assert.rejects(client.websocket('/v1/chat', { query: { authorization: 'Bearer x' } }), (e) => e.code === 'COZE_INVALID_ARGUMENT')
  await assert.rejects(client.websocket('wss://elsewhere.example/v1/chat'), (e) => e instanceof CozeError)
  const session = await client.websocket('/v1/audio/speech')
  await assert.rejects(session.send(undefined), TypeError)
  await assert.rejects(session.send([1, 2]), (e) => e.code === 'COZE_INVALID_ARGUMENT' && /object/.test(e.message))
  await assert.rejects(session.sendBinary('text'), TypeError)
  await session.sendBinary(Buffer.from([1, 2, 3]))
  await session.close()
  client.close()
})

test('speech after the move: the error-first fallback works on /v1/audio/speech too', async () => {
  await mock.state({ moved: true })
  const client = new Client(mock.patConfig())
  const session = await client.websocket('/v1/audio/speech')
  session.send({ id: 's1', event_type: 'input_text_buffer.append', data: { delta: 'hello world' } })
  session.send({ id: 's2', event_type: 'input_text_buffer.complete' })
  const names = []
  for await (const ev of session) {
    names.push(ev.event_type)
    if (ev.event_type === 'speech.audio.completed') break
  }
  assert.equal(names[0], 'speech.created')
  assert.ok(names.includes('speech.audio.update'))
  assert.equal(session.credential, 'enterprise')
  client.close()
})
