/**
 * TLS material from PEM text or files, declared and read the same way by every plugin:
 * `tls` (on with the system's roots), `tls.ca`/`tls.caFile`, `tls.cert`/`tls.certFile`,
 * `tls.key`/`tls.keyFile`. PEM given inline wins over a file.
 */
import { readFileSync } from 'node:fs'
import type { KindErrors } from './errors.js'
import { option } from './options.js'

/** The PEM texts a TLS connection is made with. Empty means "TLS with the system's roots". */
export interface TlsMaterial {
  ca?: string
  cert?: string
  key?: string
}

/** The TLS options as code gives them nested: `{ tls: { caFile } }` (or `tls: true`). */
export interface TlsInput {
  ca?: string
  caFile?: string
  cert?: string
  certFile?: string
  key?: string
  keyFile?: string
}

/**
 * Option declarations for TLS; spread them into a plugin's `options`. `scheme` names the URL
 * scheme that turns TLS on too (`rediss://`), when the backend has one.
 */
export function tlsOptions(what = 'the backend', scheme?: string) {
  return {
    tls: option.flag({
      doc: `Connect to ${what} over TLS (implied by any tls.* material${scheme ? ` or ${/^[aeiou]/i.test(scheme) ? 'an' : 'a'} ${scheme} address` : ''})`,
    }),
    'tls.ca': option.string({ doc: 'CA certificate(s), PEM, that sign the server certificate' }),
    'tls.caFile': option.string({ doc: 'File with the CA certificate(s), PEM' }),
    'tls.cert': option.string({ doc: 'Client certificate, PEM, for servers that verify clients' }),
    'tls.certFile': option.string({ doc: 'File with the client certificate, PEM' }),
    'tls.key': option.secret({ doc: 'Client private key, PEM' }),
    'tls.keyFile': option.string({ doc: 'File with the client private key, PEM' }),
  } as const
}

/** The TLS option values as `parseOptions` returns them. */
export interface TlsOptionValues {
  tls?: boolean
  'tls.ca'?: string
  'tls.caFile'?: string
  'tls.cert'?: string
  'tls.certFile'?: string
  'tls.key'?: string
  'tls.keyFile'?: string
}

/**
 * The material the options ask for, or undefined when TLS is off (`tls` unset or false and no
 * material given). An unreadable file, or a certificate without its key, is a 400 of the kind.
 */
export function readTls(
  values: TlsOptionValues,
  errors: KindErrors,
  forceOn = false,
): TlsMaterial | undefined {
  const any =
    values['tls.ca'] ??
    values['tls.caFile'] ??
    values['tls.cert'] ??
    values['tls.certFile'] ??
    values['tls.key'] ??
    values['tls.keyFile']
  if (values.tls === false && !forceOn) return undefined
  if (!forceOn && !values.tls && any === undefined) return undefined
  const pick = (inline: string | undefined, file: string | undefined, what: string) => {
    if (inline !== undefined) return inline
    if (file === undefined) return undefined
    try {
      return readFileSync(file, 'utf8')
    } catch (err) {
      throw errors.badOption(`cannot read the TLS ${what} file ${file}: ${(err as Error).message}`, err)
    }
  }
  const out: TlsMaterial = {}
  const ca = pick(values['tls.ca'], values['tls.caFile'], 'CA')
  const cert = pick(values['tls.cert'], values['tls.certFile'], 'certificate')
  const key = pick(values['tls.key'], values['tls.keyFile'], 'key')
  if ((cert === undefined) !== (key === undefined)) {
    throw errors.badOption(
      'a TLS client certificate needs its key, and a key its certificate (tls.cert/tls.key)',
    )
  }
  if (ca !== undefined) out.ca = ca
  if (cert !== undefined) out.cert = cert
  if (key !== undefined) out.key = key
  return out
}
