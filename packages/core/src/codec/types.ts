/** Codec: turns values into bytes for one content type. */

/** A protobuf message type in protobufjs' static shape (`Type.encode(m).finish()`, `Type.decode(b)`). */
export interface ProtoType<T = unknown> {
  encode(message: T): { finish(): Uint8Array }
  decode(bytes: Uint8Array): T
}

export interface Codec {
  /** e.g. `application/json`. */
  readonly contentType: string
  encode(value: unknown, type?: ProtoType): Uint8Array
  /** `type` is used by codecs that need a schema (protobuf); others ignore it. */
  decode(bytes: Uint8Array, type?: ProtoType): unknown
}
