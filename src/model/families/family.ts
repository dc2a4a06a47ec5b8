// One event family of the replay: the events it owns and the kernel rules they follow.
import type { TaskState } from '../context.js';
import type { Ev } from '../event-view.js';

export interface EventFamily {
  /** Event `i` of the current batch, of a kind this family owns, from task `t`. */
  handleEvent(t: TaskState, i: number, kind: Ev): void;
}
