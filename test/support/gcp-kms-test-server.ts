import * as path from 'node:path';
import { createPublicKey } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { crc32c } from '@aws-crypto/crc32c';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { REPO_ROOT } from '../helpers.js';
import { OVERSIZED_REPLY_PADDING, signWithFaults, takeFault, type ReplyFaults, type SignatureFaults } from './cloud-faults.js';

/**
 * GOOGLE CLOUD KMS TEST SERVER, written for our tests: NOT Cloud KMS and not an emulator of it. No Cloud KMS
 * emulator with secp256k1 is served by the registries here (gcp-kms-emulator is refused by the Go proxy), so this
 * serves, over plain gRPC on 127.0.0.1 with Google's own service definition (the .proto files shipped in
 * @google-cloud/kms and google-gax), the calls our signer and createGcpKmsKey make: CreateKeyRing,
 * CreateCryptoKey (EC_SIGN_SECP256K1_SHA256 only), GetCryptoKeyVersion, GetPublicKey (PEM SPKI with pem_crc32c),
 * AsymmetricSign (checks digest_crc32c, answers signature_crc32c and verified_digest_crc32c, as documented),
 * UpdateCryptoKeyVersion (state) and DestroyCryptoKeyVersion. Signatures: @noble/curves, random nonce, DER.
 * Real Cloud KMS is reported to return secp256k1 signatures in low-S form; this server does NOT normalise unless
 * `lowS: true`, on purpose, so the tests exercise our normalisation (our signer relies on neither).
 * Test knobs: `corruptSignatureCrc` and `unverifiedDigest` spoil the next N sign answers' integrity fields;
 * `corruptSignature` and `otherKeySignature` (cloud-faults.ts) spoil the signature itself, with a matching CRC32C;
 * `oversizedReplies` appends an unknown field (which a client skips) to the answer, `stalledReplies` never answers.
 */
