// The core's URL rules through Node: OAuthApp's allowInsecureHttp and its refusal of a base URL with a path, and
// a client base_url with user info refused without the password in the error.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import util from 'node:util'
import { Client, OAuthApp } from 'cozefallback'

test('OAuthApp takes allowInsecureHttp and refuses a baseUrl with a path', () => {
  assert.throws(() => new OAuthApp({ baseUrl: 'http://coze.internal:8080', clientId: '1130' }),
    (e) => e.code === 'COZE_CONFIG' && /allow_insecure_http/.test(e.message))
  new OAuthApp({ baseUrl: 'http://coze.internal:8080', clientId: '1130', allowInsecureHttp: true })
  assert.throws(() => new OAuthApp({ baseUrl: 'https://api.coze.cn/api/', clientId: '1130' }),
    (e) => e.code === 'COZE_CONFIG' && /no path/.test(e.message))
})

test('a base_url with user info is refused without the password', () => {
  const password = 'pw-node-userinfo-secret'
  let err
  try {
    new Client({ base_url: `http://admin:${password}@127.0.0.1:9`, personal: { type: 'pat', token: 'pat_x' } })
  } catch (e) {
    err = e
  }
  assert.equal(err?.code, 'COZE_CONFIG')
  const shown = `${err.message} ${err.stack} ${util.inspect(err)} ${JSON.stringify(err)}`
  assert.ok(!shown.includes(password), shown)
})
