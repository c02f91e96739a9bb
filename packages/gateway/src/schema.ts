/**
 * go-micro's endpoint `Value` as JSON Schema, for whatever renders or checks requests from the
 * registry alone (a form, an MCP tool's input schema): the registry carries Values, the
 * service's own Standard Schema stays in its process.
 */
import type { Value } from '@micro-ts/core'

export type JsonSchema = Record<string, unknown>

const SCALARS: Record<string, JsonSchema> = {
  string: { type: 'string' },
  bool: { type: 'boolean' },
  int: { type: 'integer' },
  int32: { type: 'integer' },
  int64: { type: 'integer' },
  uint32: { type: 'integer' },
  uint64: { type: 'integer' },
  float32: { type: 'number' },
  float64: { type: 'number' },
  '[]byte': { type: 'string', contentEncoding: 'base64' },
}

/** The JSON Schema of a Value tree; a Value with no fields and no known type accepts any object. */
export function valueToJsonSchema(value: Value | undefined): JsonSchema {
  if (!value) return { type: 'object' }
  return typeSchema(value)
}

function typeSchema(value: Value): JsonSchema {
  if (value.values?.length) {
    const properties: Record<string, JsonSchema> = {}
    for (const v of value.values) properties[v.name] = typeSchema(v)
    return { type: 'object', ...(value.type ? { title: value.type } : {}), properties }
  }
  return fromType(value.type)
}

function fromType(type: string): JsonSchema {
  if (SCALARS[type]) return { ...SCALARS[type] }
  if (type.startsWith('[]')) return { type: 'array', items: fromType(type.slice(2)) }
  if (type.startsWith('map[string]'))
    return { type: 'object', additionalProperties: fromType(type.slice('map[string]'.length)) }
  return type && type !== 'interface{}' ? { type: 'object', title: type } : {}
}

/** `name string, age int64` — a one-line description of a Value's fields, for tables. */
export function describeValue(value: Value | undefined): string {
  if (!value || (!value.values?.length && !value.type)) return '(not declared)'
  if (!value.values?.length) return value.type
  const fields = value.values.map((v) => `${v.name} ${v.values?.length ? `{${describeValue(v)}}` : v.type}`)
  return `${value.type} {${fields.join(', ')}}`
}
