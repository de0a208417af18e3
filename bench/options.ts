// The options of `npm run bench`: its --help and bench/README.md list them from here.
export const SKIPS: Array<[string, string]> = [
  ['--skip-warm', 'the round trips, 4 KiB ops and 1/8 MiB bandwidth on one warm object (C and TS clients)'],
  ['--skip-ummap', 'the ummap rows over mem:// (first touch, sync cost, a 256 MiB async checkpoint)'],
  ['--skip-checkpoint', 'the checkpoint on the long-running server (C client beside ummap)'],
  ['--skip-cold', 'the cold checkpoint (C client, ummap), drain beside dd, single 64/256 MiB ops'],
  ['--skip-stall', 'the event-loop stall of an async ummap checkpoint'],
  ['--skip-first-touch', 'the ummap first touch of an object held by the server'],
  ['--skip-heat2d', 'heat2d with and without checkpoints'],
  ['--skip-clients', '4 clients at once beside one'],
  ['--skip-rewrite', "the original's benchmark shape: 1/8/16 MiB rewrites cycling over 64 MiB of one object, 1-4 clients"],
  ['--skip-namespace', 'the object namespace: listing 100,000 stored objects beside ls -f, stat beside ping, get/put of 1 GiB'],
  ['--skip-nvdimm', 'the cold checkpoint with --nvdimm (/dev/shm as pmem, a disk file)'],
  ['--skip-checkpoint-sets', 'checkpoint sets (1% of a 1 GiB region against a full checkpoint) and ummap.open against a silent server'],
];

export const QUICK = 'fewer iterations; 256 MiB instead of 1 GiB for the checkpoints, the stall and the first touch';
