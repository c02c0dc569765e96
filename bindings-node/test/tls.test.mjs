// HTTPS for real, from Node: the TLS mock trusted through tls.ca_file and through SSL_CERT_FILE, an untrusted
// certificate refused with COZE_TRANSPORT naming TLS, and an HTTPS_PROXY CONNECT proxy (written here) that carries
// the call without ever seeing the token. The environment is only changed in child processes: the core reads it
// when a client is built.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import net from 'node:net'
import { Client, CozeError, OAuthApp } from 'cozefallback'
import { startMock } from './mock.mjs'

const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy', 'REQUEST_METHOD', 'SSL_CERT_FILE', 'SSL_CERT_DIR']

let mock
before(async () => {
  mock = await startMock({ tls: true })
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

const chat = (stream = false) => ({
  bot_id: mock.info.bots[0],
  user_id: 'user-1',
  stream,
  additional_messages: [{ role: 'user', content: 'hi', content_type: 'text' }],
})
const withCa = () => mock.patConfig({ tls: { ca_file: mock.info.ca_file } })

async function waitFor(check, ms = 5000) {
  const deadline = Date.now() + ms
  while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
}

// A child process with a chosen environment: builds a client, makes one chat call, prints the outcome as JSON.
const CHILD = `
const { Client } = require('cozefallback')
const [config, body] = process.argv.slice(1).map((a) => JSON.parse(a))
;(async () => {
  let client
  try {
    client = new Client(config)
    const r = await client.post('/v3/chat', body)
    console.log(JSON.stringify({ ok: true, status: r.status, code: r.json().code, credential: r.credential }))
  } catch (e) {
    console.log(JSON.stringify({ ok: false, code: e.code, message: e.message, field: e.field ?? null }))
  } finally {
    client?.close()
  }
})()
`

function runChild(config, env = {}) {
  const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !PROXY_VARS.includes(k)))
  Object.assign(childEnv, env)
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', CHILD, JSON.stringify(config), JSON.stringify(chat())], { env: childEnv, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`child failed: ${err.message}\n${stderr}`))
      resolve(JSON.parse(stdout.trim().split('\n').pop()))
    })
  })
}

test('tls.ca_file trusts the TLS mock, over HTTP/2', async () => {
  assert.match(mock.base, /^https:\/\/127\.0\.0\.1:\d+$/)
  const client = new Client(withCa())
  const r = await client.post('/v3/chat', chat())
  assert.equal(r.status, 200)
  assert.equal(r.json().code, 0)
  const events = []
  for await (const ev of client.stream('POST', '/v3/chat', { json: chat(true) })) events.push(ev.event)
  assert.equal(events.length, 7)
  assert.equal(events.at(-1), 'done')
  await mock.state({ moved: true })
  assert.equal((await client.post('/v3/chat', chat())).credential, 'enterprise')
  client.close()
  const { requests } = await mock.stats()
  assert.deepEqual(requests.by_http_version, { 'HTTP/2': requests.total })
})

