// The CommonJS entry: `require('cozefallback')` works and runs a request.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Client, CozeError, ErrorCodes } = require('cozefallback')

test('require: the package loads and maps errors', async () => {
  assert.equal(typeof Client, 'function')
  assert.equal(ErrorCodes.CONFIG, 'COZE_CONFIG')
  assert.throws(() => new Client({ base_url: 'ftp://nope', personal: { type: 'pat', token: 'pat_x' } }), (e) => e instanceof CozeError && e.code === 'COZE_CONFIG')
  // Nothing listens on port 9 of the loopback: a transport error, not a crash.
  const client = new Client({ base_url: 'http://127.0.0.1:9', allow_insecure_http: true, personal: { type: 'pat', token: 'pat_x' }, retry: { max_retries: 0 } })
  await assert.rejects(client.get('/v1/workspaces'), (e) => e instanceof CozeError && e.code === 'COZE_TRANSPORT')
  client.close()
})
