/**
 * A copy of `source[start, end)` that the caller owns, as a plain `Uint8Array`.
 *
 * A driver's reply is a view on its socket read (up to 64 KiB, many replies long): a value handed
 * out as that view would keep the whole read alive for as long as the caller keeps the value. So a
 * store copies each value it returns. `new Uint8Array(view)` copies into an ArrayBuffer of its own
 * per value: 24% of the instructions of the driver's whole `GET` of 1 KiB (callgrind); a copy
 * under 4 KiB here comes from Node's shared Buffer pool instead, as `Buffer.from` does (15%), so
 * its `.buffer` is that pool's slab: read it through `byteOffset` and `byteLength`, as with any
 * Buffer.
 */
export function ownedBytes(source: Uint8Array, start = 0, end = source.byteLength): Uint8Array {
  const part = source.subarray(start, end) // clamped to the source, as slice() is
  // allocUnsafe leaves the bytes as they were: every one of them is written by set() below.
  const copy = Buffer.allocUnsafe(part.byteLength)
  copy.set(part)
  return new Uint8Array(copy.buffer, copy.byteOffset, part.byteLength)
}
