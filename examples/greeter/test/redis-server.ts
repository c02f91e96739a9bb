import { canConnect, type LaunchSpec, PrivateServer } from '@micro-ts/conformance/testing'

/** A throwaway redis-server on a free loopback port (nothing kept on disk). */
export class RedisServer extends PrivateServer {
  readonly name = 'redis-server'
  protected launch(): LaunchSpec {
    const args = ['--port', String(this.port), '--bind', this.host, '--save', '', '--appendonly', 'no']
    return { command: 'redis-server', args: [...args, '--dir', this.dir] }
  }
  protected ready(): Promise<boolean> {
    return canConnect(this.host, this.port)
  }
}
