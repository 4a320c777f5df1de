/** The backends' names, and the error for one that cannot load here (one clear line, exit 2). */
import { VaeError } from '../errors.js';

export const BACKEND_NAMES = ['auto', 'cuda', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
export type ConcreteBackend = Exclude<BackendName, 'auto'>;

export class BackendUnavailable extends VaeError {
  constructor(
    readonly backend: ConcreteBackend,
    readonly reason: string,
    hint?: string,
  ) {
    super(`backend '${backend}' is unavailable: ${reason}`, { hint, exitCode: 2 });
  }
}
