// The Promise API: concurrency, event-loop liveness, streams, uploads, errors, modes, metrics, OAuth helpers.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import * as esm from 'cozefallback'
import { Client, CozeError, OAuthApp, ErrorCodes } from 'cozefallback'
import { startMock } from './mock.mjs'

const require = createRequire(import.meta.url)
const ERROR_CODES = ['COZE_API', 'COZE_CONFIG', 'COZE_AUTH', 'COZE_REAUTH_REQUIRED', 'COZE_TRANSPORT', 'COZE_TIMEOUT', 'COZE_STREAM_INTERRUPTED']

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

const chat = (bot, stream = false) => ({
  bot_id: bot,
  user_id: 'user-1',
  stream,
  additional_messages: [{ role: 'user', content: 'hi', content_type: 'text' }],
})

test('require and import give the same package', () => {
  const cjs = require('cozefallback')
  assert.equal(cjs.Client, Client)
  assert.equal(cjs.CozeError, CozeError)
  assert.equal(esm.default.Client, Client)
  assert.equal(typeof esm.coreVersion, 'string')
  for (const name of ['Client', 'CozeError', 'OAuthApp', 'cozeAxiosAdapter', 'cozeAxiosInstance', 'ErrorCodes']) assert.ok(name in cjs, name)
  const pkgDir = path.dirname(require.resolve('cozefallback/package.json'))
  assert.ok(fs.existsSync(path.join(pkgDir, 'index.d.ts')), 'index.d.ts is shipped')
  assert.ok(fs.existsSync(path.join(pkgDir, 'binding.d.ts')), 'the generated binding.d.ts is shipped')
})

test('request: response shape, get/post shortcuts, query and headers', async () => {
  const client = new Client(mock.patConfig())
  const r = await client.get(`/v1/bots/${mock.info.bots[0]}`)
  assert.equal(r.status, 200)
  assert.ok(Buffer.isBuffer(r.body))
  assert.equal(r.json().code, 0)
  assert.equal(typeof r.text(), 'string')
  assert.equal(r.credential, 'personal')
  assert.equal(r.attempts, 1)
  assert.ok(r.logid && r.headers['x-tt-logid'] === r.logid)
  const list = await client.get('/v1/bots', { query: { workspace_id: mock.info.workspace_id }, headers: { 'X-Trace': 'abc' } })
  assert.equal(list.json().code, 0)
  const c = await client.post('/v3/chat', chat(mock.info.bots[0]))
  assert.equal(c.json().code, 0)
  const raw = await client.request('POST', '/v3/chat', { body: JSON.stringify(chat(mock.info.bots[0])), headers: { 'content-type': 'application/json' }, timeoutMs: 5000 })
  assert.equal(raw.json().code, 0)
  client.close()
})

test('the caller cannot set Authorization: the core sets its own', async () => {
  const client = new Client(mock.patConfig())
  const r = await client.get(`/v1/bots/${mock.info.bots[0]}`, { headers: { Authorization: 'Bearer pat_attacker' } })
  assert.equal(r.credential, 'personal')
  const stats = await mock.stats()
  assert.equal(stats.requests.by_credential.unauthenticated ?? 0, 0)
  client.close()
})

test('500 promises in flight at once', async () => {
  const client = new Client(mock.patConfig())
  const bots = mock.info.bots
  const results = await Promise.all(Array.from({ length: 500 }, (_, i) => client.get(`/v1/bots/${bots[i % 3]}`)))
  assert.equal(results.length, 500)
  for (const r of results) {
    assert.equal(r.status, 200)
    assert.equal(r.json().code, 0)
  }
  const stats = await mock.stats()
  assert.equal(stats.requests.total, 500)
  assert.equal(client.metrics().requests_total, 500)
  client.close()
})

test('event loop stays live during a slow request', async () => {
  const client = new Client(mock.patConfig())
  await mock.state({ faults: [{ path: '/v1/bots/', action: { type: 'latency', ms: 1500 } }] })
  let ticks = 0
  const timer = setInterval(() => ticks++, 20)
  const started = performance.now()
  const r = await client.get(`/v1/bots/${mock.info.bots[0]}`)
  const elapsed = performance.now() - started
  clearInterval(timer)
  assert.equal(r.status, 200)
  assert.ok(elapsed >= 1400, `the request took ${elapsed} ms`)
  assert.ok(ticks >= 40, `the timer fired only ${ticks} times in ${elapsed} ms`)
  client.close()
})

