// Run in a worker thread by runtime.test.mjs: one call through the addon; posts its status and credential
// (or the error) back, then closes the client so the worker can exit.
const { parentPort, workerData } = require('node:worker_threads')
const { Client } = require('cozefallback')

const client = new Client(workerData.config)
client.get(workerData.path).then(
  (r) => parentPort.postMessage({ status: r.status, credential: r.credential }),
  (e) => parentPort.postMessage({ error: `${e.code}: ${e.message}` }),
).finally(() => client.close())
