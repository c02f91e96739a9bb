/**
 * Reading a whole prefix in pages, so no answer exceeds the client's message limit: keyset
 * pagination (each page starts after the last key of the one before) at one revision, pages
 * sized from the records seen so far to fill about half the limit (few round trips for small
 * records), smaller pages when an answer is still too large, and a record too large to read at
 * all skipped (and reported) instead of making the whole prefix unreadable.
 */
import { GRPCOutOfRangeError, type IKeyValue, type IRangeRequest, type IRangeResponse, Range } from 'etcd3'
import { isTooLarge } from './errors.js'

/** One etcd range request (with its deadline); it throws etcd3's errors as they are. */
export type RangeCall = (request: IRangeRequest) => Promise<IRangeResponse>

export interface ScanOptions {
  /** Records per page at most. */
  pageSize: number
  /** The largest answer the client accepts, bytes: pages aim at half of it. */
  maxMessageSize: number
  /** Bytes per record seen by an earlier scan, to size the first page; learnt anew from each page. */
  recordSize?: number
  /** Told the bytes per record of each page read. */
  onRecordSize?(bytes: number): void
  /** Told about each record skipped because it alone is over the message limit. */
  onSkip(key: string): void
}

/** Records in the first page of a prefix. */
const FIRST_PAGE = 500

/** The key right after `key` in etcd's byte order. */
function after(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])])
}

/** Every key-value under `prefix`, a page at a time, in key order. */
export async function* scanPrefix(
  range: RangeCall,
  prefix: string,
  options: ScanOptions,
): AsyncGenerator<IKeyValue[]> {
  const { start, end } = Range.prefix(prefix)
  let from = start
  const fit = (recordSize: number) =>
    Math.max(1, Math.min(options.pageSize, Math.floor(options.maxMessageSize / 2 / recordSize)))
  // Until a page shows how large the records are (here or in an earlier scan), a modest first page.
  let limit = options.recordSize ? fit(options.recordSize) : Math.min(options.pageSize, FIRST_PAGE)
  // Later pages read the revision of the first, so the pages are one snapshot.
  let revision: string | undefined
  const page = async (request: IRangeRequest): Promise<IRangeResponse> => {
    try {
      return await range({ ...request, revision })
    } catch (err) {
      // That revision was compacted away between two pages: read the rest as it is now.
      if (!(err instanceof GRPCOutOfRangeError) || revision === undefined) throw err
      revision = undefined
      return await range(request)
    }
  }
  for (;;) {
    let res: IRangeResponse
    try {
      res = await page({ key: from, range_end: end, limit })
    } catch (err) {
      if (!isTooLarge(err)) throw err
      if (limit > 1) {
        limit = Math.max(1, Math.floor(limit / 4))
        continue
      }
      // One record alone is over the limit: its key (a keys-only answer is small) is skipped.
      const keys = await page({ key: from, range_end: end, limit: 1, keys_only: true })
      revision ??= keys.header.revision
      const kv = keys.kvs[0]
      if (!kv) return
      options.onSkip(kv.key.toString())
      from = after(kv.key)
      continue
    }
    revision ??= res.header.revision
    if (res.kvs.length > 0) yield res.kvs
    if (!res.more || res.kvs.length === 0) return
    from = after(res.kvs[res.kvs.length - 1].key)
    let bytes = 0
    for (const kv of res.kvs) bytes += kv.key.length + kv.value.length
    options.onRecordSize?.(bytes / res.kvs.length)
    limit = fit(bytes / res.kvs.length)
  }
}
