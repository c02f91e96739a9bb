/**
 * The repository as the release sees it: which workspace packages are published, and a
 * throwaway copy of it (what a fresh clone holds: no node_modules, no dist) on which the release
 * may change versions, write changelogs and tag.
 */
import { execFileSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
} from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface PackageJson {
  name: string
  version: string
  private?: boolean
  description?: string
  keywords?: string[]
  homepage?: string
  bugs?: { url?: string }
  license?: string
  repository?: { type?: string; url?: string; directory?: string }
  engines?: Record<string, string>
  files?: string[]
  bin?: Record<string, string> | string
  scripts?: Record<string, string>
  publishConfig?: Record<string, string>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  devDependencies?: Record<string, string>
}

export interface WorkspacePackage {
  name: string
  /** Relative to the repository root, with `/`. */
  dir: string
  json: PackageJson
}

export function readJson<T = PackageJson>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T
}

/** The folders pnpm-workspace.yaml lists (`dir/*` globs and plain folders). */
function workspaceDirs(root: string): string[] {
  const yaml = readFileSync(path.join(root, 'pnpm-workspace.yaml'), 'utf8')
  const block = yaml.split(/^packages:\s*$/m)[1]?.split(/^\S/m)[0] ?? ''
  const globs = [...block.matchAll(/^\s+-\s+["']?([^"'\s]+)["']?\s*$/gm)].map((m) => m[1])
  const dirs: string[] = []
  for (const g of globs) {
    if (g.endsWith('/*')) {
      const parent = g.slice(0, -2)
      const abs = path.join(root, parent)
      if (!existsSync(abs)) continue
      for (const d of readdirSync(abs).sort()) dirs.push(`${parent}/${d}`)
    } else dirs.push(g)
  }
  return dirs.filter((d) => existsSync(path.join(root, d, 'package.json')))
}

/** Every workspace package that is not private: what `changeset publish` puts on the registry. */
export function publishedPackages(root = ROOT): WorkspacePackage[] {
  return workspaceDirs(root)
    .map((dir) => ({ dir, json: readJson(path.join(root, dir, 'package.json')) }))
    .filter((p) => !p.json.private)
    .map((p) => ({ name: p.json.name, ...p }))
    .sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * A fresh clone's files in `dest`, committed there on a branch `main` so changesets and pnpm see
 * a repository as CI does. `from: 'head'` (the default) is the last commit, exactly what a clone
 * holds; `'worktree'` is the working tree's tracked and new files (not ignored), to try
 * uncommitted work. The real repository is only read.
 */
export function throwawayCopy(dest: string, from: 'head' | 'worktree' = 'head', root = ROOT): void {
  mkdirSync(dest, { recursive: true })
  if (from === 'head') {
    const tar = execFileSync('git', ['archive', '--format=tar', 'HEAD'], { cwd: root, maxBuffer: 1 << 30 })
    execFileSync('tar', ['-x', '-C', dest], { input: tar })
  } else {
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    })
    for (const f of new Set(files.split('\0').filter(Boolean))) {
      const from = path.join(root, f)
      let stat: ReturnType<typeof lstatSync>
      try {
        stat = lstatSync(from)
      } catch {
        continue // deleted in the working tree and not yet committed
      }
      if (stat.isDirectory()) continue // a submodule or nested repository
      const to = path.join(dest, f)
      mkdirSync(path.dirname(to), { recursive: true })
      if (stat.isSymbolicLink()) symlinkSync(readlinkSync(from), to)
      else copyFileSync(from, to)
    }
  }
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=release test', '-c', 'user.email=release@test.invalid', ...args], {
      cwd: dest,
      stdio: 'pipe',
    })
  git('init', '-q', '-b', 'main')
  git('add', '-A')
  git('commit', '-q', '--no-verify', '-m', 'throwaway copy for the release test')
}
