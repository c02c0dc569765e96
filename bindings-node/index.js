'use strict'
// cozefallback: a Coze OpenAPI client with a personal and an enterprise credential that moves each request to
// the one that works. The native core (Rust, via napi-rs) decides everything; this package converts types.

const native = require('./binding.js')
const { Client, CozeResponse, CozeStream } = require('./lib/client.js')
const { CozeError, CODES } = require('./lib/errors.js')
const { OAuthApp } = require('./lib/oauth.js')
const { cozeAxiosAdapter, cozeAxiosInstance } = require('./lib/axios.js')

/** The version of the native core. */
const coreVersion = native.coreVersion()

module.exports = {
  Client,
  CozeResponse,
  CozeStream,
  CozeError,
  ErrorCodes: CODES,
  OAuthApp,
  cozeAxiosAdapter,
  cozeAxiosInstance,
  coreVersion,
}
