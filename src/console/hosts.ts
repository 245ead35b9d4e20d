import { InputError } from '../errors.js';

/**
 * The Host check against DNS rebinding: a page on evil.example whose name is made to resolve to 127.0.0.1 reaches
 * the console as the same origin as itself, and its requests say `Host: evil.example:7446`. The console answers
 * only to the hosts it listens on and to those named with --allowed-host; browsers send the Host as they show it
 * in the address bar (lowercase, IP addresses in canonical form, IPv6 in brackets), so that form is compared.
 */

export interface HostName {
  /** Lowercase; an IPv6 address in brackets. */
  name: string;
  port?: number;
}

/** `name` or `name:port` (a DNS name, an IPv4 address or a bracketed IPv6 address); undefined when malformed. */
function parseHost(value: string): HostName | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)(?::(\d{1,5}))?$/.exec(value);
  if (!m || (m[2] !== undefined && Number(m[2]) > 65535)) return undefined;
  return { name: m[1]!.toLowerCase(), port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** A name as a browser writes it in Host (`127.1` is `127.0.0.1`, `[0::1]` is `[::1]`); undefined if it cannot. */
function browserForm(name: string): string | undefined {
  try {
    return new URL(`http://${name}/`).hostname || undefined;
  } catch {
    return undefined;
  }
}

/** An --allowed-host value, its name in the form a browser sends. */
export function parseAllowedHost(value: string): HostName {
  const h = parseHost(value);
  const name = h && browserForm(h.name);
  if (!h || !name) throw new InputError('BAD_ALLOWED_HOST', `--allowed-host: expected a host name or address with an optional :PORT (for example console.lan or console.lan:7446), got "${value.slice(0, 80)}"`);
  return { name, port: h.port };
}

export class HostCheck {
  /** `name:port` as the Host header says it. */
  private readonly allowed = new Set<string>();

  /**
   * `own`: the addresses the console listens on (the --listen host, the address the socket reports, and
   * `localhost` for a loopback listener), each at `port`; `extra` from --allowed-host, their port defaulting to it.
   */
  constructor(own: string[], port: number, extra: HostName[]) {
    for (const h of own) {
      // A name no browser could send (the console was started with it anyway) is left out rather than refused.
      const name = browserForm(h.includes(':') && !h.startsWith('[') ? `[${h}]` : h);
      if (name) this.allowed.add(`${name}:${port}`);
    }
    for (const h of extra) this.allowed.add(`${h.name}:${h.port ?? port}`);
  }

  /**
   * 200 when the Host header names this console; 400 when it is missing or malformed; 421 (Misdirected Request)
   * when it names another host. A Host without a port is the browser's default port: 80 or 443 (a reverse proxy
   * in front of the console may use either), so it matches only a name allowed with one of those.
   */
  check(header: string | undefined): 200 | 400 | 421 {
    const h = header === undefined ? undefined : parseHost(header);
    if (!h) return 400;
    if (h.port !== undefined) return this.allowed.has(`${h.name}:${h.port}`) ? 200 : 421;
    return this.allowed.has(`${h.name}:80`) || this.allowed.has(`${h.name}:443`) ? 200 : 421;
  }
}
