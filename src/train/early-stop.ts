/** Early stopping: when training ends because the validation ELBO stopped improving. */

/** Where early stopping ended a run: the last epoch, and the best one before it. */
export interface EarlyStop {
  epoch: number;
  best: number;
  bestElbo: number;
  patience: number;
}

/** Early stopping's rule: `patience` epochs have passed since the best validation ELBO. */
export function outOfPatience(epoch: number, best: { epoch: number } | null, patience: number | null): boolean {
  return patience !== null && best !== null && epoch - best.epoch >= patience;
}
