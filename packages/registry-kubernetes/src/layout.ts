/**
 * go-micro's pod layout (github.com/micro/plugins/v5/registry/kubernetes/kubernetes.go): what a
 * service patches onto its own pod, and the label selectors lookups and watches use. Every key
 * and value is written here and nowhere else, so the README's layout table and the tests check
 * one place.
 */
import { createHash } from 'node:crypto'
import type { V1Pod } from '@kubernetes/client-node'

/** Label every registered pod carries; list and watch of all services select on it. */
export const TYPE_LABEL = 'micro.mu/type'
export const TYPE_VALUE = 'service'
/** `micro.mu/selector-<name>=service`: one per service on the pod; getService selects on it. */
export const SELECTOR_PREFIX = 'micro.mu/selector-'
export const SELECTOR_VALUE = 'service'
/** `micro.mu/service-<name>`: the service's JSON, as go-micro's `json.Marshal(service)` writes it. */
export const ANNOTATION_PREFIX = 'micro.mu/service-'
/** The only pod phase whose services are returned. */
export const RUNNING = 'Running'

/** A label or annotation key's name part (after `micro.mu/`): at most 63 characters. */
const NAME_PART_MAX = 63
/** Characters go-micro keeps in a name (its `labelRe`); any other byte becomes `_`. */
const KEPT = /^[-A-Za-z0-9_.]$/
const ALNUM_END = /[A-Za-z0-9]$/
const HASH_LENGTH = 16

/**
 * go-micro's `serviceName()`: every byte of the UTF-8 name outside `[-A-Za-z0-9_.]` becomes `_`
 * (so `ü`, two bytes, becomes `__`).
 */
export function sanitize(name: string): string {
  let out = ''
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += byte < 0x80 && KEPT.test(c) ? c : '_'
  }
  return out
}

function hash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, HASH_LENGTH)
}

/** The longest sanitised name both `selector-<name>` and `service-<name>` can carry. */
const MAX_PLAIN = NAME_PART_MAX - 'selector-'.length

/**
 * The name as it appears in the keys. go-micro's sanitised name where the API server accepts it
 * (so Go and TypeScript pods read each other); a name whose key go-micro could not write at all
 * (longer than 54 characters, or ending in a character other than a letter or digit: the API
 * server rejects such keys) gets a deterministic `<first 37 sanitised characters>-<hash>`.
 */
export function keyName(name: string): string {
  const s = sanitize(name)
  if (s.length <= MAX_PLAIN && ALNUM_END.test(s)) return s
  return `${s.slice(0, MAX_PLAIN - HASH_LENGTH - 1)}-${hash(name)}`
}

/** `micro.mu/selector-<name>`. */
export function selectorLabel(name: string): string {
  return SELECTOR_PREFIX + keyName(name)
}

/** `micro.mu/service-<name>`: where go-micro keeps (and looks up) the service on a pod. */
export function annotationKey(name: string): string {
  return ANNOTATION_PREFIX + keyName(name)
}

/**
 * The key for a second record on one pod under the same key name: another version of the service,
 * or another name that sanitises the same (`a/b` and `a_b`). go-micro has one annotation per
 * sanitised name, so it cannot hold both; this key still starts with the annotation prefix, so
 * listings and watches (go-micro's too) see it.
 */
export function extraAnnotationKey(name: string, version: string): string {
  const s = sanitize(name)
  return `${ANNOTATION_PREFIX}${s.slice(0, MAX_PLAIN - HASH_LENGTH - 1)}-${hash(`${name}\n${version}`)}`
}

/** The label selector of every registered pod (go-micro's `podSelector`). */
export const ALL_SERVICES_SELECTOR = `${TYPE_LABEL}=${TYPE_VALUE}`

/** The label selector of the pods that carry `name`. */
export function serviceSelector(name: string): string {
  return `${selectorLabel(name)}=${SELECTOR_VALUE}`
}

/** go-micro reads a pod only while it is Running and not being deleted. */
export function isServing(pod: V1Pod): boolean {
  return pod.status?.phase === RUNNING && !pod.metadata?.deletionTimestamp
}

/** The annotations of `pod` that hold service records. */
export function serviceAnnotations(pod: V1Pod): [key: string, json: string][] {
  const annotations = pod.metadata?.annotations ?? {}
  return Object.entries(annotations).filter(
    (e): e is [string, string] => e[0].startsWith(ANNOTATION_PREFIX) && typeof e[1] === 'string',
  )
}
