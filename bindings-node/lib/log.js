'use strict'
// The log hook: the core's log records, redacted by the core, delivered to one callback on the JS thread.

const native = require('../binding.js')
const { sync } = require('./errors.js')

/** The levels, most severe first; `off` stops delivery. */
const LOG_LEVELS = Object.freeze(['off', 'error', 'warn', 'info', 'debug', 'trace'])

/** A native record -> `{level, target, message, fields, time}`. */
function toRecord(r) {
  return {
    level: r.level,
    target: r.target,
    message: r.message,
    fields: JSON.parse(r.fields),
    time: new Date(r.timestamp),
  }
}

/**
 * Sends the core's log records at `opts.level` (default `'info'`) and above to `callback`, process-wide (one
 * callback for every client; a new call replaces it; `null` removes it). Records arrive asynchronously on the
 * JS thread; the call that logged never waits. A callback that throws gets a process warning, not a crash.
 */
function setLogger(callback, opts = {}) {
  if (callback == null) {
    sync(() => native.setLogger(null, 'off'))
    return
  }
  if (typeof callback !== 'function') throw new TypeError('callback must be a function or null')
  if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object such as {level: "debug"}')
  const level = opts.level ?? 'info'
  if (typeof level !== 'string') throw new TypeError(`level must be one of ${LOG_LEVELS.join(', ')}`)
  const deliver = (r) => {
    try {
      callback(toRecord(r))
    } catch (e) {
      process.emitWarning(`the cozefallback log callback threw: ${e && e.message ? e.message : e}`, 'CozefallbackWarning')
    }
  }
  sync(() => native.setLogger(deliver, level))
}

module.exports = { setLogger, LOG_LEVELS }
