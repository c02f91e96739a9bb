/**
 * go-micro's layout, key by key and byte by byte (no API server needed): the label and annotation
 * keys, name sanitising, the selectors, the annotation's JSON, and how pod changes become watch
 * events. The same keys are asserted on a real pod in kubernetes.test.ts.
 */
import type { V1Pod } from '@kubernetes/client-node'
import type { Service } from '@micro-ts/core'
import { decodeServiceJson, encodeServiceJson } from '@micro-ts/core/plugin'
import { describe, expect, it } from 'vitest'
import {
  ALL_SERVICES_SELECTOR,
  ANNOTATION_PREFIX,
  annotationKey,
  extraAnnotationKey,
  isServing,
  keyName,
  RUNNING,
  SELECTOR_PREFIX,
  SELECTOR_VALUE,
  sanitize,
  selectorLabel,
  serviceSelector,
  TYPE_LABEL,
  TYPE_VALUE,
} from '../src/layout.js'
import { diffRecords, podRecords } from '../src/watcher.js'

/** A qualified name's name part, as the API server validates label and annotation keys. */
const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const namePart = (key: string) => key.slice(key.indexOf('/') + 1)

describe('go-micro layout constants', () => {
  it('are the strings go-micro v5 uses', () => {
    expect(TYPE_LABEL).toBe('micro.mu/type')
    expect(TYPE_VALUE).toBe('service')
    expect(SELECTOR_PREFIX).toBe('micro.mu/selector-')
    expect(SELECTOR_VALUE).toBe('service')
    expect(ANNOTATION_PREFIX).toBe('micro.mu/service-')
    expect(RUNNING).toBe('Running')
    expect(ALL_SERVICES_SELECTOR).toBe('micro.mu/type=service')
  })

  it('name a service by its sanitised name', () => {
    expect(selectorLabel('greeter')).toBe('micro.mu/selector-greeter')
    expect(annotationKey('greeter')).toBe('micro.mu/service-greeter')
    expect(serviceSelector('go.micro.srv.greeter')).toBe('micro.mu/selector-go.micro.srv.greeter=service')
  })
})

describe('sanitize (go-micro serviceName)', () => {
  it('keeps [-A-Za-z0-9_.] and turns every other byte into _', () => {
    expect(sanitize('go.micro.srv-greeter_1')).toBe('go.micro.srv-greeter_1')
    expect(sanitize('a/b:c d@e')).toBe('a_b_c_d_e')
    // UTF-8 bytes, not characters: ü is two bytes, 日 three.
    expect(sanitize('ü')).toBe('__')
    expect(sanitize('日本')).toBe('______')
    expect(sanitize(`'"%;`)).toBe('____')
  })

  it('keyName is go-micro’s name where the API server accepts it, a stable hashed form elsewhere', () => {
    expect(keyName('greeter')).toBe('greeter')
    const long = 'x'.repeat(80)
    expect(keyName(long)).toMatch(/^x{37}-[0-9a-f]{16}$/)
    expect(keyName(long)).toBe(keyName(long))
    expect(keyName(`${long}y`)).not.toBe(keyName(long))
    // A sanitised name ending in `_` cannot end a key: go-micro's own patch would be rejected.
    expect(keyName('svc-日本')).toMatch(/^svc-______-[0-9a-f]{16}$/)
    expect(keyName('a'.repeat(54))).toBe('a'.repeat(54))
    expect(keyName('a'.repeat(55))).not.toBe('a'.repeat(55))
  })

  it('every key it makes is a valid qualified name', () => {
    for (const name of ['greeter', 'a/b', 'x'.repeat(300), 'ünï 日本', 'a_', '-', 'v1.2.3']) {
      for (const key of [selectorLabel(name), annotationKey(name), extraAnnotationKey(name, '2.0.0')]) {
        expect(namePart(key).length, key).toBeLessThanOrEqual(63)
        expect(namePart(key), key).toMatch(NAME_PART)
      }
    }
    expect(extraAnnotationKey('greeter', '2.0.0')).not.toBe(annotationKey('greeter'))
    expect(extraAnnotationKey('greeter', '2.0.0')).not.toBe(extraAnnotationKey('greeter', '3.0.0'))
    expect(extraAnnotationKey('a/b', '1')).not.toBe(extraAnnotationKey('a_b', '1'))
  })
})

