/**
 * The OpenAPI document served at /openapi.json. test/daemon/http-details.test.ts checks every status the tests
 * provoke, body and headers, against it: change the server's replies and this document together.
 */
const ref = (kind: 'schemas' | 'responses' | 'headers', name: string) => ({ $ref: `#/components/${kind}/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const decimal = { type: 'string', pattern: '^(0|[1-9][0-9]*)$' };
const base64 = { type: 'string', pattern: '^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$' };
const hex = (bytes: number) => ({ type: 'string', pattern: `^[0-9a-f]{${bytes * 2}}$` });

const schemas = {
  Error: { type: 'object', required: ['error', 'code'], additionalProperties: false, properties: { error: { type: 'string' }, code: { type: 'string', pattern: '^[A-Z][A-Z0-9_]*$' } } },
  Health: {
    type: 'object',
    required: ['ok', 'keys', 'key_count', 'nonce_store', 'audit', 'audit_entries'],
    additionalProperties: false,
    properties: {
      ok: { type: 'boolean' },
      keys: { type: 'string', description: '"ok" or "error: <why>"' },
      key_count: { type: 'integer', minimum: 0 },
      nonce_store: { type: 'string', description: '"ok" or "error: <why>"' },
      audit: { type: 'string', description: '"ok" or "error: <why>"' },
      audit_entries: { type: 'integer', minimum: 0, description: 'sequence number of the last audit entry' },
      tokens: { type: 'object', additionalProperties: { type: 'string' }, description: 'PKCS#11 keys only: key name → "ok" or "error: <why>" for its token' },
    },
  },
  Key: {
    type: 'object',
    required: ['name', 'address', 'pubkey', 'pubkey_hex'],
    additionalProperties: false,
    properties: { name: { type: 'string' }, address: { type: 'string', pattern: '^[a-z]+1[02-9ac-hj-np-z]+$' }, pubkey: { type: 'string', pattern: '^[a-z]+1[02-9ac-hj-np-z]+$' }, pubkey_hex: hex(33) },
  },
};

const headers = {
  'WWW-Authenticate': { description: 'RFC 6750 challenge; error="invalid_token" when a token was sent but not accepted', required: true, schema: { type: 'string', pattern: '^Bearer realm="arkeo-signer"(, error="invalid_token")?$' } },
  'Retry-After': { description: 'Seconds until a retry can succeed', required: true, schema: { type: 'integer', minimum: 1 } },
  Allow: { description: 'The one method this path serves', required: true, schema: { type: 'string', enum: ['GET', 'POST'] } },
};

const responses = {
  BadRequest: { description: 'Malformed body or field, or a body cut short', content: json(ref('schemas', 'Error')) },
  Unauthorized: { description: 'Missing, unknown or revoked token', headers: { 'WWW-Authenticate': ref('headers', 'WWW-Authenticate') }, content: json(ref('schemas', 'Error')) },
  Forbidden: { description: 'Denied by the token policy (code DENIED), a spend ceiling (code SPEND_LIMIT), or the contract\'s registered parties (codes WRONG_KEY, WRONG_FORM, DELEGATE_ONLY)', content: json(ref('schemas', 'Error')) },
  NotFound: { description: 'No such route, or (code UNKNOWN_KEY) no such key loaded', content: json(ref('schemas', 'Error')) },
  MethodNotAllowed: { description: 'A known path with another method', headers: { Allow: ref('headers', 'Allow') }, content: json(ref('schemas', 'Error')) },
  PayloadTooLarge: { description: 'Body over limits.max_body_bytes (64 KiB by default)', content: json(ref('schemas', 'Error')) },
  TooManyRequests: {
    description: "The token's rate limit (code RATE_LIMITED), or a peer over its budget of failed requests (code TOO_MANY_FAILURES)",
    headers: { 'Retry-After': ref('headers', 'Retry-After') },
    content: json(ref('schemas', 'Error')),
  },
  Unavailable: { description: 'Nonce store, audit log or signing thread unavailable: nothing signed', content: json(ref('schemas', 'Error')) },
};

/** Every reply of an authenticated route besides its 200. */
const failures = {
  '400': ref('responses', 'BadRequest'),
  '401': ref('responses', 'Unauthorized'),
  '403': ref('responses', 'Forbidden'),
  '404': ref('responses', 'NotFound'),
  '413': ref('responses', 'PayloadTooLarge'),
  '429': ref('responses', 'TooManyRequests'),
  '503': ref('responses', 'Unavailable'),
};

const signed = (properties: Record<string, object>) => ({ description: 'Signed', content: json({ type: 'object', required: Object.keys(properties), additionalProperties: false, properties }) });

export const OPENAPI = {
  openapi: '3.0.3',
  info: {
    title: 'arkeo-signer daemon',
    version: '1',
    description:
      'Signs Arkeo claims, and transactions under policy, with keys held in memory. Bearer-token auth; every request is audited. A path not listed here gets 404, and a listed path asked with another method gets 405 with Allow (x-undeclared-routes). Requests refused before a token is accepted (401, 404, 405) draw on a per-peer budget; over it they get 429 with Retry-After.',
  },
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas, headers, responses },
  security: [{ bearer: [] }],
  'x-undeclared-routes': { '404': ref('responses', 'NotFound'), '405': ref('responses', 'MethodNotAllowed'), '429': ref('responses', 'TooManyRequests'), '503': ref('responses', 'Unavailable') },
  paths: {
    '/v1/claims': {
      post: {
        summary: 'Reserve the next nonce durably and sign the claim "<cid>:<nonce>:"',
        requestBody: { required: true, content: json({ type: 'object', required: ['contract', 'key'], additionalProperties: false, properties: { contract: decimal, key: { type: 'string' }, delegate: { type: 'boolean' } } }) },
        responses: { '200': signed({ contract: decimal, nonce: decimal, preimage: { type: 'string' }, signature: hex(64), arkauth: { type: 'string' } }), ...failures },
      },
    },
    '/v1/arkcontract': {
      post: {
        summary: 'Sign management auth "<cid>:<timestamp>:"',
        requestBody: { required: true, content: json({ type: 'object', required: ['contract', 'key'], additionalProperties: false, properties: { contract: decimal, key: { type: 'string' }, timestamp: decimal } }) },
        responses: { '200': signed({ contract: decimal, timestamp: decimal, preimage: { type: 'string' }, signature: hex(64), arkcontract: { type: 'string' } }), ...failures },
      },
    },
    '/v1/sign': {
      post: {
        summary: 'Sign any message (Cosmos Sign: ECDSA over SHA-256). Needs the "raw" operation.',
        requestBody: { required: true, content: json({ type: 'object', required: ['key'], additionalProperties: false, properties: { key: { type: 'string' }, message: { type: 'string' }, message_hex: { type: 'string' } } }) },
        responses: { '200': signed({ signature: hex(64), pubkey: { type: 'string' } }), ...failures },
      },
    },
    '/v1/tx/sign': {
      post: {
        summary: 'Sign a transaction (SIGN_MODE_DIRECT SignDoc) under the token\'s tx policy. Needs the "tx" operation.',
        description:
          'The daemon reads the SignDoc whole (bytes that do not read back unchanged are 400) and signs only when every message is of a type the policy lists and is signed by the key\'s address, the one signer\'s public key is the key\'s, the fee (uarkeo) is within max_fee, sends and deposits within max_amount, claims and closes name allowed contracts, and the body carries no extension options; otherwise 403 DENIED. The reply comes after the audit entry, which records the messages, fee, sequence, SignDoc SHA-256 and the transaction hash.',
        requestBody: {
          required: true,
          content: json({ type: 'object', required: ['key', 'sign_doc'], additionalProperties: false, properties: { key: { type: 'string' }, sign_doc: { ...base64, description: 'the SignDoc bytes, standard base64 with padding, at most 32 KiB decoded' } } }),
        },
        responses: {
          '200': signed({ signature: { type: 'string', pattern: '^[A-Za-z0-9+/]{86}==$', description: '64-byte r‖s, base64' }, tx_hash: { type: 'string', pattern: '^[0-9A-F]{64}$', description: 'SHA-256 of TxRaw{body, auth info, [signature]}, as the chain names it' } }),
          ...failures,
        },
      },
    },
    '/v1/keys': {
      get: {
        summary: 'Keys this token may use',
        responses: { '200': { description: 'Keys', content: json({ type: 'array', items: ref('schemas', 'Key') }) }, '401': failures['401'], '429': failures['429'], '503': failures['503'] },
      },
    },
    '/healthz': {
      get: {
        security: [],
        summary: 'OK only when keys, nonce store and audit log all work',
        responses: { '200': { description: 'Healthy', content: json(ref('schemas', 'Health')) }, '503': { description: 'Unhealthy: the failing parts say why', content: json(ref('schemas', 'Health')) } },
      },
    },
    '/metrics': { get: { security: [], summary: 'Prometheus metrics', responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/openapi.json': { get: { security: [], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.0', content: json({ type: 'object', required: ['openapi', 'paths'], properties: { openapi: { type: 'string' }, paths: { type: 'object' } } }) } } } },
  },
};
