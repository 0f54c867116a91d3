/**
 * Every migration, in the order it applies. Add each new migration class here (and keep the
 * timestamp in its name increasing): the list works both compiled and under Jest.
 */
import { Foundation1764000000000 } from './1764000000000-foundation';
import { TollFree1764100000000 } from './1764100000000-tollfree';
import { Billing1764200000000 } from './1764200000000-billing';
import { FraudLimits1764300000000 } from './1764300000000-fraud-limits';
import { CreditSnapshot1764310000000 } from './1764310000000-credit-snapshot';
import { OpenCdrs1764320000000 } from './1764320000000-open-cdrs';

export const migrations = [Foundation1764000000000, TollFree1764100000000, Billing1764200000000, FraudLimits1764300000000, CreditSnapshot1764310000000, OpenCdrs1764320000000];
