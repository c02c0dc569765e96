'use strict'
// CozeError: the one error class of the package. The native side throws errors whose message is the core
// error as JSON ({"cozefallback_error": true, "kind": ..., ...}); this file only translates it, field by field.
// code = 'COZE_' + kind.toUpperCase(): COZE_API, COZE_CONFIG, COZE_AUTH, COZE_REAUTH_REQUIRED, COZE_TRANSPORT,
// COZE_TIMEOUT, COZE_STREAM_INTERRUPTED, COZE_CONVERSATION_STRANDED (and COZE_CANCELLED, COZE_INVALID_ARGUMENT, COZE_INTERNAL for misuse/bugs).

const CODES = Object.freeze({
  API: 'COZE_API',
  CONFIG: 'COZE_CONFIG',
  AUTH: 'COZE_AUTH',
  REAUTH_REQUIRED: 'COZE_REAUTH_REQUIRED',
  TRANSPORT: 'COZE_TRANSPORT',
  TIMEOUT: 'COZE_TIMEOUT',
  STREAM_INTERRUPTED: 'COZE_STREAM_INTERRUPTED',
  CONVERSATION_STRANDED: 'COZE_CONVERSATION_STRANDED',
  CANCELLED: 'COZE_CANCELLED',
  INVALID_ARGUMENT: 'COZE_INVALID_ARGUMENT',
  INTERNAL: 'COZE_INTERNAL',
})

class CozeError extends Error {
  /**
   * @param {object} info the core error's fields (snake_case, as the native side sends them)
   */
  constructor(info) {
    super(info.message, info.previous ? { cause: new CozeError(info.previous) } : undefined)
    this.name = 'CozeError'
    this.kind = info.kind
    this.code = 'COZE_' + String(info.kind).toUpperCase()
    this.cozeCode = info.code ?? null
    this.httpStatus = info.http_status ?? null
    this.logid = info.logid ?? null
    this.credential = info.credential ?? null
    this.attempts = info.attempts ?? 0
    this.field = info.field ?? null
    this.authorizeUrl = info.authorize_url ?? null
    this.oauthError = info.oauth_error ?? null
    this.eventsDelivered = info.events_delivered ?? 0
    /** Coze's own message (`msg` of the answer), when there is one. */
    this.cozeMessage = info.coze_message ?? null
    /** COZE_CONVERSATION_STRANDED: the conversation the call named, when it named one. */
    this.conversationId = info.conversation_id ?? null
    /** COZE_CONVERSATION_STRANDED about a file: the file id the call named (files are never carried over). */
    this.fileId = info.file_id ?? null
    /** COZE_CONVERSATION_STRANDED: `"personal"` or `"enterprise"`, the credential that owns the conversation (or file). */
    this.conversationOwner = info.conversation_owner ?? null
    /** COZE_CONVERSATION_STRANDED: the credential that reaches the bot or workflow now. */
    this.botCredential = info.bot_credential ?? null
    /** The failed answer as the server sent it: `{status, headers: [[name, value]], body}` (API and auth errors). */
    this.response = info.response ?? null
    /** When both credentials failed: the first credential's error. */
    this.previous = this.cause ?? null
  }
}

/** Turns an error thrown by the native module into a CozeError; anything else is returned unchanged. */
function fromNative(err) {
  if (err && typeof err.message === 'string' && err.message.startsWith('{"')) {
    let info
    try {
      info = JSON.parse(err.message)
    } catch {
      return err
    }
    if (info && info.cozefallback_error === true) return new CozeError(info)
  }
  return err
}

/** Calls fn and maps what it throws. */
function sync(fn) {
  try {
    return fn()
  } catch (e) {
    throw fromNative(e)
  }
}

/** Awaits a native promise and maps its rejection. */
async function wrap(promise) {
  try {
    return await promise
  } catch (e) {
    throw fromNative(e)
  }
}

module.exports = { CozeError, CODES, fromNative, sync, wrap }
