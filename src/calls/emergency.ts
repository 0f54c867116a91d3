/**
 * Emergency numbers: which dialled strings are emergency calls in a country, and whether a user's
 * dialled string is one. Pure data and functions; the outbound flow (calls.service.ts) asks before
 * any E.164 normalisation (911 is no E.164 number and used to get 484), and routes the call by the
 * route whose prefix is the number itself, unchanged and free of every money or fraud check.
 *
 * Defaults per DEFAULT_COUNTRY (EMERGENCY_NUMBERS replaces them): US 911 and 933 (the 911 address
 * test line); GB 999 and 112; JP 110 (police), 118 (coast guard) and 119 (fire, ambulance); the 27
 * EU member states 112 (Directive (EU) 2018/1972, art. 109). Any other country: 112, the number
 * every GSM handset treats as emergency; operators elsewhere set EMERGENCY_NUMBERS.
 */

/** The 27 member states of the European Union (ISO 3166-1 alpha-2). */
export const EU_MEMBER_STATES: readonly string[] = [
  'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE',
  'IT', 'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE',
];

const BY_COUNTRY: Readonly<Record<string, readonly string[]>> = {
  US: ['911', '933'],
  GB: ['999', '112'],
  JP: ['110', '118', '119'],
  ...Object.fromEntries(EU_MEMBER_STATES.map((c) => [c, ['112']])),
};

/** The emergency numbers of a country when EMERGENCY_NUMBERS is not set. */
export function defaultEmergencyNumbers(country: string): readonly string[] {
  return BY_COUNTRY[country.toUpperCase()] ?? ['112'];
}

/**
 * The emergency number `dialled` is (exactly, as dialled: no '+', no prefix, no extra digit), or
 * undefined. `dialled` is the Request-URI user part after cleanDialled (separators dropped).
 */
export function emergencyNumber(dialled: string, numbers: readonly string[]): string | undefined {
  return numbers.includes(dialled) ? dialled : undefined;
}

/** Of the route candidates for an emergency number, those whose prefix is the number itself. */
export function emergencyRoutes<R extends { prefix: string }>(number: string, candidates: readonly R[]): R[] {
  return candidates.filter((c) => c.prefix === number);
}
