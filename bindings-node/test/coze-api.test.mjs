// The drop-in for the official SDK: the real @coze/api from npm, its requests (streaming included) sent
// through the fallback client by an axios adapter or an axios-compatible instance. The SDK's token is a
// placeholder the core never sends: the core sets Authorization from its own credentials.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import os from 'node:os'
import { CozeAPI, ChatEventType, WebsocketsEventType } from '@coze/api'
import { Client, cozeAxiosAdapter, cozeAxiosInstance, createWebSocketClass } from 'cozefallback'
import { startMock } from './mock.mjs'

const require = createRequire(import.meta.url)
const SDK_TOKEN = 'pat_sdk_placeholder_never_sent'

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

test('the SDK is the real @coze/api 1.3.x', () => {
  const main = require.resolve('@coze/api') // .../@coze/api/dist/cjs/index.js
  const version = JSON.parse(fs.readFileSync(path.join(path.dirname(main), '..', '..', 'package.json'), 'utf8')).version
  assert.match(version, /^1\.3\./)
})

const message = [{ role: 'user', content: 'hello', content_type: 'text' }]

async function streamEvents(api, bot) {
  const events = []
  for await (const part of await api.chat.stream({ bot_id: bot, user_id: 'user-1', additional_messages: message })) events.push(part)
  return events
}

for (const [how, options] of [
  ['axiosOptions.adapter', (client) => ({ axiosOptions: { adapter: cozeAxiosAdapter(client) } })],
  ['axiosInstance', (client) => ({ axiosInstance: cozeAxiosInstance(client) })],
]) {
  test(`@coze/api via ${how}: chat and streaming chat keep working across the move`, async () => {
    const client = new Client(mock.patConfig())
    const api = new CozeAPI({ baseURL: mock.base, token: SDK_TOKEN, ...options(client) })
    const bot = mock.info.bots[0]

    // Before the move: the personal credential serves.
    const before = await api.chat.create({ bot_id: bot, user_id: 'user-1', additional_messages: message })
    assert.ok(before.id && before.conversation_id)
    let events = await streamEvents(api, bot)
    assert.equal(events[0].event, ChatEventType.CONVERSATION_CHAT_CREATED)
    assert.equal(events.at(-1).event, ChatEventType.DONE)
    assert.ok(events.some((e) => e.event === ChatEventType.CONVERSATION_MESSAGE_DELTA && typeof e.data.content === 'string'))

    // The workspace moves: the same SDK calls keep working, now served by the enterprise credential.
    await mock.state({ moved: true })
    const afterMove = await api.chat.create({ bot_id: bot, user_id: 'user-1', additional_messages: message })
    assert.ok(afterMove.id)
    events = await streamEvents(api, bot)
    assert.equal(events.at(-1).event, ChatEventType.DONE)
    const bots = await api.bots.list({ space_id: mock.info.workspace_id })
    assert.ok(bots)

    const stats = await mock.stats()
    assert.equal(stats.requests.by_credential.unauthenticated ?? 0, 0, 'the SDK token was never sent')
    assert.ok(stats.requests.by_credential.personal >= 2)
    assert.ok(stats.requests.by_credential.enterprise >= 2)
    const m = client.metrics()
    assert.ok(m.fallbacks_total >= 1, 'the move was absorbed by a fallback')
    client.close()
  })

  test(`@coze/api via ${how}: a Coze error reaches the SDK as its typed error with code and logid`, async () => {
    const client = new Client(mock.patConfig())
    const api = new CozeAPI({ baseURL: mock.base, token: SDK_TOKEN, ...options(client) })
    await assert.rejects(api.chat.create({ bot_id: '7359999999999999999', user_id: 'u', additional_messages: message }), (e) => {
      assert.equal(e.code, 4200)
      assert.ok(e.logid)
      assert.ok(e.msg, 'the SDK sees Coze\'s own msg')
      assert.ok(!String(e.msg).startsWith('Coze API error'), 'not the library\'s wording')
      return true
    })
    await mock.state({ faults: [{ path: '/v3/chat', action: { type: 'error', code: 4000, http_status: 400 } }] })
    await assert.rejects(streamEvents(api, mock.info.bots[0]), (e) => {
      assert.equal(e.code, 4000)
      assert.equal(e.status, 400)
      return true
    })
    client.close()
  })
}

