'use strict'
// Realtime WebSocket sessions (Coze's /v1/chat, /v1/audio/speech, /v1/audio/transcriptions). Type conversion
// only: the core decides the fallback (a refused handshake or a first `error` event with a fallback code
// reconnects with the other credential and replays the events sent so far), the sticky routes and the limits.

const { wrap } = require('./errors.js')

/** Parses one frame from the native side: a JSON event as an object, a binary frame as a Buffer. */
function toEvent(frame) {
  if (frame.json != null) return JSON.parse(frame.json)
  return frame.binary
}

function toBinary(data) {
  if (Buffer.isBuffer(data)) return data
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  throw new TypeError('binary data must be a Buffer, a Uint8Array or an ArrayBuffer')
}

/**
 * An open realtime session: `send(event)` (an object), `for await (const event of session)` (the server's
 * events as objects: `event_type`, `data`, `detail`, `id`; binary frames as Buffers), `close()`. Sends keep
 * their order even when not awaited. Leaving a `for await` loop early closes the session. Errors are
 * CozeErrors (COZE_STREAM_INTERRUPTED when the connection breaks after the first event, with
 * `eventsDelivered`).
 */
class WebSocketSession {
  constructor(native) {
    this._native = native
    this._closed = false
    this._done = false
    this._aborted = false
    /** Sends run one after the other, in the order they were called. */
    this._sending = Promise.resolve()
    /** Removes the AbortSignal listener (set by Client.websocket). */
    this._detachAbort = () => {}
  }

  /** `"personal"` or `"enterprise"`: the credential connected now (final once the first event arrived). */
  get credential() {
    return this._native.credential
  }
  /** Handshakes made so far, over both credentials. */
  get attempts() {
    return this._native.attempts
  }
  /** The log id (`X-Tt-Logid`) of the last handshake answer, or null. */
  get logid() {
    return this._native.logid ?? null
  }
  /** Events delivered to the caller so far. */
  get eventsDelivered() {
    return this._native.eventsDelivered
  }
  /** The server's close code once it closed the session, else null. */
  get closeCode() {
    return this._native.closeCode ?? null
  }
  /** The server's close reason once it closed the session, else null. */
  get closeReason() {
    return this._native.closeReason ?? null
  }
  /** The session's URL (it never carries the token). */
  get url() {
    return this._native.url
  }

  _queue(send) {
    const result = this._sending.then(() => wrap(send()))
    this._sending = result.catch(() => {})
    return result
  }

  /** Sends one event: an object such as `{event_type: 'chat.update', data: {...}}`. */
  send(event) {
    const text = JSON.stringify(event)
    if (text === undefined) return Promise.reject(new TypeError('a WebSocket event must be a JSON object'))
    return this._queue(() => this._native.send(text))
  }

  /** Sends one binary frame (a Buffer, Uint8Array or ArrayBuffer). */
  sendBinary(data) {
    let buf
    try {
      buf = toBinary(data)
    } catch (e) {
      return Promise.reject(e)
    }
    return this._queue(() => this._native.sendBinary(buf))
  }

  /** The next event: `{done: false, value}`, or `{done: true}` once the server closed normally or after close(). */
  async next() {
    if (this._closed || (this._done && !this._aborted)) return { done: true, value: undefined }
    let frame
    try {
      frame = await wrap(this._native.next())
    } catch (e) {
      this._done = true
      this._detachAbort()
      throw e
    }
    if (frame == null) {
      this._done = true
      this._detachAbort()
      return { done: true, value: undefined }
    }
    return { done: false, value: toEvent(frame) }
  }

  /** Closes the session (called by `for await` when the loop is left early). */
  async return(value) {
    await this.close()
    return { done: true, value }
  }

  /** The AbortSignal fired: pending and later calls reject with COZE_CANCELLED. */
  _abort() {
    if (this._closed || this._aborted) return
    this._aborted = true
    this._native.abort()
  }

  /** Sends a close frame (waits at most 2 s) and ends the session; a pending next() resolves to done. Idempotent. */
  async close() {
    if (this._closed) return
    this._closed = true
    this._done = true
    this._detachAbort()
    await wrap(this._native.close())
  }

  [Symbol.asyncIterator]() {
    return this
  }
}

/** Wires an AbortSignal to an open session. */
function attachSessionSignal(session, signal) {
  if (signal == null) return
  const onAbort = () => session._abort()
  if (signal.aborted) onAbort()
  else {
    signal.addEventListener('abort', onAbort, { once: true })
    session._detachAbort = () => signal.removeEventListener('abort', onAbort)
  }
}

module.exports = { WebSocketSession, attachSessionSignal, toBinary }
