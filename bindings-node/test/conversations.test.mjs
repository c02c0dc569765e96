// Conversations started before the move keep working after it (docs/CONVERSATIONS.md), as a Node user sees it:
// COZE_CONVERSATION_STRANDED and its properties, conversationMoved on answers and streams, the
// onConversationMoved callback (a throwing one, removing it, not keeping the process alive), and
// mapConversation after a restart.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client, CozeError, ErrorCodes } from 'cozefallback'
import { startMock } from './mock.mjs'

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

const chat = (content, stream = false) => ({
  bot_id: mock.info.bots[0],
  user_id: 'user-1',
  stream,
  additional_messages: [{ role: 'user', content, content_type: 'text' }],
})

/** Starts a conversation with the personal credential (one question, one answer), then moves the workspace. */
async function strandedConversation(client) {
  const r = await client.post('/v3/chat', chat('hello before the move'))
  assert.equal(r.credential, 'personal')
  const conv = r.json().data.conversation_id
  assert.equal(typeof conv, 'string')
  await mock.state({ moved: true })
  return conv
}

/** A chat naming conversation `conv`. */
const chatIn = (client, conv, content = 'after the move') => client.post('/v3/chat', chat(content), { query: { conversation_id: conv } })

/** Waits (at most 2 s) until `list` holds `n` entries. */
async function waitForLength(list, n) {
  for (let i = 0; i < 200 && list.length < n; i++) await sleep(10)
  return list
}

test('on_stranded "error": COZE_CONVERSATION_STRANDED names the conversation, its owner and the bot credential', async () => {
  const client = new Client(mock.patConfig({ conversations: { on_stranded: 'error' } }))
  const conv = await strandedConversation(client)
  const err = await chatIn(client, conv).then(() => assert.fail('the stranded chat succeeded'), (e) => e)
  assert.ok(err instanceof CozeError, `expected a CozeError, got ${err}`)
  assert.equal(err.code, 'COZE_CONVERSATION_STRANDED')
  assert.equal(err.code, ErrorCodes.CONVERSATION_STRANDED)
  assert.equal(err.kind, 'conversation_stranded')
  assert.equal(err.conversationId, conv)
  assert.equal(err.fileId, null)
  assert.equal(err.conversationOwner, 'personal')
  assert.equal(err.botCredential, 'enterprise')
  // The core's message: what happened and what to do.
  assert.match(err.message, new RegExp(`conversation ${conv} belongs to the personal credential`))
  assert.match(err.message, /conversations\.on_stranded/)
  assert.ok(err.previous instanceof CozeError, 'the API error that revealed it is kept as previous')
  assert.equal(err.previous.code, 'COZE_API')
  // Nothing was created.
  assert.equal((await mock.stats()).requests.by_path['/v1/conversation/create'] ?? 0, 0)
  client.close()
})

test('an error of another kind has null conversation properties', async () => {
  const client = new Client(mock.patConfig())
  const err = await client.get('/v1/bots/no-such-bot').then(() => assert.fail('no error'), (e) => e)
  assert.ok(err instanceof CozeError)
  assert.notEqual(err.code, 'COZE_CONVERSATION_STRANDED')
  for (const key of ['conversationId', 'fileId', 'conversationOwner', 'botCredential']) assert.equal(err[key], null, key)
  client.close()
})

test('a file uploaded with the personal credential: COZE_CONVERSATION_STRANDED names the file', async () => {
  const client = new Client(mock.patConfig())
  const up = await client.upload('/v1/files/upload', { filename: 'a.txt', data: Buffer.from('hello') })
  const fileId = up.json().data.id
  await mock.state({ moved: true })
  const body = { ...chat(''), additional_messages: [{ role: 'user', content: JSON.stringify([{ type: 'file', file_id: fileId }]), content_type: 'object_string' }] }
  const err = await client.post('/v3/chat', body).then(() => assert.fail('no error'), (e) => e)
  assert.equal(err.code, 'COZE_CONVERSATION_STRANDED')
  assert.equal(err.fileId, fileId)
  assert.equal(err.conversationOwner, 'personal')
  assert.equal(err.botCredential, 'enterprise')
  assert.match(err.message, /upload the file again/)
  client.close()
})

