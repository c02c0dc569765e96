'use strict'
// OAuth helpers for OBO (user) credentials over the core's OAuthApp: authorize URL (with PKCE), code exchange,
// refresh, device flow start / poll / wait.

const native = require('../binding.js')
const { sync, wrap } = require('./errors.js')

class OAuthApp {
  /**
   * @param {{baseUrl?: string, clientId: string, clientSecret?: string, allowInsecureHttp?: boolean}} opts
   *   clientSecret only for web apps; allowInsecureHttp permits http:// to a non-loopback host
   */
  constructor(opts) {
    if (!opts || typeof opts !== 'object') throw new TypeError('OAuthApp needs {baseUrl, clientId, clientSecret?}')
    const baseUrl = opts.baseUrl ?? 'https://api.coze.cn'
    const insecure = opts.allowInsecureHttp === true
    this._native = sync(() => new native.NativeOAuthApp(baseUrl, String(opts.clientId ?? ''), opts.clientSecret ?? null, insecure))
  }

  /** `{url, state, codeVerifier}`: send the browser to url; keep state and codeVerifier (PKCE) for the exchange. */
  authorizeUrl(redirectUri, opts = {}) {
    const r = this._native.authorizeUrl(redirectUri, opts.workspaceId ?? null, opts.pkce ?? true)
    return { url: r.url, state: r.state, codeVerifier: r.codeVerifier ?? null }
  }

  /** Exchanges the code from the redirect: `{accessToken, refreshToken, expiresAt}`. */
  async exchangeCode(code, redirectUri, codeVerifier) {
    return token(await wrap(this._native.exchangeCode(code, redirectUri, codeVerifier ?? null)))
  }

  /** Refreshes; the answer carries a new refresh token and the old one stops working. */
  async refresh(refreshToken) {
    return token(await wrap(this._native.refresh(refreshToken)))
  }

  /** Starts the device flow: `{deviceCode, userCode, verificationUri, expiresIn, interval}`. */
  async deviceCode(opts = {}) {
    const d = await wrap(this._native.deviceCode(opts.workspaceId ?? null))
    return { deviceCode: d.deviceCode, userCode: d.userCode, verificationUri: d.verificationUri, expiresIn: d.expiresIn, interval: d.interval }
  }

  /** Same as deviceCode(). */
  startDevice(opts) {
    return this.deviceCode(opts)
  }

  /** Polls once; a CozeError with oauthError 'authorization_pending' or 'slow_down' means "ask again later". */
  async pollDeviceToken(deviceCode) {
    const code = typeof deviceCode === 'string' ? deviceCode : deviceCode.deviceCode
    return token(await wrap(this._native.pollDeviceToken(code)))
  }

  /** Polls until the user approves (honouring interval and slow_down) or the code expires. */
  async waitDeviceToken(device) {
    return token(await wrap(this._native.waitDeviceToken(device)))
  }
}

function token(t) {
  return {
    accessToken: t.accessToken,
    refreshToken: t.refreshToken ?? null,
    expiresAt: t.expiresAt,
    /** This token as an `oauth` credential of the config schema (for `personal` or `enterprise`). */
    oauthConfig(clientId, clientSecret) {
      const c = { type: 'oauth', client_id: clientId, access_token: this.accessToken }
      if (clientSecret != null) c.client_secret = clientSecret
      if (this.refreshToken != null) c.refresh_token = this.refreshToken
      if (this.expiresAt) c.expires_at = this.expiresAt
      return c
    },
  }
}

module.exports = { OAuthApp }
