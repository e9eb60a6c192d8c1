// Escaping text for XML and HTML: the five special characters, and the characters XML 1.0 cannot
// hold at all (control characters other than tab, line feed and carriage return) as U+FFFD.

const SPECIAL: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeXml(value: string | number): string {
  return String(value)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replace(/[&<>"']/g, (c) => SPECIAL[c]!);
}