test('an untrusted certificate rejects with COZE_TRANSPORT naming TLS, no request sent', async () => {
  const client = new Client(mock.patConfig()) // no tls.ca_file
  await assert.rejects(client.post('/v3/chat', chat()), (e) => {
    assert.ok(e instanceof CozeError)
    assert.equal(e.code, 'COZE_TRANSPORT')
    assert.match(e.message, /TLS handshake with 127\.0\.0\.1:\d+ failed/)
    assert.match(e.message, /certificate is not signed by a trusted certificate authority/)
    assert.match(e.message, /tls\.ca_file/)
    assert.doesNotMatch(e.message, /UnknownIssuer|Custom \{/)
    return true
  })
  client.close()
  await waitFor(async () => (await mock.stats()).tls_handshake_failures > 0)
  const stats = await mock.stats()
  assert.equal(stats.requests.total, 0)
  assert.equal(stats.tls_handshake_failures, 1, 'a refused certificate is not retried')
})

test('a bad tls.ca_file is COZE_CONFIG naming the field', () => {
  assert.throws(() => new Client(mock.patConfig({ tls: { ca_file: '/nonexistent/ca.pem' } })), (e) => {
    assert.equal(e.code, 'COZE_CONFIG')
    assert.equal(e.field, 'tls.ca_file')
    assert.match(e.message, /no such file/)
    return true
  })
})

test('SSL_CERT_FILE trusts the TLS mock (child process)', async () => {
  const ok = await runChild(mock.patConfig(), { SSL_CERT_FILE: mock.info.ca_file })
  assert.deepEqual(ok, { ok: true, status: 200, code: 0, credential: 'personal' })
  const refused = await runChild(mock.patConfig())
  assert.equal(refused.code, 'COZE_TRANSPORT')
  assert.match(refused.message, /TLS.*certificate/)
  const missing = await runChild(mock.patConfig(), { SSL_CERT_FILE: '/nonexistent/bundle.pem' })
  assert.equal(missing.code, 'COZE_CONFIG')
  assert.equal(missing.field, 'SSL_CERT_FILE')
})

/** A loopback proxy: `CONNECT host:port` opens a tunnel and relays both ways, recording every byte. */
async function startConnectProxy() {
  const seen = { requestLines: [], relayed: [] }
  const server = net.createServer((client) => {
    let head = Buffer.alloc(0)
    const onData = (d) => {
      head = Buffer.concat([head, d])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      client.off('data', onData)
      const line = head.subarray(0, head.indexOf('\r\n')).toString('latin1')
      seen.requestLines.push(line)
      const [verb, target] = line.split(' ')
      if (verb !== 'CONNECT') return client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
      const i = target.lastIndexOf(':')
      const upstream = net.connect(Number(target.slice(i + 1)), target.slice(0, i), () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n')
        const rest = head.subarray(end + 4)
        if (rest.length) {
          seen.relayed.push(rest)
          upstream.write(rest)
        }
        client.on('data', (b) => { seen.relayed.push(b); upstream.write(b) })
        upstream.on('data', (b) => { seen.relayed.push(b); client.write(b) })
      })
      const close = () => { client.destroy(); upstream.destroy() }
      upstream.on('error', close).on('close', close)
      client.on('error', close).on('close', close)
    }
    client.on('data', onData)
    client.on('error', () => {})
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => server.close() }
}

test('HTTPS_PROXY carries the call through CONNECT and never sees the token', async () => {
  const proxy = await startConnectProxy()
  try {
    const result = await runChild(withCa(), { HTTPS_PROXY: proxy.url })
    assert.deepEqual(result, { ok: true, status: 200, code: 0, credential: 'personal' })
    const port = mock.base.split(':').pop()
    assert.deepEqual(proxy.seen.requestLines, [`CONNECT 127.0.0.1:${port} HTTP/1.1`])
    const relayed = Buffer.concat(proxy.seen.relayed)
    assert.equal(relayed[0], 0x16, 'a TLS handshake record first')
    assert.ok(relayed.length > 1000, `${relayed.length} bytes`)
    for (const clear of [mock.info.personal_pat, mock.info.enterprise_pat, 'Bearer', '/v3/chat', mock.info.bots[0]]) {
      assert.equal(relayed.indexOf(clear), -1, `the proxy saw ${clear} in clear`)
    }
    assert.equal((await mock.stats()).requests.total, 1)
  } finally {
    proxy.close()
  }
})

test('NO_PROXY bypasses the proxy', async () => {
  const proxy = await startConnectProxy()
  try {
    const result = await runChild(withCa(), { HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' })
    assert.equal(result.ok, true, JSON.stringify(result))
    assert.deepEqual(proxy.seen.requestLines, [])
  } finally {
    proxy.close()
  }
})

test('OAuthApp trusts caFile over HTTPS; without it COZE_TRANSPORT names TLS', async () => {
  const clientId = mock.info.oauth_client_id
  const app = new OAuthApp({ baseUrl: mock.base, clientId, caFile: mock.info.ca_file })
  assert.ok((await app.deviceCode()).userCode)
  await assert.rejects(new OAuthApp({ baseUrl: mock.base, clientId }).deviceCode(), (e) => {
    assert.equal(e.code, 'COZE_TRANSPORT')
    assert.match(e.message, /TLS handshake with 127\.0\.0\.1:/)
    return true
  })
  assert.throws(() => new OAuthApp({ baseUrl: mock.base, clientId, caFile: '/nonexistent/ca.pem' }), (e) => {
    assert.equal(e.code, 'COZE_CONFIG')
    assert.equal(e.field, 'tls.ca_file')
    return true
  })
})
