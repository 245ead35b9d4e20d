/** mtibben/percent v0.2.1 as 99designs/keyring uses it for file names: only `%` and `/` are escaped. */
export function percentEncode(name: string): string {
  return name.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/** Inverse, including Go's quirk: `%XY` is decoded only when i+2 < len(s). Works on UTF-8 bytes like Go. */
export function percentDecode(fileName: string): string {
  const bytes = Buffer.from(fileName, 'utf8');
  const out: number[] = [];
  const isHex = (b: number | undefined) => b !== undefined && /[0-9a-fA-F]/.test(String.fromCharCode(b));
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {
      out.push(parseInt(String.fromCharCode(bytes[i + 1]!, bytes[i + 2]!), 16));
      i += 2;
    } else out.push(bytes[i]!);
  }
  return Buffer.from(out).toString('utf8');
}
