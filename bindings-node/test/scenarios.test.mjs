// Runs every conformance scenario (tests/scenarios/*.json, websocket/, conversations/ and obo/, format in
// tests/scenarios/README.md) through the installed `cozefallback` package. New files are picked up by globbing;
// unknown keys fail the scenario. The OBO scenarios log in with the package's own OAuthApp and record the client's
// refresh hook; token values are never printed.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { Client, CozeError, OAuthApp } from 'cozefallback'
import { startMock, repoRoot } from './mock.mjs'

const dir = process.env.COZE_SCENARIOS_DIR ?? path.join(repoRoot, 'tests', 'scenarios')
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
// The WebSocket scenarios (the `websocket` step) live in their own folder.
const wsFiles = fs
  .readdirSync(path.join(dir, 'websocket'))
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => path.join('websocket', f))
// The stranded-conversation scenarios (map_conversation, new_client, expect_hook...) live in their own folder.
const conversationFiles = fs
  .readdirSync(path.join(dir, 'conversations'))
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => path.join('conversations', f))
// The OBO scenarios (obo_login, expect_refresh_hook, fetch_token, oauth_refresh) live in their own folder.
const oboFiles = fs
  .readdirSync(path.join(dir, 'obo'))
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => path.join('obo', f))

let mock
let baseVars

before(async () => {
  mock = await startMock()
  const i = mock.info
  baseVars = {
    BASE_URL: i.base_url,
    PERSONAL_PAT: i.personal_pat,
    ENTERPRISE_PAT: i.enterprise_pat,
    JWT_CLIENT_ID: i.jwt_client_id,
    JWT_KID: i.jwt_kid,
    JWT_PRIVATE_KEY_FILE: i.private_key_file,
    JWT_PRIVATE_KEY: i.private_key_pem,
    ACCOUNT_ID: i.account_id,
    ENTERPRISE_ID: i.enterprise_id,
    OAUTH_CLIENT_ID: i.oauth_client_id,
    OAUTH_CLIENT_SECRET: i.oauth_client_secret,
    BOT_1: i.bots[0],
    BOT_2: i.bots[1],
    BOT_3: i.bots[2],
    ENTERPRISE_BOT: i.enterprise_bot,
    WORKFLOW: i.workflow_id,
    WORKSPACE: i.workspace_id,
  }
  for (const [k, v] of Object.entries(baseVars)) if (typeof v !== 'string') throw new Error(`mock info lacks ${k}`)
})

after(() => mock?.stop())

test('the scenario folder holds the conformance suite', () => {
  assert.ok(files.length >= 40, `expected at least 40 scenarios in ${dir}, found ${files.length}`)
})

test('the conversations folder holds the stranded-conversation scenarios', () => {
  assert.ok(conversationFiles.length >= 16, `expected at least 16 conversation scenarios in ${dir}/conversations, found ${conversationFiles.length}`)
})

test('the obo folder holds the OBO scenarios', () => {
  assert.ok(oboFiles.length >= 9, `expected at least 9 OBO scenarios in ${dir}/obo, found ${oboFiles.length}`)
})

test('the websocket folder holds the WebSocket scenarios', () => {
  assert.ok(wsFiles.length >= 10, `expected at least 10 WebSocket scenarios in ${dir}/websocket, found ${wsFiles.length}`)
})

/** Text replacement on the serialized JSON, values escaped as JSON string content. */
function substitute(value, vars) {
  let text = JSON.stringify(value)
  for (const [name, v] of Object.entries(vars)) {
    text = text.split('${' + name + '}').join(JSON.stringify(v).slice(1, -1))
  }
  return JSON.parse(text)
}

function checkKeys(obj, allowed, what) {
  if (obj === null || typeof obj !== 'object') return
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw new Error(`unknown key \`${k}\` in ${what}`)
}

function requestOpts(spec, what) {
  checkKeys(spec, ['method', 'path', 'query', 'json', 'headers'], what)
  const opts = {}
  if (spec.query) opts.query = Object.fromEntries(Object.entries(spec.query).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]))
  if (spec.headers) opts.headers = spec.headers
  if ('json' in spec) opts.json = spec.json
  return opts
}

