// The command that starts a submission's server: the teacher's template with `{file}`, `{dir}`
// and `{port}` filled in, each quoted for `sh`.

/** `'it''s'` quoting for sh: any text, one word. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

export interface Placeholders {
  file: string;
  dir: string;
  port: number;
}

export function fillCommand(template: string, values: Placeholders): string {
  return template.replace(/\{(file|dir|port)\}/g, (_, key: keyof Placeholders) => shellQuote(String(values[key])));
}

export function usesPort(template: string): boolean {
  return template.includes('{port}');
}
