/** The raw limit with Node's own client: node:http with a keep-alive agent, JSON by hand. */
import http from 'node:http'
import { bigBody, checkResponse, GREETER_REQUEST, type PayloadKind } from '../payloads.js'
import { type BenchClient, type DriverConfig, splitHostPort } from './types.js'

export async function create(config: DriverConfig): Promise<BenchClient> {
  const { host, port } = splitHostPort(config.address)
  const agent = new http.Agent({ keepAlive: true, maxSockets: config.connections ?? 100 })
  const big = bigBody()
  const bodies = {
    greeter: () => Buffer.from(JSON.stringify(GREETER_REQUEST)),
    big: () => Buffer.from(JSON.stringify(big)),
  }
  const send = (kind: PayloadKind) =>
    new Promise<unknown>((resolve, reject) => {
      const body = bodies[kind]()
      const req = http.request(
        {
          host,
          port,
          agent,
          method: 'POST',
          path: kind === 'greeter' ? '/hello' : '/echo',
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            try {
              if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`)
              resolve(JSON.parse(Buffer.concat(chunks).toString()))
            } catch (e) {
              reject(e)
            }
          })
          res.on('error', reject)
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  return {
    async call(kind) {
      checkResponse(kind, await send(kind), big.items.length)
    },
    async close() {
      agent.destroy()
    },
  }
}
