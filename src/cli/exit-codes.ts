/**
 * Every exit code of arkeo-signer, in one place: runCli, the commands and docs/reference/cli.md read them here.
 * signhere keeps Go's: 0, 1 for any failure, 2 for a flag its `flag` package would refuse.
 */
export const EXIT = {
  ok: 0,
  /** The answer is no, or the work could not be done. */
  refused: 1,
  /** The command line or the input is wrong: nothing was tried. */
  usage: 2,
  /** `curl`, as curl: the sentinel could not be reached. */
  unreachable: 7,
  /** `curl -f`, as curl: the sentinel answered with a status of 400 or more. */
  httpError: 22,
  /** `curl`, as curl: the sentinel did not answer in time. */
  timeout: 28,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** What each code means, for the reference. */
export const EXIT_MEANING: Record<ExitCode, string> = {
  0: 'ok: done; for verify, claim explain, audit verify and doctor, the answer is yes (valid, accepted, intact, nothing failed)',
  1: 'refused or invalid: a rejected claim or signature, a broken audit chain, a failed doctor check, a signing refusal (spend ceiling, policy, wrong party); or the work could not be done (a missing key, a daemon that is not running, a file that cannot be written)',
  2: 'usage or bad input: an unknown flag, a flag that does not go with another, a bad flag value, input that cannot be parsed (claim explain given something that is not a header, audit verify given a file that is not a log). In verify, claim explain and audit verify, whose 1 is a verdict, anything that stopped the check exits 2',
  7: 'curl only, as curl: the sentinel could not be reached',
  22: 'curl -f only, as curl: the sentinel answered with an HTTP status of 400 or more',
  28: 'curl only, as curl: the sentinel did not answer in time',
};
