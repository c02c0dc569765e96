// Starts one coze-mock per test file and talks to its control API.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))

/** The repository root: COZE_REPO_ROOT (set by test.sh when the tests run from a copy), else ../.. */
export const repoRoot = process.env.COZE_REPO_ROOT ?? path.resolve(here, '..', '..')

export function mockBinary() {
  return process.env.COZE_MOCK_BIN ?? path.join(repoRoot, 'target', 'x86_64-unknown-linux-gnu', 'debug', 'coze-mock')
}

export async function startMock() {
  const child = spawn(mockBinary(), [], { stdio: ['ignore', 'pipe', 'inherit'] })
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
  const post = async (p, body) => {
    const r = await fetch(base + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) })
    const text = await r.text()
    if (!r.ok) throw new Error(`mock ${p}: HTTP ${r.status} ${text}`)
    return text ? JSON.parse(text) : null
  }
  return {
    info,
    base,
    reset: () => post('/__mock/reset'),
    state: (s) => post('/__mock/state', s),
    oauthCode: (b) => post('/__mock/oauth/code', b),
    approveDevice: (b) => post('/__mock/oauth/device/approve', b),
    stats: async () => (await fetch(base + '/__mock/stats')).json(),
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
