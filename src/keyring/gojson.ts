/**
 * Go `encoding/json` string escaping (HTML-safe, as json.Marshal does): `"` `\\` `\n` `\r` `\t`, other C0
 * controls as \u00XX, `<` `>` `&` U+2028 U+2029 as \u escapes, and unpaired surrogates (invalid UTF-8 in Go)
 * as \ufffd. Needed so the Item JSON inside a JWE is byte-identical to what arkeod writes.
 */
export function goJsonString(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += value[i]! + value[i + 1]!;
        i++;
      } else out += '\\ufffd';
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      out += '\\ufffd';
      continue;
    }
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x09: out += '\\t'; break;
      case 0x3c: case 0x3e: case 0x26: case 0x2028: case 0x2029:
        out += '\\u' + c.toString(16).padStart(4, '0');
        break;
      default:
        out += c < 0x20 ? '\\u' + c.toString(16).padStart(4, '0') : value[i]!;
    }
  }
  return out + '"';
}
