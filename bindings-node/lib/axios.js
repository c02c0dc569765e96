'use strict'
// Drop-in for @coze/api (and any axios user): an axios adapter, and an axios-compatible instance, that send
// each request through the fallback client. The SDK keeps its typed API; the core picks the credential, so the
// SDK's own `Authorization` header is dropped here (and by the core) and its token can be any placeholder.
//
//   const { CozeAPI } = require('@coze/api')
//   const client = new Client(config)
//   const api = new CozeAPI({ baseURL: config.base_url, token: 'unused', axiosOptions: { adapter: cozeAxiosAdapter(client) } })
//   // or: new CozeAPI({ baseURL, token: 'unused', axiosInstance: cozeAxiosInstance(client) })
//
// This file converts between axios' request/response shapes and the client's; it makes no Coze decision.

const { Readable } = require('node:stream')
const { CozeError } = require('./errors.js')

const DROPPED_HEADERS = new Set(['authorization', 'content-length', 'host', 'connection', 'transfer-encoding', 'accept-encoding'])

function isAbsolute(url) {
  return /^[a-z][a-z\d+\-.]*:\/\//i.test(url)
}

function fullUrl(config) {
  let url = String(config.url ?? '')
  if (config.baseURL && !isAbsolute(url)) {
    url = String(config.baseURL).replace(/\/+$/, '') + '/' + url.replace(/^\/+/, '')
  }
  const params = config.params
  if (params != null) {
    let qs
    if (typeof config.paramsSerializer === 'function') qs = config.paramsSerializer(params)
    else if (config.paramsSerializer && typeof config.paramsSerializer.serialize === 'function') {
      qs = config.paramsSerializer.serialize(params)
    } else if (params instanceof URLSearchParams) qs = params.toString()
    else {
      const sp = new URLSearchParams()
      for (const [k, v] of Object.entries(params)) {
        if (v === undefined || v === null) continue
        if (Array.isArray(v)) for (const item of v) sp.append(k + '[]', String(item))
        else sp.append(k, v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v))
      }
      qs = sp.toString()
    }
    if (qs) {
      const hash = url.indexOf('#')
      if (hash !== -1) url = url.slice(0, hash)
      url += (url.includes('?') ? '&' : '?') + qs
    }
  }
  return url
}

function plainHeaders(headers) {
  if (!headers) return {}
  const obj = typeof headers.toJSON === 'function' ? headers.toJSON() : headers
  const out = {}
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || v === null || v === false) continue
    if (DROPPED_HEADERS.has(k.toLowerCase())) continue
    out[k] = Array.isArray(v) ? v.join(', ') : String(v)
  }
  return out
}

function setHeader(headers, name, value) {
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name) delete headers[k]
  headers[name] = value
}

async function collect(iterable) {
  const chunks = []
  for await (const c of iterable) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c))
  return Buffer.concat(chunks)
}

/** Buffers the request body (so the core can replay it on a fallback); may set the content type. */
async function bodyOf(data, headers) {
  if (data === undefined || data === null) return undefined
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (Buffer.isBuffer(data)) return data
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (data instanceof URLSearchParams) {
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
      setHeader(headers, 'content-type', 'application/x-www-form-urlencoded;charset=utf-8')
    }
    return Buffer.from(data.toString())
  }
  if (typeof FormData !== 'undefined' && data instanceof FormData) {
    const r = new Response(data)
    setHeader(headers, 'content-type', r.headers.get('content-type'))
    return Buffer.from(await r.arrayBuffer())
  }
  if (typeof data.getHeaders === 'function' && typeof data.pipe === 'function') {
    // The `form-data` package (what axios' toFormData builds on Node).
    const h = data.getHeaders()
    setHeader(headers, 'content-type', h['content-type'])
    const { PassThrough } = require('node:stream')
    const pass = new PassThrough()
    data.pipe(pass)
    return collect(pass)
  }
  if (typeof Blob !== 'undefined' && data instanceof Blob) return Buffer.from(await data.arrayBuffer())
  if (typeof data[Symbol.asyncIterator] === 'function') return collect(data)
  if (typeof data.getReader === 'function') return collect(Readable.fromWeb(data))
  return Buffer.from(JSON.stringify(data))
}

function axiosLikeError(message, code, config, response) {
  const err = new Error(message)
  err.name = 'AxiosError'
  err.isAxiosError = true
  err.code = code
  err.config = config
  err.request = {}
  if (response) {
    err.response = response
    err.status = response.status
  }
  err.toJSON = () => ({ message: err.message, name: err.name, code: err.code, status: err.status })
  return err
}

function canceledError(config) {
  const err = new Error('canceled')
  err.name = 'CanceledError'
  err.code = 'ERR_CANCELED'
  err.__CANCEL__ = true
  err.isAxiosError = true
  err.config = config
  return err
}

function settle(response, config) {
  const validate = config.validateStatus
  if (!response.status || !validate || validate(response.status)) return response
  const code = Math.floor(response.status / 100) === 4 ? 'ERR_BAD_REQUEST' : 'ERR_BAD_RESPONSE'
  throw axiosLikeError(`Request failed with status code ${response.status}`, code, config, response)
}

/**
 * A Coze API error (business code or HTTP error) as the answer it came from, so the SDK raises its own typed
 * error with the code and log id: the failed answer exactly as the server sent it.
 */
