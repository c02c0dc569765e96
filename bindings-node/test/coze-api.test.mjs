// The drop-in for the official SDK: the real @coze/api from npm, its requests (streaming included) sent
// through the fallback client by an axios adapter or an axios-compatible instance. The SDK's token is a
// placeholder the core never sends: the core sets Authorization from its own credentials.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import os from 'node:os'
import { CozeAPI, ChatEventType } from '@coze/api'
import { Client, cozeAxiosAdapter, cozeAxiosInstance } from 'cozefallback'
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
