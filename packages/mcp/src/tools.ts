/**
 * Registry endpoints as MCP tools: one tool per callable endpoint (streams and subscribers are
 * not calls), named `<service>.<Endpoint>` as go-micro's MCP gateway names them, described from
 * the endpoint's `description` metadata and its published request and response, with the
 * request's JSON Schema as the tool's input schema. Allow and deny lists choose what is exposed.
 */
import { createHash } from 'node:crypto'
import type { Endpoint, Service } from '@micro-ts/core'
import { describeValue, type JsonSchema, valueToJsonSchema } from '@micro-ts/gateway'

/** A tool as listed, and where its calls go. */
export interface EndpointTool {
  /** The MCP tool name (`greeter.Greeter.Hello`). */
  name: string
  title: string
  description: string
  inputSchema: JsonSchema & { type: 'object' }
  service: string
  endpoint: string
}

/**
 * Which endpoints become tools. Each entry is a service name (`greeter`: all its endpoints) or
 * `<service>.<Endpoint>` (`greeter.Greeter.Hello`); `*` matches any run of characters
 * (`billing.*`, `*.Admin.*`). An endpoint is exposed when the allow list is empty or matches it,
 * and the deny list does not.
 */
export interface ToolFilter {
  allow?: readonly string[]
  deny?: readonly string[]
}

/** The filter as one predicate over `(service, endpoint)`. */
export function toolFilter(filter: ToolFilter = {}): (service: string, endpoint: string) => boolean {
  const allow = (filter.allow ?? []).map(globPattern)
  const deny = (filter.deny ?? []).map(globPattern)
  const matches = (patterns: RegExp[], service: string, endpoint: string) =>
    patterns.some((p) => p.test(service) || p.test(`${service}.${endpoint}`))
  return (service, endpoint) =>
    (allow.length === 0 || matches(allow, service, endpoint)) && !matches(deny, service, endpoint)
}

function globPattern(pattern: string): RegExp {
  if (typeof pattern !== 'string' || !pattern)
    throw new TypeError('mcp: allow/deny entries are non-empty strings')
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')
  return new RegExp(`^${source}$`, 's')
}

/** MCP tool names: 1 to 128 of `A-Z a-z 0-9 _ - .` (the SDK warns about anything else). */
const MAX_NAME = 128

export function toolName(service: string, endpoint: string): string {
  const raw = `${service}.${endpoint}`
  const clean = raw.replace(/[^A-Za-z0-9._-]/g, '_')
  if (clean === raw && clean.length <= MAX_NAME) return clean
  // Changed or shortened names get a hash of the original, so two endpoints never share one.
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8)
  return `${clean.slice(0, MAX_NAME - 9)}_${hash}`
}

/** True for an endpoint that is a request/response call (not a stream or a broker subscriber). */
export function isCallable(endpoint: Endpoint): boolean {
  return endpoint.metadata?.stream !== 'true' && endpoint.metadata?.subscriber !== 'true'
}

/**
 * The tools of one service name. Versions may declare different endpoints: each endpoint is
 * taken from the newest version that has it (calls go to any node, as the gateway's do).
 */
export function serviceTools(
  name: string,
  services: readonly Service[],
  exposed: (service: string, endpoint: string) => boolean,
): EndpointTool[] {
  const newestFirst = [...services].sort((a, b) =>
    b.version.localeCompare(a.version, 'en', { numeric: true }),
  )
  const seen = new Set<string>()
  const tools: EndpointTool[] = []
  for (const svc of newestFirst) {
    for (const ep of svc.endpoints ?? []) {
      if (seen.has(ep.name) || !isCallable(ep) || !exposed(name, ep.name)) continue
      seen.add(ep.name)
      tools.push(describeTool(name, svc.version, ep))
    }
  }
  return tools
}

function describeTool(service: string, version: string, ep: Endpoint): EndpointTool {
  const given = ep.metadata?.description?.trim()
  const lines = [
    given || `Calls ${ep.name} on the ${service} service${version ? ` (version ${version})` : ''}.`,
  ]
  if (ep.response?.type || ep.response?.values?.length) lines.push(`Returns ${describeValue(ep.response)}.`)
  const schema = valueToJsonSchema(ep.request)
  const inputSchema: JsonSchema & { type: 'object' } = { ...schema, type: 'object' }
  // An example from the service (go-micro's `example` metadata) helps a model fill the input in.
  const example = ep.metadata?.example
  if (example) {
    try {
      inputSchema.examples = [JSON.parse(example)]
    } catch {
      lines.push(`Example input: ${example}`)
    }
  }
  return {
    name: toolName(service, ep.name),
    title: `${service} ${ep.name}`,
    description: lines.join('\n'),
    inputSchema,
    service,
    endpoint: ep.name,
  }
}