test('streams: events, metadata, and a stream after the move falls back', async () => {
  const client = new Client(mock.patConfig())
  await mock.state({ moved: true })
  const stream = client.stream('POST', '/v3/chat', { json: chat(mock.info.bots[0], true) })
  const events = []
  for await (const ev of stream) {
    assert.deepEqual(Object.keys(ev).sort(), ['data', 'event', 'id'])
    events.push(ev)
  }
  assert.equal(events[0].event, 'conversation.chat.created')
  assert.equal(events.at(-1).event, 'done')
  assert.equal(stream.credential, 'enterprise')
  assert.equal(stream.attempts, 2)
  assert.equal(stream.status, 200)
  // Workflow framing carries ids.
  const wf = []
  for await (const ev of client.stream('POST', '/v1/workflow/stream_run', { json: { workflow_id: mock.info.workflow_id, parameters: {} } })) wf.push(ev)
  assert.ok(wf.some((e) => e.id !== null), 'workflow events carry ids')
  client.close()
})

function openSockets() {
  let n = 0
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++
    } catch {}
  }
  return n
}

test('leaving a for-await stream early closes it', async () => {
  const client = new Client(mock.patConfig())
  await client.get(`/v1/bots/${mock.info.bots[0]}`) // warm the pool
  const baseline = openSockets()
  for (let i = 0; i < 30; i++) {
    const stream = client.stream('POST', '/v3/chat', { json: chat(mock.info.bots[0], true) })
    let seen = 0
    for await (const ev of stream) {
      seen++
      assert.equal(ev.event, 'conversation.chat.created')
      break
    }
    assert.equal(seen, 1)
    assert.deepEqual(await stream.next(), { done: true, value: undefined }, 'a closed stream is done')
  }
  await new Promise((r) => setTimeout(r, 300))
  const now = openSockets()
  assert.ok(now <= baseline + 4, `sockets grew from ${baseline} to ${now}: streams left open`)
  // An explicit close() while a next() is pending resolves that next() to done.
  await mock.state({ faults: [{ path: '/v3/chat', action: { type: 'truncate_stream', after_events: 1 } }] })
  const s2 = client.stream('POST', '/v3/chat', { json: chat(mock.info.bots[0], true) })
  await s2.open()
  s2.close()
  assert.deepEqual(await s2.next(), { done: true, value: undefined })
  // The client still works afterwards.
  await mock.reset()
  assert.equal((await client.get(`/v1/bots/${mock.info.bots[0]}`)).status, 200)
  client.close()
})

test('upload: a path, a Buffer, and {filename, data}', async () => {
  const client = new Client(mock.patConfig())
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cozefallback-upload-'))
  const file = path.join(dir, 'notes.txt')
  fs.writeFileSync(file, 'hello upload')
  try {
    const a = await client.upload('/v1/files/upload', file)
    assert.equal(a.json().data.file_name, 'notes.txt')
    assert.equal(a.json().data.bytes, 12)
    const b = await client.upload('/v1/files/upload', Buffer.from('abc'))
    assert.equal(b.json().data.bytes, 3)
    const c = await client.upload('/v1/files/upload', { filename: 'r.csv', data: new Uint8Array([1, 2, 3, 4]) })
    assert.equal(c.json().data.file_name, 'r.csv')
    assert.equal(c.json().data.bytes, 4)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    client.close()
  }
})

function assertCozeError(e, code) {
  assert.ok(e instanceof Error, 'an Error')
  assert.ok(e instanceof CozeError, 'a CozeError')
  assert.equal(e.name, 'CozeError')
  assert.equal(e.code, code, e.message)
  assert.ok(ERROR_CODES.includes(e.code))
  for (const k of ['cozeCode', 'logid', 'httpStatus', 'credential']) assert.ok(k in e, `has ${k}`)
  assert.equal(typeof e.message, 'string')
  assert.ok(e.stack)
}

test('error shape: COZE_API with cozeCode, logid, httpStatus, credential and the previous attempt', async () => {
  const client = new Client(mock.patConfig())
  await assert.rejects(client.get('/v1/bots/7359999999999999999'), (e) => {
    assertCozeError(e, 'COZE_API')
    assert.equal(e.cozeCode, 4200)
    assert.equal(e.httpStatus, 200)
    assert.equal(e.credential, 'enterprise')
    assert.match(e.logid, /\w+/)
    assert.equal(e.attempts, 2)
    assert.ok(e.previous instanceof CozeError)
    assert.equal(e.previous.credential, 'personal')
    assert.equal(e.cause, e.previous)
    assert.ok(e.cozeMessage && e.message.includes(e.cozeMessage), 'cozeMessage is Coze\'s own msg')
    assert.equal(e.response.status, 200)
    assert.equal(JSON.parse(e.response.body).code, 4200)
    return true
  })
  await mock.state({ faults: [{ path: '/v3/chat', action: { type: 'error', code: 4000, http_status: 400 } }] })
  await assert.rejects(client.post('/v3/chat', chat(mock.info.bots[0])), (e) => {
    assertCozeError(e, 'COZE_API')
    assert.equal(e.cozeCode, 4000)
    assert.equal(e.httpStatus, 400)
    assert.equal(e.credential, 'personal')
    return true
  })
  client.close()
})

