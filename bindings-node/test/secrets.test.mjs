// OAuth secrets never show in util.inspect / console.log or JSON.stringify of the objects that carry them, while
// the values stay readable through their properties.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import util from 'node:util'
import { Client, OAuthApp, OAuthToken, TokenRefresh } from 'cozefallback'
import { startMock } from './mock.mjs'

const REDIRECT = 'https://example.com/cb'

let mock
before(async () => {
  mock = await startMock()
})
after(() => mock?.stop())
beforeEach(() => mock.reset())

/** Every printed form of `obj` a program is likely to log or store. */
function printed(obj) {
  return [
    util.inspect(obj),
    util.inspect(obj, { showHidden: true, depth: Infinity }),
    util.inspect(obj, { customInspect: false, showHidden: true }),
    util.inspect({ nested: [obj] }, { depth: Infinity }),
    util.format('%o %O %j %s', obj, obj, obj, obj),
    JSON.stringify(obj),
    JSON.stringify({ nested: [obj] }),
    String(obj),
  ]
}

function assertHidden(obj, secrets) {
  for (const text of printed(obj)) {
    for (const secret of secrets) assert.ok(!text.includes(secret), `a secret shows in: ${text}`)
  }
}

async function userToken(app) {
  const auth = app.authorizeUrl(REDIRECT, { pkce: true })
  const challenge = new URL(auth.url).searchParams.get('code_challenge')
  const { code } = await mock.oauthCode({ redirect_uri: REDIRECT, code_challenge: challenge })
  return { auth, token: await app.exchangeCode(code, REDIRECT, auth.codeVerifier) }
}

test('OAuthToken: accessToken and refreshToken are masked in inspect and JSON, readable as properties', async () => {
  const app = new OAuthApp({ baseUrl: mock.base, clientId: mock.info.oauth_client_id, clientSecret: mock.info.oauth_client_secret })
  const { token } = await userToken(app)
  assert.ok(token instanceof OAuthToken)
  const access = token.accessToken
  const refresh = token.refreshToken
  assert.equal(typeof access, 'string')
  assert.ok(access.length > 8 && refresh.length > 8)
  assertHidden(token, [access, refresh])
  // What the printed forms do show.
  assert.match(util.inspect(token), /^OAuthToken \{ accessToken: '\*\*\*', refreshToken: '\*\*\*', expiresAt: \d+ \}$/)
  assert.deepEqual(JSON.parse(JSON.stringify(token)), { accessToken: '***', refreshToken: '***', expiresAt: token.expiresAt })
  // The values still work: as properties, in oauthConfig, and for a refresh.
  assert.equal(token.oauthConfig(mock.info.oauth_client_id).access_token, access)
  assert.equal(token.oauthConfig(mock.info.oauth_client_id).refresh_token, refresh)
  const refreshed = await app.refresh(token.refreshToken)
  assert.notEqual(refreshed.refreshToken, refresh)
  assertHidden(refreshed, [refreshed.accessToken, refreshed.refreshToken])
  const client = new Client({ base_url: mock.base, personal: refreshed.oauthConfig(mock.info.oauth_client_id) })
  assert.equal((await client.get(`/v1/bots/${mock.info.bots[0]}`)).credential, 'personal')
  client.close()
})

test('the refresh hook, the device code and the PKCE verifier are masked the same way', async () => {
  const app = new OAuthApp({ baseUrl: mock.base, clientId: mock.info.oauth_client_id, clientSecret: mock.info.oauth_client_secret })
  const { auth, token } = await userToken(app)
  assert.ok(auth.codeVerifier)
  assertHidden(auth, [auth.codeVerifier])
  assert.ok(util.inspect(auth).includes(auth.state), 'the state (not a secret) still shows')

  const stored = []
  const obo = new Client({ base_url: mock.base, personal: { ...token.oauthConfig(mock.info.oauth_client_id, mock.info.oauth_client_secret), access_token: 'czu_revoked_token' } })
  obo.setRefreshHook((r) => stored.push(r))
  await obo.get(`/v1/bots/${mock.info.bots[0]}`)
  for (let i = 0; i < 100 && stored.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
  assert.equal(stored.length, 1)
  const r = stored[0]
  assert.ok(r instanceof TokenRefresh)
  assert.equal(r.credential, 'personal')
  assert.ok(r.accessToken && r.refreshToken && r.refreshToken !== token.refreshToken)
  assertHidden(r, [r.accessToken, r.refreshToken])
  assert.equal(JSON.parse(JSON.stringify(r)).credential, 'personal')
  obo.close()

  const device = await app.deviceCode()
  assert.ok(device.deviceCode.length > 8)
  assertHidden(device, [device.deviceCode])
  assert.ok(util.inspect(device).includes(device.userCode), 'the user code (shown to the user) still shows')
  await mock.approveDevice({ user_code: device.userCode })
  assert.ok((await app.pollDeviceToken(device)).accessToken)
})