function fromError(e, out) {
  if (!(e instanceof CozeError)) throw e
  out.error = e
  out.credential = e.credential
  out.attempts = e.attempts
  return out
}

async function call(client, step) {
  const started = performance.now()
  const out = { events: [] }
  const done = () => {
    out.elapsed = performance.now() - started
    return out
  }
  if (step.request) {
    const spec = step.request
    const opts = requestOpts(spec, 'request')
    try {
      const r = await client.request(spec.method, spec.path, opts)
      Object.assign(out, { status: r.status, credential: r.credential, attempts: r.attempts, body: r.text(), moved: r.conversationMoved })
    } catch (e) {
      fromError(e, out)
    }
    return done()
  }
  if (step.upload) {
    const spec = step.upload
    checkKeys(spec, ['path', 'filename', 'content'], 'upload')
    try {
      const r = await client.upload(spec.path, { filename: spec.filename, data: Buffer.from(spec.content, 'utf8') })
      Object.assign(out, { status: r.status, credential: r.credential, attempts: r.attempts, body: r.text(), moved: r.conversationMoved })
    } catch (e) {
      fromError(e, out)
    }
    return done()
  }
  if (step.stream) {
    const spec = step.stream
    const stream = client.stream(spec.method, spec.path, requestOpts(spec, 'stream'))
    try {
      await stream.open()
    } catch (e) {
      fromError(e, out)
      return done()
    }
    Object.assign(out, { status: stream.status, credential: stream.credential, attempts: stream.attempts, moved: stream.conversationMoved })
    try {
      for await (const ev of stream) {
        // A carried-over stream knows its move before the first event reaches the caller.
        if (out.events.length === 0) out.movedAtFirstEvent = stream.conversationMoved
        out.events.push(ev)
      }
    } catch (e) {
      if (!(e instanceof CozeError)) throw e
      out.error = e
    }
    return done()
  }
  throw new Error('step has no call')
}

/** Keys of a step's `expect` that only a `websocket` step has. */
const WS_EXPECT = ['events', 'close_code', 'logid']

function check(expect, out, extra = []) {
  checkKeys(
    expect,
    ['status', 'credential', 'attempts', 'json_code', 'body_contains', 'error', 'events_min', 'first_event', 'last_event', 'events_before_error', 'elapsed_ms_min', 'conversation_moved', 'data_len', ...extra],
    'expect',
  )
  const want = expect.error
  const err = out.error
  if (want) {
    checkKeys(want, ['kind', 'code', 'http_status', 'previous_code', 'previous_credential', ...STRANDED_ERROR_KEYS, 'message_contains', ...OAUTH_ERROR_KEYS], 'expect.error')
    assert.ok(err, `expected error ${JSON.stringify(want)}, got success`)
    if ('kind' in want) {
      assert.equal(err.kind, want.kind, `error.kind (${err.message})`)
      assert.equal(err.code, 'COZE_' + want.kind.toUpperCase(), 'err.code')
    }
    if ('code' in want) assert.equal(err.cozeCode, want.code, `error.code (${err.message})`)
    if ('http_status' in want) assert.equal(err.httpStatus, want.http_status, 'error.http_status')
    if ('previous_code' in want) assert.equal(err.previous?.cozeCode ?? null, want.previous_code, 'error.previous_code')
    if ('previous_credential' in want) assert.equal(err.previous?.credential ?? null, want.previous_credential, 'error.previous_credential')
    for (const key of STRANDED_ERROR_KEYS) {
      if (key in want) assert.equal(err[STRANDED_ERROR_PROPS[key]], want[key], `error.${key} (${err.message})`)
    }
    if ('message_contains' in want) assert.ok(err.message.includes(want.message_contains), `error message ${JSON.stringify(err.message)} lacks ${JSON.stringify(want.message_contains)}`)
    checkOAuthError(want, err)
  } else if (err) {
    assert.fail(`unexpected error: ${err.code} ${err.message}`)
  }
  checkMoved(expect, out)
  if ('status' in expect) assert.equal(out.status, expect.status, 'status')
  if ('credential' in expect) assert.equal(out.credential, expect.credential, 'credential')
  if ('attempts' in expect) assert.equal(out.attempts, expect.attempts, 'attempts')
  if ('json_code' in expect) {
    let body = null
    try {
      body = JSON.parse(out.body ?? 'null')
    } catch {}
    assert.deepEqual(body?.code, expect.json_code, 'json_code')
  }
  if ('body_contains' in expect) assert.ok((out.body ?? '').includes(expect.body_contains), `body_contains ${JSON.stringify(expect.body_contains)} in ${out.body}`)
  const names = out.events.map((e) => e.event)
  if ('events_min' in expect) assert.ok(names.length >= expect.events_min, `events_min ${expect.events_min}: ${names}`)
  if ('events_before_error' in expect) assert.equal(names.length, expect.events_before_error, `events_before_error: ${names}`)
  if ('first_event' in expect) assert.equal(names[0], expect.first_event, `first_event: ${names}`)
  if ('last_event' in expect) assert.equal(names[names.length - 1], expect.last_event, `last_event: ${names}`)
  if ('elapsed_ms_min' in expect) assert.ok(out.elapsed >= expect.elapsed_ms_min, `elapsed_ms_min ${expect.elapsed_ms_min}: took ${out.elapsed} ms`)
}

