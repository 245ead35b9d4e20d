import type { Readable } from 'node:stream';
import { KmsError } from './retry.js';

/**
 * The most a KMS reply may be. A signature or public-key reply is a few hundred bytes, a key with its attributes
 * and tags a few KiB; yet the AWS and Azure SDKs read a reply of any size, and gax lifts gRPC's 4 MiB default to
 * no limit, so a broken or hostile endpoint could make the daemon buffer without bound.
 */
export const MAX_REPLY_BYTES = 64 * 1024;

export function replyTooLarge(what: string): KmsError {
  return new KmsError('REPLY_TOO_LARGE', `${what}: the reply is larger than ${MAX_REPLY_BYTES / 1024} KiB, far more than any key or signing reply; refused (is the endpoint really the KMS?); nothing was signed`);
}

/**
 * A reply body read to its end, at most MAX_REPLY_BYTES (the stream is destroyed past that). A body cut off (the
 * per-call abort, a reset) rejects with the stream's error.
 */
export async function readReply(body: Readable, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_REPLY_BYTES) {
      body.destroy();
      throw replyTooLarge(what);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
