import { usableCpus } from '../cli/single-cpu-gc';
import { MAX_WORKERS, type Workers } from '../config/schema';

/**
 * The number of workers to run. `auto` is one per CPU this process may use,
 * a fractional cgroup quota rounded up (as Go's GOMAXPROCS does): 1.5 CPUs
 * are better used by two workers than one.
 */
export function workerCount(workers: Workers, cpus = usableCpus()): number {
  if (workers !== 'auto') return workers;
  return Math.min(MAX_WORKERS, Math.max(1, Math.ceil(cpus)));
}