/** The scenario's `conversation_stranded` error keys and the CozeError properties they name. */
const STRANDED_ERROR_PROPS = { conversation_id: 'conversationId', file_id: 'fileId', conversation_owner: 'conversationOwner', bot_credential: 'botCredential' }
const STRANDED_ERROR_KEYS = Object.keys(STRANDED_ERROR_PROPS)

/** `data_len` (length of the body's `data` array) and `conversation_moved` (`false`, or the fields given). */
function checkMoved(expect, out) {
  if ('data_len' in expect) {
    let body = null
    try {
      body = JSON.parse(out.body ?? 'null')
    } catch {}
    assert.equal(Array.isArray(body?.data) ? body.data.length : null, expect.data_len, 'data_len')
  }
  if (!('conversation_moved' in expect)) return
  const want = expect.conversation_moved
  if (want === false) {
    assert.equal(out.moved ?? null, null, `conversation_moved: expected none, got ${JSON.stringify(out.moved)}`)
    return
  }
  assertMoved(want, out.moved, 'conversation_moved')
  if (out.events.length > 0) assertMoved(want, out.movedAtFirstEvent, 'conversation_moved at the first event')
}

/** `got` (a ConversationMoved) has the fields of `want` (`from`, `to`, `messages_copied`, each optional). */
function assertMoved(want, got, what) {
  checkKeys(want, ['from', 'to', 'messages_copied'], `expect.${what}`)
  assert.ok(got != null, `${what}: expected ${JSON.stringify(want)}, got none`)
  if ('from' in want) assert.equal(got.from, want.from, `${what}.from`)
  if ('to' in want) assert.equal(got.to, want.to, `${what}.to`)
  if ('messages_copied' in want) assert.equal(got.messagesCopied, want.messages_copied, `${what}.messages_copied`)
  assert.ok(typeof got.to === 'string' && got.to !== '' && got.to !== got.from, `${what}: the new id must differ from the old: ${JSON.stringify(got)}`)
}

/** Waits (at most 2 s) until the hook recorded `n` calls, then one more moment for any unexpected extra call. */
async function settleHook(calls, n) {
  for (let i = 0; i < 200 && calls.length < n; i++) await new Promise((r) => setTimeout(r, 10))
  await new Promise((r) => setTimeout(r, 50))
}

/** Opens a session, sends `send` at once (held until the first event), reads until `until`, the end or an error. */
async function websocketCall(client, spec) {
  checkKeys(spec, ['path', 'query', 'send', 'on', 'until'], 'websocket')
  const query = spec.query ? Object.entries(spec.query).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]) : undefined
  const rules = spec.on ?? []
  for (const rule of rules) checkKeys(rule, ['event', 'send'], 'websocket.on')
  const started = performance.now()
  const out = { events: [], close: null, logid: false }
  let session
  try {
    session = await client.websocket(spec.path, { query })
  } catch (e) {
    fromError(e, out)
    out.elapsed = performance.now() - started
    return out
  }
  try {
    for (const event of spec.send ?? []) {
      try {
        await session.send(event)
      } catch (e) {
        if (!(e instanceof CozeError)) throw e
        out.error = e
      }
    }
    if (!out.error) await readSession(session, rules, spec.until, out)
    out.credential = session.credential
    out.attempts = session.attempts
    out.close = session.closeCode
    out.logid = session.logid != null
  } finally {
    out.elapsed = performance.now() - started
    await session.close()
  }
  return out
}

