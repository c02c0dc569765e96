'use strict'
// The public Promise API over the native client. Type conversion only: every decision (routing, fallback,
// retries, tokens) is the core's.

const fs = require('node:fs')
const nodePath = require('node:path')
const native = require('../binding.js')
const { sync, wrap, CozeError } = require('./errors.js')
const { TokenRefresh } = require('./tokens.js')
const { WebSocketSession, attachSessionSignal } = require('./websocket.js')

/** Normalizes `{k: v}`, `URLSearchParams`, `Headers`, a `Map` or `[[k, v], ...]` to string pairs. */
function toPairs(value, what) {
  if (value == null) return undefined
  let entries
  if (Array.isArray(value)) entries = value
  else if (typeof value.entries === 'function' && typeof value.get === 'function') entries = Array.from(value.entries())
  else if (typeof value === 'object') entries = Object.entries(value)
  else throw new TypeError(`${what} must be an object, a Map or an array of [name, value] pairs`)
  const out = []
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2) throw new TypeError(`each ${what} entry must be a [name, value] pair`)
    const [k, v] = entry
    if (v === undefined || v === null) continue
    if (Array.isArray(v)) for (const item of v) out.push([String(k), String(item)])
    else out.push([String(k), String(v)])
  }
  return out
}

function toBuffer(data, what) {
  if (Buffer.isBuffer(data)) return data
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  throw new TypeError(`${what} must be a Buffer, a Uint8Array, an ArrayBuffer or a string`)
}

/** Builds the native request from the public options. */
function nativeRequest(method, path, opts = {}) {
  if (typeof method !== 'string' || typeof path !== 'string') throw new TypeError('method and path must be strings')
  const req = { method, path }
  const query = toPairs(opts.query, 'query')
  if (query) req.query = query
  const headers = toPairs(opts.headers, 'headers')
  if (headers) req.headers = headers
  if (opts.json !== undefined && opts.body !== undefined) throw new TypeError('pass either json or body, not both')
  if (opts.json !== undefined) {
    const text = JSON.stringify(opts.json)
    if (text === undefined) throw new TypeError('json is not serializable')
    req.json = text
  } else if (opts.body !== undefined && opts.body !== null) {
    req.body = toBuffer(opts.body, 'body')
    if (opts.contentType != null) req.contentType = String(opts.contentType)
  }
  // The range (more than 0, at most a day) is checked by the core: COZE_INVALID_ARGUMENT naming timeoutMs.
  if (opts.timeoutMs != null) req.timeoutMs = Number(opts.timeoutMs)
  if (opts.retryNonIdempotent != null) req.retryNonIdempotent = Boolean(opts.retryNonIdempotent)
  return req
}

/** Response headers as an object with lower-case names (repeated headers joined with ", "). */
function headerObject(pairs) {
  const out = {}
  for (const [k, v] of pairs) {
    const key = k.toLowerCase()
    out[key] = key in out ? `${out[key]}, ${v}` : v
  }
  return out
}

/** A native `{from, to, messagesCopied}` as a frozen plain object, or null when nothing moved. */
function toMoved(m) {
  if (m == null) return null
  return Object.freeze({ from: m.from, to: m.to, messagesCopied: m.messagesCopied })
}

/** A successful answer. */
class CozeResponse {
  constructor(r) {
    const meta = r.meta
    /** HTTP status. */
    this.status = meta.status
    /** Response headers, lower-case names. */
    this.headers = headerObject(r.headers)
    /** Response headers as received: `[name, value]` pairs in order. */
    this.rawHeaders = r.headers
    /** The body. */
    this.body = r.body
    /** `"personal"` or `"enterprise"`: the credential that served it. */
    this.credential = meta.credential
    /** HTTP attempts, fallback and retries included (token requests excluded). */
    this.attempts = meta.attempts
    /** The Coze log id, or null. */
    this.logid = meta.logid ?? null
    /**
     * `{from, to, messagesCopied}` when the call named a conversation stranded by the move and the core sent it
     * to a new one (store `to` in place of `from`); null otherwise.
     */
    this.conversationMoved = toMoved(meta.conversationMoved)
  }
  /** The body as UTF-8 text. */
  text() {
    return this.body.toString('utf8')
  }
  /** The body parsed as JSON. */
  json() {
    return JSON.parse(this.text())
  }
}

function toEvent(ev) {
  return { event: ev.event, data: ev.data, id: ev.id ?? null }
}

