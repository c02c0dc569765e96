'use strict'
// CozeError: the one error class of the package. The native side throws errors whose message is the core's JSON
// form of the error (Error::to_json, docs/FORMS.md, plus "cozefallback_error": true); this file only translates
// it: every key becomes a property in camelCase (http_status -> httpStatus), with two Node-specific names:
// code = 'COZE_' + kind.toUpperCase() (Node's convention: a string constant; COZE_API, COZE_CONFIG, COZE_AUTH,
// COZE_REAUTH_REQUIRED, COZE_TRANSPORT, COZE_TIMEOUT, COZE_STREAM_INTERRUPTED, COZE_CONVERSATION_STRANDED, and
// COZE_CANCELLED, COZE_INVALID_ARGUMENT, COZE_INTERNAL for misuse/bugs), so the Coze business code is `cozeCode`;
// `previous` is a CozeError (also `cause`).

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

/** The keys of the core's JSON form, in its order (ERROR_JSON_KEYS in core/src/forms.rs). */
const JSON_KEYS = Object.freeze([
  'kind', 'message', 'code', 'coze_message', 'http_status', 'logid', 'credential', 'attempts', 'field',
  'authorize_url', 'oauth_error', 'events_delivered', 'conversation_id', 'file_id', 'conversation_owner',
  'bot_credential', 'response', 'previous',
])

/** Keys the constructor handles itself rather than copying. */
const OWN = new Set(['kind', 'message', 'previous', 'cozefallback_error'])

/** Defaults of the counts when a hand-built info leaves them out (the native side always sends every key). */
const COUNTS = Object.freeze({ attempts: 0, events_delivered: 0 })

/** The property a JSON key lands on: its camelCase (`http_status` -> `httpStatus`), but `code` -> `cozeCode`. */
function propertyName(key) {
  return key === 'code' ? 'cozeCode' : key.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
}

class CozeError extends Error {
  /**
   * Builds the error from the core's JSON form (docs/FORMS.md): `kind`, `message`, `code`, `coze_message`,
   * `http_status`, `logid`, `credential`, `attempts`, `field`, `authorize_url`, `oauth_error`,
   * `events_delivered`, `conversation_id`, `file_id`, `conversation_owner`, `bot_credential`, `response`,
   * `previous`. Each lands on the property of the same name in camelCase (`code` on `cozeCode`, since `code`
   * is Node's string constant); a missing value is null (0 for the counts). A key the core adds later is
   * copied the same way, never dropped.
   *
   *     const err = new CozeError({ kind: 'api', message: 'not found', code: 4200 })
   *     err.code // 'COZE_API'; err.cozeCode // 4200
   *
   * @param {object} info the core error's JSON form (snake_case keys, as the native side sends them)
   */
  constructor(info) {
    super(info.message, info.previous ? { cause: new CozeError(info.previous) } : undefined)
    this.name = 'CozeError'
    /** The stable kind name (`api`, `config`, ...; the conformance scenarios' names). */
    this.kind = info.kind
    /** Node's string constant for the kind: `'COZE_' + kind.toUpperCase()`. */
    this.code = 'COZE_' + String(info.kind).toUpperCase()
    for (const key of new Set([...JSON_KEYS, ...Object.keys(info)])) {
      if (!OWN.has(key)) this[propertyName(key)] = info[key] ?? COUNTS[key] ?? null
    }
    /** When both credentials failed: the first credential's error (the same object as `cause`). */
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
