'use strict'
// cozefallback: a Coze OpenAPI client with a personal and an enterprise credential that moves each request to
// the one that works. The native core (Rust, via napi-rs) decides everything; this package converts types.

const native = require('./binding.js')
const { Client, CozeResponse, CozeStream, WebSocketSession } = require('./lib/client.js')
const { createWebSocketClass } = require('./lib/coze-ws.js')
const { CozeError, CODES } = require('./lib/errors.js')
const { OAuthApp, OAuthToken, DeviceCode, AuthorizeUrl } = require('./lib/oauth.js')
const { TokenRefresh } = require('./lib/tokens.js')
const { setLogger, LOG_LEVELS } = require('./lib/log.js')
const { cozeAxiosAdapter, cozeAxiosInstance } = require('./lib/axios.js')

/** The version of the native core. */
const coreVersion = native.coreVersion()

module.exports = {
  Client,
  CozeResponse,
  CozeStream,
  WebSocketSession,
  createWebSocketClass,
  CozeError,
  ErrorCodes: CODES,
  OAuthApp,
  OAuthToken,
  TokenRefresh,
  DeviceCode,
  AuthorizeUrl,
  setLogger,
  LOG_LEVELS,
  cozeAxiosAdapter,
  cozeAxiosInstance,
  coreVersion,
}
