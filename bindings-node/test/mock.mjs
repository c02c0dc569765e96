// Starts one coze-mock per test file and talks to its control API.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))

/** The repository root: COZE_REPO_ROOT (set by test.sh when the tests run from a copy), else ../.. */
export const repoRoot = process.env.COZE_REPO_ROOT ?? path.resolve(here, '..', '..')

export function mockBinary() {
  return process.env.COZE_MOCK_BIN ?? path.join(repoRoot, 'target', 'x86_64-unknown-linux-gnu', 'debug', 'coze-mock')
}

/** Starts the mock; `{ tls: true }` serves HTTPS (its CA at `info.ca_file`, also `mock.ca`). */
export async function startMock({ tls = false } = {}) {
  const child = spawn(mockBinary(), tls ? ['--tls'] : [], { stdio: ['ignore', 'pipe', 'inherit'] })
  const info = await new Promise((resolve, reject) => {
    let buf = ''
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`coze-mock exited with ${code}`)))
    child.stdout.on('data', (d) => {
      buf += d
      const lines = buf.split('\n')
      if (lines.length > 2) resolve(JSON.parse(lines[1]))
    })
  })
  child.stdout.resume()
  const base = info.base_url
  const ca = info.ca_file ? fs.readFileSync(info.ca_file) : undefined
  // Node's fetch cannot be given a CA; node:https can.
  const call = (method, p, body) =>
    ca ? httpsCall(base + p, method, body, ca) : fetch(base + p, { method, headers: { 'content-type': 'application/json' }, body })
      .then(async (r) => ({ ok: r.ok, status: r.status, text: await r.text() }))
  const post = async (p, body) => {
    const r = await call('POST', p, JSON.stringify(body ?? {}))
    if (!r.ok) throw new Error(`mock ${p}: HTTP ${r.status} ${r.text}`)
    return r.text ? JSON.parse(r.text) : null
  }
  return {
    info,
    base,
    reset: () => post('/__mock/reset'),
    state: (s) => post('/__mock/state', s),
    oauthCode: (b) => post('/__mock/oauth/code', b),
    approveDevice: (b) => post('/__mock/oauth/device/approve', b),
    stats: async () => JSON.parse((await call('GET', '/__mock/stats')).text),
    ca,
    /** A two-PAT config on this mock. */
    patConfig: (extra = {}) => ({
      base_url: base,
      personal: { type: 'pat', token: info.personal_pat },
      enterprise: { type: 'pat', token: info.enterprise_pat },
      retry: { base_delay_ms: 10, max_delay_ms: 200 },
      ...extra,
    }),
    stop: () => {
      child.removeAllListeners('exit')
      child.kill()
    },
  }
}

function httpsCall(url, method, body, ca) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers: { 'content-type': 'application/json' }, timeout: 10000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ ok: res.statusCode < 300, status: res.statusCode, text }))
    })
    req.on('timeout', () => req.destroy(new Error(`mock ${url}: no answer within 10 s`)))
    req.on('error', reject)
    req.end(body)
  })
}
