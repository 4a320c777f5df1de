/** The error for a backend that cannot load here: one clear line, exit 2. */
import { VaeError } from '../errors.js';

export class BackendUnavailable extends VaeError {
  constructor(
    readonly backend: string,
    readonly reason: string,
    hint?: string,
  ) {
    super(`backend '${backend}' is unavailable: ${reason}`, { hint, exitCode: 2 });
  }
}