async function readSession(session, rules, until, out) {
  try {
    for await (const event of session) {
      const name = Buffer.isBuffer(event) ? 'binary' : String(event.event_type)
      for (const rule of rules) if (rule.event === name) await session.send(rule.send)
      out.events.push({ event: name, data: Buffer.isBuffer(event) ? '' : JSON.stringify(event.data ?? null), id: event.id ?? null })
      if (name === until) return
    }
  } catch (e) {
    if (!(e instanceof CozeError)) throw e
    out.error = e
  }
}

function checkWebsocket(expect, out) {
  const names = out.events.map((e) => e.event)
  if ('events' in expect) assert.deepEqual(names, expect.events, 'events')
  if ('close_code' in expect) assert.equal(out.close, expect.close_code, 'close_code')
  if ('logid' in expect) assert.equal(out.logid, expect.logid, `logid present`)
}

function pointer(doc, ptr) {
  if (ptr === '') return doc
  let cur = doc
  for (const raw of ptr.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (cur === null || typeof cur !== 'object' || !(key in cur)) return undefined
    cur = cur[key]
  }
  return cur
}

function checkMock(expect, stats) {
  checkKeys(expect, ['token_mints', 'requests_by_credential', 'by_path', 'total_requests', 'websocket_handshakes', 'websocket_sessions'], 'expect_mock')
  const ws = stats.websocket ?? {}
  for (const [name, n] of Object.entries(expect.websocket_handshakes ?? {})) {
    const got = name === 'total' ? ws.handshakes : ws.by_credential?.[name]
    assert.equal(got ?? 0, n, `mock websocket_handshakes.${name}`)
  }
  if ('websocket_sessions' in expect) checkSessions(expect.websocket_sessions, ws.sessions ?? [])
  const sections = { token_mints: stats.token_mints, requests_by_credential: stats.requests.by_credential, by_path: stats.requests.by_path }
  for (const [key, got] of Object.entries(sections)) {
    for (const [name, n] of Object.entries(expect[key] ?? {})) {
      assert.equal(got?.[name] ?? 0, n, `mock ${key}.${name}`)
    }
  }
  if ('total_requests' in expect) assert.equal(stats.requests.total, expect.total_requests, 'mock total_requests')
}

/** The mock's WebSocket sessions, in order, each on the fields listed. */
function checkSessions(want, got) {
  assert.ok(Array.isArray(want), 'websocket_sessions must be an array')
  for (const w of want) checkKeys(w, ['credential', 'outcome', 'status', 'code', 'pong', 'received', 'received_ids'], 'websocket_sessions[]')
  assert.equal(got.length, want.length, `mock websocket_sessions: expected ${want.length} session(s), got ${JSON.stringify(got)}`)
  want.forEach((w, i) => {
    for (const [key, value] of Object.entries(w)) {
      const received = got[i].received ?? []
      const actual = key === 'received' ? received.map((r) => r.event_type ?? null) : key === 'received_ids' ? received.map((r) => r.id ?? null) : got[i][key]
      assert.deepEqual(actual ?? null, value, `mock websocket_sessions[${i}].${key}`)
    }
  })
}

/** The scenario keys (conversation and OBO ones included), and a step's. */
const SCENARIO_KEYS = ['name', 'description', 'mock', 'config', 'steps', 'expect_mock', 'expect_config_error', 'expect_hook', 'obo_login', 'expect_refresh_hook']
const STEP_KEYS = ['request', 'stream', 'upload', 'concurrent', 'repeat', 'set_mode', 'mock', 'sleep_ms', 'expect', 'save', 'websocket', 'save_moved_to', 'map_conversation', 'new_client', 'fetch_token', 'oauth_refresh']

/** The OAuth keys of `expect.error`. */
const OAUTH_ERROR_KEYS = ['oauth_error', 'authorize_url_contains']

/** Where every OBO login "redirects" (nothing listens: the mock hands out the code). */
const REDIRECT = 'http://127.0.0.1:9/callback'