/**
 * A server-sent event stream: an async iterable of `{event, data, id}`. The request is sent when the stream is
 * created; leaving a `for await` loop early (break, return, throw) closes the connection. An AbortSignal that
 * fires before the end makes `next()` (and so `for await`) throw a CozeError with code COZE_CANCELLED.
 */
class CozeStream {
  constructor(opening) {
    this._native = null
    this._closed = false
    this._done = false
    this._aborted = false
    /** Removes the AbortSignal listener (set by Client.stream). */
    this._detachAbort = () => {}
    this._opening = wrap(opening).then((s) => {
      this._native = s
      if (this._closed) s.close()
      else if (this._aborted) s.abort()
      return s
    })
    // An error surfaces on next()/open() (every time they are called); never as an unhandled rejection.
    this._opening.catch(() => this._detachAbort())
  }

  /** The AbortSignal fired: unless the stream already ended, next() now rejects with COZE_CANCELLED. */
  _abort() {
    if (this._done || this._closed || this._aborted) return
    this._aborted = true
    if (this._native) this._native.abort()
  }

  /** Waits until the stream is open (the response head accepted); resolves to the stream itself. */
  async open() {
    await this._opening
    return this
  }

  /** The core's metadata of the open stream (status, credential, attempts, logid, conversationMoved), or null. */
  get _meta() {
    return this._native ? this._native.meta : null
  }

  /** The credential serving this stream (after open). */
  get credential() {
    return this._meta?.credential ?? null
  }
  /** HTTP attempts it took to open the stream (after open). */
  get attempts() {
    return this._meta?.attempts ?? null
  }
  /** HTTP status (after open). */
  get status() {
    return this._meta?.status ?? null
  }
  /** The Coze log id (after open). */
  get logid() {
    return this._meta?.logid ?? null
  }
  /** Response headers with lower-case names (after open). */
  get headers() {
    return this._native ? headerObject(this._native.headers) : null
  }
  /**
   * After open: `{from, to, messagesCopied}` when the chat named a stranded conversation (it was carried over
   * before the stream opened, so this is set before the first event arrives); null otherwise.
   */
  get conversationMoved() {
    return this._meta ? toMoved(this._meta.conversationMoved) : null
  }

  /** The next event: `{done: false, value: {event, data, id}}`, or `{done: true}` at the end. */
  async next() {
    const ev = await this._read((s) => s.next())
    return ev == null ? { done: true, value: undefined } : { done: false, value: toEvent(ev) }
  }

  /**
   * For the axios adapter: the next event as SSE text framed by the core (a Buffer), or null at the end. Ends,
   * closes and rejects exactly as next() does.
   */
  async _nextSse() {
    return (await this._read((s) => s.nextSse())) ?? null
  }

  /** One native read (`next` or `nextSse`), with the stream's end, close and abort rules; null at the end. */
  async _read(read) {
    // Once aborted, the native read gives the core's Cancelled error, however often it is asked.
    if (this._closed || (this._done && !this._aborted)) return null
    const s = await this._opening
    if (this._closed) return null
    let got
    try {
      got = await wrap(read(s))
    } catch (e) {
      this._done = true
      this._detachAbort()
      throw e
    }
    if (got == null) {
      this._done = true
      this._detachAbort()
      return null
    }
    return got
  }

  /** Closes the stream (called by `for await` when the loop is left early). */
  async return(value) {
    this.close()
    return { done: true, value }
  }

  /** Closes the stream and its connection. Idempotent; a pending next() resolves to done. */
  close() {
    if (this._closed) return
    this._closed = true
    this._done = true
    this._detachAbort()
    if (this._native) this._native.close()
  }

  [Symbol.asyncIterator]() {
    return this
  }
}

async function readFileArg(file) {
  if (typeof file === 'string') {
    return { filename: nodePath.basename(file), data: await fs.promises.readFile(file) }
  }
  if (file instanceof URL) {
    return { filename: nodePath.basename(file.pathname), data: await fs.promises.readFile(file) }
  }
  if (Buffer.isBuffer(file) || ArrayBuffer.isView(file) || file instanceof ArrayBuffer) {
    return { filename: 'file', data: toBuffer(file, 'file') }
  }
  if (file && typeof file === 'object' && 'data' in file) {
    return { filename: String(file.filename ?? file.name ?? 'file'), data: toBuffer(file.data, 'file.data') }
  }
  throw new TypeError('file must be a path, a Buffer/Uint8Array, or {filename, data}')
}

let nextCancelId = 1