function apiErrorResponse(err, config, asObject) {
  const r = err.response ?? { status: err.httpStatus ?? 200, headers: [], body: '' }
  const headers = Object.fromEntries(r.headers.map(([k, v]) => [k.toLowerCase(), v]))
  let data = r.body
  if (asObject) {
    try {
      data = JSON.parse(r.body)
    } catch {
      // a non-JSON error page stays text
    }
  }
  return { data, status: r.status, statusText: '', headers, config, request: {} }
}

/** The events as SSE bytes framed by the core (`Event::to_sse`), for an SDK that parses the stream itself. */
function sseReadable(stream) {
  async function* frames() {
    try {
      for (let frame; (frame = await stream._nextSse()) !== null; ) yield frame
    } finally {
      stream.close()
    }
  }
  const readable = Readable.from(frames(), { objectMode: false })
  readable.on('close', () => stream.close())
  return readable
}

function onAbort(config, fn) {
  const signal = config.signal
  const cancelToken = config.cancelToken
  if (signal) {
    if (signal.aborted) fn()
    else signal.addEventListener('abort', fn, { once: true })
  }
  if (cancelToken && typeof cancelToken.subscribe === 'function') cancelToken.subscribe(fn)
  return () => {
    if (signal) signal.removeEventListener?.('abort', fn)
    if (cancelToken && typeof cancelToken.unsubscribe === 'function') cancelToken.unsubscribe(fn)
  }
}

/**
 * An axios adapter that sends each request through `client` (a cozefallback Client): the core chooses the
 * credential and sets `Authorization`; streaming (`responseType: 'stream'`) is served from the client's SSE
 * stream.
 * @param {import('./client.js').Client} client
 */
function cozeAxiosAdapter(client) {
  return async function cozefallbackAdapter(config) {
    const method = String(config.method || 'get').toUpperCase()
    const url = fullUrl(config)
    const headers = plainHeaders(config.headers)
    const body = await bodyOf(config.data, headers)
    const opts = { headers }
    if (body !== undefined) opts.body = body
    // axios: 0 (its default) means no timeout; any other value goes to the core's range check.
    if (config.timeout != null && config.timeout !== 0) opts.timeoutMs = config.timeout
    if (config.signal && typeof config.signal.addEventListener === 'function') opts.signal = config.signal

    let aborted = false
    let abortReject
    const abortPromise = new Promise((_, reject) => {
      abortReject = reject
    })
    abortPromise.catch(() => {})
    let streamRef = null
    const unsubscribe = onAbort(config, () => {
      aborted = true
      if (streamRef) streamRef.close()
      abortReject(canceledError(config))
    })

    try {
      if (config.responseType === 'stream') {
        const stream = client.stream(method, url, opts)
        streamRef = stream
        if (aborted) stream.close()
        try {
          await Promise.race([stream.open(), abortPromise])
        } catch (e) {
          if (e instanceof CozeError && e.kind === 'api') return settle(apiErrorResponse(e, config, true), config)
          throw e
        }
        return settle(
          { data: sseReadable(stream), status: stream.status, statusText: '', headers: stream.headers, config, request: {} },
          config,
        )
      }
      let r
      try {
        r = await Promise.race([client.request(method, url, opts), abortPromise])
      } catch (e) {
        if (e instanceof CozeError && e.kind === 'api') return settle(apiErrorResponse(e, config, false), config)
        throw e
      }
      let data
      switch (config.responseType) {
        case 'arraybuffer':
          data = r.body
          break
        case 'blob':
          data = new Blob([r.body])
          break
        default:
          data = r.text()
      }
      return settle({ data, status: r.status, statusText: '', headers: r.headers, config, request: {} }, config)
    } finally {
      unsubscribe()
    }
  }
}

/**
 * An axios-compatible instance (what @coze/api's `axiosInstance` option calls): `instance(config)` resolves to
 * `{data, status, headers}` with JSON parsed for `responseType: 'json'` and a byte stream for `'stream'`.
 */
function cozeAxiosInstance(client) {
  const adapter = cozeAxiosAdapter(client)
  const instance = async (config) => {
    const cfg = { validateStatus: (s) => s >= 200 && s < 300, ...config }
    if (cfg.headers && typeof cfg.headers !== 'object') cfg.headers = {}
    if (cfg.data !== undefined && cfg.data !== null && typeof cfg.data === 'object' && isPlainJson(cfg.data)) {
      cfg.headers = { 'content-type': 'application/json', ...(cfg.headers || {}) }
      cfg.data = JSON.stringify(cfg.data)
    }
    const parse = (res) => {
      if (res && cfg.responseType !== 'stream' && typeof res.data === 'string' && (cfg.responseType === 'json' || !cfg.responseType)) {
        try {
          res.data = JSON.parse(res.data)
        } catch {
          // not JSON: keep the text
        }
      }
      return res
    }
    try {
      return parse(await adapter(cfg))
    } catch (e) {
      if (e && e.isAxiosError && e.response) parse(e.response)
      throw e
    }
  }
  instance.request = instance
  return instance
}

function isPlainJson(v) {
  if (Array.isArray(v)) return true
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

module.exports = { cozeAxiosAdapter, cozeAxiosInstance }
