/**
 * compare.ts, the check between two runs: it must see every ratio a run prints with a spread
 * (stores, registries and start-up included, not only the RPC and pub/sub ratios) and judge
 * each pair by whether each median lies within the other run's range.
 */
import { describe, expect, it } from 'vitest'
import { agreement, printedRatios, verdictAgreement } from '../src/compare.js'
import type { RegistriesRow } from '../src/registries.js'
import type { StartupRow } from '../src/startup.js'
import type { StoreRow } from '../src/stores.js'

const store = (contender: string, rounds: number[], cpu: number[]): StoreRow => ({
  contender,
  group: contender.startsWith('ours') ? 'ours' : 'raw',
  backend: 'redis',
  op: 'read',
  concurrency: 16,
  opsPerSec: rounds[1],
  rounds,
  p50: 1,
  p99: 2,
  clientCpuUs: cpu,
  errors: 0,
})

describe('printedRatios', () => {
  it('takes the stores, registries and start-up ratios round by round, beside the RPC ones', () => {
    const registries: RegistriesRow[] = [
      {
        contender: 'ours-etcd',
        group: 'ours',
        backend: 'etcd',
        cell: 'lookup',
        rounds: [900, 800],
        value: 850,
      },
      {
        contender: 'raw-etcd3',
        group: 'raw',
        backend: 'etcd',
        cell: 'lookup',
        rounds: [1000, 1000],
        value: 1000,
      },
    ]
    const startup: StartupRow[] = [
      {
        contender: 'ours-http',
        group: 'ours',
        rounds: [600, 700],
        readyRounds: [590, 690],
        attempts: [1, 1],
      },
      { contender: 'raw-http', group: 'raw', rounds: [100, 140], readyRounds: [90, 130], attempts: [1, 1] },
    ]
    const ratios = printedRatios({
      startedAt: 'x',
      targets: [],
      ratios: [
        {
          label: 'ours-http ÷ raw-undici, calls/s',
          cells: {},
          spreads: { 'greeter c=64': { median: 0.7, min: 0.6, max: 0.8, n: 3 } },
        },
      ],
      stores: [
        store('ours-redis', [600, 700, 800], [30, 30, 30]),
        store('raw-ioredis', [1000, 1000, 1000], [20, 15, 30]),
      ],
      registries,
      startup,
    })
    const by = (label: string, cell: string) =>
      ratios.find((r) => r.label === label && r.cell === cell)?.spread
    expect(by('ours-http ÷ raw-undici, calls/s', 'greeter c=64')?.median).toBe(0.7)
    expect(by('store ours-redis ÷ raw-ioredis, ops/s', 'read c=16')).toEqual({
      median: 0.7,
      min: 0.6,
      max: 0.8,
      n: 3,
    })
    expect(by('store ours-redis ÷ raw-ioredis, client CPU', 'read c=16')).toEqual({
      median: 1.5,
      min: 1,
      max: 2,
      n: 3,
    })
    expect(by('registry ours-etcd ÷ raw-etcd3, lookups/s', 'lookup')).toMatchObject({ min: 0.8, max: 0.9 })
    expect(by('start-up ours-http ÷ raw-http, time', 'first answered call')).toMatchObject({ min: 5, max: 6 })
    expect(by('start-up ours-http ÷ moleculer-nats, time', 'first answered call')).toBeUndefined()
    expect(ratios).toHaveLength(5)
  })
})

describe('agreement', () => {
  const s = (median: number, min: number, max: number) => ({ median, min, max, n: 5 })
  it('is both, one or no by whether each median lies in the other range', () => {
    expect(agreement(s(1, 0.9, 1.1), s(1.05, 0.95, 1.2))).toBe('both')
    expect(agreement(s(1, 0.9, 1.1), s(1.05, 1.02, 1.2))).toBe('one')
    expect(agreement(s(1, 0.9, 1.1), s(2, 1.5, 2.5))).toBe('no')
  })
})

describe('verdictAgreement', () => {
  it('tells a decided-against-undecided pair from one met in one run and missed in the other', () => {
    expect(verdictAgreement('met', 'met')).toBe('agree')
    expect(verdictAgreement('undecided', 'undecided')).toBe('agree')
    expect(verdictAgreement('missed', 'undecided')).toBe('differ')
    expect(verdictAgreement('undecided', 'met')).toBe('differ')
    expect(verdictAgreement('met', 'missed')).toBe('opposite')
  })
})