/**
 * Wires an AbortSignal to a native call: an abort cancels the call in the core (it rejects with COZE_CANCELLED).
 * Returns a function that detaches the listener once the call settled.
 */
function attachSignal(native, req, signal) {
  if (signal == null) return () => {}
  if (typeof signal.addEventListener !== 'function') throw new TypeError('signal must be an AbortSignal')
  const id = nextCancelId
  nextCancelId = nextCancelId >= 0x7fffffff ? 1 : nextCancelId + 1
  req.cancelId = id
  const onAbort = () => native.cancel(id)
  if (signal.aborted) onAbort()
  else signal.addEventListener('abort', onAbort, { once: true })
  return () => signal.removeEventListener('abort', onAbort)
}

/** The keys of a Client's second argument. */
const CLIENT_OPTIONS = ['onConversationMoved']

/** Checks a Client's second argument: `undefined`, or an object with only known keys. */
function clientOptions(options) {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object such as {onConversationMoved}')
  for (const key of Object.keys(options)) {
    if (!CLIENT_OPTIONS.includes(key)) throw new TypeError(`unknown Client option \`${key}\`; known: ${CLIENT_OPTIONS.join(', ')}`)
  }
  return options
}

/** Checks one conversation id argument of mapConversation / mappedConversation (the core checks emptiness). */
function conversationIdArg(value, name, method) {
  if (typeof value !== 'string') {
    throw new TypeError(`${method}: \`${name}\` must be a conversation id (a string), got ${value === null ? 'null' : typeof value}`)
  }
  return value
}

/** The dual-credential Coze client. */
class Client {
  /**
   * @param {object|string} config the shared configuration schema, as an object (or its JSON text)
   * @param {{onConversationMoved?: Function|null}} [options] `onConversationMoved`: as `client.onConversationMoved()`
   */
  constructor(config, options) {
    const opts = clientOptions(options)
    if (config instanceof native.NativeClient) {
      this._native = config
    } else {
      if (config == null || (typeof config !== 'object' && typeof config !== 'string')) {
        throw new TypeError('config must be an object in the cozefallback schema (or its JSON text)')
      }
      const text = typeof config === 'string' ? config : JSON.stringify(config)
      this._native = sync(() => new native.NativeClient(text))
    }
    if (opts.onConversationMoved != null) this.onConversationMoved(opts.onConversationMoved)
  }

  /** Builds a client from the official SDKs' environment variables (COZE_API_BASE, COZE_API_TOKEN, ...). */
  static fromEnv(options) {
    const opts = clientOptions(options)
    return new Client(sync(() => native.NativeClient.fromEnv()), opts)
  }

  /** Sends one request through the fallback. Any Coze error rejects with a CozeError. */
  async request(method, path, opts) {
    const req = nativeRequest(method, path, opts)
    const detach = attachSignal(this._native, req, opts?.signal)
    try {
      return new CozeResponse(await wrap(this._native.request(req)))
    } finally {
      detach()
    }
  }

  /** `GET path`; `opts.query` for the query string. */
  get(path, opts) {
    return this.request('GET', path, opts)
  }

  /** `POST path` with a JSON body. */
  post(path, json, opts) {
    return this.request('POST', path, json === undefined ? opts : { ...opts, json })
  }

  /** Uploads one file as multipart (part `file`): a path, a Buffer/Uint8Array, or `{filename, data}`. */
  async upload(path, file, opts = {}) {
    const { filename, data } = await readFileArg(file)
    const req = nativeRequest('POST', path, { ...opts, json: undefined, body: undefined })
    req.body = data
    req.uploadFilename = filename
    const detach = attachSignal(this._native, req, opts.signal)
    try {
      return new CozeResponse(await wrap(this._native.request(req)))
    } finally {
      detach()
    }
  }

  /** Opens a server-sent event stream: `for await (const ev of client.stream('POST', '/v3/chat', {json}))`. */
  stream(method, path, opts) {
    let req
    let detach
    const signal = opts?.signal
    try {
      req = nativeRequest(method, path, opts)
      detach = attachSignal(this._native, req, signal)
    } catch (e) {
      return new CozeStream(Promise.reject(e))
    }
    const stream = new CozeStream(this._native.stream(req))
    stream._opening.then(detach, detach)
    if (signal != null) {
      // After the head: an abort closes the connection and makes next() reject with COZE_CANCELLED.
      const onAbort = () => stream._abort()
      if (signal.aborted) onAbort()
      else {
        signal.addEventListener('abort', onAbort, { once: true })
        stream._detachAbort = () => signal.removeEventListener('abort', onAbort)
      }
    }
    return stream
  }

