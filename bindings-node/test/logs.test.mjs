// The log hook: the core's records reach a callback on the JS thread, at the chosen level, redacted.
import { test, before, after, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { Client, CozeError, OAuthApp, setLogger, LOG_LEVELS } from 'cozefallback'
import { startMock } from './mock.mjs'

const REDIRECT = 'https://example.com/cb'

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())
afterEach(() => setLogger(null))

const tick = (ms) => new Promise((r) => setTimeout(r, ms))

/** Waits (bounded) until `records` has one that `pred` accepts. */
async function waitFor(records, pred, what) {
  for (let i = 0; i < 200; i++) {
    const hit = records.find(pred)
    if (hit) return hit
    await tick(10)
  }
  assert.fail(`no ${what} record among: ${JSON.stringify(records)}`)
}

test('a fallback logs an info record "falling back..." with its fields', async () => {
  const records = []
  setLogger((r) => records.push(r))
  const client = new Client(mock.patConfig())
  await mock.state({ moved: true })
  const r = await client.get(`/v1/bots/${mock.info.bots[0]}`)
  assert.equal(r.credential, 'enterprise')
  const rec = await waitFor(records, (x) => x.message.startsWith('falling back'), 'fallback')
  assert.equal(rec.level, 'info')
  assert.equal(rec.message, 'falling back to the other credential')
  assert.match(rec.target, /^cozefallback/)
  assert.equal(rec.fields.from, 'personal')
  assert.equal(rec.fields.to, 'enterprise')
  // A plain value, never a Rust Debug shape such as `Some(4101)`.
  assert.equal(rec.fields.reason, '4101')
  assert.ok(!JSON.stringify(records).includes('Some('), JSON.stringify(records))
  assert.ok(rec.time instanceof Date && Math.abs(rec.time - Date.now()) < 60_000)
  // The default level is info: no debug record came through.
  assert.ok(records.every((x) => ['error', 'warn', 'info'].includes(x.level)), JSON.stringify(records))
  client.close()
})

test('at trace level no token or key ever appears in a record', async () => {
  const app = new OAuthApp({ baseUrl: mock.base, clientId: mock.info.oauth_client_id, clientSecret: mock.info.oauth_client_secret })
  const { code } = await mock.oauthCode({ redirect_uri: REDIRECT })
  const user = await app.exchangeCode(code, REDIRECT)
  const records = []
  setLogger((r) => records.push(r), { level: 'trace' })
  // A JWT enterprise credential (tokens minted), an OBO personal one whose token is refused then refreshed,
  // and a move halfway: every code path that logs.
  const client = new Client({
    base_url: mock.base,
    personal: { ...user.oauthConfig(mock.info.oauth_client_id, mock.info.oauth_client_secret), access_token: 'czu_revoked_token_0123456789' },
    enterprise: { type: 'jwt', client_id: mock.info.jwt_client_id, private_key: mock.info.private_key_pem, public_key_id: mock.info.jwt_kid, enterprise_id: mock.info.enterprise_id },
    retry: { base_delay_ms: 10, max_delay_ms: 50 },
  })
  const rotated = []
  client.setRefreshHook((t) => rotated.push(t))
  await client.fetchToken('enterprise')
  assert.equal((await client.get(`/v1/bots/${mock.info.bots[0]}`)).credential, 'personal')
  await mock.state({ moved: true })
  assert.equal((await client.get(`/v1/bots/${mock.info.bots[1]}`)).credential, 'enterprise')
  for await (const _ of client.stream('POST', '/v3/chat', { json: { bot_id: mock.info.bots[2], user_id: 'u', stream: true, additional_messages: [{ role: 'user', content: 'hi', content_type: 'text' }] } })) {
    // drain
  }
  await assert.rejects(client.get('/v1/bots/7359999999999999999'), (e) => e instanceof CozeError)
  client.setMode('enterprise_only')
  await waitFor(records, (x) => x.message.startsWith('minted'), 'debug "minted"')
  await waitFor(records, (x) => x.message.startsWith('falling back'), 'fallback')
  await waitFor(records, (x) => x.message.startsWith('routing mode'), 'mode change')
  for (let i = 0; i < 100 && rotated.length === 0; i++) await tick(10)
  assert.equal(rotated.length, 1, 'the OBO token was refreshed')
  assert.ok(records.some((x) => x.level === 'debug'), 'debug records come through at trace level')

  const text = JSON.stringify(records)
  const pemBody = mock.info.private_key_pem.split('\n')[1]
  const secrets = [
    mock.info.personal_pat,
    mock.info.enterprise_pat,
    mock.info.oauth_client_secret,
    pemBody,
    user.accessToken,
    user.refreshToken,
    rotated[0].accessToken,
    rotated[0].refreshToken,
    'czu_revoked_token_0123456789',
  ]
  for (const s of secrets) assert.ok(!text.includes(s), `a secret (${s.slice(0, 6)}...) shows in the records: ${text}`)
  assert.doesNotMatch(text, /(pat_|czs_|czu_|sat_|eyJ)(?!\*\*\*)[A-Za-z0-9_\-.+/=]{3,}/, 'an unmasked token shape')
  client.close()
})

test('levels filter; null stops delivery; a bad level is refused; a throwing callback warns', async () => {
  assert.deepEqual(LOG_LEVELS, ['off', 'error', 'warn', 'info', 'debug', 'trace'])
  const records = []
  setLogger((r) => records.push(r), { level: 'warn' })
  const client = new Client(mock.patConfig())
  await mock.state({ moved: true })
  await client.get(`/v1/bots/${mock.info.bots[0]}`)
  await tick(100)
  assert.deepEqual(records.filter((x) => x.message.startsWith('falling back')), [], 'an info record passed a warn filter')

  setLogger((r) => records.push(r), { level: 'info' })
  client.setMode('personal_first')
  await waitFor(records, (x) => x.message.startsWith('routing mode'), 'mode change')
  records.length = 0
  setLogger(null)
  client.setMode('enterprise_first')
  await tick(100)
  assert.deepEqual(records, [], 'records after setLogger(null)')

  assert.throws(() => setLogger(() => {}, { level: 'loud' }), (e) => {
    assert.ok(e instanceof CozeError)
    assert.equal(e.code, 'COZE_INVALID_ARGUMENT')
    assert.match(e.message, /level must be one of off, error, warn, info, debug, trace; got "loud"/)
    return true
  })
  assert.throws(() => setLogger('not a function'), TypeError)

  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    setLogger(() => {
      throw new Error('callback broke')
    })
    client.setMode('personal_first')
    for (let i = 0; i < 100 && warnings.length === 0; i++) await tick(10)
  } finally {
    process.off('warning', onWarning)
  }
  assert.ok(warnings.some((w) => /callback broke/.test(w.message)), 'the throw became a process warning')
  client.close()
})

test('records arrive later on the JS thread: the call that logged does not wait for the callback', async () => {
  const records = []
  let inCallback = false
  setLogger((r) => {
    inCallback = true
    records.push(r)
  })
  const client = new Client(mock.patConfig())
  // setMode logs from the JS thread itself: the record is queued, not delivered inside setMode.
  client.setMode('enterprise_first')
  assert.equal(inCallback, false, 'the callback ran inside setMode')
  const rec = await waitFor(records, (x) => x.message.startsWith('routing mode'), 'mode change')
  assert.equal(rec.fields.mode, 'enterprise_first')
  client.close()
})