test('error shape: COZE_CONFIG names the field', () => {
  assert.throws(() => new Client({ base_url: mock.base, personal: { type: 'pat', token: '' } }), (e) => {
    assertCozeError(e, 'COZE_CONFIG')
    assert.match(e.field, /personal/)
    return true
  })
  assert.throws(() => new Client({ personal: { type: 'pat', token: 'pat_x' }, mode: 'sideways' }), (e) => assertCozeError(e, 'COZE_CONFIG') ?? true)
  const client = new Client(mock.patConfig())
  assert.throws(() => client.setMode('sideways'), (e) => assertCozeError(e, 'COZE_CONFIG') ?? true)
  client.close()
})

test('error shape: COZE_TIMEOUT, COZE_TRANSPORT, COZE_STREAM_INTERRUPTED', async () => {
  const client = new Client(mock.patConfig())
  await mock.state({ faults: [{ path: '/v1/bots/', action: { type: 'latency', ms: 2000 } }] })
  await assert.rejects(client.get(`/v1/bots/${mock.info.bots[0]}`, { timeoutMs: 200 }), (e) => assertCozeError(e, 'COZE_TIMEOUT') ?? true)
  await mock.reset()
  await mock.state({ faults: [{ path: '/v1/bots/', action: { type: 'reset' } }] })
  await assert.rejects(client.get(`/v1/bots/${mock.info.bots[0]}`), (e) => assertCozeError(e, 'COZE_TRANSPORT') ?? true)
  await mock.reset()
  await mock.state({ faults: [{ path: '/v3/chat', action: { type: 'truncate_stream', after_events: 2 } }] })
  const seen = []
  await assert.rejects(
    (async () => {
      for await (const ev of client.stream('POST', '/v3/chat', { json: chat(mock.info.bots[0], true) })) seen.push(ev)
    })(),
    (e) => {
      assertCozeError(e, 'COZE_STREAM_INTERRUPTED')
      assert.equal(e.eventsDelivered, 2)
      assert.equal(e.credential, 'personal')
      return true
    },
  )
  assert.equal(seen.length, 2)
  client.close()
})

test('error shape: COZE_AUTH and COZE_REAUTH_REQUIRED', async () => {
  const app = new OAuthApp({ baseUrl: mock.base, clientId: mock.info.oauth_client_id, clientSecret: mock.info.oauth_client_secret })
  await assert.rejects(app.exchangeCode('not-a-code', 'https://example.com/cb'), (e) => {
    assertCozeError(e, 'COZE_AUTH')
    assert.ok(e.oauthError)
    return true
  })
  // An OBO user whose token is refused even after a refresh, and no other credential: authorize again.
  const auth = app.authorizeUrl('https://example.com/cb', { pkce: false })
  const { code } = await mock.oauthCode({ redirect_uri: 'https://example.com/cb' })
  const tok = await app.exchangeCode(code, 'https://example.com/cb')
  await mock.state({ faults: [{ path: '/v1/bots/', credential: 'personal', action: { type: 'error', code: 4100, http_status: 401 } }] })
  const client = new Client({
    base_url: mock.base,
    personal: { type: 'oauth', client_id: mock.info.oauth_client_id, client_secret: mock.info.oauth_client_secret, access_token: tok.accessToken, refresh_token: tok.refreshToken },
  })
  await assert.rejects(client.get(`/v1/bots/${mock.info.bots[0]}`), (e) => {
    assertCozeError(e, 'COZE_REAUTH_REQUIRED')
    assert.equal(e.credential, 'personal')
    assert.ok(auth.url && 'authorizeUrl' in e)
    return true
  })
  client.close()
})