test('carry-over: the answer reports conversationMoved and the callback gets (from, to, messagesCopied)', async () => {
  const calls = []
  const client = new Client(mock.patConfig(), { onConversationMoved: (...args) => calls.push(args) })
  const conv = await strandedConversation(client)
  const r = await chatIn(client, conv)
  assert.equal(r.credential, 'enterprise')
  const moved = r.conversationMoved
  assert.ok(moved, 'conversationMoved is set')
  assert.equal(moved.from, conv)
  assert.equal(typeof moved.to, 'string')
  assert.notEqual(moved.to, conv)
  assert.equal(moved.messagesCopied, 2, 'the question and the answer were copied')
  assert.deepEqual(JSON.parse(JSON.stringify(moved)), { from: conv, to: moved.to, messagesCopied: 2 })
  assert.equal(r.json().data.conversation_id, moved.to, 'the chat was answered in the new conversation')
  assert.deepEqual(await waitForLength(calls, 1), [[conv, moved.to, 2]])
  assert.equal(client.mappedConversation(conv), moved.to)
  assert.equal(client.mappedConversation('7480000000000000999'), null)

  // Later calls on the old id go straight to the new conversation: no move reported, the callback not called.
  const again = await chatIn(client, conv, 'and again')
  assert.equal(again.conversationMoved, null)
  assert.equal(again.attempts, 1)
  assert.equal(again.json().data.conversation_id, moved.to)
  await sleep(100)
  assert.equal(calls.length, 1)
  client.close()
})

test('a callback that throws becomes a process warning; the call still succeeds and the process lives on', async () => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  let called = 0
  const client = new Client(mock.patConfig())
  try {
    client.onConversationMoved(() => {
      called++
      throw new Error('the store is down')
    })
    const conv = await strandedConversation(client)
    const r = await chatIn(client, conv)
    assert.equal(r.conversationMoved?.from, conv)
    for (let i = 0; i < 200 && warnings.length === 0; i++) await sleep(10)
  } finally {
    process.off('warning', onWarning)
    client.close()
  }
  assert.equal(called, 1)
  assert.ok(warnings.some((w) => /onConversationMoved callback threw: the store is down/.test(w.message)), `warnings: ${warnings.map((w) => w.message)}`)
})

test('onConversationMoved(null) removes the callback; a non-function is a TypeError', async () => {
  const calls = []
  const client = new Client(mock.patConfig())
  client.onConversationMoved((...args) => calls.push(args))
  client.onConversationMoved(null)
  const conv = await strandedConversation(client)
  const r = await chatIn(client, conv)
  assert.ok(r.conversationMoved, 'the conversation was carried over')
  await sleep(200)
  assert.deepEqual(calls, [], 'the removed callback was called')
  assert.throws(() => client.onConversationMoved('store it'), (e) => e instanceof TypeError && /callback must be a function or null/.test(e.message))
  assert.throws(() => new Client(mock.patConfig(), { onConversationMoved: 42 }), TypeError)
  assert.throws(() => new Client(mock.patConfig(), { onConversationMove: () => {} }), /unknown Client option `onConversationMove`; known: onConversationMoved/)
  assert.throws(() => new Client(mock.patConfig(), 'options'), /options must be an object/)
  client.close()
})

test('mapConversation after a restart: the stored mapping sends the old id to the new conversation, nothing carried again', async () => {
  // The app stores each move the callback reports.
  const store = new Map()
  const config = mock.patConfig()
  const before = new Client(config, { onConversationMoved: (from, to) => store.set(from, to) })
  const conv = await strandedConversation(before)
  const first = await chatIn(before, conv)
  for (let i = 0; i < 200 && store.size === 0; i++) await sleep(10)
  assert.equal(store.get(conv), first.conversationMoved.to)
  before.close()
  const createsBefore = (await mock.stats()).requests.by_path['/v1/conversation/create']

  // The restart: a new client knows nothing until the app preloads what it stored.
  const after = new Client(config)
  assert.equal(after.mappedConversation(conv), null)
  for (const [from, to] of store) after.mapConversation(from, to)
  assert.equal(after.mappedConversation(conv), store.get(conv))
  const r = await chatIn(after, conv, 'after the restart')
  assert.equal(r.credential, 'enterprise')
  // The new client does not know yet that the bot moved: personal may be tried first, as for any call after the
  // move. What matters is that no conversation is probed, listed or created again.
  assert.ok(r.attempts <= 2, `at most one refused try before the answer, got ${r.attempts} attempts`)
  assert.equal(r.conversationMoved, null, 'a mapped call reports no move')
  assert.equal(r.json().data.conversation_id, store.get(conv))
  const stats = await mock.stats()
  assert.equal(stats.requests.by_path['/v1/conversation/create'], createsBefore, 'nothing was carried over again')
  assert.equal(stats.requests.by_path['/v1/conversation/message/list'], 1, 'the messages were listed once, by the first client')
  assert.equal(stats.requests.by_path['/v1/conversation/retrieve'] ?? 0, 0, 'no probe')
  after.close()
})

