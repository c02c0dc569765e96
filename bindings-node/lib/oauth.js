'use strict'
// OAuth helpers for OBO (user) credentials over the core's OAuthApp: authorize URL (with PKCE), code exchange,
// refresh, device flow start / poll / wait.

const native = require('../binding.js')
const { sync, wrap } = require('./errors.js')
const { OAuthToken, DeviceCode, AuthorizeUrl } = require('./tokens.js')

class OAuthApp {
  /**
   * @param {{baseUrl?: string, clientId: string, clientSecret?: string, allowInsecureHttp?: boolean, caFile?: string}} opts
   *   clientSecret only for web apps; allowInsecureHttp permits http:// to a non-loopback host; caFile (a PEM
   *   file of CA certificates) is trusted besides the system's roots, as a client's tls.ca_file
   */
  constructor(opts) {
    if (!opts || typeof opts !== 'object') throw new TypeError('OAuthApp needs {baseUrl, clientId, clientSecret?}')
    const baseUrl = opts.baseUrl ?? 'https://api.coze.cn'
    const insecure = opts.allowInsecureHttp === true
    if (opts.caFile != null && typeof opts.caFile !== 'string') throw new TypeError('OAuthApp caFile must be a string (a PEM file path)')
    this._native = sync(() => new native.NativeOAuthApp(baseUrl, String(opts.clientId ?? ''), opts.clientSecret ?? null, insecure, opts.caFile ?? null))
  }

  /** `{url, state, codeVerifier}`: send the browser to url; keep state and codeVerifier (PKCE) for the exchange. */
  authorizeUrl(redirectUri, opts = {}) {
    const r = this._native.authorizeUrl(redirectUri, opts.workspaceId ?? null, opts.pkce ?? true)
    return new AuthorizeUrl(r)
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
    return new DeviceCode(await wrap(this._native.deviceCode(opts.workspaceId ?? null)))
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

  /**
   * Polls until the user approves (honouring interval and slow_down) or the code expires. `expiresIn` and
   * `interval` are checked by the core: whole seconds from 1 to 86400, else COZE_INVALID_ARGUMENT.
   */
  async waitDeviceToken(device) {
    if (device == null || typeof device !== 'object') throw new TypeError('device must be the object deviceCode() resolved to')
    const code = {
      deviceCode: String(device.deviceCode ?? ''),
      userCode: String(device.userCode ?? ''),
      verificationUri: String(device.verificationUri ?? ''),
      expiresIn: Number(device.expiresIn),
      interval: Number(device.interval),
    }
    return token(await wrap(this._native.waitDeviceToken(code)))
  }
}

function token(t) {
  return new OAuthToken(t)
}

module.exports = { OAuthApp, OAuthToken, DeviceCode, AuthorizeUrl }
