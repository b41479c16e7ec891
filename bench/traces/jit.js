// A JIT workload for mset-replay's trace: compile many distinct functions
// and run each hot enough to be optimized, so that V8 grows its code space,
// flips page protections and lets the garbage collector map and unmap pages.
// Prints its pid when done, then waits on stdin for record.sh to snapshot
// /proc/PID/maps and kill it (no teardown munmaps after the snapshot).
'use strict';
const fs = require('fs');

const nfuncs = Number(process.argv[2] || 3000);
const keep = [];
let sink = 0;
for (let i = 0; i < nfuncs; i++) {
  const f = new Function('n', 'b',
    `let s = ${i};
     for (let k = 0; k < n; k++) s = (s * 31 + k * ${i % 97} + b) | 0;
     return s;`);
  for (let r = 0; r < 300; r++) sink ^= f(40, r);
  if (i % 4 === 0) keep.push(f);            // the rest becomes garbage
  if (i % 500 === 0) keep.push(new Array(1 << 16).fill(i)); // old-space pressure
  if (i % 10 === 0) sink ^= new Array(1 << (15 + (i % 3))).fill(i + 0.5).length; // large objects: mmap, then munmap by the GC
}
process.stdout.write(`${process.pid} ${sink}\n`);
fs.readSync(0, Buffer.alloc(1));
