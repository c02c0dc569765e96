// The live migration under load and faults through the Node addon (short form), and a secret scan of what
// JavaScript code can see: error messages and fields, metrics. Full form: SOAK_REQUESTS=5000 node --test test/soak.test.mjs
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { Client, CozeError } from 'cozefallback'
import { startMock } from './mock.mjs'

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

const FAULTS = [
  { path: '/api/permission/oauth2/', probability: 0.05, action: { type: 'http', http_status: 503, body: 'busy', content_type: 'text/plain' } },
  { path: '/api/permission/oauth2/', probability: 0.05, action: { type: 'latency', ms: 300 } },
  { path: '/v', probability: 0.001, action: { type: 'reset' } },
  { path: '/v', probability: 0.005, action: { type: 'http', http_status: 502, body: '<html>bad gateway</html>', content_type: 'text/html' } },
  { path: '/v', probability: 0.005, action: { type: 'http', http_status: 503, body: '<html>unavailable</html>', content_type: 'text/html' } },
]

const chat = (bot, stream = false) => ({
  bot_id: bot,
  user_id: 'soak',
  stream,
  additional_messages: [{ role: 'user', content: 'hi', content_type: 'text' }],
})

function jwtConfig() {
  const i = mock.info
  const jwt = (target, id) => ({ type: 'jwt', client_id: i.jwt_client_id, private_key: i.private_key_pem, public_key_id: i.jwt_kid, [target]: id })
  return {
    base_url: mock.base,
    personal: jwt('account_id', i.account_id),
    enterprise: jwt('enterprise_id', i.enterprise_id),
    retry: { base_delay_ms: 5, max_delay_ms: 100 },
  }
}

/** Whether an injected fault explains the failure (the migration guide's recipe could not have served it either). */
function injected(e) {
  if (e.code === 'COZE_API' && (e.httpStatus === 502 || e.httpStatus === 503)) return true
  if (e.code === 'COZE_TRANSPORT') return true
  return e.code === 'COZE_AUTH' && e.httpStatus === 503
}

test('live migration under load and faults loses nothing', async () => {
  const requests = Number(process.env.SOAK_REQUESTS ?? 2000)
  await mock.state({ token_ttl_secs: 2, faults: FAULTS })
  const client = new Client(jwtConfig())
  const bots = mock.info.bots
  let next = 0
  const results = []
  async function worker() {
    for (let i = next++; i < requests; i = next++) {
      if (i === Math.floor(requests / 2)) await mock.state({ moved: true })
      const bot = bots[i % bots.length]
      try {
        if (i % 4 === 3) {
          const stream = client.stream('POST', '/v3/chat', { json: chat(bot, true) })
          const names = []
          for await (const ev of stream) names.push(ev.event)
          assert.equal(names.at(-1), 'done')
          results.push(stream.attempts)
        } else if (i % 4 === 2) {
          results.push((await client.post('/v3/chat', chat(bot))).attempts)
        } else {
          results.push((await client.get(`/v1/bots/${bot}`)).attempts)
        }
      } catch (e) {
        assert.ok(e instanceof CozeError, String(e))
        results.push(e)
      }
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker))
  assert.equal(results.length, requests, 'every request answered exactly once')
  const errors = results.filter((r) => r instanceof CozeError)
  const unexplained = errors.filter((e) => !injected(e)).map((e) => `${e.code} ${e.message}`)
  assert.deepEqual(unexplained, [])
  const attempts = results.reduce((sum, r) => sum + (r instanceof CozeError ? r.attempts : r), 0)
  assert.equal(attempts, (await mock.stats()).requests.total, "the client's attempts and the mock's count agree")
  assert.ok(errors.length <= requests * 0.03, `${errors.length} failures`)
  client.close()
})

test('nothing JavaScript sees holds a secret', async () => {
  const i = mock.info
  const seen = []
  const client = new Client({ ...jwtConfig(), personal: { type: 'pat', token: i.personal_pat } })
  const r = await client.get(`/v1/bots/${i.bots[0]}`)
  seen.push(JSON.stringify({ ...r, body: undefined }))
  await mock.state({ moved: true })
  for await (const ev of client.stream('POST', '/v3/chat', { json: chat(i.bots[0], true) })) seen.push(JSON.stringify(ev))
  try {
    await client.get('/v1/bots/7350000000000000777')
  } catch (e) {
    seen.push(e.message, JSON.stringify(e), String(e.stack), e.previous?.message ?? '')
  }
  const wrong = new Client({ base_url: mock.base, personal: { type: 'pat', token: 'pat_leakme123456' } })
  await assert.rejects(wrong.get(`/v1/bots/${i.bots[0]}`), (e) => {
    seen.push(e.message, JSON.stringify(e))
    return true
  })
  for (const bad of [
    { personal: { type: 'pat', token: 'pat_leak\nme' } },
    { personal: { type: 'oauth', client_id: '1', client_secret: 'supersecret', access_token: '' } },
  ]) {
    assert.throws(() => new Client(bad), (e) => {
      assert.equal(e.code, 'COZE_CONFIG')
      seen.push(e.message, JSON.stringify(e))
      return true
    })
  }
  seen.push(JSON.stringify(client.metrics()), client.metricsPrometheus())
  const secrets = [i.personal_pat, i.enterprise_pat, i.oauth_client_secret, 'pat_leakme123456', 'supersecret', i.private_key_pem.split('\n')[1]]
  for (const text of seen) {
    for (const s of secrets) assert.ok(!text.includes(s), `secret ${s.slice(0, 8)}... leaked in ${text.slice(0, 200)}`)
    assert.doesNotMatch(text, /\b(pat_|czs_|czu_|czr_|eyJ)[A-Za-z0-9]/)
  }
  client.close()
  wrong.close()
})
