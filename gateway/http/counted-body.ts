import { PassThrough, type TransformCallback } from 'node:stream';

/**
 * A request body on its way upstream (see the adapters' `bodyOf`), counting
 * its bytes for the token's usage: the same work as the PassThrough it replaces.
 */
export class CountedBody extends PassThrough {
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}