test('mapConversation refuses bad input with a clear error', () => {
  const client = new Client(mock.patConfig())
  for (const [args, pattern] of [
    [[42, 'b'], /mapConversation: `from` must be a conversation id \(a string\), got number/],
    [['a', null], /mapConversation: `to` must be a conversation id \(a string\), got null/],
    [[undefined, 'b'], /`from` must be a conversation id \(a string\), got undefined/],
  ]) {
    assert.throws(() => client.mapConversation(...args), (e) => e instanceof TypeError && pattern.test(e.message), String(pattern))
  }
  assert.throws(() => client.mapConversation('', '7480000000000000002'), (e) => {
    assert.ok(e instanceof CozeError)
    assert.equal(e.code, 'COZE_INVALID_ARGUMENT')
    assert.match(e.message, /`from` must be a conversation id, got an empty string/)
    return true
  })
  assert.throws(() => client.mapConversation('7480000000000000001', '  '), (e) => e.code === 'COZE_INVALID_ARGUMENT' && /`to` must be a conversation id/.test(e.message))
  assert.throws(() => client.mapConversation('7480000000000000001', '7480000000000000001'), (e) => e.code === 'COZE_INVALID_ARGUMENT' && /are the same id \(7480000000000000001\)/.test(e.message))
  assert.throws(() => client.mappedConversation(7), TypeError)
  client.close()
  assert.throws(() => client.mapConversation('7480000000000000001', '7480000000000000002'), (e) => e.code === 'COZE_INVALID_ARGUMENT' && /closed/.test(e.message))
  assert.throws(() => client.onConversationMoved(() => {}), (e) => e.code === 'COZE_INVALID_ARGUMENT' && /closed/.test(e.message))
})

test('a stream on a stranded conversation reports conversationMoved before its first event', async () => {
  const calls = []
  const client = new Client(mock.patConfig(), { onConversationMoved: (...args) => calls.push(args) })
  const conv = await strandedConversation(client)
  // No open(): the first event is the first thing the caller sees.
  const stream = client.stream('POST', '/v3/chat', { json: chat('streamed after the move', true), query: { conversation_id: conv } })
  assert.equal(stream.conversationMoved, null, 'nothing is known before the stream opened')
  const seen = []
  for await (const ev of stream) {
    if (seen.length === 0) {
      const moved = stream.conversationMoved
      assert.ok(moved, 'conversationMoved is set when the first event arrives')
      assert.equal(moved.from, conv)
      assert.notEqual(moved.to, conv)
      assert.equal(moved.messagesCopied, 2)
      assert.equal(JSON.parse(ev.data).conversation_id, moved.to, 'the first event already comes from the new conversation')
    }
    seen.push(ev.event)
  }
  assert.equal(stream.credential, 'enterprise')
  assert.equal(seen[0], 'conversation.chat.created')
  assert.equal(seen.at(-1), 'done')
  assert.deepEqual(await waitForLength(calls, 1), [[conv, stream.conversationMoved.to, 2]])

  // A stream with nothing to move reports null.
  const plain = await client.stream('POST', '/v3/chat', { json: chat('a new conversation', true) }).open()
  assert.equal(plain.conversationMoved, null)
  plain.close()
  client.close()
})

// A child process: a client with an onConversationMoved callback, one carry-over, and no close(). It must exit by
// itself: the callback does not keep the event loop alive.
const CHILD = `
const { Client } = require('cozefallback')
const [config, body] = process.argv.slice(1).map((a) => JSON.parse(a))
;(async () => {
  const calls = []
  const client = new Client(config, { onConversationMoved: (from, to) => calls.push([from, to]) })
  const first = await client.post('/v3/chat', body)
  const conv = first.json().data.conversation_id
  await fetch(config.base_url + '/__mock/state', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"moved":true}' })
  const r = await client.post('/v3/chat', body, { query: { conversation_id: conv } })
  await new Promise((resolve) => setTimeout(resolve, 100))
  console.log(JSON.stringify({ moved: r.conversationMoved, calls }))
})()
`

test('the callback does not keep the process alive', async () => {
  const started = performance.now()
  const out = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', CHILD, JSON.stringify(mock.patConfig()), JSON.stringify(chat('hi'))], { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`the child did not exit by itself: ${err.message}\n${stderr}`))
      resolve(JSON.parse(stdout.trim().split('\n').pop()))
    })
  })
  assert.ok(out.moved, `the child's chat was carried over: ${JSON.stringify(out)}`)
  assert.deepEqual(out.calls, [[out.moved.from, out.moved.to]])
  assert.ok(performance.now() - started < 30000)
})
