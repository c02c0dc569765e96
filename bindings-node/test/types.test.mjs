// index.d.ts compiles in strict mode against a sample of the whole API (ESM import and CommonJS require).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

test('index.d.ts types the API (tsc --strict)', () => {
  const tsc = require.resolve('typescript/bin/tsc')
  const args = [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--skipLibCheck', 'false', path.join(here, 'types-check.ts')]
  let out = ''
  try {
    out = execFileSync(process.execPath, args, { cwd: path.dirname(here), encoding: 'utf8' })
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`)
  }
  assert.equal(out.trim(), '')
})