interface Version {
  name: string;
  priv: Uint8Array;
  state: 'ENABLED' | 'DISABLED' | 'DESTROY_SCHEDULED';
  protectionLevel: string;
}
export interface GcpKmsTestServer extends SignatureFaults, ReplyFaults {
  host: string;
  port: number;
  versions: Map<string, Version>;
  signs: number;
  highS: number;
  lowS: boolean;
  corruptSignatureCrc: number;
  unverifiedDigest: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

const PROTO_DIRS = [path.join(REPO_ROOT, 'node_modules', '@google-cloud', 'kms', 'build', 'protos'), path.join(REPO_ROOT, 'node_modules', 'google-gax', 'build', 'protos')];

let loaded: grpc.ServiceDefinition | undefined;
/** Google's KeyManagementService definition, from the .proto files the SDK ships. */
export function kmsServiceDefinition(): grpc.ServiceDefinition {
  if (loaded) return loaded;
  const pkg = protoLoader.loadSync('google/cloud/kms/v1/service.proto', { includeDirs: PROTO_DIRS, keepCase: false, longs: String, enums: String, defaults: false, oneofs: true });
  const def = grpc.loadPackageDefinition(pkg) as unknown as { google: { cloud: { kms: { v1: { KeyManagementService: { service: grpc.ServiceDefinition } } } } } };
  return (loaded = def.google.cloud.kms.v1.KeyManagementService.service);
}

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n > 0x7f; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

type Call = grpc.ServerUnaryCall<Record<string, any>, unknown>;
type Cb = grpc.sendUnaryData<unknown>;
const status = (code: grpc.status, details: string) => Object.assign(new Error(details), { code, details });

export async function startGcpKmsTestServer(options: { lowS?: boolean } = {}): Promise<GcpKmsTestServer> {
  const versions = new Map<string, Version>();
  const rings = new Set<string>();
  let server: grpc.Server | undefined;
  let port = 0;
  const state: GcpKmsTestServer = { host: '127.0.0.1', port: 0, versions, signs: 0, highS: 0, lowS: options.lowS ?? false, corruptSignatureCrc: 0, unverifiedDigest: 0, corruptSignature: 0, otherKeySignature: 0, oversizedReplies: 0, stalledReplies: 0, stop: async () => {}, start: async () => {} };

  const pemOf = (v: Version) => {
    const pub = secp256k1.getPublicKey(v.priv, false);
    return createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: Buffer.from(pub.subarray(1, 33)).toString('base64url'), y: Buffer.from(pub.subarray(33)).toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
  };
  const versionJson = (v: Version) => ({ name: v.name, state: v.state, algorithm: 'EC_SIGN_SECP256K1_SHA256', protectionLevel: v.protectionLevel });
  const find = (name: string, cb: Cb): Version | undefined => {
    const v = versions.get(name);
    if (!v) cb(status(grpc.status.NOT_FOUND, `${name} not found.`));
    return v;
  };
  const usable = (v: Version, cb: Cb): boolean => {
    if (v.state === 'ENABLED') return true;
    cb(status(grpc.status.FAILED_PRECONDITION, `${v.name} is not enabled, current state is: ${v.state}.`));
    return false;
  };

  const impl: grpc.UntypedServiceImplementation = {
    CreateKeyRing: (call: Call, cb: Cb) => {
      const name = `${call.request.parent}/keyRings/${call.request.keyRingId}`;
      if (rings.has(name)) return cb(status(grpc.status.ALREADY_EXISTS, `KeyRing ${name} already exists.`));
      rings.add(name);
      cb(null, { name });
    },
    CreateCryptoKey: (call: Call, cb: Cb) => {
      const r = call.request;
      if (!rings.has(r.parent)) return cb(status(grpc.status.NOT_FOUND, `KeyRing ${r.parent} not found.`));
      if (r.cryptoKey?.purpose !== 'ASYMMETRIC_SIGN' || r.cryptoKey?.versionTemplate?.algorithm !== 'EC_SIGN_SECP256K1_SHA256') {
        return cb(status(grpc.status.INVALID_ARGUMENT, 'this test server creates ASYMMETRIC_SIGN EC_SIGN_SECP256K1_SHA256 keys only'));
      }
      const name = `${r.parent}/cryptoKeys/${r.cryptoKeyId}`;
      const v: Version = { name: `${name}/cryptoKeyVersions/1`, priv: secp256k1.utils.randomSecretKey(), state: 'ENABLED', protectionLevel: r.cryptoKey.versionTemplate.protectionLevel ?? 'SOFTWARE' };
      if (versions.has(v.name)) return cb(status(grpc.status.ALREADY_EXISTS, `CryptoKey ${name} already exists.`));
      versions.set(v.name, v);
      cb(null, { name, purpose: 'ASYMMETRIC_SIGN', versionTemplate: r.cryptoKey.versionTemplate });
    },
    GetCryptoKeyVersion: (call: Call, cb: Cb) => {
      const v = find(call.request.name, cb);
      if (v) cb(null, versionJson(v));
    },
    UpdateCryptoKeyVersion: (call: Call, cb: Cb) => {
      const v = find(call.request.cryptoKeyVersion?.name, cb);
      if (!v) return;
      if ((call.request.updateMask?.paths ?? []).includes('state')) v.state = call.request.cryptoKeyVersion.state;
      cb(null, versionJson(v));
    },
    DestroyCryptoKeyVersion: (call: Call, cb: Cb) => {
      const v = find(call.request.name, cb);
      if (!v) return;
      v.state = 'DESTROY_SCHEDULED';
      cb(null, versionJson(v));
    },
    GetPublicKey: (call: Call, cb: Cb) => {
      const v = find(call.request.name, cb);
      if (!v || !usable(v, cb)) return;
      const pem = pemOf(v);
      cb(null, { pem, algorithm: 'EC_SIGN_SECP256K1_SHA256', pemCrc32c: { value: String(crc32c(Buffer.from(pem))) }, name: v.name, protectionLevel: v.protectionLevel });
    },
    AsymmetricSign: (call: Call, cb: Cb) => {
      const r = call.request;
      const v = find(r.name, cb);
      if (!v || !usable(v, cb)) return;
      const digest: Buffer | undefined = r.digest?.sha256;
      if (!digest || digest.length !== 32) return cb(status(grpc.status.INVALID_ARGUMENT, 'digest.sha256 must be 32 bytes for EC_SIGN_SECP256K1_SHA256'));
      const given = r.digestCrc32c?.value;
      if (given !== undefined && Number(given) !== crc32c(digest)) return cb(status(grpc.status.INVALID_ARGUMENT, 'The checksum in field digest_crc32c did not match the data in field digest.'));
      const compact = signWithFaults(state, digest, v.priv, state.lowS);
      const sig = secp256k1.Signature.fromBytes(compact, 'compact');
      state.signs++;
      if (sig.hasHighS()) state.highS++;
      const der = Buffer.from(sig.toBytes('der'));
      let crc = crc32c(der);
      if (state.corruptSignatureCrc > 0) {
        state.corruptSignatureCrc--;
        crc ^= 1;
      }
      let verified = given !== undefined;
      if (state.unverifiedDigest > 0) {
        state.unverifiedDigest--;
        verified = false;
      }
      const reply = { signature: der, signatureCrc32c: { value: String(crc) }, verifiedDigestCrc32c: verified, name: v.name, protectionLevel: v.protectionLevel };
      if (takeFault(state, 'oversizedReplies')) padded.add(reply);
      if (takeFault(state, 'stalledReplies')) return; // no answer: the client's deadline ends the call
      cb(null, reply);
    },
  };

  // Answers in `padded` get an unknown length-delimited field (number 1000) appended: valid protobuf, skipped by a
  // client's decoder, and OVERSIZED_REPLY_PADDING bytes longer.
  const padded = new WeakSet<object>();
  const def = kmsServiceDefinition();
  const sign = def.AsymmetricSign!;
  const serialize = (reply: object) => {
    const bytes = sign.responseSerialize(reply);
    return padded.has(reply) ? Buffer.concat([bytes, Buffer.from([...varint((1000 << 3) | 2), ...varint(OVERSIZED_REPLY_PADDING)]), Buffer.alloc(OVERSIZED_REPLY_PADDING)]) : bytes;
  };
  const served: grpc.ServiceDefinition = { ...def, AsymmetricSign: { ...sign, responseSerialize: serialize } };

  state.start = async () => {
    server = new grpc.Server();
    server.addService(served, impl);
    port = await new Promise<number>((resolve, reject) => server!.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    state.port = port;
  };
  state.stop = async () => {
    const s = server;
    server = undefined;
    s?.forceShutdown();
  };
  await state.start();
  return state;
}

/**
 * A FAULT-INJECTING gRPC PROXY of ours (test equipment): forwards every KeyManagementService call, as opaque
 * bytes, to the upstream server, unless `inject` returns a status to answer with instead (e.g. RESOURCE_EXHAUSTED).
 */
export interface GrpcFaultProxy {
  port: number;
  forwarded: number;
  injected: number;
  inject?: (method: string) => { code: grpc.status; details: string } | undefined;
  close(): Promise<void>;
}

export async function startGrpcFaultProxy(upstreamPort: number): Promise<GrpcFaultProxy> {
  const def = kmsServiceDefinition();
  const id = (b: Buffer) => b;
  const passthrough = Object.fromEntries(Object.entries(def).map(([k, m]) => [k, { ...m, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id }])) as grpc.ServiceDefinition;
  const upstream = new grpc.Client(`127.0.0.1:${upstreamPort}`, grpc.credentials.createInsecure());
  const proxy: GrpcFaultProxy = { port: 0, forwarded: 0, injected: 0, close: async () => {} };
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [k, m] of Object.entries(def)) {
    impl[k] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const fault = proxy.inject?.(k);
      if (fault) {
        proxy.injected++;
        return cb(Object.assign(new Error(fault.details), fault));
      }
      proxy.forwarded++;
      upstream.makeUnaryRequest(m.path, id, id, call.request, (err, res) => (err ? cb(err) : cb(null, res)));
    };
  }
  const server = new grpc.Server();
  server.addService(passthrough, impl);
  proxy.port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  proxy.close = async () => {
    upstream.close();
    server.forceShutdown();
  };
  return proxy;
}