describe('the annotation value (go-micro registry.Service JSON)', () => {
  it('is written field for field as go-micro json.Marshal writes it, nil as null', () => {
    const s: Service = {
      name: 'greeter',
      version: '1.0.0',
      nodes: [{ id: 'greeter-1', address: '10.0.0.7:8080' }],
    }
    expect(encodeServiceJson(s)).toBe(
      '{"name":"greeter","version":"1.0.0","metadata":null,"endpoints":null,"nodes":[{"id":"greeter-1","address":"10.0.0.7:8080","metadata":null}]}',
    )
    const full: Service = {
      name: 'greeter',
      version: '1.0.0',
      metadata: { a: 'b' },
      endpoints: [
        { name: 'Greeter.Hello', request: { name: 'Request', type: 'Request' }, metadata: { x: 'y' } },
      ],
      nodes: [{ id: 'n', address: 'h:1', metadata: { protocol: 'mucp' } }],
    }
    expect(encodeServiceJson(full)).toBe(
      '{"name":"greeter","version":"1.0.0","metadata":{"a":"b"},"endpoints":[{"name":"Greeter.Hello","request":{"name":"Request","type":"Request"},"response":null,"metadata":{"x":"y"}}],"nodes":[{"id":"n","address":"h:1","metadata":{"protocol":"mucp"}}]}',
    )
    expect(decodeServiceJson(encodeServiceJson(full))).toEqual(full)
  })

  it('reads what go-micro writes (nulls, Go’s nested values) and refuses what is not a record', () => {
    const fromGo =
      '{"name":"helloworld","version":"latest","metadata":null,"endpoints":[{"name":"Helloworld.Call","request":{"name":"Request","type":"Request","values":[{"name":"name","type":"string","values":null}]},"response":null,"metadata":{}}],"nodes":[{"id":"helloworld-1","address":"10.1.0.4:41233","metadata":{"broker":"http","protocol":"mucp","registry":"kubernetes","server":"mucp","transport":"http"}}]}'
    expect(decodeServiceJson(fromGo)).toEqual({
      name: 'helloworld',
      version: 'latest',
      endpoints: [
        {
          name: 'Helloworld.Call',
          request: { name: 'Request', type: 'Request', values: [{ name: 'name', type: 'string' }] },
          metadata: {},
        },
      ],
      nodes: [
        {
          id: 'helloworld-1',
          address: '10.1.0.4:41233',
          metadata: {
            broker: 'http',
            protocol: 'mucp',
            registry: 'kubernetes',
            server: 'mucp',
            transport: 'http',
          },
        },
      ],
    })
    for (const bad of ['', 'null', '[]', '{"version":"1"}', '{"name":""}', '{not json', '"greeter"']) {
      expect(decodeServiceJson(bad), bad).toBeUndefined()
    }
  })
})

function pod(name: string, annotations: Record<string, string>, phase = 'Running', deleting = false): V1Pod {
  return {
    metadata: { name, annotations, ...(deleting ? { deletionTimestamp: new Date() } : {}) },
    status: { phase },
  }
}

const svc = (nodes: string[], extra: Partial<Service> = {}): Service => ({
  name: 'greeter',
  version: '1.0.0',
  nodes: nodes.map((id) => ({ id, address: `${id}:8080` })),
  ...extra,
})

describe('pods → records → watch events', () => {
  it('only Running pods that are not being deleted serve (go-micro)', () => {
    const a = { [annotationKey('greeter')]: encodeServiceJson(svc(['n1'])) }
    expect(isServing(pod('p', a))).toBe(true)
    expect(isServing(pod('p', a, 'Pending'))).toBe(false)
    expect(isServing(pod('p', a, 'Succeeded'))).toBe(false)
    expect(isServing(pod('p', a, 'Running', true))).toBe(false)
    expect(podRecords(pod('p', a, 'Pending'), undefined).size).toBe(0)
    expect([...podRecords(pod('p', a), undefined).values()]).toEqual([svc(['n1'])])
  })

  it('keeps only the watched name and skips annotations that are not records', () => {
    const bad: string[] = []
    const records = podRecords(
      pod('p', {
        [annotationKey('greeter')]: encodeServiceJson(svc(['n1'])),
        [annotationKey('other')]: encodeServiceJson(svc(['o1'], { name: 'other' })),
        [`${ANNOTATION_PREFIX}broken`]: '{oops',
        'example.com/unrelated': 'x',
      }),
      'greeter',
      (key) => bad.push(key),
    )
    expect([...records.keys()]).toEqual([annotationKey('greeter')])
    expect(bad).toEqual([`${ANNOTATION_PREFIX}broken`])
  })

  it('a new record is a create, a removed one a delete with its nodes', () => {
    const k = annotationKey('greeter')
    expect(diffRecords(new Map(), new Map([[k, svc(['n1'])]]))).toEqual([
      { action: 'create', service: svc(['n1']) },
    ])
    expect(diffRecords(new Map([[k, svc(['n1'])]]), new Map())).toEqual([
      { action: 'delete', service: svc(['n1']) },
    ])
  })

  it('a node going away is a delete of that node; a node added or changed an update', () => {
    const k = annotationKey('greeter')
    expect(diffRecords(new Map([[k, svc(['n1', 'n2'])]]), new Map([[k, svc(['n2'])]]))).toEqual([
      { action: 'delete', service: svc(['n1']) },
    ])
    expect(diffRecords(new Map([[k, svc(['n1'])]]), new Map([[k, svc(['n1', 'n2'])]]))).toEqual([
      { action: 'update', service: svc(['n1', 'n2']) },
    ])
    const changed = svc(['n1'], { metadata: { v: '2' } })
    expect(diffRecords(new Map([[k, svc(['n1'])]]), new Map([[k, changed]]))).toEqual([
      { action: 'update', service: changed },
    ])
    expect(diffRecords(new Map([[k, svc(['n1'])]]), new Map([[k, svc(['n1'])]]))).toEqual([])
  })

  it('a key that now holds another version is a delete of the old and a create of the new', () => {
    const k = annotationKey('greeter')
    const v2 = svc(['n9'], { version: '2.0.0' })
    expect(diffRecords(new Map([[k, svc(['n1'])]]), new Map([[k, v2]]))).toEqual([
      { action: 'delete', service: svc(['n1']) },
      { action: 'create', service: v2 },
    ])
  })
})
