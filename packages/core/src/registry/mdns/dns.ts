/** The DNS packet shapes multicast-dns (dns-packet) reads and writes, named once. */
import type { QueryOutgoingPacket, ResponseOutgoingPacket } from 'multicast-dns'

export type Answer = ResponseOutgoingPacket['answers'][number]
export type Question = QueryOutgoingPacket['questions'][number]