function checkOAuthError(want, err) {
  if ('oauth_error' in want) assert.equal(err.oauthError, want.oauth_error, `error.oauth_error (${err.message})`)
  if ('authorize_url_contains' in want) {
    assert.ok(Array.isArray(want.authorize_url_contains), 'authorize_url_contains must be an array')
    assert.ok(err.authorizeUrl, `error.authorize_url: expected one, got none (${err.message})`)
    for (const part of want.authorize_url_contains) assert.ok(err.authorizeUrl.includes(part), `authorize URL ${err.authorizeUrl} lacks ${part}`)
  }
}

/** The scenario's OAuth app on the mock: a web app with the client secret, or a public (PKCE, device) one. */
function oauthApp(vars, withSecret) {
  return new OAuthApp({ baseUrl: vars.BASE_URL, clientId: vars.OAUTH_CLIENT_ID, clientSecret: withSecret ? vars.OAUTH_CLIENT_SECRET : undefined })
}

/** The login's authorize URL carries the client id, the redirect URI and a state (PKCE: an S256 challenge). */
function checkAuthorizeUrl(auth, vars, pkce) {
  const q = new URL(auth.url).searchParams
  assert.equal(q.get('client_id'), vars.OAUTH_CLIENT_ID, `client_id in ${auth.url}`)
  assert.ok(auth.url.includes('redirect_uri=' + encodeURIComponent(REDIRECT)), `redirect_uri in ${auth.url}`)
  assert.ok(q.get('state') && q.get('state') === auth.state, `state in ${auth.url}`)
  if (!pkce) return null
  assert.ok(q.get('code_challenge') && q.get('code_challenge_method') === 'S256', `an S256 challenge in ${auth.url}`)
  assert.ok(auth.codeVerifier, 'PKCE gave no code verifier')
  return q.get('code_challenge')
}

