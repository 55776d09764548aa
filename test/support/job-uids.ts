/** Job uids for the fast tests: a valid UUID per job number, so that one test's numbers stay readable. */
export const uidOf = (id: number, database = 0): string =>
  `00000000-0000-4000-8${String(database).padStart(3, '0')}-${String(id).padStart(12, '0')}`;
