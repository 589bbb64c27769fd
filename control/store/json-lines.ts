// The records of an append-only JSON-lines log (the embedded stores: desired.log, resources.log).
// A torn last line is what a crash mid-append leaves, so it is dropped; an unparsable line anywhere
// else is corruption and stops the start with the file and line to look at.
import * as fs from 'node:fs';
import { ControlError } from '../resources';

export async function readJsonLines<T>(file: string): Promise<T[]> {
  let text = '';
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const lines = text.split('\n');
  const out: T[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      if (i === lines.length - 1) break; // torn tail
      throw new ControlError('STORE_CORRUPT', `${file}:${i + 1}: unparsable record`);
    }
  }
  return out;
}
