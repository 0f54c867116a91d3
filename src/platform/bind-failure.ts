/** Why a listener could not bind, in words, for the start-up errors that name the variable to change. */
export function bindFailure(code: string | undefined): string | undefined {
  switch (code) {
    case 'EADDRINUSE':
      return 'the address is already in use (another process listens there)';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)';
    case 'EADDRNOTAVAIL':
      return 'no interface of this machine has that address';
    default:
      return undefined;
  }
}
