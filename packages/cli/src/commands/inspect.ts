/** `micro services`, `micro describe`, `micro health` and `micro registry list|get|watch`. */
import type { Node, Service } from '@micro-ts/core'
import { describeValue } from '@micro-ts/gateway'
import { withService } from '../connect.js'
import { json, type Output, table } from '../output.js'

type Env = Record<string, string | undefined>

/** One row per service name: its versions and node count. */
export async function services(env: Env, out: Output, asJson: boolean): Promise<void> {
  await withService(env, async (s) => {
    const list = await s.registry.listServices()
    const byName = new Map<string, Set<string>>()
    for (const svc of list) byName.set(svc.name, (byName.get(svc.name) ?? new Set()).add(svc.version))
    const names = [...byName.keys()].sort()
    if (asJson) {
      out.out(json(names.map((name) => ({ name, versions: [...(byName.get(name) ?? [])].sort() }))))
      return
    }
    out.out(
      table(
        ['NAME', 'VERSIONS'],
        names.map((n) => [n, [...(byName.get(n) ?? [])].sort().join(', ')]),
      ),
    )
  })
}

/** Versions, nodes and endpoints (with request and response shapes) of one service. */
export async function describe(env: Env, out: Output, name: string, asJson: boolean): Promise<void> {
  await withService(env, async (s) => {
    const records = await s.registry.getService(name)
    if (asJson) {
      out.out(json(records))
      return
    }
    out.out(describeText(records))
  })
}

export function describeText(records: Service[]): string {
  let text = ''
  for (const svc of records) {
    text += `${svc.name} ${svc.version}\n\nNODES\n`
    text += table(
      ['ID', 'ADDRESS', 'METADATA'],
      svc.nodes.map((n) => [n.id, n.address, metadataText(n.metadata)]),
    )
    const endpoints = svc.endpoints ?? []
    if (endpoints.length) {
      text += '\nENDPOINTS\n'
      text += table(
        ['NAME', 'REQUEST', 'RESPONSE', 'METADATA'],
        endpoints.map((e) => [
          e.name,
          describeValue(e.request),
          describeValue(e.response),
          metadataText(e.metadata),
        ]),
      )
    }
    text += '\n'
  }
  return text
}

function metadataText(metadata: Record<string, string> | undefined): string {
  return Object.entries(metadata ?? {})
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

interface NodeHealth {
  node: string
  address: string
  status: string
  code?: number
  checks?: { name: string; status: string; error?: string }[]
  error?: string
}

/**
 * Each node's `/health`: served on the node's own address by the http transport; a node on
 * another transport serves it on a listener of its own, whose address the registry does not
 * carry, so it is reported as unknown. Exit status 1 unless every node is up.
 */
export async function health(
  env: Env,
  out: Output,
  name: string,
  asJson: boolean,
  timeout: number,
): Promise<boolean> {
  return withService(env, async (s) => {
    const records = await s.registry.getService(name)
    const nodes: Node[] = records.flatMap((r) => r.nodes)
    const results = await Promise.all(nodes.map((n) => nodeHealth(n, timeout)))
    if (asJson) out.out(json(results))
    else {
      out.out(
        table(
          ['NODE', 'ADDRESS', 'STATUS', 'CHECKS'],
          results.map((r) => [
            r.node,
            r.address,
            r.status,
            r.error ??
              (r.checks ?? [])
                .map((c) => `${c.name}=${c.status}${c.error ? ` (${c.error})` : ''}`)
                .join(', '),
          ]),
        ),
      )
    }
    return results.length > 0 && results.every((r) => r.status === 'up')
  })
}

async function nodeHealth(node: Node, timeout: number): Promise<NodeHealth> {
  const base = { node: node.id, address: node.address }
  const transport = node.metadata?.transport
  if (transport && transport !== 'http') {
    return {
      ...base,
      status: 'unknown',
      error: `the ${transport} transport serves /health on a port the registry does not carry`,
    }
  }
  try {
    const res = await fetch(`http://${node.address}/health`, { signal: AbortSignal.timeout(timeout) })
    const body = (await res.json()) as { status?: string; checks?: NodeHealth['checks'] }
    return {
      ...base,
      status: body.status ?? (res.ok ? 'up' : 'down'),
      code: res.status,
      checks: body.checks ?? [],
    }
  } catch (e) {
    return { ...base, status: 'down', error: (e as Error).message }
  }
}

/** `registry get`: the raw records, as go-micro's JSON. */
export async function registryGet(env: Env, out: Output, name: string): Promise<void> {
  await withService(env, async (s) => out.out(json(await s.registry.getService(name))))
}

/** `registry list`: every record (name and version), as go-micro's JSON. */
export async function registryList(env: Env, out: Output, asJson: boolean): Promise<void> {
  await withService(env, async (s) => {
    const list = await s.registry.listServices()
    if (asJson) out.out(json(list))
    else
      out.out(
        table(
          ['NAME', 'VERSION'],
          list.map((x) => [x.name, x.version]).sort((a, b) => a[0].localeCompare(b[0])),
        ),
      )
  })
}

/** `registry watch [service]`: one JSON line per event until Ctrl-C. */
export async function registryWatch(
  env: Env,
  out: Output,
  name: string | undefined,
  signal: AbortSignal,
): Promise<void> {
  await withService(env, async (s) => {
    const watcher = s.registry.watch({ service: name, signal })
    signal.addEventListener('abort', () => watcher.stop(), { once: true })
    out.err(`watching ${name ?? 'every service'} (Ctrl-C to stop)\n`)
    for await (const event of watcher) out.out(`${JSON.stringify(event)}\n`)
  })
}
