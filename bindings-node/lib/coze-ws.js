'use strict'
// The @coze/api drop-in for realtime sessions: `createWebSocketClass(client)` returns a WebSocket constructor
// (what `websocketOptions.WebSocket` takes) backed by the core's session, so `new CozeAPI({...,
// websocketOptions: {WebSocket}}).websockets.chat.create(...)` gets the fallback.
//
// What @coze/api 1.3 does with it (through reconnecting-websocket): `new WebSocket(url, [])` where the URL
// carries the SDK's token as `authorization=Bearer ...` in the query; it checks `WebSocket.CLOSING === 2`,
// sets `binaryType`, listens with addEventListener('open' | 'message' | 'close' | 'error'), reads
// `readyState`, calls `send(text)` once open and `close(code, reason)`. On an error it reads
// `event.target._req.res.statusCode` / `.rawHeaders` (what the `ws` package exposes) to tell 401 and 403 apart.
// The token in the URL is dropped here and never sent nor logged: the core holds the credentials.

const { WebSocketSession, toBinary } = require('./websocket.js')
const { wrap } = require('./errors.js')

const CONNECTING = 0
const OPEN = 1
const CLOSING = 2
const CLOSED = 3
const STATE_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']

/** Splits the URL the SDK built into the path and the query, without the token. Never echoes the URL. */
function parseUrl(url) {
  let parsed
  try {
    parsed = new URL(String(url))
  } catch {
    throw new SyntaxError('the WebSocket URL is not a valid absolute URL (ws:// or wss://)')
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new SyntaxError(`the WebSocket URL's scheme must be ws or wss, got ${parsed.protocol.replace(/:$/, '')}`)
  }
  const query = []
  for (const [k, v] of parsed.searchParams) if (k.toLowerCase() !== 'authorization') query.push([k, v])
  const search = new URLSearchParams(query).toString()
  return { path: parsed.pathname, query, shown: `${parsed.origin}${parsed.pathname}${search ? '?' + search : ''}` }
}

function binaryAs(buf, type) {
  if (type === 'arraybuffer') return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
  if (type === 'blob' && typeof Blob === 'function') return new Blob([buf])
  if (type === 'fragments') return [buf]
  return buf
}

/** An event as the `ws` package gives it to addEventListener: `type`, `target`, and its own fields. */
class SocketEvent {
  constructor(type, target, fields) {
    this.type = type
    this.target = target
    Object.assign(this, fields)
  }
}

/**
 * Returns a WebSocket-compatible class backed by `client` (a cozefallback Client): give it to @coze/api as
 * `websocketOptions: { WebSocket: createWebSocketClass(client) }`.
 */
