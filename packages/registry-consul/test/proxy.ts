/**
 * A TCP proxy in front of an agent, for tests: it can cut every connection (a blocking query
 * whose connection drops) and it records the HTTP requests that pass through it, so a test can
 * check exactly what the registry sent.
 */
import net from 'node:net'

export interface RecordedRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: string
}

export interface Proxy {
  /** `127.0.0.1:<port>` to point a registry at. */
  readonly address: string
  /** Connections accepted so far. */
  accepted(): number
  /** The requests seen so far, in order. */
  requests(): RecordedRequest[]
  /** Reset every open connection (the client sees ECONNRESET). */
  cut(): void
  close(): Promise<void>
}

/** Parse the complete requests at the start of `buffer`; returns them and the rest. */
function parseRequests(buffer: Buffer): { requests: RecordedRequest[]; rest: Buffer } {
  const requests: RecordedRequest[] = []
  let rest = buffer
  for (;;) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) break
    const [line, ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n')
    const headers: Record<string, string> = {}
    for (const l of lines) {
      const i = l.indexOf(':')
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
    }
    const length = Number(headers['content-length'] ?? 0)
    if (rest.length < end + 4 + length) break
    const [method, path] = line.split(' ')
    requests.push({
      method,
      path: decodeURIComponent(path),
      headers,
      body: rest.subarray(end + 4, end + 4 + length).toString('utf8'),
    })
    rest = rest.subarray(end + 4 + length)
  }
  return { requests, rest }
}

export async function tcpProxy(target: string): Promise<Proxy> {
  const host = target.slice(0, target.lastIndexOf(':'))
  const port = Number(target.slice(target.lastIndexOf(':') + 1))
  const pairs = new Set<[net.Socket, net.Socket]>()
  const seen: RecordedRequest[] = []
  let accepted = 0
  const server = net.createServer((inbound) => {
    accepted++
    const outbound = net.connect(port, host)
    const pair: [net.Socket, net.Socket] = [inbound, outbound]
    pairs.add(pair)
    let pending: Buffer = Buffer.alloc(0)
    inbound.on('data', (chunk: Buffer) => {
      const parsed = parseRequests(Buffer.concat([pending, chunk]))
      seen.push(...parsed.requests)
      pending = parsed.rest
    })
    inbound.pipe(outbound).pipe(inbound)
    const drop = () => {
      inbound.destroy()
      outbound.destroy()
      pairs.delete(pair)
    }
    inbound.on('error', drop).on('close', drop)
    outbound.on('error', drop).on('close', drop)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port: own } = server.address() as net.AddressInfo
  const cut = () => {
    for (const [a, b] of pairs) {
      a.resetAndDestroy()
      b.destroy()
    }
    pairs.clear()
  }
  return {
    address: `127.0.0.1:${own}`,
    accepted: () => accepted,
    requests: () => [...seen],
    cut,
    async close() {
      cut()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