test('@coze/api through the adapter: workflow stream and file upload after the move', async () => {
  const client = new Client(mock.patConfig())
  const api = new CozeAPI({ baseURL: mock.base, token: SDK_TOKEN, axiosOptions: { adapter: cozeAxiosAdapter(client) } })
  await mock.state({ moved: true })
  const events = []
  for await (const ev of await api.workflows.runs.stream({ workflow_id: mock.info.workflow_id, parameters: { input: 'x' } })) events.push(ev)
  assert.ok(events.length >= 2, `workflow events: ${JSON.stringify(events)}`)
  assert.equal(events.at(-1).event, 'Done')
  assert.ok(events.every((e) => Number.isFinite(e.id)), 'workflow events keep their ids')
  // files.upload builds a multipart body with axios' toFormData (the form-data package on Node).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cozefallback-sdk-upload-'))
  const file = path.join(dir, 'report.csv')
  fs.writeFileSync(file, 'a,b\n1,2\n')
  try {
    const uploaded = await api.files.upload({ file: fs.createReadStream(file) })
    assert.equal(uploaded.bytes, 8)
    assert.equal(uploaded.file_name, 'report.csv')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const stats = await mock.stats()
  assert.equal(stats.requests.by_credential.unauthenticated ?? 0, 0)
  client.close()
})

test('@coze/api: 50 concurrent streaming chats through the adapter', async () => {
  const client = new Client(mock.patConfig())
  const api = new CozeAPI({ baseURL: mock.base, token: SDK_TOKEN, axiosOptions: { adapter: cozeAxiosAdapter(client) } })
  const all = await Promise.all(Array.from({ length: 50 }, () => streamEvents(api, mock.info.bots[1])))
  for (const events of all) assert.equal(events.at(-1).event, ChatEventType.DONE)
  client.close()
})

test('@coze/api: leaving the SDK stream early does not break the client', async () => {
  const client = new Client(mock.patConfig())
  const api = new CozeAPI({ baseURL: mock.base, token: SDK_TOKEN, axiosOptions: { adapter: cozeAxiosAdapter(client) } })
  for (let i = 0; i < 5; i++) {
    for await (const part of await api.chat.stream({ bot_id: mock.info.bots[0], user_id: 'u', additional_messages: message })) {
      assert.equal(part.event, ChatEventType.CONVERSATION_CHAT_CREATED)
      break
    }
  }
  const r = await api.chat.create({ bot_id: mock.info.bots[0], user_id: 'u', additional_messages: message })
  assert.ok(r.id)
  client.close()
})

// The realtime drop-in: @coze/api opens its WebSocket (through reconnecting-websocket) with the constructor
// given as websocketOptions.WebSocket; createWebSocketClass(client) backs it with the core's session.

/** One chat over the SDK's WebSocket client: the event types received, and how the socket closed. */
function sdkChat(ws) {
  return new Promise((resolve, reject) => {
    const got = []
    const timer = setTimeout(() => reject(new Error(`no chat.completed within 10 s: ${got}`)), 10000)
    ws.onopen = () => {
      ws.send({ id: 'e1', event_type: WebsocketsEventType.CHAT_UPDATE, data: { chat_config: { user_id: 'user-1' } } })
      ws.send({ id: 'e2', event_type: WebsocketsEventType.CONVERSATION_MESSAGE_CREATE, data: { role: 'user', content_type: 'text', content: 'hi' } })
    }
    ws.onmessage = (data) => {
      got.push(data.event_type)
      if (data.event_type === WebsocketsEventType.CONVERSATION_CHAT_COMPLETED) ws.close()
    }
    ws.onerror = (error) => {
      clearTimeout(timer)
      reject(new Error(`SDK onerror: ${JSON.stringify(error)}`))
    }
    ws.onclose = (event) => {
      clearTimeout(timer)
      resolve({ got, code: event.code })
    }
  })
}

const CHAT_EVENTS = [
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

test('@coze/api websockets.chat via createWebSocketClass: before the move personal, after it enterprise', async () => {
  const client = new Client(mock.patConfig())
  const WebSocket = createWebSocketClass(client)
  assert.equal(WebSocket.CLOSING, 2)
  // The SDK's own WebSocket base points elsewhere: only the path and query are used, on the client's base.
  const api = new CozeAPI({ baseURL: mock.base, baseWsURL: 'wss://ws.coze.cn', token: SDK_TOKEN, websocketOptions: { WebSocket } })
  const bot = mock.info.bots[0]

  let ws = await api.websockets.chat.create({ bot_id: bot })
  let r = await sdkChat(ws)
  assert.deepEqual(r.got, CHAT_EVENTS)
  assert.equal(r.code, 1000)

  await mock.state({ moved: true })
  // Per-call options work as well (the SDK merges them over the client's).
  ws = await api.websockets.chat.create({ bot_id: bot }, { WebSocket, maxRetries: 0 })
  r = await sdkChat(ws)
  assert.deepEqual(r.got, CHAT_EVENTS, 'the refused personal connection\'s error never reaches the SDK')

  const stats = await mock.stats()
  const sessions = stats.websocket.sessions
  assert.deepEqual(sessions.map((s) => [s.credential, s.outcome]), [['personal', 'upgraded'], ['personal', 'refused'], ['enterprise', 'upgraded']])
  assert.deepEqual(sessions[2].received.map((x) => x.id), ['e1', 'e2'], 'the SDK\'s events replayed in order')
  assert.equal(stats.websocket.by_credential.unauthenticated ?? 0, 0, 'the SDK token was never sent')
  assert.ok(!JSON.stringify(stats).includes(SDK_TOKEN))
  client.close()
})

test('@coze/api websockets: the socket hides the SDK token and a refused 403 reaches onerror as the SDK maps it', async () => {
  const client = new Client(mock.patConfig())
  const WebSocket = createWebSocketClass(client)
  const api = new CozeAPI({ baseURL: mock.base, token: SDK_TOKEN, websocketOptions: { WebSocket, maxRetries: 0 } })
  await mock.state({ faults: [{ path: '/v1/chat', credential: 'personal', action: { type: 'http', http_status: 403, body: 'Forbidden' } }] })
  const ws = await api.websockets.chat.create({ bot_id: mock.info.bots[0] })
  const error = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no onerror within 10 s')), 10000)
    ws.onerror = (e) => {
      clearTimeout(timer)
      resolve(e)
    }
    ws.onopen = () => reject(new Error('opened'))
  })
  assert.equal(error.event_type, WebsocketsEventType.ERROR)
  assert.equal(error.data.code, 403)
  assert.equal(error.data.msg, 'Forbidden')
  const stats = await mock.stats()
  assert.equal(stats.websocket.by_credential.enterprise ?? 0, 0, 'a 403 without a Coze code is not a fallback')
  // The raw socket: the URL it shows has no token, and it speaks the WebSocket interface.
  const raw = new WebSocket(`ws://127.0.0.1:1/v1/chat?bot_id=${mock.info.bots[0]}&authorization=Bearer ${SDK_TOKEN}`)
  assert.ok(!raw.url.includes(SDK_TOKEN) && !raw.url.includes('authorization'), raw.url)
  assert.equal(raw.readyState, WebSocket.CONNECTING)
  assert.throws(() => raw.send('{}'), /not open/)
  const closed = new Promise((resolve) => raw.addEventListener('close', resolve, { once: true }))
  raw.addEventListener('error', () => {})
  raw.close()
  assert.equal((await closed).code, 1006)
  assert.equal(raw.readyState, WebSocket.CLOSED)
  assert.throws(() => new WebSocket('not a url'), (e) => e instanceof SyntaxError && !e.message.includes('not a url'))
  client.close()
})