  /**
   * Opens a realtime WebSocket session (`/v1/chat`, `/v1/audio/speech`, `/v1/audio/transcriptions`) with the
   * fallback: `const session = await client.websocket('/v1/chat', {query: {bot_id}})`. `opts.signal` aborts the
   * opening, and later a pending `next()` (COZE_CANCELLED).
   */
  async websocket(path, opts = {}) {
    if (typeof path !== 'string') throw new TypeError('path must be a string')
    const query = toPairs(opts.query, 'query')
    const req = {}
    const detach = attachSignal(this._native, req, opts.signal)
    let native
    try {
      native = await wrap(this._native.websocket(path, query ?? null, req.cancelId ?? null))
    } finally {
      detach()
    }
    const session = new WebSocketSession(native)
    attachSessionSignal(session, opts.signal)
    return session
  }

  /** Mints (or checks) a credential's token now: `"personal"` or `"enterprise"`. */
  async fetchToken(credential) {
    await wrap(this._native.fetchToken(credential))
  }

  /** The cut-over switch: personal_first | enterprise_first | personal_only | enterprise_only. */
  setMode(mode) {
    sync(() => this._native.setMode(mode))
  }

  /** The routing mode in force. */
  get mode() {
    return sync(() => this._native.mode())
  }

  /** The configured base URL. */
  get baseUrl() {
    return sync(() => this._native.baseUrl())
  }

  /** Counters and histograms (JSON snapshot). */
  metrics() {
    return JSON.parse(sync(() => this._native.metrics()))
  }

  /** The same as Prometheus text. */
  metricsPrometheus() {
    return sync(() => this._native.metricsPrometheus())
  }

  /**
   * Called after an OBO refresh rotated the tokens, with `{credential, accessToken, refreshToken, expiresAt}`:
   * store the new refresh token (the old one no longer works). `null` removes the hook.
   */
  setRefreshHook(hook) {
    if (hook != null && typeof hook !== 'function') throw new TypeError('hook must be a function or null')
    // The tokens reach the hook in a TokenRefresh, which masks them in util.inspect and JSON.stringify.
    sync(() => this._native.setRefreshHook(hook == null ? null : (r) => hook(new TokenRefresh(r))))
  }

  /**
   * Calls `callback(from, to, messagesCopied)` once per carry-over of a conversation stranded by the move, on
   * the JS thread, soon after the core created the new conversation: store `to` in place of `from` and pass the
   * pair to `mapConversation` after a restart. `null` removes the callback. It does not keep the process alive;
   * a callback that throws becomes a process warning, never a crash.
   *
   *     client.onConversationMoved((from, to, copied) => db.replaceConversation(from, to))
   */
  onConversationMoved(callback) {
    if (callback != null && typeof callback !== 'function') throw new TypeError('onConversationMoved: callback must be a function or null')
    const deliver = (m) => {
      try {
        callback(m.from, m.to, m.messagesCopied)
      } catch (e) {
        process.emitWarning(`the cozefallback onConversationMoved callback threw: ${e && e.message ? e.message : e}`, 'CozefallbackWarning')
      }
    }
    sync(() => this._native.setConversationHook(callback == null ? null : deliver))
  }

  /**
   * Preloads a mapping the app stored from an earlier carry-over (after a restart): calls naming `from` are
   * sent to `to` instead (nothing is probed or copied again). A non-string throws TypeError; an empty id, or
   * `to` equal to `from`, throws COZE_INVALID_ARGUMENT.
   *
   *     client.mapConversation('7480000000000000001', '7480000000000000002')
   */
  mapConversation(from, to) {
    conversationIdArg(from, 'from', 'mapConversation')
    conversationIdArg(to, 'to', 'mapConversation')
    sync(() => this._native.mapConversation(from, to))
  }

  /** The conversation a call naming `from` uses now (carried over or mapped), or null. */
  mappedConversation(from) {
    conversationIdArg(from, 'from', 'mappedConversation')
    return sync(() => this._native.mappedConversation(from)) ?? null
  }

  /** Whether close() was called. */
  get closed() {
    return this._native.closed
  }

  /**
   * Cancels the calls and streams in flight (they reject with COZE_CANCELLED at once) and releases the client,
   * without waiting; later calls reject with COZE_INVALID_ARGUMENT. Idempotent.
   */
  close() {
    this._native.close()
  }
}

module.exports = { Client, CozeResponse, CozeStream, CozeError, WebSocketSession, nativeRequest }