/** `obo_login`: code, PKCE or device flow with the package's OAuthApp; the tokens become placeholders. */
async function oboLogin(flow, vars) {
  const app = oauthApp(vars, flow === 'code')
  let token
  if (flow === 'device') {
    const device = await app.deviceCode()
    assert.ok(device.deviceCode && device.userCode && device.verificationUri, 'an incomplete device code')
    await mock.approveDevice({ user_code: device.userCode })
    token = await app.waitDeviceToken(device)
  } else if (flow === 'code' || flow === 'pkce') {
    const auth = app.authorizeUrl(REDIRECT, { pkce: flow === 'pkce' })
    const challenge = checkAuthorizeUrl(auth, vars, flow === 'pkce')
    const body = challenge ? { redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256' } : { redirect_uri: REDIRECT }
    const { code } = await mock.oauthCode(body)
    token = await app.exchangeCode(code, REDIRECT, auth.codeVerifier)
  } else {
    throw new Error(`obo_login must be code, pkce or device, not ${JSON.stringify(flow)}`)
  }
  assert.ok(token.accessToken && token.refreshToken, 'the login gave an empty token')
  vars.OBO_ACCESS_TOKEN = token.accessToken
  vars.OBO_REFRESH_TOKEN = token.refreshToken
}

/** The refresh token of the config's `oauth` credential (personal first). */
function configuredRefreshToken(config) {
  const cred = [config?.personal, config?.enterprise].find((c) => c?.type === 'oauth')
  return cred?.refresh_token ?? null
}

/** `expect_refresh_hook`: the calls' credentials in order, each with fresh, rotated tokens. */
async function checkRefreshHook(want, calls, config) {
  assert.ok(Array.isArray(want), 'expect_refresh_hook must be an array')
  await settleHook(calls, want.length)
  assert.deepEqual(calls.map((c) => c.credential), want.map((w) => w.credential), 'refresh hook calls')
  const seen = [configuredRefreshToken(config)]
  calls.forEach((c, i) => {
    assert.ok(c.accessToken && c.refreshToken, `refresh hook call ${i}: an empty token`)
    assert.ok(!seen.includes(c.refreshToken), `refresh hook call ${i}: the refresh token did not rotate`)
    assert.ok(c.expiresAt > Date.now() / 1000, `refresh hook call ${i}: expires_at ${c.expiresAt} is not in the future`)
    seen.push(c.refreshToken)
  })
}

/** A `fetch_token` or `oauth_refresh` step: what it ended with, as a call's outcome. */
async function oboStep(run, step, vars) {
  const out = { events: [] }
  try {
    if ('fetch_token' in step) {
      await run.client.fetchToken(step.fetch_token)
      return out
    }
    let token
    if (step.oauth_refresh === 'hooked') {
      await settleHook(run.refreshes, 1)
      token = run.refreshes.at(-1)?.refreshToken
      if (!token) throw new Error('oauth_refresh hooked: the refresh hook was never called')
    } else if (step.oauth_refresh === 'configured') {
      token = configuredRefreshToken(run.config)
      if (!token) throw new Error('oauth_refresh configured: no oauth refresh_token in config')
    } else throw new Error('oauth_refresh must be hooked or configured')
    const fresh = await oauthApp(vars, true).refresh(token)
    assert.ok(fresh.accessToken && fresh.refreshToken, 'oauth_refresh: an empty access or refresh token')
  } catch (e) {
    fromError(e, out)
  }
  return out
}

function configError(scenario, config) {
  checkKeys(scenario.expect_config_error, ['message_contains'], 'expect_config_error')
  let err
  try {
    new Client(config).close()
  } catch (e) {
    err = e
  }
  assert.ok(err, 'expected a config error, the client was built')
  assert.ok(err instanceof CozeError, `expected a CozeError, got ${err}`)
  assert.equal(err.code, 'COZE_CONFIG', err.message)
  for (const s of scenario.expect_config_error.message_contains) assert.ok(err.message.includes(s), `config error ${JSON.stringify(err.message)} does not mention ${JSON.stringify(s)}`)
}

/** A client of the scenario with both recording hooks (new_client builds more). */
function newClient(run) {
  const client = new Client(run.config)
  client.onConversationMoved((from, to, messagesCopied) => run.hookCalls.push({ from, to, messagesCopied }))
  client.setRefreshHook((r) => run.refreshes.push(r))
  return client
}

async function runScenario(scenario) {
  checkKeys(scenario, SCENARIO_KEYS, 'scenario')
  await mock.reset()
  if (scenario.mock) await mock.state(scenario.mock)
  const vars = { ...baseVars }
  if ('obo_login' in scenario) await oboLogin(scenario.obo_login, vars)
  const config = substitute(scenario.config, vars)
  if (scenario.expect_config_error) return configError(scenario, config)
  // Every client of the scenario records its onConversationMoved and refresh hook calls here.
  const run = { config, hookCalls: [], refreshes: [] }
  run.client = newClient(run)
  try {
    for (const [i, rawStep] of (scenario.steps ?? []).entries()) {
      try {
        await runStep(run, substitute(rawStep, vars), vars)
      } catch (e) {
        e.message = `step ${i}: ${e.message}`
        throw e
      }
    }
    if (scenario.expect_hook) {
      const want = substitute(scenario.expect_hook, vars)
      assert.ok(Array.isArray(want), 'expect_hook must be an array')
      await settleHook(run.hookCalls, want.length)
      assert.equal(run.hookCalls.length, want.length, `hook: expected ${want.length} call(s), got ${JSON.stringify(run.hookCalls)}`)
      want.forEach((w, n) => assertMoved(w, run.hookCalls[n], `hook call ${n}`))
    }
    if (scenario.expect_refresh_hook) await checkRefreshHook(scenario.expect_refresh_hook, run.refreshes, config)
  } finally {
    run.client.close()
  }
  if (scenario.expect_mock) checkMock(scenario.expect_mock, await mock.stats())
}

async function runStep(run, step, vars) {
  checkKeys(step, STEP_KEYS, 'step')
  const expect = step.expect ?? {}
  if ('set_mode' in step) run.client.setMode(step.set_mode)
  else if ('map_conversation' in step) {
    checkKeys(step.map_conversation, ['from', 'to'], 'map_conversation')
    run.client.mapConversation(step.map_conversation.from, step.map_conversation.to)
  } else if ('new_client' in step) {
    if (step.new_client !== true) throw new Error('new_client must be true')
    // A fresh client knows no conversation binding (an app restart).
    run.client.close()
    run.client = newClient(run)
  } else if ('mock' in step) await mock.state(step.mock)
  else if ('sleep_ms' in step) await new Promise((r) => setTimeout(r, step.sleep_ms))
  else if ('fetch_token' in step || 'oauth_refresh' in step) check(expect, await oboStep(run, step, vars))
  else if ('websocket' in step) {
    for (let n = 0; n < (step.repeat ?? 1); n++) {
      const out = await websocketCall(run.client, step.websocket)
      check(expect, out, WS_EXPECT)
      checkWebsocket(expect, out)
    }
  } else if ('concurrent' in step) {
    const outs = await Promise.all(Array.from({ length: step.concurrent }, () => call(run.client, step)))
    for (const out of outs) check(expect, out)
  } else await repeatedCalls(run.client, step, expect, vars)
}

/** A call `repeat` times (once by default), keeping what `save` and `save_moved_to` name. */
async function repeatedCalls(client, step, expect, vars) {
  for (let n = 0; n < (step.repeat ?? 1); n++) {
    const out = await call(client, step)
    check(expect, out)
    if ('save_moved_to' in step) {
      if (out.moved == null) throw new Error('save_moved_to: the call reported no conversation_moved')
      vars[step.save_moved_to] = out.moved.to
    }
    for (const [name, ptr] of Object.entries(step.save ?? {})) {
      const v = pointer(JSON.parse(out.body ?? 'null'), ptr)
      if (v === undefined) throw new Error(`save: ${ptr} not in body`)
      vars[name] = typeof v === 'string' ? v : JSON.stringify(v)
    }
  }
}

test('the runner fails on an unknown step, expectation or scenario key', async () => {
  const config = { base_url: '${BASE_URL}', personal: { type: 'pat', token: '${PERSONAL_PAT}' } }
  const request = { method: 'GET', path: '/v1/workspaces' }
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ teleport: {} }] }), /unknown key `teleport` in step/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ request, expect: { colour: 'red' } }] }), /unknown key `colour` in expect/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ request, expect: { error: { kind: 'api', hue: 1 } } }] }), /unknown key `hue` in expect.error|expected error/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [], expect_mock: { ghosts: 1 } }), /unknown key `ghosts` in expect_mock/)
  await assert.rejects(runScenario({ name: 'x', config, surprise: true }), /unknown key `surprise` in scenario/)
  const websocket = { path: '/v1/chat', query: { bot_id: '${BOT_1}' }, until: 'chat.created' }
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ websocket: { ...websocket, colour: 1 } }] }), /unknown key `colour` in websocket/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ websocket, expect: { hue: 1 } }] }), /unknown key `hue` in expect/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ websocket: { ...websocket, on: [{ event: 'a', then: {} }] } }] }), /unknown key `then` in websocket.on/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [], expect_mock: { websocket_sessions: [{ mood: 1 }] } }), /unknown key `mood` in websocket_sessions/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ map_conversation: { from: 'a', to: 'b', via: 'c' } }] }), /unknown key `via` in map_conversation/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ request, expect: { conversation_moved: { hue: 1 } } }] }), /unknown key `hue` in expect.conversation_moved/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ request, expect: { conversation_moved: { from: 'a' } } }] }), /conversation_moved: expected \{"from":"a"\}, got none/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [], expect_hook: [{ from: 'a' }] }), /hook: expected 1 call\(s\), got \[\]/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ fetch_token: 'personal', expect: { error: { kind: 'auth', oauth_hue: 1 } } }] }), /unknown key `oauth_hue` in expect.error/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [{ oauth_refresh: 'sideways' }] }), /oauth_refresh must be hooked or configured/)
  await assert.rejects(runScenario({ name: 'x', config, obo_login: 'telepathy', steps: [] }), /obo_login must be code, pkce or device/)
  await assert.rejects(runScenario({ name: 'x', config, steps: [], expect_refresh_hook: [{ credential: 'personal' }] }), /refresh hook calls/)
})

for (const file of [...files, ...wsFiles, ...conversationFiles, ...oboFiles]) {
  test(`scenario ${file.replace(/\.json$/, '')}`, async () => {
    const scenario = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))
    await runScenario(scenario)
  })
}
