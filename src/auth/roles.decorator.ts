import { SetMetadata } from '@nestjs/common';
import type { ApiRole } from './api-key.entity';

export const ROLES_KEY = 'gw:roles';
export const PUBLIC_KEY = 'gw:public';

/** Roles allowed on a controller or handler; `admin` is always allowed. */
export const Roles = (...roles: ApiRole[]) => SetMetadata(ROLES_KEY, roles);
/** No API key needed (health probes, docs). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);
