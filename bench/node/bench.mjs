// Node benchmarks, side by side in one script, against coze-mock on loopback, after the workspace moved:
//   seed     @coze/api 1.3 with the migration guide's hand-written retry (a personal client; on 4100/4101 an enterprise one)
//   ours     cozefallback's Client (sticky routing: after the first fallback, one round trip per request)
//   drop-in  @coze/api with cozeAxiosAdapter(client): the SDK's typed API over cozefallback
// 1. time per request (sequential, interleaved rounds): mean / p50 / p99 and round trips per request;
// 2. throughput with 64 requests in flight.
//
// node bench.mjs [--requests N] [--inflight-requests N] [--mock PATH]   (see run.sh)
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..', '..')
// Resolve both packages from bindings-node (its devDependencies hold @coze/api; the package refers to itself).
const require = createRequire(path.join(root, 'bindings-node', 'package.json'))
const { Client, cozeAxiosAdapter } = require('cozefallback')
const { CozeAPI } = require('@coze/api')
const sdkVersion = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('@coze/api')), '..', '..', 'package.json'), 'utf8')).version

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : dflt
}
const REQUESTS = Number(arg('--requests', 1500))
const INFLIGHT_REQUESTS = Number(arg('--inflight-requests', 6000))
const INFLIGHT = 64
const mockBin = arg('--mock', process.env.COZE_MOCK_BIN ?? path.join(root, 'target/x86_64-unknown-linux-gnu/release/coze-mock'))

async function startMock() {
  const child = spawn(mockBin, [], { stdio: ['ignore', 'pipe', 'inherit'] })
  const info = await new Promise((resolve, reject) => {
    let buf = ''
    child.on('error', reject)
    child.stdout.on('data', (d) => {
      buf += d
      const lines = buf.split('\n')
      if (lines.length > 2) resolve(JSON.parse(lines[1]))
    })
  })
  child.stdout.resume()
  const post = (p, body) => fetch(info.base_url + p, { method: 'POST', body: JSON.stringify(body ?? {}) }).then((r) => r.text())
  return { info, child, post, stats: () => fetch(info.base_url + '/__mock/stats').then((r) => r.json()) }
}

const mock = await startMock()
const { info } = mock
await mock.post('/__mock/reset')
await mock.post('/__mock/state', { moved: true })

const bot = info.bots[0]
const params = { bot_id: bot, user_id: 'bench-user', additional_messages: [{ role: 'user', content: 'hi', content_type: 'text' }] }
const body = { ...params, stream: false }

// The migration guide's recipe, as in the migration guide, with @coze/api.
const seedPersonal = new CozeAPI({ baseURL: info.base_url, token: info.personal_pat })
const seedEnterprise = new CozeAPI({ baseURL: info.base_url, token: info.enterprise_pat })
async function seed() {
  try {
    return await seedPersonal.chat.create(params)
  } catch (e) {
    if (e.code === 4101 || e.code === 4100) return seedEnterprise.chat.create(params)
    throw e
  }
}

const client = new Client({
  base_url: info.base_url,
  personal: { type: 'pat', token: info.personal_pat },
  enterprise: { type: 'pat', token: info.enterprise_pat },
})
async function ours() {
  const r = await client.request('POST', '/v3/chat', { json: body })
  return r.json().data
}

const dropInApi = new CozeAPI({ baseURL: info.base_url, token: 'unused', axiosOptions: { adapter: cozeAxiosAdapter(client) } })
async function dropIn() {
  return dropInApi.chat.create(params)
}

const setups = { seed, ours, 'drop-in': dropIn }

async function roundTrips(fn, n) {
  const before = (await mock.stats()).requests.total
  for (let i = 0; i < n; i++) await fn()
  return ((await mock.stats()).requests.total - before) / n
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * p))]

console.log(`Node ${process.version}, @coze/api ${sdkVersion} vs cozefallback (core ${require('cozefallback').coreVersion}), mock ${mockBin}`)
console.log(`workspace moved: every request is for a bot only the enterprise credential reaches\n`)

// Warm up every path (connections, sticky route, JIT).
for (const fn of Object.values(setups)) for (let i = 0; i < 100; i++) await fn()

const trips = {}
for (const [name, fn] of Object.entries(setups)) trips[name] = await roundTrips(fn, 100)

// 1. Sequential time per request, interleaved rounds so drift hits every setup alike.
const lat = Object.fromEntries(Object.keys(setups).map((k) => [k, []]))
const ROUNDS = 10
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(setups)) {
    for (let i = 0; i < REQUESTS / ROUNDS; i++) {
      const t = process.hrtime.bigint()
      await fn()
      lat[name].push(Number(process.hrtime.bigint() - t) / 1e6)
    }
  }
}
console.log(`1. time per request, ${REQUESTS} sequential chat.create each`)
console.log('   setup      round trips   mean ms   p50 ms   p99 ms')
const summary = {}
for (const [name, xs] of Object.entries(lat)) {
  xs.sort((a, b) => a - b)
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  summary[name] = { mean, p50: pct(xs, 0.5), p99: pct(xs, 0.99) }
  console.log(`   ${name.padEnd(9)}  ${trips[name].toFixed(2).padStart(11)}   ${mean.toFixed(3).padStart(7)}  ${pct(xs, 0.5).toFixed(3).padStart(7)}  ${pct(xs, 0.99).toFixed(3).padStart(7)}`)
}
console.log(`   => ours is ${(summary.seed.mean / summary.ours.mean).toFixed(2)}x faster than the guide's recipe per request (mean), ${(summary.seed.p50 / summary.ours.p50).toFixed(2)}x at p50 (goal >= 2x)`)
console.log(`   => the drop-in is ${(summary.seed.mean / summary['drop-in'].mean).toFixed(2)}x faster than the guide's recipe (mean)\n`)

// 2. Throughput with 64 in flight.
async function throughput(fn, total) {
  let next = 0
  const t = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (next < total) {
        next++
        await fn()
      }
    }),
  )
  return total / (Number(process.hrtime.bigint() - t) / 1e9)
}
const rps = Object.fromEntries(Object.keys(setups).map((k) => [k, []]))
for (let r = 0; r < 3; r++) for (const [name, fn] of Object.entries(setups)) rps[name].push(await throughput(fn, INFLIGHT_REQUESTS / 3))
console.log(`2. throughput, ${INFLIGHT} requests in flight, ${INFLIGHT_REQUESTS} requests each (best of 3 interleaved runs)`)
const best = {}
for (const [name, xs] of Object.entries(rps)) {
  best[name] = Math.max(...xs)
  console.log(`   ${name.padEnd(9)}  ${best[name].toFixed(0).padStart(7)} req/s   (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`)
}
console.log(`   => ours: ${(best.ours / best.seed).toFixed(2)}x the migration guide's throughput; drop-in: ${(best['drop-in'] / best.seed).toFixed(2)}x`)

client.close()
mock.child.kill()
