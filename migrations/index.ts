/**
 * Every migration, in the order it applies. Add each new migration class here (and keep the
 * timestamp in its name increasing): the list works both compiled and under Jest.
 */
import { Foundation1764000000000 } from './1764000000000-foundation';

export const migrations = [Foundation1764000000000];
