import { createConnection, type Socket, type TcpNetConnectOpts } from 'node:net'
import { connect as connectTls, type TLSSocket } from 'node:tls'
import { AbstractConnector, type StandaloneConnectionOptions } from 'ioredis'

/** Called with an error a connection raised after ioredis had stopped listening to it. */
export type LateErrorHandler = (err: Error) => void

/** What ioredis' `Connector` option takes: it passes the whole parsed options. */
type ConnectorClass = new (options: unknown) => AbstractConnector

/**
 * ioredis' own connector for a single server over TCP or TLS, with one change: the socket keeps an `error`
 * listener for its whole life.
 *
 * ioredis listens to a socket's first error only (`stream.once('error')`). A TLS socket can raise
 * two: a server that refuses our certificate sends an alert, and the write or read that meets the
 * closed connection fails too. Node throws an error nobody listens to, so the second one was an
 * uncaught exception that would end the user's process. The first error still reaches ioredis
 * (which reconnects); later ones go to `onLateError`.
 */
export function lastingErrorConnector(onLateError: LateErrorHandler): ConnectorClass {
  return class LastingErrorConnector extends AbstractConnector {
    private readonly options: StandaloneConnectionOptions

    constructor(options: unknown) {
      const connection = options as StandaloneConnectionOptions
      super(connection.disconnectTimeout ?? 2000)
      this.options = connection
    }

    connect(): Promise<Socket | TLSSocket> {
      this.connecting = true
      // The store's addresses are redis:// and rediss:// URLs: always a host and port, never a unix path.
      const { host, port, family, tls } = this.options
      const target: TcpNetConnectOpts = { host, port: port ?? 6379, family }
      // A tick later, as ioredis does, so a disconnect() right after connect() is seen first.
      return new Promise((resolve, reject) => {
        process.nextTick(() => {
          if (!this.connecting) return reject(new Error('Connection is closed.'))
          let stream: Socket | TLSSocket
          try {
            stream = tls ? connectTls({ ...target, ...tls }) : createConnection(target)
          } catch (err) {
            return reject(err)
          }
          let errors = 0
          stream.on('error', (err: Error) => {
            // ioredis reports an error met before it attached its own listener from `firstError`.
            if (errors++ === 0) this.firstError = err
            else onLateError(err)
          })
          this.stream = stream
          resolve(stream)
        })
      })
    }
  }
}
