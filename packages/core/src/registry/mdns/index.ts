export { mdnsRegistryOptions } from './options.js'
export { createMdnsRegistry, MdnsRegistry, type MdnsRegistryOptions } from './registry.js'
export { decodeTxt, encodeTxt, type MdnsTxt, TXT_CHUNK } from './txt.js'
