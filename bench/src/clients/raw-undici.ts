/** The raw limit with undici: a keep-alive Pool (as many connections as our transport's default), JSON by hand. */
import { Pool } from 'undici'
import { bigBody, checkResponse, GREETER_REQUEST } from '../payloads.js'
import type { BenchClient, DriverConfig } from './types.js'

export async function create(config: DriverConfig): Promise<BenchClient> {
  const pool = new Pool(`http://${config.address}`, { connections: config.connections ?? 100, pipelining: 1 })
  const big = bigBody()
  const headers = { 'content-type': 'application/json' }
  return {
    async call(kind) {
      const { statusCode, body } = await pool.request({
        method: 'POST',
        path: kind === 'greeter' ? '/hello' : '/echo',
        headers,
        body: JSON.stringify(kind === 'greeter' ? GREETER_REQUEST : big),
      })
      const rsp = await body.json()
      if (statusCode !== 200) throw new Error(`status ${statusCode}`)
      checkResponse(kind, rsp, big.items.length)
    },
    async close() {
      await pool.close()
    },
  }
}
