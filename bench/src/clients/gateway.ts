/** An HTTP client of the gateway, as any non-Micro caller is: an undici Pool, JSON by hand, `POST /{service}/{endpoint}`. */
import { Pool } from 'undici'
import { bigBody, checkResponse, GREETER_REQUEST } from '../payloads.js'
import { SERVICE_NAME } from '../servers/ours.js'
import type { BenchClient, DriverConfig } from './types.js'

export async function create(config: DriverConfig): Promise<BenchClient> {
  const pool = new Pool(`http://${config.address}`, { connections: 100, pipelining: 1 })
  const big = bigBody()
  const headers = { 'content-type': 'application/json' }
  return {
    async call(kind) {
      const { statusCode, body } = await pool.request({
        method: 'POST',
        path: kind === 'greeter' ? `/${SERVICE_NAME}/Greeter.Hello` : `/${SERVICE_NAME}/Greeter.Echo`,
        headers,
        body: JSON.stringify(kind === 'greeter' ? GREETER_REQUEST : big),
      })
      const rsp = await body.json()
      if (statusCode !== 200) throw new Error(`status ${statusCode}: ${JSON.stringify(rsp)}`)
      checkResponse(kind, rsp, big.items.length)
    },
    async close() {
      await pool.close()
    },
  }
}
