// index.d.ts's `Config` against core/config.schema.json (the schema the core's parser is tested against): read
// with the TypeScript compiler's type checker, every interface's property names are the schema object's
// properties, nested sections and the three credential types included, and the string unions are its enums.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const ts = require('typescript')

// test.sh runs the tests against the installed package (COZE_REPO_ROOT names the repository); in the source
// tree the files are next door.
const root = process.env.COZE_REPO_ROOT ?? path.join(here, '..', '..')
const schema = JSON.parse(readFileSync(path.join(root, 'core', 'config.schema.json'), 'utf8'))
const installed = path.join(here, '..', 'node_modules', 'cozefallback', 'index.d.ts')
const dts = existsSync(installed) ? installed : path.join(here, '..', 'index.d.ts')

const program = ts.createProgram([dts], { strict: true, types: ['node'], noEmit: true })
const checker = program.getTypeChecker()
const source = program.getSourceFile(dts)

function exported (name) {
  const moduleSymbol = checker.getSymbolAtLocation(source)
  const symbol = checker.getExportsOfModule(moduleSymbol).find((s) => s.name === name)
  assert.ok(symbol, `index.d.ts exports no ${name}`)
  return checker.getDeclaredTypeOfSymbol(symbol)
}

const resolve = (node) => (node.$ref ? schema.$defs[node.$ref.replace('#/$defs/', '')] : node)

/** The members of a type with `undefined` removed (`a?: T` is `T | undefined`). */
function members (type) {
  const t = checker.getNonNullableType(type)
  return t.isUnion() ? t.types : [t]
}

function propertyType (type, name) {
  const symbol = checker.getPropertyOfType(type, name)
  return checker.getTypeOfSymbolAtLocation(symbol, source)
}

/** Compares the TypeScript type with the schema object at `where`, then its object-valued properties. */
function compare (type, node, where) {
  node = resolve(node)
  if (node.oneOf) {
    // A credential: one union member per schema variant, matched by its `type` literal.
    const variants = node.oneOf.map(resolve)
    const byTag = new Map(members(type).map((m) => [checker.typeToString(propertyType(m, 'type')).replace(/"|'/g, ''), m]))
    assert.deepEqual([...byTag.keys()].sort(), variants.map((v) => v.properties.type.const).sort(), `${where}: credential types`)
    for (const v of variants) compare(byTag.get(v.properties.type.const), v, `${where}(${v.properties.type.const})`)
    return
  }
  const names = checker.getPropertiesOfType(type).map((p) => p.name).sort()
  assert.deepEqual(names, Object.keys(node.properties).sort(), `${where}: index.d.ts (actual) vs the schema (expected)`)
  for (const [name, prop] of Object.entries(node.properties)) {
    const p = resolve(prop)
    const t = propertyType(type, name)
    if (p.type === 'object' || p.oneOf) {
      compare(p.oneOf ? checker.getNonNullableType(t) : members(t)[0], p, `${where}.${name}`)
    } else if (p.enum) {
      const literals = members(t).map((m) => m.value).sort()
      assert.deepEqual(literals, [...p.enum].sort(), `${where}.${name}: values`)
    }
  }
}

test('index.d.ts Config has exactly the schema\'s fields, nested sections and credential types included', () => {
  compare(exported('Config'), schema, 'Config')
})

test('the named section interfaces and Mode are the schema\'s', () => {
  for (const [iface, section] of [['FallbackConfig', 'fallback'], ['RetryConfig', 'retry'], ['TimeoutConfig', 'timeouts'], ['ConversationsConfig', 'conversations'], ['StateConfig', 'state']]) {
    compare(exported(iface), schema.properties[section], iface)
  }
  assert.deepEqual(members(exported('Mode')).map((m) => m.value).sort(), [...schema.properties.mode.enum].sort())
})
