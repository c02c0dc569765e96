// One tokio runtime per process, the core's: after calls of every kind, and after many concurrent ones, the
// only threads the addon added to this process are the core's `cozefallback` workers (napi starts no runtime
// of its own; its threads were named `tokio-rt-worker`). And worker_threads that load the addon one after the
// other each get working calls, also after one was terminated in the middle of a call (napi stops and restarts
// the runtime backend between them).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startMock } from './mock.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))

/** The name (`comm`) of every thread of this process, counted by name. */
function threadNames() {
  const counts = new Map()
  for (const tid of fs.readdirSync('/proc/self/task')) {
    let name
    try {
      name = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()
    } catch {
      continue // the thread ended while we looked
    }
    counts.set(name, (counts.get(name) ?? 0) + 1)
  }
  return counts
}

/** The threads in `now` that were not in `before`, by name (only names with more threads than before). */
function added(before, now) {
  const out = {}
  for (const [name, n] of now) if (n > (before.get(name) ?? 0)) out[name] = n - (before.get(name) ?? 0)
  return out
}

const chat = (bot) => ({
  bot_id: bot,
  user_id: 'user-1',
  stream: true,
  additional_messages: [{ role: 'user', content: 'hi', content_type: 'text' }],
})

let mock
let Client
let beforeAddon
before(async () => {
  mock = await startMock()
  // libuv starts its thread pool on first use: use it before the snapshot, so only the addon's threads differ.
  await fs.promises.readFile(fileURLToPath(import.meta.url))
  beforeAddon = threadNames()
  ;({ Client } = await import('cozefallback'))
})
after(() => mock?.stop())

test('after requests, streams and aborts the addon added no thread but the core runtime\'s', async () => {
  const client = new Client(mock.patConfig())
  const bot = mock.info.bots[0]
  assert.equal((await client.get(`/v1/bots/${bot}`)).status, 200)
  const events = []
  for await (const ev of client.stream('POST', '/v3/chat', { json: chat(bot) })) events.push(ev.event)
  assert.ok(events.length > 1, `the stream gave ${events}`)
  const controller = new AbortController()
  const aborted = client.get(`/v1/bots/${bot}`, { signal: controller.signal })
  controller.abort()
  await assert.rejects(aborted, (e) => e.code === 'COZE_CANCELLED')
  await client.fetchToken('personal')

  const extra = added(beforeAddon, threadNames())
  assert.ok(extra.cozefallback >= 2, `the core runtime's workers run the calls; added threads: ${JSON.stringify(extra)}`)
  assert.deepEqual(Object.keys(extra), ['cozefallback'], `threads added by the addon: ${JSON.stringify(extra)}`)
  client.close()
})

test('300 concurrent requests and 30 concurrent streams start no other runtime', async () => {
  const client = new Client(mock.patConfig())
  const bots = mock.info.bots
  const calls = Array.from({ length: 300 }, (_, i) => client.get(`/v1/bots/${bots[i % bots.length]}`))
  const streams = Array.from({ length: 30 }, async (_, i) => {
    let n = 0
    for await (const ev of client.stream('POST', '/v3/chat', { json: chat(bots[i % bots.length]) })) if (ev) n++
    return n
  })
  const answers = await Promise.all(calls)
  assert.deepEqual([...new Set(answers.map((r) => r.status))], [200])
  for (const n of await Promise.all(streams)) assert.ok(n > 1, `a stream gave ${n} events`)

  const now = threadNames()
  const extra = added(beforeAddon, now)
  assert.deepEqual(Object.keys(extra), ['cozefallback'], `threads added by the addon: ${JSON.stringify(extra)}`)
  const tokio = [...now.keys()].filter((name) => name.startsWith('tokio'))
  assert.deepEqual(tokio, [], 'no tokio runtime besides the core\'s')
  client.close()
})

test('worker threads loading the addon one after the other each get working calls', async () => {
  // A fresh process that never loads the addon on its main thread: each worker is then the only Node
  // environment using it, so napi shuts the runtime backend down when one ends and starts it for the next.
  // The first worker is terminated while its call hangs (the shutdown cancels a task in flight).
  await mock.state({ faults: [{ path: '/v1/workspaces', action: { type: 'hang' } }] })
  const worker = (name) => JSON.stringify(path.join(here, name))
  const data = (p) => JSON.stringify({ config: mock.patConfig(), path: p })
  const script = `
    import { Worker } from 'node:worker_threads'
    const run = (w) => new Promise((resolve, reject) => {
      let answer
      w.on('message', (m) => { answer = m })
      w.on('error', reject)
      w.on('exit', () => resolve(answer))
    })
    const hung = new Worker(${worker('runtime-call.worker.cjs')}, { workerData: ${data('/v1/workspaces')} })
    await new Promise((resolve) => setTimeout(resolve, 500))
    const started = performance.now()
    await hung.terminate()
    const results = [{ terminatedWithin5s: performance.now() - started < 5000 }]
    for (let i = 0; i < 2; i++) {
      results.push(await run(new Worker(${worker('runtime-call.worker.cjs')}, { workerData: ${data(`/v1/bots/${mock.info.bots[0]}`)} })))
    }
    console.log(JSON.stringify(results))
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: path.resolve(here, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  const code = await new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000)
    child.on('exit', (c, signal) => { clearTimeout(timer); resolve(c ?? signal) })
  })
  await mock.reset()
  assert.equal(code, 0, `the process ended with ${code}; it printed ${out}`)
  assert.deepEqual(JSON.parse(out), [
    { terminatedWithin5s: true },
    { status: 200, credential: 'personal' },
    { status: 200, credential: 'personal' },
  ])
})