test('createWebSocketClass: the raw socket opens, sends text and binary in order, and closes cleanly', async () => {
  const client = new Client(mock.patConfig())
  const WebSocket = createWebSocketClass(client)
  const ws = new WebSocket(`wss://ws.coze.cn/v1/audio/speech?authorization=Bearer%20${SDK_TOKEN}`, [])
  const states = [ws.readyState]
  let opens = 0
  const messages = []
  const onOpen = () => {
    opens++
    states.push(ws.readyState)
    ws.send(JSON.stringify({ id: 's1', event_type: 'input_text_buffer.append', data: { delta: 'hello' } }))
    ws.send(new Uint8Array([1, 2, 3]))
    ws.send(JSON.stringify({ id: 's2', event_type: 'input_text_buffer.complete' }))
  }
  ws.addEventListener('open', onOpen, { once: true })
  ws.addEventListener('open', { handleEvent: () => opens++ })
  const closed = new Promise((resolve, reject) => {
    ws.onerror = (e) => reject(e.error)
    ws.onclose = resolve
  })
  ws.onmessage = (event) => {
    assert.equal(event.type, 'message')
    assert.equal(event.target, ws)
    const data = JSON.parse(event.data)
    messages.push(data.event_type)
    if (data.event_type === 'speech.audio.completed') ws.close(1000, 'done')
  }
  const event = await closed
  assert.equal(event.code, 1000)
  assert.equal(event.wasClean, true)
  assert.equal(ws.readyState, WebSocket.CLOSED)
  assert.deepEqual(states, [WebSocket.CONNECTING, WebSocket.OPEN])
  assert.equal(opens, 2)
  assert.equal(messages[0], 'speech.created')
  assert.equal(messages.at(-1), 'speech.audio.completed')
  assert.equal(ws.session.credential, 'personal')
  assert.ok(!ws.url.includes(SDK_TOKEN))
  const [session] = (await mock.stats()).websocket.sessions
  assert.deepEqual(session.received.map((r) => r.event_type ?? (r.binary ? 'binary' : '?')), ['input_text_buffer.append', 'binary', 'input_text_buffer.complete'])
  client.close()
})