function createWebSocketClass(client) {
  if (client == null || typeof client.websocket !== 'function') {
    throw new TypeError('createWebSocketClass needs a cozefallback Client')
  }

  class CozeFallbackWebSocket {
    /**
     * @param {string|URL} url the SDK's URL; its `authorization` query parameter is dropped (the core holds
     *   the credentials); the path and the other parameters open the session on the client's WebSocket base
     * @param {string|string[]} [protocols] accepted and ignored (Coze's APIs use none)
     */
    constructor(url, protocols) {
      const { path, query, shown } = parseUrl(url)
      void protocols
      this.url = shown
      this.protocol = ''
      this.extensions = ''
      this.binaryType = 'nodebuffer'
      this.bufferedAmount = 0
      this.onopen = null
      this.onmessage = null
      this.onclose = null
      this.onerror = null
      /** The cozefallback session once open (credential, attempts, logid, ...), else null. */
      this.session = null
      /** Set after a refused handshake, shaped as the `ws` package's request (the SDK reads the status). */
      this._req = null
      this._readyState = CONNECTING
      this._listeners = new Map()
      this._opening = new AbortController()
      this._open(path, query)
    }

    get readyState() {
      return this._readyState
    }

    async _open(path, query) {
      let session
      try {
        session = await client.websocket(path, { query, signal: this._opening.signal })
      } catch (err) {
        if (err && err.httpStatus != null) {
          this._req = { res: { statusCode: err.httpStatus, rawHeaders: err.logid ? ['X-Tt-Logid', err.logid] : [] } }
        }
        this._fail(err, 1006)
        return
      }
      if (this._readyState !== CONNECTING) {
        // close() was called while connecting: the session is not wanted.
        session.close().catch(() => {})
        return
      }
      this.session = session
      this._readyState = OPEN
      this._emit('open', {})
      this._read()
    }

    async _read() {
      const session = this.session
      try {
        for (;;) {
          const { done, value } = await session.next()
          if (this._readyState !== OPEN) return // close() was called: it reports the close
          if (done) break
          const data = Buffer.isBuffer(value) ? binaryAs(value, this.binaryType) : JSON.stringify(value)
          this._emit('message', { data, isBinary: Buffer.isBuffer(value) })
        }
      } catch (err) {
        if (this._readyState !== OPEN) return
        this._fail(err, session.closeCode ?? 1006)
        return
      }
      this._finish(session.closeCode ?? 1005, session.closeReason ?? '', true)
    }

    /** An error: `error` (the CozeError in `error`), then `close`. */
    _fail(err, code) {
      if (this._readyState === CLOSED) return
      this._readyState = CLOSING
      this._emit('error', { error: err, message: err && err.message ? err.message : String(err) })
      if (this.session) this.session.close().catch(() => {})
      this._finish(code, '', false)
    }

    _finish(code, reason, wasClean) {
      if (this._readyState === CLOSED) return
      this._readyState = CLOSED
      this._emit('close', { code, reason, wasClean })
    }

    /** Sends a text frame (the SDK's JSON event) or a binary frame; throws unless the socket is open. */
    send(data) {
      if (this._readyState !== OPEN) {
        throw new Error(`WebSocket is not open: readyState ${this._readyState} (${STATE_NAMES[this._readyState]})`)
      }
      let sent
      if (typeof data === 'string') {
        let event
        try {
          event = JSON.parse(data)
        } catch {
          throw new TypeError('a text frame must be a JSON event object (the core sends JSON events only)')
        }
        sent = this.session.send(event)
      } else {
        sent = this.session.sendBinary(toBinary(data))
      }
      sent.catch((err) => this._fail(err, 1006))
    }

    /** Closes the session (the core sends the close frame; code and reason are not forwarded). */
    close(code, reason) {
      if (this._readyState === CLOSING || this._readyState === CLOSED) return
      if (this._readyState === CONNECTING) {
        this._opening.abort()
        this._readyState = CLOSING
        this._emit('error', { error: new Error('WebSocket was closed before the connection was established'), message: 'WebSocket was closed before the connection was established' })
        this._finish(1006, '', false)
        return
      }
      this._readyState = CLOSING
      const session = this.session
      wrap(session.close())
        .catch(() => {})
        .then(() => this._finish(code ?? 1005, reason ?? '', true))
    }

    addEventListener(type, listener, options) {
      if (listener == null) return
      const list = this._listeners.get(type) ?? []
      if (list.some((l) => l.listener === listener)) return
      list.push({ listener, once: Boolean(options && options.once) })
      this._listeners.set(type, list)
    }

    removeEventListener(type, listener) {
      const list = this._listeners.get(type)
      if (list) this._listeners.set(type, list.filter((l) => l.listener !== listener))
    }

    dispatchEvent(event) {
      const handler = this['on' + event.type]
      if (typeof handler === 'function') handler.call(this, event)
      for (const entry of [...(this._listeners.get(event.type) ?? [])]) {
        if (entry.once) this.removeEventListener(event.type, entry.listener)
        if (typeof entry.listener === 'function') entry.listener.call(this, event)
        else if (typeof entry.listener.handleEvent === 'function') entry.listener.handleEvent(event)
      }
      return true
    }

    _emit(type, fields) {
      try {
        this.dispatchEvent(new SocketEvent(type, this, fields))
      } catch (err) {
        // A throwing listener must not break the session's bookkeeping; surface it as ws would (uncaught).
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }
  for (const [name, value] of [['CONNECTING', CONNECTING], ['OPEN', OPEN], ['CLOSING', CLOSING], ['CLOSED', CLOSED]]) {
    Object.defineProperty(CozeFallbackWebSocket, name, { value, enumerable: true })
    Object.defineProperty(CozeFallbackWebSocket.prototype, name, { value, enumerable: true })
  }
  return CozeFallbackWebSocket
}

module.exports = { createWebSocketClass, WebSocketSession }