test('OAuth helpers: authorize URL with PKCE, code exchange, refresh, device flow', async () => {
  const app = new OAuthApp({ baseUrl: mock.base, clientId: mock.info.oauth_client_id, clientSecret: mock.info.oauth_client_secret })
  const auth = app.authorizeUrl('https://example.com/cb', { pkce: true })
  assert.match(auth.url, /code_challenge_method=S256/)
  assert.ok(auth.state && auth.codeVerifier)
  const challenge = new URL(auth.url).searchParams.get('code_challenge')
  const { code } = await mock.oauthCode({ redirect_uri: 'https://example.com/cb', code_challenge: challenge })
  const tok = await app.exchangeCode(code, 'https://example.com/cb', auth.codeVerifier)
  assert.ok(tok.accessToken && tok.refreshToken && tok.expiresAt > Date.now() / 1000)
  const refreshed = await app.refresh(tok.refreshToken)
  assert.notEqual(refreshed.refreshToken, tok.refreshToken)
  await assert.rejects(app.refresh(tok.refreshToken), (e) => e.code === 'COZE_AUTH')
  // The user token works as an OBO credential.
  const client = new Client({ base_url: mock.base, personal: { type: 'oauth', client_id: mock.info.oauth_client_id, access_token: refreshed.accessToken, refresh_token: refreshed.refreshToken } })
  assert.equal((await client.get(`/v1/bots/${mock.info.bots[0]}`)).credential, 'personal')
  client.close()
  // A rejected user token is refreshed by the core; the hook hands the rotated refresh token to the app.
  const stored = []
  const obo = new Client({ base_url: mock.base, personal: { ...refreshed.oauthConfig(mock.info.oauth_client_id), access_token: 'czu_revoked_token' } })
  obo.setRefreshHook((r) => stored.push(r))
  assert.equal((await obo.get(`/v1/bots/${mock.info.bots[0]}`)).credential, 'personal')
  for (let i = 0; i < 50 && stored.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
  assert.equal(stored.length, 1, 'the refresh hook ran once')
  assert.equal(stored[0].credential, 'personal')
  assert.ok(stored[0].refreshToken && stored[0].refreshToken !== refreshed.refreshToken)
  obo.setRefreshHook(null)
  obo.close()
  assert.equal(obo.closed, true)
  // Device flow.
  const device = await app.deviceCode()
  assert.ok(device.deviceCode && device.userCode && device.verificationUri)
  await assert.rejects(app.pollDeviceToken(device), (e) => e.code === 'COZE_AUTH' && e.oauthError === 'authorization_pending')
  await mock.approveDevice({ user_code: device.userCode })
  const dtok = await app.pollDeviceToken(device.deviceCode)
  assert.ok(dtok.accessToken)
})

test('an AbortSignal cancels a request in the core', async () => {
  const client = new Client(mock.patConfig())
  await mock.state({ faults: [{ path: '/v1/bots/', action: { type: 'latency', ms: 3000 } }] })
  const started = performance.now()
  await assert.rejects(client.get(`/v1/bots/${mock.info.bots[0]}`, { signal: AbortSignal.timeout(100) }), (e) => {
    assert.ok(e instanceof CozeError)
    assert.equal(e.code, 'COZE_CANCELLED')
    return true
  })
  assert.ok(performance.now() - started < 2000, 'the call ended at the abort, not at the answer')
  const aborted = new AbortController()
  aborted.abort()
  await assert.rejects(client.get('/v1/workspaces', { signal: aborted.signal }), (e) => e.code === 'COZE_CANCELLED')
  client.close()
})

test('setMode, metrics, metricsPrometheus, close', async () => {
  const client = new Client(mock.patConfig())
  assert.equal(client.mode, 'personal_first')
  await mock.state({ moved: true })
  client.setMode('enterprise_first')
  assert.equal(client.mode, 'enterprise_first')
  const r = await client.get(`/v1/bots/${mock.info.bots[0]}`)
  assert.equal(r.credential, 'enterprise')
  assert.equal(r.attempts, 1)
  const m = client.metrics()
  assert.equal(m.mode, 'enterprise_first')
  assert.equal(m.requests_total, 1)
  assert.match(client.metricsPrometheus(), /^cozefallback_/m)
  client.close()
  client.close()
  await assert.rejects(client.get('/v1/workspaces'), (e) => e instanceof CozeError)
})

test('Client.fromEnv reads the official SDK variable names', async () => {
  const saved = { ...process.env }
  try {
    process.env.COZE_API_BASE = mock.base
    process.env.COZE_API_TOKEN = mock.info.personal_pat
    process.env.COZE_API_TOKEN_ENTERPRISE = mock.info.enterprise_pat
    const client = Client.fromEnv()
    assert.equal((await client.get(`/v1/bots/${mock.info.bots[0]}`)).credential, 'personal')
    client.close()
  } finally {
    process.env = saved
  }
})

test('ErrorCodes lists the codes', () => {
  for (const c of ERROR_CODES) assert.ok(Object.values(ErrorCodes).includes(c), c)
})
