/** Loading optional dependencies, and telling "not installed" from "installed but broken". */

/** import() by a name TypeScript need not resolve (the package may be absent). */
export async function importOptional(name: string): Promise<unknown> {
  return import(name);
}

/** Whether an import failed because `pkg` itself is not installed. */
export function isMissingModule(err: unknown, pkg: string): boolean {
  const e = err as NodeJS.ErrnoException;
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && String(e.message).includes(pkg);
}

/** The first line of an error's message. */
export function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0].trim();
}
