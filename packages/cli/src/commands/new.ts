/**
 * `micro new <name> [--template service|pubsub|crud|gateway] [--plugins etcd,nats,postgres]`:
 * a package that builds and whose test passes straight away: package.json with exact versions,
 * `src/handler.ts` (typed handler and its schemas), `src/main.ts`, a test, a README, a Dockerfile.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { type Output, usage } from '../output.js'
import { type Files, PLUGINS, type PluginChoice, TEMPLATES, type TemplateName } from '../templates/common.js'
import { RENDER } from '../templates/templates.js'

export interface NewFlags {
  template?: string
  plugins?: string
  /** Parent directory (default: the working directory). */
  dir?: string
}

/** Versions used when a package cannot be found from the CLI (never for ours: they are its own dependencies). */
const FALLBACK_VERSIONS: Record<string, string> = {
  zod: '4.6.7',
  tsx: '4.23.15',
  typescript: '6.0.3',
  '@types/node': '20.19.25',
}

const require = createRequire(import.meta.url)

function installedVersion(pkg: string): string | undefined {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version
  } catch {
    // Packages whose exports hide package.json: find it beside the entry point.
    try {
      let dir = path.dirname(require.resolve(pkg))
      while (dir !== path.dirname(dir)) {
        const file = path.join(dir, 'package.json')
        if (existsSync(file)) {
          const p = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
          if (p.name === pkg) return p.version
        }
        dir = path.dirname(dir)
      }
    } catch {
      // not installed beside the CLI
    }
    return undefined
  }
}

function ownVersion(): string {
  return (require('../../package.json') as { version: string }).version
}

/** Exact versions: what the CLI itself runs with, so the generated package gets the same. */
export function versions(packages: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const p of packages) out[p] = installedVersion(p) ?? FALLBACK_VERSIONS[p] ?? ownVersion()
  out['@micro-ts/cli'] = ownVersion()
  return out
}

export function handlerName(name: string): string {
  const last = name.slice(name.lastIndexOf('.') + 1)
  return last
    .split(/[-_]/)
    .filter(Boolean)
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('')
}

/** The files of a new package (nothing is written). */
export function render(name: string, template: TemplateName, pluginNames: readonly string[]): Files {
  if (!/^[a-z][a-z0-9]*([.-][a-z0-9]+)*$/.test(name)) {
    throw usage(
      `micro new ${name}: a name is lower-case letters and digits, parts joined by . or - (hello, orders.api)`,
    )
  }
  const plugins: PluginChoice[] = []
  const kinds = new Set<string>()
  for (const p of pluginNames) {
    const known = PLUGINS[p]
    if (!known) throw usage(`--plugins ${p}: not one of ${Object.keys(PLUGINS).join(', ')}`)
    if (kinds.has(known.kind)) throw usage(`--plugins: two ${known.kind} plugins given`)
    kinds.add(known.kind)
    plugins.push({ ...known, name: p })
  }
  const pkgs = [
    '@micro-ts/core',
    '@micro-ts/gateway',
    'zod',
    'tsx',
    'typescript',
    '@types/node',
    ...plugins.map((p) => p.pkg),
  ]
  return RENDER[template]({ name, handler: handlerName(name), plugins, versions: versions(pkgs) })
}

export function newCommand(out: Output, name: string, flags: NewFlags): string {
  const template = (flags.template ?? 'service') as TemplateName
  if (!TEMPLATES.includes(template)) throw usage(`--template ${flags.template}: use ${TEMPLATES.join(', ')}`)
  const plugins = (flags.plugins ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const files = render(name, template, plugins)
  const dir = path.resolve(flags.dir ?? '.', name)
  if (existsSync(dir) && readdirSync(dir).length > 0) throw usage(`micro new: ${dir} exists and is not empty`)
  for (const [file, text] of Object.entries(files)) {
    const target = path.join(dir, file)
    mkdirSync(path.dirname(target), { recursive: true })
    writeFileSync(target, text)
  }
  out.out(
    `created ${path.relative(process.cwd(), dir) || dir} (${template}${plugins.length ? `, ${plugins.join(', ')}` : ''}):\n`,
  )
  for (const file of Object.keys(files).sort()) out.out(`  ${file}\n`)
  out.out(
    `\nnext:\n  cd ${path.relative(process.cwd(), dir) || dir} && npm install && npm test\n  micro run .\n`,
  )
  return dir
}
