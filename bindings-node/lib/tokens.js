'use strict'
// Objects that hold OAuth secrets. The secret values read normally through their properties (`token.accessToken`),
// but util.inspect / console.log and JSON.stringify show '***' in their place, so a token never lands in a log
// line or a serialized object by accident. To store a token, copy the properties you need explicitly.

const util = require('node:util')

const MASK = '***'

/** '***' for a secret that is set, the value itself (null/undefined) when it is not. */
function mask(secret) {
  return secret == null ? secret : MASK
}

/** util.inspect of `shown` (the masked view) under the class name. */
function inspectAs(name, shown, depth, options, inspect) {
  if (depth < 0) return `[${name}]`
  return `${name} ${inspect(shown, { ...options, depth: options.depth == null ? null : options.depth - 1 })}`
}

/** Tokens from an OAuth exchange, refresh or device flow. Store `refreshToken`: it rotates on every refresh. */
class OAuthToken {
  #accessToken
  #refreshToken
  constructor(t) {
    this.#accessToken = t.accessToken
    this.#refreshToken = t.refreshToken ?? null
    /** Unix seconds at which the access token expires. */
    this.expiresAt = t.expiresAt
  }
  /** The access token (a secret). */
  get accessToken() {
    return this.#accessToken
  }
  /** The refresh token (a secret), or null. */
  get refreshToken() {
    return this.#refreshToken
  }
  /** This token as an `oauth` credential of the config schema (for `personal` or `enterprise`). */
  oauthConfig(clientId, clientSecret) {
    const c = { type: 'oauth', client_id: clientId, access_token: this.#accessToken }
    if (clientSecret != null) c.client_secret = clientSecret
    if (this.#refreshToken != null) c.refresh_token = this.#refreshToken
    if (this.expiresAt) c.expires_at = this.expiresAt
    return c
  }
  /** The masked view (what JSON.stringify writes). */
  toJSON() {
    return { accessToken: mask(this.#accessToken), refreshToken: mask(this.#refreshToken), expiresAt: this.expiresAt }
  }
  [util.inspect.custom](depth, options, inspect) {
    return inspectAs('OAuthToken', this.toJSON(), depth, options, inspect)
  }
}

/** What a refresh hook receives after an OBO refresh rotated the tokens: store `refreshToken`. */
class TokenRefresh {
  #accessToken
  #refreshToken
  constructor(r) {
    /** `"personal"` or `"enterprise"`. */
    this.credential = r.credential
    this.#accessToken = r.accessToken
    this.#refreshToken = r.refreshToken ?? null
    /** Unix seconds. */
    this.expiresAt = r.expiresAt
  }
  /** The new access token (a secret). */
  get accessToken() {
    return this.#accessToken
  }
  /** The new refresh token (a secret): the old one no longer works. */
  get refreshToken() {
    return this.#refreshToken
  }
  toJSON() {
    return { credential: this.credential, accessToken: mask(this.#accessToken), refreshToken: mask(this.#refreshToken), expiresAt: this.expiresAt }
  }
  [util.inspect.custom](depth, options, inspect) {
    return inspectAs('TokenRefresh', this.toJSON(), depth, options, inspect)
  }
}

/** A device-flow start: show `userCode` and `verificationUri` to the user; `deviceCode` is the app's secret. */
class DeviceCode {
  #deviceCode
  constructor(d) {
    this.#deviceCode = d.deviceCode
    this.userCode = d.userCode
    this.verificationUri = d.verificationUri
    /** Seconds the codes stay valid. */
    this.expiresIn = d.expiresIn
    /** Seconds between polls. */
    this.interval = d.interval
  }
  /** The code the app polls with (a secret). */
  get deviceCode() {
    return this.#deviceCode
  }
  toJSON() {
    return { deviceCode: mask(this.#deviceCode), userCode: this.userCode, verificationUri: this.verificationUri, expiresIn: this.expiresIn, interval: this.interval }
  }
  [util.inspect.custom](depth, options, inspect) {
    return inspectAs('DeviceCode', this.toJSON(), depth, options, inspect)
  }
}

/** An authorize URL: send the browser to `url`; keep `state` and `codeVerifier` (PKCE, a secret) for the exchange. */
class AuthorizeUrl {
  #codeVerifier
  constructor(a) {
    this.url = a.url
    this.state = a.state
    this.#codeVerifier = a.codeVerifier ?? null
  }
  /** The PKCE code verifier (a secret), or null without PKCE. */
  get codeVerifier() {
    return this.#codeVerifier
  }
  toJSON() {
    return { url: this.url, state: this.state, codeVerifier: mask(this.#codeVerifier) }
  }
  [util.inspect.custom](depth, options, inspect) {
    return inspectAs('AuthorizeUrl', this.toJSON(), depth, options, inspect)
  }
}

module.exports = { OAuthToken, TokenRefresh, DeviceCode, AuthorizeUrl }
